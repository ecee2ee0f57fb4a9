#include "client/results/svg_canvas.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gdaqd::client::internal {
namespace {

constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at the start of `text` that encodes a character
// XML 1.0 allows, or 0 if there is none.
size_t ValidXmlSequenceLength(absl::string_view text) {
  const auto lead = static_cast<unsigned char>(text[0]);
  size_t length = 0;
  uint32_t code_point = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code_point = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code_point = lead & 0x07;
  }
  if (length == 0 || text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  const bool overlong = code_point < kMinForLength[length];
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  const bool not_a_char = code_point == 0xFFFE || code_point == 0xFFFF;
  if (overlong || surrogate || not_a_char || code_point > 0x10FFFF) return 0;
  return length;
}

absl::string_view AnchorName(TextAnchor anchor) {
  switch (anchor) {
    case TextAnchor::kStart:
      return "start";
    case TextAnchor::kMiddle:
      return "middle";
    case TextAnchor::kEnd:
      return "end";
  }
  return "start";
}

// `attrs` followed by a space, so that element-specific attributes (a class, a colour) come
// first and geometry last; empty if there are none.
std::string Attrs(absl::string_view attrs) {
  return attrs.empty() ? std::string() : absl::StrCat(attrs, " ");
}

}  // namespace

// A single bad byte makes an XML parser reject the whole document, so user text (titles, legend
// labels typed by a researcher) is repaired rather than passed through.
std::string XmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) {
      const size_t length = ValidXmlSequenceLength(text.substr(i));
      if (length == 0) {
        absl::StrAppend(&out, kReplacement);
        ++i;
      } else {
        absl::StrAppend(&out, text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\t':
      case '\n':
      case '\r':
        out.push_back(c);
        break;
      default:
        if (byte < 0x20 || byte == 0x7F) {
          absl::StrAppend(&out, kReplacement);
        } else {
          out.push_back(c);
        }
    }
    ++i;
  }
  return out;
}

// Two decimals are 1/100 px: finer than any renderer resolves, and half the size of %g.
std::string FormatCoord(double value) {
  if (!std::isfinite(value)) return "0";
  std::string text = absl::StrFormat("%.2f", value);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  if (text == "-0") text = "0";
  return text;
}

void SvgCanvas::Rect(double x, double y, double width, double height, absl::string_view attrs) {
  absl::StrAppend(&body_, "<rect ", Attrs(attrs), "x=\"", FormatCoord(x), "\" y=\"", FormatCoord(y),
                  "\" width=\"", FormatCoord(width), "\" height=\"", FormatCoord(height), "\"/>\n");
}

void SvgCanvas::Line(Point from, Point to, absl::string_view attrs) {
  absl::StrAppend(&body_, "<line ", Attrs(attrs), "x1=\"", FormatCoord(from.x), "\" y1=\"",
                  FormatCoord(from.y), "\" x2=\"", FormatCoord(to.x), "\" y2=\"", FormatCoord(to.y),
                  "\"/>\n");
}

void SvgCanvas::Circle(Point center, double radius, absl::string_view attrs) {
  absl::StrAppend(&body_, "<circle ", Attrs(attrs), "cx=\"", FormatCoord(center.x), "\" cy=\"",
                  FormatCoord(center.y), "\" r=\"", FormatCoord(radius), "\"/>\n");
}

void SvgCanvas::AppendPoints(absl::Span<const Point> points) {
  for (size_t i = 0; i < points.size(); ++i) {
    absl::StrAppend(&body_, i == 0 ? "" : " ", FormatCoord(points[i].x), ",",
                    FormatCoord(points[i].y));
  }
}

void SvgCanvas::Polyline(absl::Span<const Point> points, absl::string_view attrs) {
  if (points.size() < 2) return;
  absl::StrAppend(&body_, "<polyline ", Attrs(attrs), "points=\"");
  AppendPoints(points);
  body_ += "\"/>\n";
}

void SvgCanvas::Polygon(absl::Span<const Point> points, absl::string_view attrs) {
  if (points.size() < 3) return;
  absl::StrAppend(&body_, "<polygon ", Attrs(attrs), "points=\"");
  AppendPoints(points);
  body_ += "\"/>\n";
}

void SvgCanvas::Text(Point at, absl::string_view text, const TextStyle& style) {
  const std::string x = FormatCoord(at.x);
  const std::string y = FormatCoord(at.y);
  absl::StrAppend(&body_, "<text x=\"", x, "\" y=\"", y, "\" font-size=\"", FormatCoord(style.size),
                  "\" fill=\"", style.fill, "\"");
  if (style.anchor != TextAnchor::kStart) {
    absl::StrAppend(&body_, " text-anchor=\"", AnchorName(style.anchor), "\"");
  }
  if (style.bold) body_ += " font-weight=\"bold\"";
  if (style.italic) body_ += " font-style=\"italic\"";
  if (style.rotate_degrees != 0.0) {
    absl::StrAppend(&body_, " transform=\"rotate(", FormatCoord(style.rotate_degrees), " ", x, " ",
                    y, ")\"");
  }
  absl::StrAppend(&body_, ">", XmlEscape(text), "</text>\n");
}

void SvgCanvas::OpenGroup(absl::string_view attrs) {
  absl::StrAppend(&body_, "<g ", attrs, ">\n");
  ++open_groups_;
}

void SvgCanvas::CloseGroup() {
  if (open_groups_ == 0) return;
  body_ += "</g>\n";
  --open_groups_;
}

void SvgCanvas::Raw(absl::string_view markup) { absl::StrAppend(&body_, markup); }

std::string SvgCanvas::Finish(double width, double height) const {
  const std::string w = FormatCoord(std::ceil(width));
  const std::string h = FormatCoord(std::ceil(height));
  std::string out = absl::StrCat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"", w, "\" height=\"", h,
      "\" viewBox=\"0 0 ", w, " ", h,
      "\" font-family=\"Helvetica, Arial, 'DejaVu Sans', 'Liberation Sans', sans-serif\">\n",
      "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
  out.reserve(out.size() + body_.size() + 16 * open_groups_ + 8);
  out += body_;
  for (int i = 0; i < open_groups_; ++i) out += "</g>\n";
  out += "</svg>\n";
  return out;
}

}  // namespace gdaqd::client::internal
