#include "client/results/svg_plots.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/results/atomic_file.h"
#include "client/results/scratch_dir_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::client {
namespace {

using ::gdaqd::client::results_testing::TempPath;
using ::gdaqd::testing::IsOkAndHolds;
using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr float kNanF = std::numeric_limits<float>::quiet_NaN();
constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

int Count(const std::string& haystack, const std::string& needle) {
  int count = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

// Checks what a browser's XML parser would reject: one root <svg> element, properly nested
// tags, and '&' only as the start of one of the five predefined entities. Attribute values
// never contain '>' because the writer escapes them.
::testing::AssertionResult IsWellFormedSvg(const std::string& svg) {
  if (!absl::StartsWith(svg, "<svg")) return ::testing::AssertionFailure() << "no <svg> root";
  std::vector<std::string> open;
  int roots = 0;
  for (size_t pos = svg.find('<'); pos != std::string::npos; pos = svg.find('<', pos + 1)) {
    const size_t end = svg.find('>', pos);
    if (end == std::string::npos) return ::testing::AssertionFailure() << "unclosed tag";
    const std::string tag = svg.substr(pos + 1, end - pos - 1);
    if (tag.empty()) return ::testing::AssertionFailure() << "empty tag at " << pos;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) {
        return ::testing::AssertionFailure() << "unexpected </" << tag.substr(1) << ">";
      }
      open.pop_back();
      continue;
    }
    const std::string name = tag.substr(0, tag.find_first_of(" \n/"));
    if (open.empty()) ++roots;
    if (tag.back() != '/') open.push_back(name);
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "<" << open.back() << "> not closed";
  if (roots != 1) return ::testing::AssertionFailure() << roots << " root elements";
  for (size_t pos = svg.find('&'); pos != std::string::npos; pos = svg.find('&', pos + 1)) {
    const std::string rest = svg.substr(pos, 6);
    if (!absl::StartsWith(rest, "&amp;") && !absl::StartsWith(rest, "&lt;") &&
        !absl::StartsWith(rest, "&gt;") && !absl::StartsWith(rest, "&quot;") &&
        !absl::StartsWith(rest, "&apos;")) {
      return ::testing::AssertionFailure() << "bare '&' at " << pos;
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult HasNoNonFiniteText(const std::string& svg) {
  const std::string lower = absl::AsciiStrToLower(svg);
  if (absl::StrContains(lower, "nan") || absl::StrContains(lower, "inf")) {
    return ::testing::AssertionFailure() << "found nan/inf in:\n" << svg;
  }
  return ::testing::AssertionSuccess();
}

// A 10 x 8 grid over [-1, 1] x [0, 2] with `filled` cells of fitness 0, 1, 2, ...
ArchivePlot GridPlot(int filled) {
  ArchivePlot plot;
  plot.title = "grid";
  plot.x_low = -1;
  plot.x_high = 1;
  plot.y_low = 0;
  plot.y_high = 2;
  plot.cells_x = 10;
  plot.cells_y = 8;
  for (int i = 0; i < filled; ++i) {
    plot.filled.push_back({i * 3, 0.0f, 0.0f, static_cast<float>(i)});
  }
  return plot;
}

TEST(RenderArchiveSvgTest, GridIsWellFormedWithOneRectPerFilledCell) {
  const std::string svg = RenderArchiveSvg(GridPlot(20));
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_TRUE(HasNoNonFiniteText(svg));
  EXPECT_EQ(Count(svg, "<rect class=\"cell\""), 20);
  EXPECT_EQ(Count(svg, "<circle"), 0);
}

TEST(RenderArchiveSvgTest, GridCellsGoWhereTheIndexSays) {
  // One cell of a 2 x 2 grid over [0, 1]^2: index 1 is ix = 0, iy = 1, the top-left cell.
  ArchivePlot plot = GridPlot(0);
  plot.x_low = plot.y_low = 0;
  plot.x_high = plot.y_high = 1;
  plot.cells_x = plot.cells_y = 2;
  plot.filled = {{1, 0.25f, 0.75f, 1.0f}};
  const std::string svg = RenderArchiveSvg(plot);
  // The frame is 440 x 440 px; the cell is its top-left quarter.
  const std::string frame_prefix = "<rect fill=\"none\" stroke=\"#333333\" stroke-width=\"1\" ";
  const size_t frame = svg.find(frame_prefix);
  ASSERT_NE(frame, std::string::npos);
  const size_t xy = frame + frame_prefix.size();
  const std::string frame_xy = svg.substr(xy, svg.find(" width", xy) - xy);
  EXPECT_THAT(svg, HasSubstr(absl::StrCat("<rect class=\"cell\" fill=\"#21918c\" ", frame_xy,
                                          " width=\"220\" height=\"220\"/>")));
  EXPECT_THAT(svg, HasSubstr(absl::StrCat(frame_xy, " width=\"440\" height=\"440\"/>")));
}

TEST(RenderArchiveSvgTest, SkipsCellsOutsideTheGrid) {
  ArchivePlot plot = GridPlot(3);
  plot.filled.push_back({-1, 0, 0, 1});
  plot.filled.push_back({80, 0, 0, 1});  // 10 * 8 cells: 0..79
  EXPECT_EQ(Count(RenderArchiveSvg(plot), "<rect class=\"cell\""), 3);
}

TEST(RenderArchiveSvgTest, ColourBarLabelsMinMidMax) {
  const std::string svg = RenderArchiveSvg(GridPlot(11));  // fitness 0..10
  EXPECT_THAT(svg, HasSubstr(">fitness</text>"));
  EXPECT_THAT(svg, HasSubstr(">0.0</text>"));
  EXPECT_THAT(svg, HasSubstr(">5.0</text>"));
  EXPECT_THAT(svg, HasSubstr(">10.0</text>"));
  EXPECT_THAT(svg, HasSubstr("fill=\"#440154\""));  // minimum: viridis 0
  EXPECT_THAT(svg, HasSubstr("fill=\"#fde725\""));  // maximum: viridis 1
  EXPECT_THAT(svg, HasSubstr("<linearGradient id=\"gdaqd-viridis\""));
}

TEST(RenderArchiveSvgTest, AxesAndTitle) {
  const std::string svg = RenderArchiveSvg(GridPlot(5));
  EXPECT_THAT(svg, HasSubstr(">descriptor 0</text>"));
  EXPECT_THAT(svg, HasSubstr(">descriptor 1</text>"));
  EXPECT_THAT(svg, HasSubstr(">grid</text>"));
  EXPECT_THAT(svg, HasSubstr(">\xE2\x88\x92"
                             "1.0</text>"));   // x tick, typographic minus
  EXPECT_THAT(svg, HasSubstr(">2.0</text>"));  // y tick
}

TEST(RenderArchiveSvgTest, ObstaclesAreRoundCappedLines) {
  ArchivePlot plot = GridPlot(4);
  plot.obstacles = {{-1, 1, 0.5f, 1, 0.02f}, {0, 0.5f, 1, 0.5f, 0.0f}};
  const std::string svg = RenderArchiveSvg(plot);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_EQ(Count(svg, "<line class=\"obstacle\""), 2);
  EXPECT_THAT(svg, HasSubstr("stroke-linecap=\"round\""));
  // 2 * 0.02 data units at 220 px per unit, and the 1.5 px minimum.
  EXPECT_THAT(svg, HasSubstr("class=\"obstacle\" stroke-width=\"8.8\""));
  EXPECT_THAT(svg, HasSubstr("class=\"obstacle\" stroke-width=\"1.5\""));
}

TEST(RenderArchiveSvgTest, NonFiniteObstaclesAreSkipped) {
  ArchivePlot plot = GridPlot(4);
  plot.obstacles = {{kNanF, 0, 1, 1, 0.1f}, {0, 0, 1, 1, kInfF}};
  const std::string svg = RenderArchiveSvg(plot);
  EXPECT_EQ(Count(svg, "class=\"obstacle\""), 1);
  EXPECT_TRUE(HasNoNonFiniteText(svg));
}

TEST(RenderArchiveSvgTest, CvtDrawsDotsAtCentroids) {
  ArchivePlot plot = GridPlot(0);
  plot.cells_x = 0;
  plot.filled = {{0, -0.5f, 1.0f, 1}, {7, 0.5f, 0.5f, 2}, {9, kNanF, 0.5f, 3}};
  const std::string svg = RenderArchiveSvg(plot);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_EQ(Count(svg, "class=\"cell\""), 2);
  EXPECT_EQ(Count(svg, "<circle"), 2);
  EXPECT_TRUE(HasNoNonFiniteText(svg));
}

TEST(RenderArchiveSvgTest, EmptyArchive) {
  const std::string svg = RenderArchiveSvg(GridPlot(0));
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_TRUE(HasNoNonFiniteText(svg));
  EXPECT_EQ(Count(svg, "class=\"cell\""), 0);
  EXPECT_THAT(svg, HasSubstr(">empty archive</text>"));
  EXPECT_THAT(svg, HasSubstr(">fitness</text>"));
}

TEST(RenderArchiveSvgTest, SingleCellTakesTheMiddleColourAndOneLabel) {
  ArchivePlot plot = GridPlot(0);
  plot.filled = {{5, 0, 0, 3.25f}};
  const std::string svg = RenderArchiveSvg(plot);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_TRUE(HasNoNonFiniteText(svg));
  EXPECT_THAT(svg, HasSubstr("class=\"cell\" fill=\"#21918c\""));
  EXPECT_THAT(svg, HasSubstr(">3.25</text>"));
}

TEST(RenderArchiveSvgTest, NonFiniteFitnessIsGreyAndIgnoredByTheScale) {
  ArchivePlot plot = GridPlot(2);  // fitness 0 and 1
  plot.filled.push_back({30, 0, 0, kNanF});
  plot.filled.push_back({31, 0, 0, -kInfF});
  const std::string svg = RenderArchiveSvg(plot);
  EXPECT_TRUE(HasNoNonFiniteText(svg));
  EXPECT_EQ(Count(svg, "class=\"cell\" fill=\"#9e9e9e\""), 2);
  EXPECT_THAT(svg, HasSubstr(">1.00</text>"));
}

TEST(RenderArchiveSvgTest, DegenerateOrNonFiniteBoxStillRenders) {
  ArchivePlot plot = GridPlot(3);
  plot.x_low = plot.x_high = 2;
  plot.y_low = kNanF;
  const std::string svg = RenderArchiveSvg(plot);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_TRUE(HasNoNonFiniteText(svg));
  EXPECT_EQ(Count(svg, "class=\"cell\""), 3);
}

TEST(RenderArchiveSvgTest, EscapesTheTitle) {
  ArchivePlot plot = GridPlot(1);
  plot.title = "a<b> & \"c\" \xC2\xB7 d";
  const std::string svg = RenderArchiveSvg(plot);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_THAT(svg, HasSubstr(">a&lt;b&gt; &amp; &quot;c&quot; \xC2\xB7 d</text>"));
}

// Three panels of `num_series` series over 0..1M evaluations, with bands.
std::vector<Panel> ProgressPanels(int num_series) {
  std::vector<Panel> panels = {{"QD-score %", {}}, {"coverage %", {}}, {"max fitness", {}}};
  for (Panel& panel : panels) {
    for (int s = 0; s < num_series; ++s) {
      Series series;
      series.label = absl::StrCat("algo ", s);
      for (int i = 0; i <= 10; ++i) {
        series.x.push_back(i * 1e5);
        series.y.push_back(s + i);
        series.y_low.push_back(s + i - 0.5);
        series.y_high.push_back(s + i + 0.5);
      }
      panel.series.push_back(series);
    }
  }
  return panels;
}

TEST(RenderProgressSvgTest, PanelsSeriesBandsAndLegend) {
  const std::string svg = RenderProgressSvg("t", "evaluations", ProgressPanels(3));
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_TRUE(HasNoNonFiniteText(svg));
  EXPECT_EQ(Count(svg, "<polyline class=\"series\""), 9);
  EXPECT_EQ(Count(svg, "<polygon class=\"band\""), 9);
  EXPECT_EQ(Count(svg, ">evaluations</text>"), 3);
  EXPECT_THAT(svg, HasSubstr(">QD-score %</text>"));
  EXPECT_THAT(svg, HasSubstr(">coverage %</text>"));
  EXPECT_THAT(svg, HasSubstr(">max fitness</text>"));
  EXPECT_EQ(Count(svg, "class=\"legend\""), 3);
  EXPECT_EQ(Count(svg, ">algo 1</text>"), 1);
  // Distinct colours per series, the same in every panel.
  EXPECT_EQ(Count(svg, "stroke=\"#1f77b4\""), 4);  // 3 panels + legend
  EXPECT_EQ(Count(svg, "stroke=\"#ff7f0e\""), 4);
  EXPECT_EQ(Count(svg, "stroke=\"#2ca02c\""), 4);
}

TEST(RenderProgressSvgTest, LargeNumbersUseSuffixes) {
  const std::string svg = RenderProgressSvg("t", "evaluations", ProgressPanels(1));
  EXPECT_THAT(svg, HasSubstr(">200k</text>"));
  EXPECT_THAT(svg, HasSubstr(">1M</text>"));
}

TEST(RenderProgressSvgTest, ThousandsSeparators) {
  Series series{"s", {0, 2500, 5000}, {1, 2, 3}, {}, {}};
  const std::vector<Panel> panels = {{"y", {series}}};
  EXPECT_THAT(RenderProgressSvg("t", "x", panels), HasSubstr(">1,000</text>"));
}

TEST(RenderProgressSvgTest, OneSeriesHasNoLegend) {
  const std::string svg = RenderProgressSvg("t", "evaluations", ProgressPanels(1));
  EXPECT_EQ(Count(svg, "class=\"legend\""), 0);
}

TEST(RenderProgressSvgTest, SkipsNonFinitePoints) {
  Series series{"s", {0, 1, 2, 3, kNan}, {-kInf, 1, kNan, 3, 4}, {}, {}};
  const std::vector<Panel> panels = {{"max fitness", {series}}};
  const std::string svg = RenderProgressSvg("t", "x", panels);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_TRUE(HasNoNonFiniteText(svg));
  const size_t start = svg.find("points=\"", svg.find("<polyline class=\"series\""));
  ASSERT_NE(start, std::string::npos) << svg;
  const size_t end = svg.find('"', start + 8);
  EXPECT_EQ(Count(svg.substr(start + 8, end - start - 8), ","), 2);  // points x=1, x=3
}

// The points="..." of the first series polyline.
std::string FirstSeriesPoints(const std::string& svg) {
  const size_t start = svg.find("points=\"", svg.find("<polyline class=\"series\""));
  if (start == std::string::npos) return "";
  return svg.substr(start + 8, svg.find('"', start + 8) - start - 8);
}

TEST(RenderProgressSvgTest, StepsHoldEachValueUntilTheNextX) {
  Series series{"s", {0, 1, 2}, {1, 3, 3}, {}, {}};
  std::vector<Panel> panels = {{"max fitness", {series}}};
  EXPECT_EQ(Count(FirstSeriesPoints(RenderProgressSvg("t", "x", panels)), ","), 3);
  panels[0].series[0].steps = true;
  const std::string svg = RenderProgressSvg("t", "x", panels);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  const std::vector<std::string> points = absl::StrSplit(FirstSeriesPoints(svg), ' ');
  ASSERT_EQ(points.size(), 5u) << svg;  // (0,1) (1,1) (1,3) (2,3) (2,3)
  const auto x_of = [](const std::string& p) { return p.substr(0, p.find(',')); };
  const auto y_of = [](const std::string& p) { return p.substr(p.find(',') + 1); };
  EXPECT_EQ(y_of(points[1]), y_of(points[0]));  // horizontal first
  EXPECT_EQ(x_of(points[2]), x_of(points[1]));  // then vertical
  EXPECT_NE(y_of(points[2]), y_of(points[1]));
}

TEST(RenderProgressSvgTest, YFromZeroAnchorsTheAxisAtZero) {
  Series series{"s", {100, 200}, {20, 40}, {}, {}};
  std::vector<Panel> panels = {{"QD-score %", {series}}};
  EXPECT_THAT(RenderProgressSvg("t", "x", panels), Not(HasSubstr(">0</text>")));
  panels[0].y_from_zero = true;
  EXPECT_THAT(RenderProgressSvg("t", "x", panels), HasSubstr(">0</text>"));
}

TEST(RenderArchiveSvgTest, AxisLabelsAndMarkers) {
  ArchivePlot plot = GridPlot(3);
  plot.x_label = "final x";
  plot.y_label = "final y";
  plot.markers = {{-0.5f, 1.8f, "goal"}, {0.0f, 0.1f, "start"}, {5.0f, 0.0f, "outside"}};
  const std::string svg = RenderArchiveSvg(plot);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_THAT(svg, HasSubstr(">final x</text>"));
  EXPECT_THAT(svg, HasSubstr(">final y</text>"));
  EXPECT_THAT(svg, Not(HasSubstr("descriptor 0")));
  EXPECT_EQ(Count(svg, "class=\"marker\""), 2);
  EXPECT_THAT(svg, HasSubstr(">goal</text>"));
  EXPECT_THAT(svg, HasSubstr(">start</text>"));
  EXPECT_THAT(svg, Not(HasSubstr("outside")));
}

TEST(RenderProgressSvgTest, SinglePointIsADot) {
  Series series{"s", {5}, {7}, {}, {}};
  const std::vector<Panel> panels = {{"y", {series}}};
  const std::string svg = RenderProgressSvg("t", "x", panels);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_TRUE(HasNoNonFiniteText(svg));
  EXPECT_EQ(Count(svg, "<circle"), 1);
  EXPECT_EQ(Count(svg, "<polyline"), 0);
}

TEST(RenderProgressSvgTest, AllEqualValuesGetARangeAndTicks) {
  Series series{"s", {0, 1, 2}, {4, 4, 4}, {4, 4, 4}, {4, 4, 4}};
  const std::vector<Panel> panels = {{"y", {series}}};
  const std::string svg = RenderProgressSvg("t", "x", panels);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_TRUE(HasNoNonFiniteText(svg));
  EXPECT_THAT(svg, HasSubstr(">4.0</text>"));
}

TEST(RenderProgressSvgTest, ExtremeValuesStayFinite) {
  Series series{"s", {-1e308, 0, 1e308}, {1e308, -1e308, 5}, {}, {}};
  Series tiny{"t", {0, 1e-300}, {1e-300, 2e-300}, {}, {}};
  const std::vector<Panel> panels = {{"huge", {series}}, {"tiny", {tiny}}};
  const std::string svg = RenderProgressSvg("t", "x", panels);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_TRUE(HasNoNonFiniteText(svg));
}

TEST(RenderArchiveSvgTest, ExtremeFitnessesStayFinite) {
  ArchivePlot plot = GridPlot(0);
  plot.filled = {{0, 0, 0, std::numeric_limits<float>::max()},
                 {1, 0, 0, std::numeric_limits<float>::lowest()},
                 {2, 0, 0, std::numeric_limits<float>::denorm_min()}};
  plot.x_low = -std::numeric_limits<float>::max();
  plot.x_high = std::numeric_limits<float>::max();
  const std::string svg = RenderArchiveSvg(plot);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_TRUE(HasNoNonFiniteText(svg));
  EXPECT_EQ(Count(svg, "<rect class=\"cell\""), 3);
}

TEST(RenderProgressSvgTest, BandOfWrongLengthIsIgnored) {
  Series series{"s", {0, 1, 2}, {1, 2, 3}, {0}, {2}};
  const std::vector<Panel> panels = {{"y", {series}}};
  EXPECT_EQ(Count(RenderProgressSvg("t", "x", panels), "<polygon"), 0);
}

TEST(RenderProgressSvgTest, EmptyInputs) {
  const std::string no_panels = RenderProgressSvg("", "", {});
  EXPECT_TRUE(IsWellFormedSvg(no_panels));
  EXPECT_TRUE(HasNoNonFiniteText(no_panels));
  const std::vector<Panel> empty_panels = {{"a", {}}, {"b", {Series{"s", {}, {}, {}, {}}}}};
  const std::string svg = RenderProgressSvg("t", "x", empty_panels);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_TRUE(HasNoNonFiniteText(svg));
  EXPECT_EQ(Count(svg, ">no data</text>"), 2);
}

TEST(RenderProgressSvgTest, EscapesLabels) {
  Series series{"<ME & co>", {0, 1}, {0, 1}, {}, {}};
  Series other{"it's", {0, 1}, {1, 0}, {}, {}};
  const std::vector<Panel> panels = {{"y<1", {series, other}}};
  const std::string svg = RenderProgressSvg("a&b", "x>0", panels);
  EXPECT_TRUE(IsWellFormedSvg(svg));
  EXPECT_THAT(svg, HasSubstr(">a&amp;b</text>"));
  EXPECT_THAT(svg, HasSubstr(">x&gt;0</text>"));
  EXPECT_THAT(svg, HasSubstr(">y&lt;1</text>"));
  EXPECT_THAT(svg, HasSubstr(">&lt;ME &amp; co&gt;</text>"));
  EXPECT_THAT(svg, HasSubstr(">it&apos;s</text>"));
}

TEST(WriteTextFileTest, WritesAtomically) {
  const std::string path = TempPath("archive.svg");
  const std::string svg = RenderArchiveSvg(GridPlot(2));
  GDAQD_ASSERT_OK(WriteTextFile(path, svg));
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(svg));
  EXPECT_THAT(ReadFileToString(path + ".tmp"), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(WriteTextFile(path + ".missing/x.svg", svg),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

}  // namespace
}  // namespace gdaqd::client
