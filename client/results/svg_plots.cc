#include "client/results/svg_plots.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "client/results/atomic_file.h"
#include "client/results/plot_scale.h"
#include "client/results/svg_canvas.h"

namespace gdaqd::client {
namespace {

using internal::AxisTicks;
using internal::EstimateTextWidth;
using internal::FormatCoord;
using internal::Point;
using internal::Range;
using internal::SvgCanvas;
using internal::TextAnchor;
using internal::TextStyle;

// Typography and spacing, px. Sizes follow a matplotlib figure at 100 dpi.
constexpr double kTitleSize = 15.0;
constexpr double kLabelSize = 13.0;
constexpr double kTickLabelSize = 11.0;
constexpr double kTickLength = 5.0;
constexpr double kTickGap = 3.0;    // between a tick and its label
constexpr double kLabelGap = 8.0;   // between tick labels and the axis label
constexpr double kOuterPad = 14.0;  // around the whole figure
// Fractions of the font size above / below the baseline (DejaVu Sans, rounded up).
constexpr double kAscent = 0.76;
constexpr double kDescent = 0.24;

constexpr absl::string_view kTextColor = "#222222";
constexpr absl::string_view kAxisColor = "#333333";
constexpr absl::string_view kMutedTextColor = "#777777";

// The rectangle of a plotting area, px.
struct Frame {
  double left = 0.0;
  double top = 0.0;
  double width = 0.0;
  double height = 0.0;
  double right() const { return left + width; }
  double bottom() const { return top + height; }
};

// One axis: its data range, ticks and their labels.
struct Axis {
  Range range;
  AxisTicks ticks;
  std::vector<std::string> labels;
  double max_label_width = 0.0;  // px at kTickLabelSize
};

// Maps data coordinates into a frame (y up).
struct DataToPixels {
  Frame frame;
  Range x;
  Range y;
  double X(double v) const { return frame.left + (v - x.low) / (x.high - x.low) * frame.width; }
  double Y(double v) const {
    return frame.bottom() - (v - y.low) / (y.high - y.low) * frame.height;
  }
  Point At(double vx, double vy) const { return Point{X(vx), Y(vy)}; }
};

// Formats the labels of `axis.ticks`; the largest |tick| picks the format for all of them.
void LabelTicks(Axis& axis) {
  double magnitude = 0.0;
  for (double value : axis.ticks.values) magnitude = std::max(magnitude, std::abs(value));
  axis.labels.clear();
  axis.max_label_width = 0.0;
  for (double value : axis.ticks.values) {
    axis.labels.push_back(internal::FormatTickLabel(value, axis.ticks.step, magnitude));
    axis.max_label_width =
        std::max(axis.max_label_width, EstimateTextWidth(axis.labels.back(), kTickLabelSize));
  }
}

// True if no two neighbouring tick labels of an axis `length` px long collide.
bool LabelsFit(const Axis& axis, double length, bool horizontal) {
  const double spacing = axis.ticks.step / (axis.range.high - axis.range.low) * length;
  if (!horizontal) return spacing >= 1.8 * kTickLabelSize;
  for (size_t i = 1; i < axis.labels.size(); ++i) {
    const double half_widths = (EstimateTextWidth(axis.labels[i - 1], kTickLabelSize) +
                                EstimateTextWidth(axis.labels[i], kTickLabelSize)) /
                               2;
    if (half_widths + 10.0 > spacing) return false;
  }
  return true;
}

// Chooses about `target` ticks, then coarser steps until the labels do not collide.
Axis MakeAxis(Range range, double length, bool horizontal, int target) {
  Axis axis;
  axis.range = range;
  axis.ticks = internal::NiceTicks(range, target);
  LabelTicks(axis);
  for (int attempt = 0; attempt < 8 && !LabelsFit(axis, length, horizontal); ++attempt) {
    AxisTicks coarser = internal::NiceTicks(range, target, axis.ticks.step);
    if (coarser.values.size() < 2) break;
    axis.ticks = std::move(coarser);
    LabelTicks(axis);
  }
  return axis;
}

// Width left of a frame taken by the y tick labels and the rotated y axis label.
double YAxisWidth(const Axis& axis) {
  return kTickLength + kTickGap + axis.max_label_width + kLabelGap + kLabelSize;
}

// Height below a frame taken by the x tick labels and the x axis label.
double XAxisHeight() { return kTickLength + kTickGap + kTickLabelSize + kLabelGap + kLabelSize; }

TextStyle Style(double size, TextAnchor anchor, double rotate = 0.0) {
  TextStyle style;
  style.size = size;
  style.anchor = anchor;
  style.rotate_degrees = rotate;
  style.fill = kTextColor;
  return style;
}

void DrawGridLines(SvgCanvas& canvas, const DataToPixels& map, const Axis& x, const Axis& y) {
  canvas.OpenGroup("stroke=\"#e5e5e5\" stroke-width=\"0.8\"");
  for (double value : x.ticks.values) {
    canvas.Line({map.X(value), map.frame.top}, {map.X(value), map.frame.bottom()}, "");
  }
  for (double value : y.ticks.values) {
    canvas.Line({map.frame.left, map.Y(value)}, {map.frame.right(), map.Y(value)}, "");
  }
  canvas.CloseGroup();
}

// Draws the ticks, tick labels and axis labels of both axes (not the frame itself).
void DrawAxes(SvgCanvas& canvas, const DataToPixels& map, const Axis& x, const Axis& y,
              absl::string_view x_label, absl::string_view y_label) {
  const Frame& frame = map.frame;
  canvas.OpenGroup(absl::StrCat("stroke=\"", kAxisColor, "\" stroke-width=\"1\""));
  for (double value : x.ticks.values) {
    canvas.Line({map.X(value), frame.bottom()}, {map.X(value), frame.bottom() + kTickLength}, "");
  }
  for (double value : y.ticks.values) {
    canvas.Line({frame.left - kTickLength, map.Y(value)}, {frame.left, map.Y(value)}, "");
  }
  canvas.CloseGroup();
  const double x_label_top = frame.bottom() + kTickLength + kTickGap;
  for (size_t i = 0; i < x.labels.size(); ++i) {
    canvas.Text({map.X(x.ticks.values[i]), x_label_top + kAscent * kTickLabelSize}, x.labels[i],
                Style(kTickLabelSize, TextAnchor::kMiddle));
  }
  const double y_label_right = frame.left - kTickLength - kTickGap;
  for (size_t i = 0; i < y.labels.size(); ++i) {
    // Centres the digits (cap height ~0.72 em) on the tick.
    canvas.Text({y_label_right, map.Y(y.ticks.values[i]) + 0.36 * kTickLabelSize}, y.labels[i],
                Style(kTickLabelSize, TextAnchor::kEnd));
  }
  canvas.Text({frame.left + frame.width / 2,
               x_label_top + kTickLabelSize + kLabelGap + kAscent * kLabelSize},
              x_label, Style(kLabelSize, TextAnchor::kMiddle));
  // Rotated -90 degrees, the glyphs' ascent extends to the left of the baseline point.
  const double y_text_x = y_label_right - y.max_label_width - kLabelGap - kDescent * kLabelSize;
  canvas.Text({y_text_x, frame.top + frame.height / 2}, y_label,
              Style(kLabelSize, TextAnchor::kMiddle, -90.0));
}

// Draws `title` centred on `center_x` but inside [kOuterPad, width - kOuterPad].
void DrawTitle(SvgCanvas& canvas, absl::string_view title, double center_x, double width) {
  if (title.empty()) return;
  const double half = EstimateTextWidth(title, kTitleSize) / 2;
  center_x =
      std::clamp(center_x, kOuterPad + half, std::max(kOuterPad + half, width - kOuterPad - half));
  TextStyle style = Style(kTitleSize, TextAnchor::kMiddle);
  style.bold = true;
  canvas.Text({center_x, kOuterPad + kAscent * kTitleSize}, title, style);
}

double TitleHeight(absl::string_view title) { return title.empty() ? 6.0 : kTitleSize + 14.0; }

void DrawCentredNote(SvgCanvas& canvas, const Frame& frame, absl::string_view note) {
  TextStyle style = Style(kLabelSize, TextAnchor::kMiddle);
  style.fill = kMutedTextColor;
  style.italic = true;
  canvas.Text({frame.left + frame.width / 2, frame.top + frame.height / 2 + 0.36 * kLabelSize},
              note, style);
}

// ---------------------------------------------------------------------------------------
// Archive picture.

constexpr double kArchiveSide = 440.0;  // longer side of the plotting area, px
constexpr double kColourBarGap = 22.0;  // between the plot and the colour bar
constexpr double kColourBarWidth = 16.0;
constexpr int kArchiveTicks = 5;  // target tick count per axis
constexpr absl::string_view kWallColor = "#3b3b3b";
constexpr absl::string_view kEmptyCellColor = "#f0f0f0";
constexpr absl::string_view kBadFitnessColor = "#9e9e9e";

// Minimum and maximum of the finite fitnesses; `count` is how many there are.
struct FitnessRange {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  int64_t count = 0;
  std::string ColourOf(float fitness) const {
    if (!std::isfinite(fitness)) return std::string(kBadFitnessColor);
    const double t = high > low ? (fitness - low) / (high - low) : 0.5;
    return internal::ViridisHex(t);
  }
};

FitnessRange FindFitnessRange(absl::Span<const ArchivePlot::Cell> cells) {
  FitnessRange range;
  for (const ArchivePlot::Cell& cell : cells) {
    if (!std::isfinite(cell.fitness)) continue;
    range.low = std::min(range.low, static_cast<double>(cell.fitness));
    range.high = std::max(range.high, static_cast<double>(cell.fitness));
    ++range.count;
  }
  return range;
}

// Fits the descriptor box into kArchiveSide x kArchiveSide, keeping its aspect ratio
// within 1:4 .. 4:1 so that walls keep their shape.
Frame ArchiveFrame(const Range& x, const Range& y) {
  const double aspect = std::clamp((y.high - y.low) / (x.high - x.low), 0.25, 4.0);
  Frame frame;
  frame.width = aspect <= 1.0 ? kArchiveSide : kArchiveSide / aspect;
  frame.height = aspect <= 1.0 ? kArchiveSide * aspect : kArchiveSide;
  return frame;
}

// Grid cells as rectangles; cell index = ix * cells_y + iy, as in the archive.
void DrawGridCells(SvgCanvas& canvas, const ArchivePlot& plot, const DataToPixels& map,
                   const FitnessRange& fitness) {
  const int64_t num_cells = int64_t{plot.cells_x} * plot.cells_y;
  const double dx = (map.x.high - map.x.low) / plot.cells_x;
  const double dy = (map.y.high - map.y.low) / plot.cells_y;
  // crispEdges snaps edges to pixels, so neighbouring cells meet without hairline seams.
  canvas.OpenGroup("shape-rendering=\"crispEdges\"");
  for (const ArchivePlot::Cell& cell : plot.filled) {
    if (cell.cell < 0 || cell.cell >= num_cells) continue;
    const double x0 = map.x.low + static_cast<double>(cell.cell / plot.cells_y) * dx;
    const double y0 = map.y.low + static_cast<double>(cell.cell % plot.cells_y) * dy;
    const Point top_left = map.At(x0, y0 + dy);
    const Point bottom_right = map.At(x0 + dx, y0);
    canvas.Rect(top_left.x, top_left.y, bottom_right.x - top_left.x, bottom_right.y - top_left.y,
                absl::StrCat("class=\"cell\" fill=\"", fitness.ColourOf(cell.fitness), "\""));
  }
  canvas.CloseGroup();
}

void DrawCvtCells(SvgCanvas& canvas, const ArchivePlot& plot, const DataToPixels& map,
                  const FitnessRange& fitness) {
  // Dots about half as wide as the spacing of evenly spread cells, so they rarely touch.
  const double spacing = std::sqrt(map.frame.width * map.frame.height /
                                   std::max<double>(1.0, static_cast<double>(plot.filled.size())));
  const double radius = std::clamp(0.45 * spacing, 1.5, 6.0);
  for (const ArchivePlot::Cell& cell : plot.filled) {
    if (!std::isfinite(cell.centroid_x) || !std::isfinite(cell.centroid_y)) continue;
    canvas.Circle(map.At(cell.centroid_x, cell.centroid_y), radius,
                  absl::StrCat("class=\"cell\" fill=\"", fitness.ColourOf(cell.fitness), "\""));
  }
}

// Walls as thick round-capped lines, which is exactly a capsule. Clipped to the descriptor
// box, so that outer walls centred on its border show as a clean edge.
void DrawObstacles(SvgCanvas& canvas, absl::Span<const Obstacle> obstacles,
                   const DataToPixels& map) {
  const double px_per_unit =
      (map.frame.width / (map.x.high - map.x.low) + map.frame.height / (map.y.high - map.y.low)) /
      2;
  canvas.OpenGroup(absl::StrCat("clip-path=\"url(#gdaqd-box-clip)\" stroke=\"", kWallColor,
                                "\" stroke-linecap=\"round\""));
  for (const Obstacle& wall : obstacles) {
    if (!std::isfinite(wall.x0) || !std::isfinite(wall.y0) || !std::isfinite(wall.x1) ||
        !std::isfinite(wall.y1)) {
      continue;
    }
    const double radius = std::isfinite(wall.radius) ? std::max(0.0f, wall.radius) : 0.0;
    const double width = std::max(1.5, 2 * radius * px_per_unit);
    canvas.Line(map.At(wall.x0, wall.y0), map.At(wall.x1, wall.y1),
                absl::StrCat("class=\"obstacle\" stroke-width=\"", FormatCoord(width), "\""));
  }
  canvas.CloseGroup();
}

void DrawMarkers(SvgCanvas& canvas, absl::Span<const ArchivePlot::Marker> markers,
                 const DataToPixels& map) {
  for (const ArchivePlot::Marker& marker : markers) {
    if (!std::isfinite(marker.x) || !std::isfinite(marker.y) || marker.x < map.x.low ||
        marker.x > map.x.high || marker.y < map.y.low || marker.y > map.y.high) {
      continue;
    }
    const Point at = map.At(marker.x, marker.y);
    canvas.Circle(at, 5.0,
                  absl::StrCat("class=\"marker\" fill=\"", kTextColor,
                               "\" stroke=\"#ffffff\" stroke-width=\"1.5\""));
    // Left of the disc in the right half of the box, right of it otherwise.
    const bool right_half = at.x > map.frame.left + map.frame.width / 2;
    TextStyle style = Style(kTickLabelSize, right_half ? TextAnchor::kEnd : TextAnchor::kStart);
    canvas.Text({at.x + (right_half ? -8.0 : 8.0), at.y + 0.36 * kTickLabelSize}, marker.label,
                style);
  }
}

// The colour bar's gradient and the clip path of the descriptor box. The ids are fixed, so
// two archive pictures inlined into one HTML page would share them (harmlessly: identical).
void DrawDefs(SvgCanvas& canvas, const Frame& frame) {
  std::string defs =
      "<defs>\n<linearGradient id=\"gdaqd-viridis\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n";
  const absl::Span<const absl::string_view> stops = internal::ViridisStops();
  for (size_t i = 0; i < stops.size(); ++i) {
    absl::StrAppend(&defs, "<stop offset=\"",
                    FormatCoord(static_cast<double>(i) / (stops.size() - 1)), "\" stop-color=\"",
                    stops[i], "\"/>\n");
  }
  absl::StrAppend(&defs, "</linearGradient>\n<clipPath id=\"gdaqd-box-clip\">\n<rect x=\"",
                  FormatCoord(frame.left), "\" y=\"", FormatCoord(frame.top), "\" width=\"",
                  FormatCoord(frame.width), "\" height=\"", FormatCoord(frame.height),
                  "\"/>\n</clipPath>\n</defs>\n");
  canvas.Raw(defs);
}

// Draws the colour bar right of `frame` and returns the x coordinate where it ends.
double DrawColourBar(SvgCanvas& canvas, const Frame& frame, const FitnessRange& fitness) {
  const double bar_left = frame.right() + kColourBarGap;
  canvas.Rect(bar_left, frame.top, kColourBarWidth, frame.height,
              absl::StrCat("class=\"colour-bar\" fill=\"url(#gdaqd-viridis)\" stroke=\"",
                           kAxisColor, "\" stroke-width=\"0.8\""));
  std::vector<std::pair<double, double>> ticks;  // (fitness, t in [0, 1])
  if (fitness.count > 0 && fitness.high > fitness.low) {
    ticks = {{fitness.low, 0.0}, {(fitness.low + fitness.high) / 2, 0.5}, {fitness.high, 1.0}};
  } else if (fitness.count > 0) {
    ticks = {{fitness.low, 0.5}};
  }
  const double magnitude = std::max(std::abs(fitness.low), std::abs(fitness.high));
  // Labels resolve a hundredth of the range's order of magnitude, so that min, mid and max
  // differ in their last digits: 0..10 gives "0.0", "5.0", "10.0".
  double spread = 1.0;
  if (fitness.count > 0) {
    spread = fitness.high > fitness.low ? fitness.high - fitness.low : std::abs(fitness.low);
  }
  if (!(spread > 0.0)) spread = 1.0;
  const double resolution = std::pow(10.0, std::floor(std::log10(spread)) - 2);
  const double bar_right = bar_left + kColourBarWidth;
  double labels_right = bar_right + kTickLength + kTickGap;
  for (const auto& [value, t] : ticks) {
    const double y = frame.bottom() - t * frame.height;
    canvas.Line({bar_right, y}, {bar_right + kTickLength, y},
                absl::StrCat("stroke=\"", kAxisColor, "\" stroke-width=\"1\""));
    const std::string label = internal::FormatTickLabel(value, resolution, magnitude);
    canvas.Text({bar_right + kTickLength + kTickGap, y + 0.36 * kTickLabelSize}, label,
                Style(kTickLabelSize, TextAnchor::kStart));
    labels_right = std::max(labels_right, bar_right + kTickLength + kTickGap +
                                              EstimateTextWidth(label, kTickLabelSize));
  }
  const double title_x = labels_right + kLabelGap + kAscent * kLabelSize;
  canvas.Text({title_x, frame.top + frame.height / 2}, "fitness",
              Style(kLabelSize, TextAnchor::kMiddle, -90.0));
  return title_x + kDescent * kLabelSize;
}

// ---------------------------------------------------------------------------------------
// Progress picture.

constexpr double kPanelWidth = 270.0;  // plotting area of one panel, px
constexpr double kPanelHeight = 200.0;
constexpr double kPanelGap = 26.0;  // between a panel and the next one's y labels
constexpr int kPanelXTicks = 5;     // target tick counts
constexpr int kPanelYTicks = 4;
constexpr double kLegendRowHeight = 20.0;
constexpr double kLegendSwatch = 22.0;
// matplotlib's tab10 palette.
constexpr absl::string_view kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// Assigns colours to series labels in order of first appearance over all panels.
class SeriesColours {
 public:
  explicit SeriesColours(absl::Span<const Panel> panels) {
    for (const Panel& panel : panels) {
      for (const Series& series : panel.series) {
        if (index_.emplace(series.label, labels_.size()).second) labels_.push_back(series.label);
      }
    }
  }
  // Stroke attributes for `label`; after ten colours the palette repeats, dashed.
  std::string Stroke(const std::string& label) const {
    const size_t i = index_.at(label);
    return absl::StrCat("stroke=\"", Fill(label), "\"",
                        (i / std::size(kPalette)) % 2 == 1 ? " stroke-dasharray=\"6 3\"" : "");
  }
  absl::string_view Fill(const std::string& label) const {
    return kPalette[index_.at(label) % std::size(kPalette)];
  }
  const std::vector<std::string>& labels() const { return labels_; }

 private:
  std::map<std::string, size_t> index_;
  std::vector<std::string> labels_;
};

// The finite points of a series: its line and, if it has a valid band, the band edges.
struct SeriesPoints {
  std::vector<double> x, y;                         // line points
  std::vector<double> band_x, band_low, band_high;  // band points
};

bool AllFinite(std::initializer_list<double> values) {
  return std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); });
}

// (x0, y0), (x1, y0), (x1, y1), (x2, y1), ...: each value holds until the next x.
void ToSteps(std::vector<double>& xs, std::vector<double>& ys) {
  std::vector<double> step_x, step_y;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0) {
      step_x.push_back(xs[i]);
      step_y.push_back(ys[i - 1]);
    }
    step_x.push_back(xs[i]);
    step_y.push_back(ys[i]);
  }
  xs = std::move(step_x);
  ys = std::move(step_y);
}

SeriesPoints FinitePoints(const Series& series) {
  SeriesPoints points;
  const size_t n = std::min(series.x.size(), series.y.size());
  const bool has_band = series.y_low.size() == series.y.size() &&
                        series.y_high.size() == series.y.size() && !series.y.empty();
  for (size_t i = 0; i < n; ++i) {
    if (AllFinite({series.x[i], series.y[i]})) {
      points.x.push_back(series.x[i]);
      points.y.push_back(series.y[i]);
    }
    if (has_band && AllFinite({series.x[i], series.y_low[i], series.y_high[i]})) {
      points.band_x.push_back(series.x[i]);
      points.band_low.push_back(series.y_low[i]);
      points.band_high.push_back(series.y_high[i]);
    }
  }
  if (series.steps) {
    ToSteps(points.x, points.y);
    std::vector<double> band_x = points.band_x;
    ToSteps(band_x, points.band_low);
    ToSteps(points.band_x, points.band_high);
  }
  return points;
}

// Data extent of a panel; `empty` if it has no finite point.
struct Extent {
  double x_low = std::numeric_limits<double>::infinity();
  double x_high = -std::numeric_limits<double>::infinity();
  double y_low = std::numeric_limits<double>::infinity();
  double y_high = -std::numeric_limits<double>::infinity();
  bool empty() const { return x_low > x_high; }
  void Add(absl::Span<const double> xs, absl::Span<const double> ys) {
    for (double v : xs) {
      x_low = std::min(x_low, v);
      x_high = std::max(x_high, v);
    }
    for (double v : ys) {
      y_low = std::min(y_low, v);
      y_high = std::max(y_high, v);
    }
  }
};

// A panel ready to draw: its points, axes and frame.
struct PanelLayout {
  const Panel* panel = nullptr;
  std::vector<SeriesPoints> points;  // parallel to panel->series
  Extent extent;                     // of the finite points
  Axis x_axis, y_axis;
  Frame frame;
};

PanelLayout CollectPoints(const Panel& panel) {
  PanelLayout layout;
  layout.panel = &panel;
  for (const Series& series : panel.series) {
    layout.points.push_back(FinitePoints(series));
    const SeriesPoints& p = layout.points.back();
    layout.extent.Add(p.x, p.y);
    layout.extent.Add(p.band_x, p.band_low);
    layout.extent.Add(p.band_x, p.band_high);
  }
  return layout;
}

// Gives every panel the same x axis (the union of their x extents, as matplotlib's
// sharex) and its own y axis with 5% headroom above and below.
void MakePanelAxes(std::vector<PanelLayout>& layouts) {
  Extent all;
  for (const PanelLayout& layout : layouts) {
    if (!layout.extent.empty()) {
      all.Add({layout.extent.x_low, layout.extent.x_high}, {});
    }
  }
  const Range x_range = all.empty() ? Range{} : internal::SanitizeRange(all.x_low, all.x_high);
  const Axis x_axis = MakeAxis(x_range, kPanelWidth, /*horizontal=*/true, kPanelXTicks);
  for (PanelLayout& layout : layouts) {
    const Extent& e = layout.extent;
    Range y_range;
    if (!e.empty()) {
      const bool from_zero = layout.panel->y_from_zero;
      y_range =
          internal::Pad(internal::SanitizeRange(from_zero ? std::min(0.0, e.y_low) : e.y_low,
                                                from_zero ? std::max(0.0, e.y_high) : e.y_high),
                        0.05);
      if (from_zero && e.y_low >= 0) y_range.low = 0;  // anchored: no margin under 0
    }
    layout.x_axis = x_axis;
    layout.y_axis = MakeAxis(y_range, kPanelHeight, /*horizontal=*/false, kPanelYTicks);
    layout.frame.width = kPanelWidth;
    layout.frame.height = kPanelHeight;
  }
}

std::vector<Point> ToPixels(const DataToPixels& map, absl::Span<const double> xs,
                            absl::Span<const double> ys) {
  std::vector<Point> points;
  points.reserve(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) points.push_back(map.At(xs[i], ys[i]));
  return points;
}

void DrawPanelSeries(SvgCanvas& canvas, const PanelLayout& layout, const DataToPixels& map,
                     const SeriesColours& colours) {
  const std::vector<Series>& series = layout.panel->series;
  for (size_t s = 0; s < series.size(); ++s) {  // bands first, under every line
    const SeriesPoints& p = layout.points[s];
    std::vector<Point> band = ToPixels(map, p.band_x, p.band_high);
    const std::vector<Point> low = ToPixels(map, p.band_x, p.band_low);
    band.insert(band.end(), low.rbegin(), low.rend());
    canvas.Polygon(band, absl::StrCat("class=\"band\" fill=\"", colours.Fill(series[s].label),
                                      "\" fill-opacity=\"0.2\" stroke=\"none\""));
  }
  for (size_t s = 0; s < series.size(); ++s) {
    const SeriesPoints& p = layout.points[s];
    if (p.x.size() == 1) {
      canvas.Circle(map.At(p.x[0], p.y[0]), 3.0,
                    absl::StrCat("class=\"series\" fill=\"", colours.Fill(series[s].label), "\""));
    }
    canvas.Polyline(ToPixels(map, p.x, p.y),
                    absl::StrCat("class=\"series\" fill=\"none\" ", colours.Stroke(series[s].label),
                                 " stroke-width=\"1.8\" stroke-linejoin=\"round\""));
  }
}

void DrawPanel(SvgCanvas& canvas, const PanelLayout& layout, absl::string_view x_label,
               const SeriesColours& colours) {
  const DataToPixels map{layout.frame, layout.x_axis.range, layout.y_axis.range};
  DrawGridLines(canvas, map, layout.x_axis, layout.y_axis);
  DrawPanelSeries(canvas, layout, map, colours);
  const Frame& f = layout.frame;
  const std::string axis_attrs = absl::StrCat("stroke=\"", kAxisColor, "\" stroke-width=\"1\"");
  canvas.Line({f.left, f.top}, {f.left, f.bottom()}, axis_attrs);
  canvas.Line({f.left, f.bottom()}, {f.right(), f.bottom()}, axis_attrs);
  DrawAxes(canvas, map, layout.x_axis, layout.y_axis, x_label, layout.panel->y_label);
  if (layout.extent.empty()) DrawCentredNote(canvas, f, "no data");
}

// Where a legend entry goes: x offset from the legend's left edge, and its row.
struct LegendItem {
  double x = 0.0;
  int row = 0;
};

// Lays the entries out left to right in rows no wider than `max_width` (an entry wider than
// that gets a row of its own); sets `widest_row` to the width of the widest row.
std::vector<LegendItem> LayOutLegend(const std::vector<std::string>& labels, double max_width,
                                     double& widest_row) {
  std::vector<LegendItem> items;
  double x = 0.0;
  int row = 0;
  widest_row = 0.0;
  for (const std::string& label : labels) {
    const double width = kLegendSwatch + 6.0 + EstimateTextWidth(label, kTickLabelSize);
    if (x > 0.0 && x + width > max_width) {
      x = 0.0;
      ++row;
    }
    items.push_back({x, row});
    widest_row = std::max(widest_row, x + width);
    x += width + 20.0;
  }
  return items;
}

// Draws the legend centred on `center_x` from `top` down; returns its height.
double DrawLegend(SvgCanvas& canvas, const SeriesColours& colours, double center_x, double top,
                  double max_width) {
  const std::vector<std::string>& labels = colours.labels();
  if (labels.size() < 2) return 0.0;
  double widest_row = 0.0;
  const std::vector<LegendItem> items = LayOutLegend(labels, max_width, widest_row);
  const double left = std::max(kOuterPad, center_x - widest_row / 2);
  for (size_t i = 0; i < labels.size(); ++i) {
    const double x = left + items[i].x;
    const double y = top + items[i].row * kLegendRowHeight + kLegendRowHeight / 2;
    canvas.Line(
        {x, y}, {x + kLegendSwatch, y},
        absl::StrCat("class=\"legend\" ", colours.Stroke(labels[i]), " stroke-width=\"2.5\""));
    canvas.Text({x + kLegendSwatch + 6.0, y + 0.36 * kTickLabelSize}, labels[i],
                Style(kTickLabelSize, TextAnchor::kStart));
  }
  return (items.back().row + 1) * kLegendRowHeight;
}

}  // namespace

std::string RenderArchiveSvg(const ArchivePlot& plot) {
  const Range x_range = internal::SanitizeRange(plot.x_low, plot.x_high);
  const Range y_range = internal::SanitizeRange(plot.y_low, plot.y_high);
  Frame frame = ArchiveFrame(x_range, y_range);
  // The same density on both axes: [-1, 1] gets -1, -0.5, 0, 0.5, 1.
  const Axis x_axis = MakeAxis(x_range, frame.width, /*horizontal=*/true, kArchiveTicks);
  const Axis y_axis = MakeAxis(y_range, frame.height, /*horizontal=*/false, kArchiveTicks);
  frame.left = kOuterPad + YAxisWidth(y_axis);
  frame.top = kOuterPad + TitleHeight(plot.title);
  const DataToPixels map{frame, x_range, y_range};
  const FitnessRange fitness = FindFitnessRange(plot.filled);

  SvgCanvas canvas;
  DrawDefs(canvas, frame);
  canvas.Rect(frame.left, frame.top, frame.width, frame.height,
              absl::StrCat("fill=\"", kEmptyCellColor, "\""));
  canvas.OpenGroup("clip-path=\"url(#gdaqd-box-clip)\"");
  if (plot.cells_x > 0 && plot.cells_y > 0) {
    DrawGridCells(canvas, plot, map, fitness);
  } else {
    DrawCvtCells(canvas, plot, map, fitness);
  }
  canvas.CloseGroup();
  DrawObstacles(canvas, plot.obstacles, map);
  canvas.Rect(frame.left, frame.top, frame.width, frame.height,
              absl::StrCat("fill=\"none\" stroke=\"", kAxisColor, "\" stroke-width=\"1\""));
  DrawMarkers(canvas, plot.markers, map);
  DrawAxes(canvas, map, x_axis, y_axis, plot.x_label, plot.y_label);
  if (fitness.count == 0) DrawCentredNote(canvas, frame, "empty archive");
  const double bar_end = DrawColourBar(canvas, frame, fitness);
  const double width =
      std::max(bar_end + kOuterPad, EstimateTextWidth(plot.title, kTitleSize) + 2 * kOuterPad);
  DrawTitle(canvas, plot.title, frame.left + frame.width / 2, width);
  return canvas.Finish(width, frame.bottom() + XAxisHeight() + kOuterPad);
}

std::string RenderProgressSvg(const std::string& title, const std::string& x_label,
                              absl::Span<const Panel> panels) {
  const SeriesColours colours(panels);
  std::vector<PanelLayout> layouts;
  double x = kOuterPad;
  const double top = kOuterPad + TitleHeight(title);
  for (const Panel& panel : panels) layouts.push_back(CollectPoints(panel));
  MakePanelAxes(layouts);
  for (PanelLayout& layout : layouts) {
    layout.frame.left = x + YAxisWidth(layout.y_axis);
    layout.frame.top = top;
    x = layout.frame.right() + kPanelGap;
  }
  // The last x tick label may stick out past the frame by half its width.
  const double panels_right = layouts.empty()
                                  ? kOuterPad + 200.0
                                  : x - kPanelGap + layouts.back().x_axis.max_label_width / 2;
  SvgCanvas canvas;
  for (const PanelLayout& layout : layouts) DrawPanel(canvas, layout, x_label, colours);
  const double axes_bottom = top + (layouts.empty() ? 0.0 : kPanelHeight + XAxisHeight());
  if (layouts.empty()) DrawCentredNote(canvas, Frame{kOuterPad, top, 200.0, 20.0}, "no data");
  const double legend_height = DrawLegend(canvas, colours, (kOuterPad + panels_right) / 2,
                                          axes_bottom + 10.0, panels_right - kOuterPad);
  const double width =
      std::max(panels_right + kOuterPad, EstimateTextWidth(title, kTitleSize) + 2 * kOuterPad);
  DrawTitle(canvas, title, width / 2, width);
  return canvas.Finish(
      width, axes_bottom + 10.0 + legend_height + kOuterPad + (layouts.empty() ? 20.0 : 0.0));
}

absl::Status WriteTextFile(const std::string& path, std::string_view contents) {
  return WriteFileAtomically(path, contents);
}

}  // namespace gdaqd::client
