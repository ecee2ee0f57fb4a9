// A vectorisable scan for out-of-range floats, shared by the coordinator's result validation and
// the replay buffer (both check every transition value they receive).
#ifndef GDAQD_COMMON_FLOAT_SCAN_H_
#define GDAQD_COMMON_FLOAT_SCAN_H_

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace gdaqd::common {

// Index of the first value v of `values` with !(|v| <= limit) (NaN included), or values.size().
// Precondition: 0 <= limit <= FLT_MAX (FirstAboveMagnitude(v, FLT_MAX) is the first non-finite
// value). Checks a fixed-size block at a time without a branch per value, so that the compiler
// vectorises it: the magnitude bits of non-negative floats order like their values, with
// infinity and then NaN above every finite value, so a block passes iff its largest magnitude
// bits are at most limit's. Only a failing block is searched for the culprit. A PointMaze
// episode carries 2,250 values. Thread-safe (a pure function).
inline size_t FirstAboveMagnitude(absl::Span<const float> values, float limit) {
  constexpr size_t kBlock = 64;
  constexpr uint32_t kMagnitude = 0x7fffffffu;
  const uint32_t limit_bits = std::bit_cast<uint32_t>(limit);
  // Raw pointer: Span's hardened operator[] would check bounds per value and stop the
  // vectoriser.
  const float* data = values.data();
  const size_t n = values.size();
  size_t start = 0;
  for (; start + kBlock <= n; start += kBlock) {
    uint32_t largest = 0;
    for (size_t i = 0; i < kBlock; ++i) {
      const uint32_t bits = std::bit_cast<uint32_t>(data[start + i]) & kMagnitude;
      largest = largest > bits ? largest : bits;
    }
    if (largest > limit_bits) break;
  }
  for (size_t i = start; i < n; ++i) {
    if (!(std::abs(data[i]) <= limit)) return i;
  }
  return n;
}

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_FLOAT_SCAN_H_
