// Internal to gdaqd_results: a minimal SVG 1.1 writer. It knows nothing about plots; it
// turns shapes and text into markup, escapes user text, and never prints NaN or inf.
#ifndef GDAQD_CLIENT_RESULTS_SVG_CANVAS_H_
#define GDAQD_CLIENT_RESULTS_SVG_CANVAS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gdaqd::client::internal {

// Returns `text` safe for XML character data and attribute values: &, <, >, " and ' become
// entities; control characters that XML 1.0 forbids and invalid UTF-8 become U+FFFD.
std::string XmlEscape(absl::string_view text);

// Formats a coordinate or length in px: at most 2 decimals, no trailing zeros, no "-0".
// Non-finite values (which would make the document invalid) are written as "0".
std::string FormatCoord(double value);

// A point in SVG pixel coordinates (y down).
struct Point {
  double x = 0.0;
  double y = 0.0;
};

enum class TextAnchor { kStart, kMiddle, kEnd };

// How Text() draws a label. `fill` is trusted markup (a colour literal).
struct TextStyle {
  double size = 11.0;  // font size, px
  TextAnchor anchor = TextAnchor::kStart;
  double rotate_degrees = 0.0;  // rotation about the anchor point, clockwise
  absl::string_view fill = "#222222";
  bool bold = false;
  bool italic = false;
};

// Accumulates elements in paint order; Finish() wraps them in the root <svg> element.
// The `attrs` arguments are trusted markup built by gdaqd_results itself (colours, class
// names, numbers), never user text; user text only enters through Text(), which escapes
// it. Single-thread: a canvas is built and finished by one caller.
class SvgCanvas {
 public:
  void Rect(double x, double y, double width, double height, absl::string_view attrs);
  void Line(Point from, Point to, absl::string_view attrs);
  void Circle(Point center, double radius, absl::string_view attrs);
  // Draws nothing for fewer than two points.
  void Polyline(absl::Span<const Point> points, absl::string_view attrs);
  // Draws nothing for fewer than three points.
  void Polygon(absl::Span<const Point> points, absl::string_view attrs);
  // Draws `text` with its baseline at `at.y`, anchored horizontally at `at.x`.
  void Text(Point at, absl::string_view text, const TextStyle& style);
  // <g attrs> ... </g>; Finish() closes groups left open.
  void OpenGroup(absl::string_view attrs);
  void CloseGroup();
  // Appends trusted markup verbatim (e.g. <defs>).
  void Raw(absl::string_view markup);

  // Returns the whole document, width x height px on a white background, starting with
  // "<svg". Leaves the canvas unchanged.
  std::string Finish(double width, double height) const;

 private:
  void AppendPoints(absl::Span<const Point> points);

  std::string body_;
  int open_groups_ = 0;
};

}  // namespace gdaqd::client::internal

#endif  // GDAQD_CLIENT_RESULTS_SVG_CANVAS_H_
