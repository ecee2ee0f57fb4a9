// Internal to gdaqd_results: the numeric side of the SVG plots (tick placement, tick label
// formatting, the viridis colormap, text width estimates). Pure functions, thread-safe.
#ifndef GDAQD_CLIENT_RESULTS_PLOT_SCALE_H_
#define GDAQD_CLIENT_RESULTS_PLOT_SCALE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gdaqd::client::internal {

// A closed interval of data values, low < high, both finite.
struct Range {
  double low = 0.0;
  double high = 1.0;
};

// Ticks of one linear axis.
struct AxisTicks {
  double step = 0.0;           // spacing of the ticks: 1, 2 or 5 times a power of ten
  std::vector<double> values;  // increasing, all inside the range they were made for
};

// Returns a usable range for [low, high]: swapped if reversed, widened to
// [v - w, v + w] (w = 5% of |v|, or 1 when v == 0) if degenerate, and [0, 1] if either end
// is not finite.
Range SanitizeRange(double low, double high);

// Returns the range widened by `fraction` of its width on both sides (matplotlib's margins),
// or `range` itself if the widened ends would not be finite.
Range Pad(Range range, double fraction);

// Returns the 1-2-5 step (> min_step) whose ticks inside `range` number closest to
// `target` (ties go to more ticks), and those ticks. Values are the multiples of the step
// nearest to exact decimals, with -0 cleaned to 0. Returns no ticks (step 0) if the range's
// width is not a finite positive double. Precondition: range.low < range.high, target >= 2.
AxisTicks NiceTicks(Range range, int target, double min_step = 0.0);

// Formats an axis label for `value` given the tick `step` and `magnitude` (the largest
// absolute value labelled on the axis, which picks one format for the whole axis):
//  - magnitude < 1e4: fixed decimals from the step and thousands separators ("2,500", "0.25");
//  - magnitude >= 1e4: k / M / G suffixes chosen per value, trailing zeros dropped
//    ("0", "500k", "1M", "1.5M");
//  - steps below 1e-6 or magnitudes of 1e15 and more: 3 significant digits, "1.2e-07".
// Negative numbers use the typographic minus sign U+2212, as matplotlib does; a value that
// prints as zero has no sign. Returns "" for a non-finite value.
std::string FormatTickLabel(double value, double step, double magnitude);

// The viridis colormap (matplotlib's default) at t in [0, 1], clamped, as "#rrggbb";
// piecewise linear through ViridisStops(), within 1/255 of matplotlib's 256-entry table.
std::string ViridisHex(double t);

// The 11 colours of viridis at t = 0, 0.1, ..., 1, as "#rrggbb" (for an SVG gradient).
absl::Span<const absl::string_view> ViridisStops();

// Approximate advance width in px of UTF-8 `text` in DejaVu Sans (the widest of the fonts
// the SVGs ask for) at `font_size` px. Used only to lay out labels without overlap.
double EstimateTextWidth(absl::string_view text, double font_size);

}  // namespace gdaqd::client::internal

#endif  // GDAQD_CLIENT_RESULTS_PLOT_SCALE_H_
