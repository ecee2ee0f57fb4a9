#include "client/results/plot_scale.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gdaqd::client::internal {
namespace {

constexpr absl::string_view kMinusSign = "\xE2\x88\x92";  // U+2212

constexpr absl::string_view kViridis[] = {"#440154", "#482475", "#414487", "#355f8d",
                                          "#2a788e", "#21918c", "#22a884", "#44bf70",
                                          "#7ad151", "#bddf26", "#fde725"};

// NiceTicks() never considers steps that would give more ticks than this.
constexpr double kMaxTicks = 1000;

// Number of decimals that shows every multiple of `step` exactly (at most 8).
int DecimalsFor(double step) {
  for (int decimals = 0; decimals < 8; ++decimals) {
    const double scaled = step * std::pow(10.0, decimals);
    if (std::abs(scaled - std::round(scaled)) <= 1e-6 * scaled) return decimals;
  }
  return 8;
}

// Inserts ',' every three digits into the integer part of an unsigned decimal string.
std::string GroupThousands(const std::string& digits) {
  const size_t point = std::min(digits.find('.'), digits.size());
  std::string out;
  for (size_t i = 0; i < point; ++i) {
    if (i > 0 && (point - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  out.append(digits, point, std::string::npos);
  return out;
}

int HexValue(absl::string_view hex, int index) {
  return static_cast<int>(
      std::strtol(std::string(hex.substr(1 + 2 * index, 2)).c_str(), nullptr, 16));
}

}  // namespace

Range SanitizeRange(double low, double high) {
  if (!std::isfinite(low) || !std::isfinite(high)) return Range{};
  if (low > high) std::swap(low, high);
  if (low == high) {
    const double half_width = low == 0.0 ? 1.0 : 0.05 * std::abs(low);
    return Range{low - half_width, high + half_width};
  }
  return Range{low, high};
}

Range Pad(Range range, double fraction) {
  const double margin = (range.high - range.low) * fraction;
  const Range padded{range.low - margin, range.high + margin};
  // Near the limits of double the margin can overflow; then no margin is better than none
  // of the data being drawable.
  return std::isfinite(padded.low) && std::isfinite(padded.high) ? padded : range;
}

AxisTicks NiceTicks(Range range, int target, double min_step) {
  AxisTicks best;
  const double raw = (range.high - range.low) / std::max(1, target - 1);
  // A range too wide for a double (e.g. -1e308..1e308) or too narrow gets no ticks, rather
  // than an endless loop over infinite exponents.
  if (!std::isfinite(raw) || !(raw > 0.0)) return best;
  const int exponent = static_cast<int>(std::floor(std::log10(raw)));
  int last_exponent = exponent + 2;
  if (min_step > 0.0 && std::isfinite(min_step)) {
    last_exponent = std::max(last_exponent, static_cast<int>(std::floor(std::log10(min_step))) + 1);
  }
  int best_score = std::numeric_limits<int>::max();
  // Candidate steps from a tenth of the raw step up to 100x (or past min_step), increasing.
  for (int e = exponent - 1; e <= last_exponent; ++e) {
    for (double mantissa : {1.0, 2.0, 5.0}) {
      const double step = mantissa * std::pow(10.0, e);
      if (!std::isnormal(step) || step <= min_step * (1 + 1e-9)) continue;
      const double first = std::ceil(range.low / step - 1e-9);
      const double last = std::floor(range.high / step + 1e-9);
      const double count = std::max(0.0, last - first + 1);
      if (!(count <= kMaxTicks)) continue;
      const int score = std::abs(static_cast<int>(count) - target);
      if (score >= best_score) continue;
      best.step = step;
      best.values.clear();
      for (double i = first; i <= last; ++i) {
        // i * m / 10^k rather than i * (m / 10^k): 3 * 1 / 10 is 0.3, 3 * 0.1 is not.
        const double value = e >= 0 ? i * step : i * mantissa / std::pow(10.0, -e);
        best.values.push_back(i == 0 ? 0.0 : value);
      }
      best_score = score;
    }
  }
  return best;
}

std::string FormatTickLabel(double value, double step, double magnitude) {
  if (!std::isfinite(value)) return "";
  const double abs_value = std::abs(value);
  std::string digits;
  if (step < 1e-6 || magnitude >= 1e15) {
    digits = absl::StrFormat("%.3g", abs_value);
  } else if (magnitude < 1e4) {
    digits = GroupThousands(absl::StrFormat("%.*f", DecimalsFor(step), abs_value));
  } else {
    // Engineering suffixes chosen per value, as matplotlib's EngFormatter: 0, 500k, 1M, 1.5M.
    double unit = 1.0;
    absl::string_view suffix = "";
    if (abs_value >= 1e9) {
      unit = 1e9;
      suffix = "G";
    } else if (abs_value >= 1e6) {
      unit = 1e6;
      suffix = "M";
    } else if (abs_value >= 1e3) {
      unit = 1e3;
      suffix = "k";
    }
    digits = absl::StrFormat("%.*f", DecimalsFor(step / unit), abs_value / unit);
    if (digits.find('.') != std::string::npos) {
      while (digits.back() == '0') digits.pop_back();
      if (digits.back() == '.') digits.pop_back();
    }
    absl::StrAppend(&digits, suffix);
  }
  // No sign on values that print as zero ("-0.0").
  const bool is_zero = digits.find_first_not_of("0.,") == std::string::npos;
  return absl::StrCat(value < 0 && !is_zero ? kMinusSign : "", digits);
}

// Linear interpolation between 11 stops is what the colour bar's SVG gradient does too, so
// cells and bar agree exactly.
std::string ViridisHex(double t) {
  if (!(t >= 0.0)) t = 0.0;  // also maps NaN to 0
  t = std::min(t, 1.0);
  const double position = t * 10.0;
  const int index = std::min(9, static_cast<int>(position));
  const double frac = position - index;
  std::string out = "#";
  for (int channel = 0; channel < 3; ++channel) {
    const double a = HexValue(kViridis[index], channel);
    const double b = HexValue(kViridis[index + 1], channel);
    absl::StrAppendFormat(&out, "%02x", static_cast<int>(std::lround(a + (b - a) * frac)));
  }
  return out;
}

absl::Span<const absl::string_view> ViridisStops() { return kViridis; }

double EstimateTextWidth(absl::string_view text, double font_size) {
  // DejaVu Sans advance widths in em, grouped coarsely and rounded up: overestimating only
  // costs a little white space, underestimating makes labels collide.
  double em = 0.0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      if ((c & 0xC0) != 0x80) em += 0.7;  // count each multi-byte character once
    } else if (c >= '0' && c <= '9') {
      em += 0.64;
    } else if (c >= 'A' && c <= 'Z') {
      em += c == 'M' || c == 'W' ? 0.9 : 0.72;
    } else if (c == 'm' || c == 'w') {
      em += 0.9;
    } else if (absl::string_view("ijlft.,:;' !|").find(static_cast<char>(c)) !=
               absl::string_view::npos) {
      em += 0.34;
    } else if (c == '%') {
      em += 0.95;
    } else {
      em += 0.62;
    }
  }
  return em * font_size;
}

}  // namespace gdaqd::client::internal
