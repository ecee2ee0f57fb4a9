// The two pictures of a run that a researcher would otherwise draw with matplotlib, as
// hand-written SVG 1.1 (no dependencies; opens in any browser, Inkscape, or LaTeX via
// svg -> pdf):
//  - RenderArchiveSvg(): the 2-D descriptor space with each filled cell coloured by fitness
//    (viridis), a colour bar and the maze walls, like Figure 3 of the GDA-QD paper;
//  - RenderProgressSvg(): side-by-side panels of metrics against evaluations (QD-score,
//    coverage, max fitness), one line per algorithm with an optional quartile band, like
//    Figure 4.
// Rendering is pure: it takes plain structs and returns the document as text; the output
// never contains "nan" or "inf", whatever the input. Every function here is thread-safe.
#ifndef GDAQD_CLIENT_RESULTS_SVG_PLOTS_H_
#define GDAQD_CLIENT_RESULTS_SVG_PLOTS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace gdaqd::client {

// A maze wall: the capsule around the segment (x0, y0)-(x1, y1) with half-thickness
// `radius`, all in descriptor (data) units.
struct Obstacle {
  float x0, y0, x1, y1, radius;
};

// What RenderArchiveSvg() draws. Only 2-D descriptors can be drawn.
struct ArchivePlot {
  std::string title;  // e.g. "point_maze · MAP-Elites · 12,345 evaluations"; any UTF-8
  // Descriptor box; dimension 0 is horizontal. A reversed box is swapped; a degenerate or
  // non-finite one is replaced (see plot_scale.h SanitizeRange) so the picture still renders.
  float x_low, x_high, y_low, y_high;
  // Either a grid (cells_x > 0 and cells_y > 0; cell index = ix * cells_y + iy with ix along
  // dimension 0) whose filled cells are drawn as rectangles, or, otherwise, a CVT whose
  // filled cells are drawn as dots at their centroids. Grid cells with an index outside
  // [0, cells_x * cells_y) are skipped.
  int cells_x = 0, cells_y = 0;
  struct Cell {
    int64_t cell;                  // index in the archive
    float centroid_x, centroid_y;  // cell centre, data units (used in CVT mode)
    float fitness;                 // non-finite fitnesses are drawn grey
  };
  std::vector<Cell> filled;
  // Maze walls, drawn on top in dark grey with round caps, clipped to the descriptor box;
  // stroke width 2 * radius in data units, at least 1.5 px. Non-finite walls are skipped.
  std::vector<Obstacle> obstacles;
  // Axis labels: what the descriptor dimensions are, e.g. "final x (m)".
  std::string x_label = "descriptor 0";
  std::string y_label = "descriptor 1";
  // Points to mark on top of everything, e.g. the task's start and goal: a white-edged dark
  // disc with its label beside it. Markers outside the box or not finite are skipped.
  struct Marker {
    float x, y;         // data units
    std::string label;  // e.g. "goal"
  };
  std::vector<Marker> markers;
};

// Renders `plot`: the descriptor box with y pointing up, axes with 1-2-5 ticks labelled
// x_label / y_label, filled cells coloured by viridis from the minimum (dark
// purple) to the maximum (yellow) of the finite fitnesses, a vertical colour bar titled
// "fitness" with min / mid / max labels, the walls, and the title. The plotting area keeps
// the box's aspect ratio (clamped to 1:4 .. 4:1). An archive without finite fitness shows
// "empty archive" and an unlabelled colour bar; if all finite fitnesses are equal, cells
// take the middle colour and the bar has a single label. Grid cells are
// `<rect class="cell">`, CVT cells `<circle class="cell">`, walls `<line class="obstacle">`,
// markers `<circle class="marker">` with a `<text>` label.
std::string RenderArchiveSvg(const ArchivePlot& plot);

// One curve of a progress panel, e.g. the median over seeds of one algorithm.
struct Series {
  std::string label;      // legend entry; series with equal labels share a colour
  std::vector<double> x;  // e.g. evaluations; only the first min(x.size(), y.size()) count
  std::vector<double> y;
  // Optional band (e.g. the inter-quartile range), drawn shaded: the same length as y, or
  // empty for none (other lengths are ignored).
  std::vector<double> y_low, y_high;
  // Draw as a staircase (each value holds until the next x), for running maxima such as max
  // fitness; otherwise points are joined by straight lines.
  bool steps = false;
};

// One side-by-side panel: its y axis label and its curves.
struct Panel {
  std::string y_label;  // e.g. "QD-score %"
  std::vector<Series> series;
  // The y axis includes 0 and, when no value is negative, starts at 0 without margin
  // (percentages and counts); otherwise it spans the data with 5% margins.
  bool y_from_zero = false;
};

// Renders `panels` side by side under `title`, each with its own y axis and `x_label` under
// it: 1-2-5 ticks with thousands separators or k/M suffixes, light grid lines, one colour
// per distinct series label (consistent across panels, tab10 palette), shaded bands, and a
// legend under the panels when there is more than one distinct label. Series with `steps` are
// drawn as staircases (their bands too). Points with a
// non-finite x or y are skipped (band points likewise with y_low/y_high); a series with a
// single point is drawn as a dot; a panel without finite data shows "no data". Series are
// `<polyline class="series">` (or `<circle class="series">`), bands
// `<polygon class="band">`.
std::string RenderProgressSvg(const std::string& title, const std::string& x_label,
                              absl::Span<const Panel> panels);

// Writes `contents` to `path` atomically (see atomic_file.h). Returns an errno-derived code
// if the file cannot be written.
absl::Status WriteTextFile(const std::string& path, std::string_view contents);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_RESULTS_SVG_PLOTS_H_
