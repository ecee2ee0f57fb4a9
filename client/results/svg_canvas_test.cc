#include "client/results/svg_canvas.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdaqd::client::internal {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(XmlEscapeTest, EscapesMarkupCharacters) {
  EXPECT_EQ(XmlEscape("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
  EXPECT_EQ(XmlEscape("plain text 1,234"), "plain text 1,234");
}

TEST(XmlEscapeTest, KeepsValidUtf8AndWhitespace) {
  const std::string text = "point_maze \xC2\xB7 \xE2\x88\x92 \xF0\x9F\x90\x9C\t\n";
  EXPECT_EQ(XmlEscape(text), text);
}

TEST(XmlEscapeTest, ReplacesForbiddenBytes) {
  EXPECT_EQ(XmlEscape(std::string("a\0b", 3)), "a" + kReplacement + "b");
  EXPECT_EQ(XmlEscape("\x01\x7f"), kReplacement + kReplacement);
  EXPECT_EQ(XmlEscape("\xff"), kReplacement);                                        // not UTF-8
  EXPECT_EQ(XmlEscape("\xC2"), kReplacement);                                        // truncated
  EXPECT_EQ(XmlEscape("\xC0\xAF"), kReplacement + kReplacement);                     // overlong '/'
  EXPECT_EQ(XmlEscape("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);  // surrogate
  EXPECT_EQ(XmlEscape("\xEF\xBF\xBF"), kReplacement + kReplacement + kReplacement);  // U+FFFF
}

TEST(FormatCoordTest, CompactAndNeverNonFinite) {
  EXPECT_EQ(FormatCoord(1.5), "1.5");
  EXPECT_EQ(FormatCoord(2.0), "2");
  EXPECT_EQ(FormatCoord(12.345), "12.35");
  EXPECT_EQ(FormatCoord(-0.001), "0");
  EXPECT_EQ(FormatCoord(-7.1), "-7.1");
  EXPECT_EQ(FormatCoord(std::numeric_limits<double>::quiet_NaN()), "0");
  EXPECT_EQ(FormatCoord(-std::numeric_limits<double>::infinity()), "0");
}

TEST(SvgCanvasTest, FinishWrapsBodyInRootElement) {
  SvgCanvas canvas;
  canvas.Rect(1, 2, 3, 4, "fill=\"red\"");
  const std::string svg = canvas.Finish(100.2, 50);
  EXPECT_THAT(svg, StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
                              "width=\"101\" height=\"50\" viewBox=\"0 0 101 50\""));
  EXPECT_THAT(svg, HasSubstr("<rect fill=\"red\" x=\"1\" y=\"2\" width=\"3\" height=\"4\"/>"));
  EXPECT_THAT(svg, EndsWith("</svg>\n"));
}

TEST(SvgCanvasTest, FinishClosesOpenGroups) {
  SvgCanvas canvas;
  canvas.OpenGroup("id=\"a\"");
  canvas.OpenGroup("id=\"b\"");
  canvas.CloseGroup();
  canvas.CloseGroup();
  canvas.CloseGroup();  // extra closes are ignored
  canvas.OpenGroup("id=\"c\"");
  EXPECT_THAT(canvas.Finish(1, 1), EndsWith("<g id=\"c\">\n</g>\n</svg>\n"));
}

TEST(SvgCanvasTest, TextIsEscapedAndRotatedAboutItsAnchor) {
  SvgCanvas canvas;
  TextStyle style;
  style.anchor = TextAnchor::kMiddle;
  style.rotate_degrees = -90;
  style.bold = true;
  canvas.Text({10, 20}, "a < b & c", style);
  EXPECT_THAT(canvas.Finish(1, 1),
              HasSubstr("<text x=\"10\" y=\"20\" font-size=\"11\" fill=\"#222222\" "
                        "text-anchor=\"middle\" font-weight=\"bold\" "
                        "transform=\"rotate(-90 10 20)\">a &lt; b &amp; c</text>"));
}

TEST(SvgCanvasTest, PolylineAndPolygonNeedEnoughPoints) {
  SvgCanvas canvas;
  const std::vector<Point> one = {{1, 1}};
  const std::vector<Point> two = {{1, 1}, {2, 3.5}};
  canvas.Polyline(one, "");
  canvas.Polygon(two, "");
  EXPECT_THAT(canvas.Finish(1, 1), Not(HasSubstr("points")));
  canvas.Polyline(two, "stroke=\"blue\"");
  EXPECT_THAT(canvas.Finish(1, 1), HasSubstr("<polyline stroke=\"blue\" points=\"1,1 2,3.5\"/>"));
}

TEST(SvgCanvasTest, NonFiniteCoordinatesBecomeZero) {
  SvgCanvas canvas;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  canvas.Circle({nan, 1}, std::numeric_limits<double>::infinity(), "");
  canvas.Line({nan, nan}, {1, 2}, "");
  const std::string svg = canvas.Finish(nan, 10);
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
  EXPECT_THAT(svg, Not(HasSubstr("inf")));
}

}  // namespace
}  // namespace gdaqd::client::internal
