// A fast, seeded, platform-stable stream of standard normal floats for the variation operators.
//
// Reproducibility contract (changing anything below changes every child of every run; the
// golden values in gaussian_test.cc pin it):
//
//  1. Uniform bits: xoshiro256++ (Blackman & Vigna, "Scrambled linear pseudorandom number
//     generators", ACM TOMS 2021). Its 256-bit state s[0..3] is filled with four successive
//     SplitMix64 outputs of the 64-bit seed (SplitMix64: state += 0x9e3779b97f4a7c15;
//     z = state; z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9; z = (z ^ z >> 27) * 0x94d049bb133111eb;
//     output z ^ z >> 31), as the xoshiro authors recommend.
//  2. Normals: the ziggurat of Marsaglia & Tsang (J. Stat. Softw. 2000) for f(x) = exp(-x^2/2)
//     with 256 layers, r = 3.6541528853610088, layer area v = 4.928673233974655e-3; the layer
//     edges x[0] = v / f(r), x[1] = r, x[i+1] = sqrt(-2 log(v / x[i] + f(x[i]))), x[256] = 0
//     are computed at compile time in double precision with our own exp/log/sqrt (gaussian.cc).
//     Each normal starts from a 32-bit candidate c. Candidates are the low, then the high half
//     of a 64-bit xoshiro word; a word's high half is kept for the next normal.
//       layer i = c & 255;  sign = c >> 31;  u = (c >> 8) & 0x7fffff (23 bits);
//       x = double(2u + 1) * (x[i] * 2^-24)          (the midpoint of u's slot in [0, x[i]))
//       if x < x[i+1]: accept (the fast path, 98.5% of candidates);
//       else if i == 0 (the tail beyond r): repeat { a = -log(U1) / r; b = -log(U2) } until
//         2b > a^2, and x = r + a;
//       else (a wedge): accept if f(x[i]) + U1 * (f(x[i+1]) - f(x[i])) < exp(-x^2 / 2); on
//         rejection start again from the low half of a fresh 64-bit word (its high half is
//         dropped).
//     Each U is ((w >> 11) + 0.5) * 2^-53 of a fresh 64-bit word w, in (0, 1); exp and log are
//     gaussian.cc's own (Exp within 1 ulp, Log within 3 ulp of glibc). The result is (float)x,
//     negated when sign is 1. The slow paths draw their words straight from xoshiro, so a
//     pending high half stays pending.
//  3. Only IEEE-754 +, -, *, / and conversions are used at run time (no libm), and the
//     library builds with -ffp-contract=off (server/emitters/CMakeLists.txt), so the same seed
//     gives the same bits with any x86-64 compiler, -march and CPU (the golden tests pass with
//     GCC 12 -O2 and -O3 -march=native, and clang 14). Never build it with -ffast-math
//     (gaussian.cc refuses to compile).
//  4. Fill may run a vector kernel (gaussian_internal::FillKernel, picked at run time from what
//     the CPU supports): it performs the same IEEE operations on the same values, and hands every
//     candidate that fails the fast path to the scalar code with the xoshiro state the scalar
//     code would have had, so every kernel gives the bits above (gaussian_test.cc compares them).
//
// Results for a given seed differ from gdaqd versions before this sampler (which used
// std::normal_distribution<float> over std::mt19937_64, whose output is implementation-defined).
// Speed (bench/gaussian_sampler.cc, fastest of 21 runs of 500 x 4,482 normals, 2-core Zen 4
// EPYC shared with other work, load average 7): Fill 1.31 ns per normal with the AVX2 kernel,
// against 1.97 ns before it (the previous build, run alternately with this one: 1.50x) and
// 1.76 ns with today's scalar kernel; Next() 3.0 ns; std::normal_distribution 21 ns. About 40%
// of Fill's time goes to the 1.5% of candidates that leave the fast path (a mispredicted branch,
// the state wound back, then the slow path).
#ifndef GDAQD_SERVER_EMITTERS_GAUSSIAN_H_
#define GDAQD_SERVER_EMITTERS_GAUSSIAN_H_

#include <array>
#include <cstdint>

#include "absl/types/span.h"

namespace gdaqd::server {

class GaussianStream;

namespace gaussian_internal {

// The implementations of GaussianStream::Fill. All give the same bits (contract item 4); they
// differ only in speed. kScalar is the portable loop over FromCandidate. kAvx2 (x86-64 with AVX2)
// draws 4 words, computes the fast path of their 8 candidates in 256-bit vectors (test against
// FastPathThresholds(), multiply, convert, sign) and stores them; at the first candidate that
// failed, it winds the xoshiro state back to just after that candidate's word (xoshiro's step is
// invertible) and hands the rest of the word to the scalar code.
enum class FillKernel { kScalar, kAvx2 };

// Whether this CPU can run `kernel` (kScalar: always).
bool FillKernelSupported(FillKernel kernel);
// GaussianStream::Fill with a given kernel, for tests and benchmarks (Fill picks the fastest
// supported one). Precondition: FillKernelSupported(kernel).
void FillWithKernel(FillKernel kernel, GaussianStream& stream, absl::Span<float> out);

}  // namespace gaussian_internal

// A stream of N(0, 1) floats, a pure function of the 64-bit seed (contract above).
// Thread-compatible: a value type with no shared state; give each thread its own stream.
// Streams for different seeds are statistically independent, even for adjacent seeds.
class GaussianStream {
 public:
  explicit GaussianStream(uint64_t seed);

  // The next standard normal sample.
  float Next();
  // Overwrites `out` with the next out.size() samples: the same values, in the same order, as
  // out.size() calls of Next().
  void Fill(absl::Span<float> out);
  // The next raw xoshiro256++ output (shares the stream with Next(); for tests and callers
  // that need uniform bits).
  uint64_t NextWord();

 private:
  friend void gaussian_internal::FillWithKernel(gaussian_internal::FillKernel kernel,
                                                GaussianStream& stream, absl::Span<float> out);

  std::array<uint64_t, 4> state_;  // xoshiro256++ state, never all zero
  uint32_t pending_half_ = 0;      // the high half of the last candidate word, if pending
  bool has_pending_half_ = false;
};

// Exposed for gaussian_test.cc only.
namespace gaussian_internal {

inline constexpr int kLayers = 256;

// x[0..256] and f(x[i]) = exp(-x[i]^2 / 2) of the ziggurat (contract item 2).
const std::array<double, kLayers + 1>& LayerEdges();
const std::array<double, kLayers + 1>& LayerDensities();
// Our deterministic exp for x in [-708, 0] and log for finite x > 0, within a few ulp of the
// true value. Outside those domains the results are unspecified.
double Exp(double x);
double Log(double x);
// The fast path's test as integers: candidate c of layer i = c & 255 with u = (c >> 8) & 0x7fffff
// passes double(2u + 1) * (x[i] * 2^-24) < x[i+1] if and only if u < FastPathThresholds()[i]
// (the product is monotone in u, so the passing u of a layer are a prefix of [0, 2^23)).
const std::array<uint32_t, kLayers>& FastPathThresholds();
// SplitMix64: advances *state and returns its next output (contract item 1).
uint64_t SplitMix64(uint64_t* state);
// A sample of N(0, 1) conditioned on Z > x[1], drawing its uniforms from the xoshiro256++ state
// (contract item 2, the tail). The state must not be all zero.
double SampleTail(std::array<uint64_t, 4>& xoshiro_state);

}  // namespace gaussian_internal
}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_EMITTERS_GAUSSIAN_H_
