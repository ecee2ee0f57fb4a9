#include "server/emitters/gaussian.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define GDAQD_GAUSSIAN_AVX2 1  // the AVX2 kernel is built (and chosen at run time)
#endif

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/types/span.h"

// The reproducibility contract (gaussian.h) needs IEEE-exact arithmetic.
#if defined(__FAST_MATH__)
#error "server/emitters/gaussian.cc must not be built with -ffast-math"
#endif

namespace gdaqd::server {
namespace gaussian_internal {
namespace {

// ---- Deterministic elementary functions (constexpr: they also build the tables) ----

// fdlibm's split of ln 2: kLn2Hi has 32 significant bits, so k * kLn2Hi is exact for |k| < 2^20.
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kLog2E = 1.44269504088896338700e+00;
constexpr double kSqrt2 = 1.41421356237309514547e+00;

// 2^k for k in [-1022, 1023].
constexpr double Pow2(int k) {
  return std::bit_cast<double>(static_cast<uint64_t>(k + 1023) << 52);
}

// 1/n! for n = 0..13, each the double nearest the exact value (n! is exact in double).
constexpr std::array<double, 14> MakeExpCoefficients() {
  std::array<double, 14> c{};
  double factorial = 1.0;
  for (int n = 0; n < 14; ++n) {
    if (n > 0) factorial *= n;
    c[n] = 1.0 / factorial;
  }
  return c;
}
constexpr std::array<double, 14> kExpCoefficients = MakeExpCoefficients();

// exp(x) = 2^k e^r with |r| <= ln2 / 2; e^r by its Taylor polynomial of degree 13 (truncation
// error below 1e-17), in Horner form.
constexpr double ExpImpl(double x) {
  if (x < -708.0) return 0.0;
  const double kd = x * kLog2E;
  const int k = static_cast<int>(kd < 0.0 ? kd - 0.5 : kd + 0.5);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double p = kExpCoefficients[13];
  for (int n = 12; n >= 0; --n) p = p * r + kExpCoefficients[n];
  return p * Pow2(k);
}

// 1/(2n + 1) for n = 0..11, the coefficients of atanh(s)/s in s^2.
constexpr std::array<double, 12> MakeLogCoefficients() {
  std::array<double, 12> c{};
  for (int n = 0; n < 12; ++n) c[n] = 1.0 / (2 * n + 1);
  return c;
}
constexpr std::array<double, 12> kLogCoefficients = MakeLogCoefficients();

// log(x) = e ln 2 + log(m) with m in [sqrt(1/2), sqrt(2)]; log(m) = 2 atanh(s),
// s = (m - 1) / (m + 1), |s| <= 0.172, by its series to s^23 (truncation error below 1e-19).
// x must be finite, positive and normal.
constexpr double LogImpl(double x) {
  const uint64_t bits = std::bit_cast<uint64_t>(x);
  int e = static_cast<int>(bits >> 52) - 1023;
  double m = std::bit_cast<double>((bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
  if (m > kSqrt2) {
    m *= 0.5;
    ++e;
  }
  const double s = (m - 1.0) / (m + 1.0);
  const double z = s * s;
  double p = kLogCoefficients[11];
  for (int n = 10; n >= 0; --n) p = p * z + kLogCoefficients[n];
  return e * kLn2Hi + (e * kLn2Lo + 2.0 * s * p);
}

// sqrt(x) for x > 0 by Newton's iteration from above (monotone, so it stops when it stalls).
// Only the tables use it, at compile time.
constexpr double SqrtImpl(double x) {
  double y = x > 1.0 ? x : 1.0;
  for (int i = 0; i < 2000; ++i) {
    const double next = 0.5 * (y + x / y);
    if (next >= y) break;
    y = next;
  }
  return y;
}

// ---- Ziggurat tables (Marsaglia & Tsang 2000, 256 layers) ----

constexpr double kR = 3.6541528853610088;    // x[1], where the tail starts
constexpr double kV = 4.928673233974655e-3;  // area of every layer, tail included in layer 0

struct Tables {
  std::array<double, kLayers + 1> x{};  // layer edges, x[0] > x[1] = kR > ... > x[256] = 0
  std::array<double, kLayers + 1> f{};  // exp(-x[i]^2 / 2), f[256] = 1
  std::array<double, kLayers> w{};      // x[i] * 2^-24: half the width of one of 2^23 slots
  // The number of 23-bit u of layer i that pass the fast path (FastPathThresholds()).
  std::array<uint32_t, kLayers> threshold{};
  // {w[i], 2 threshold[i] + 1} at 2i, for one 16-byte load per candidate: u passes iff
  // 2u + 1 < 2 threshold[i] + 1, a comparison of integers below 2^25, exact in double.
  std::array<double, 2 * kLayers> width_and_bound{};
};

// The fast-path test of the contract, as the run-time code evaluates it.
constexpr bool PassesFastPathTest(const Tables& t, int i, uint32_t u) {
  return static_cast<double>(2 * u + 1) * t.w[i] < t.x[i + 1];
}

// The first u in [0, 2^23] that fails the test of layer i (2^23 if none does): a binary search,
// as the test holds on a prefix of u. (double(2u + 1) is exact and IEEE multiplication by
// w[i] > 0 is monotone, so the product, and its comparison with x[i+1], is monotone in u.)
constexpr uint32_t FastPathThreshold(const Tables& t, int i) {
  uint32_t lo = 0;        // every u < lo passes
  uint32_t hi = 1 << 23;  // every u in [hi, 2^23) fails
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (PassesFastPathTest(t, i, mid)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

constexpr Tables MakeTables() {
  Tables t;
  t.x[0] = kV / ExpImpl(-0.5 * kR * kR);
  t.x[1] = kR;
  for (int i = 1; i < kLayers - 1; ++i) {
    t.x[i + 1] = SqrtImpl(-2.0 * LogImpl(kV / t.x[i] + ExpImpl(-0.5 * t.x[i] * t.x[i])));
  }
  t.x[kLayers] = 0.0;
  for (int i = 0; i <= kLayers; ++i) t.f[i] = ExpImpl(-0.5 * t.x[i] * t.x[i]);
  for (int i = 0; i < kLayers; ++i) t.w[i] = t.x[i] * 0x1p-24;
  for (int i = 0; i < kLayers; ++i) {
    t.threshold[i] = FastPathThreshold(t, i);
    t.width_and_bound[2 * i] = t.w[i];
    t.width_and_bound[2 * i + 1] = 2.0 * t.threshold[i] + 1.0;
  }
  return t;
}

constexpr Tables kTables = MakeTables();

}  // namespace

const std::array<double, kLayers + 1>& LayerEdges() { return kTables.x; }
const std::array<double, kLayers + 1>& LayerDensities() { return kTables.f; }
const std::array<uint32_t, kLayers>& FastPathThresholds() { return kTables.threshold; }
double Exp(double x) { return ExpImpl(x); }
double Log(double x) { return LogImpl(x); }

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace gaussian_internal

namespace {

using gaussian_internal::kLayers;
using gaussian_internal::kR;
using gaussian_internal::kTables;

// xoshiro256++ 1.0 (https://prng.di.unimi.it/xoshiro256plusplus.c).
inline uint64_t XoshiroNext(std::array<uint64_t, 4>& s) {
  const uint64_t result = std::rotl(s[0] + s[3], 23) + s[0];
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = std::rotl(s[3], 45);
  return result;
}

// A uniform double in (0, 1) from one fresh word.
inline double OpenUniform(std::array<uint64_t, 4>& s) {
  return (static_cast<double>(XoshiroNext(s) >> 11) + 0.5) * 0x1p-53;
}

// (float)x with the sign bit of candidate c.
inline float WithSign(double x, uint32_t c) {
  return std::bit_cast<float>(std::bit_cast<uint32_t>(static_cast<float>(x)) ^ (c & 0x80000000u));
}

// The magnitude candidate c proposes: the midpoint of its 23-bit slot in [0, x[layer]).
inline double Magnitude(uint32_t c) {
  return static_cast<double>(((c >> 7) & 0xfffffeu) | 1u) * kTables.w[c & (kLayers - 1)];
}

// The contract's wedge test y < Exp(-x^2 / 2), for x in layer i >= 1 (x[i+1] <= x < x[i]),
// decided without Exp unless y lies very near the density (Exp's Horner chain was most of the
// slow path's cost). With a = x[i+1] and t = (x - a)(x + a) / 2 in [0, 0.73],
// exp(-x^2 / 2) = f[i+1] e^-t, and the Taylor polynomials of e^-t of degree 5 and 4 bound it from
// below and above (alternating remainders). The margin covers the rounding of these bounds, of
// f[i+1] and of Exp (each below 1e-14 relative), so the answer is always the one Exp gives.
inline bool BelowDensity(double y, double x, uint32_t i) {
  constexpr double kMargin = 1e-12;
  const double a = kTables.x[i + 1];
  const double t = 0.5 * ((x - a) * (x + a));
  const double f = kTables.f[i + 1];
  // First the bounds of degree 1 and 2 (1 - t <= e^-t <= 1 - t + t^2 / 2): they decide almost
  // every test (the gap is t^2 / 2, and t is small in all but the top few layers) and resolve
  // the branch some 20 cycles sooner, which is what a mispredicted one costs.
  const double p1 = 1.0 - t;
  if (y < f * p1 * (1.0 - kMargin)) return true;
  if (y >= f * (p1 + 0.5 * (t * t)) * (1.0 + kMargin)) return false;
  const double p4 = 1.0 + t * (-1.0 + t * (0.5 + t * (-1.0 / 6.0 + t * (1.0 / 24.0))));
  const double t2 = t * t;
  const double p5 = p4 - t2 * t2 * t * (1.0 / 120.0);
  if (y < f * p5 * (1.0 - kMargin)) return true;
  if (y >= f * p4 * (1.0 + kMargin)) return false;
  return y < gaussian_internal::Exp(-0.5 * x * x);
}

// Everything after a failed fast-path test: the tail, the wedges and rejections.
ABSL_ATTRIBUTE_NOINLINE float SlowPath(uint32_t c, std::array<uint64_t, 4>& s) {
  for (;;) {
    const uint32_t i = c & (kLayers - 1);
    const double x = Magnitude(c);
    if (x < kTables.x[i + 1]) return WithSign(x, c);
    if (i == 0) return WithSign(gaussian_internal::SampleTail(s), c);
    const double y = kTables.f[i] + OpenUniform(s) * (kTables.f[i + 1] - kTables.f[i]);
    if (BelowDensity(y, x, i)) return WithSign(x, c);
    c = static_cast<uint32_t>(XoshiroNext(s));
  }
}

// One normal from candidate c; the fast path is inlined into the callers' loops. The slow path
// works on a copy of the state, so that `s` never has its address taken and can stay in
// registers across a loop.
inline float FromCandidate(uint32_t c, std::array<uint64_t, 4>& s) {
  const double x = Magnitude(c);
  if (ABSL_PREDICT_TRUE(x < kTables.x[(c & (kLayers - 1)) + 1])) return WithSign(x, c);
  std::array<uint64_t, 4> copy = s;
  const float result = SlowPath(c, copy);
  s = copy;
  return result;
}

}  // namespace

// Marsaglia's tail method: r + a, with a ~ Exponential(r) accepted when a^2 < 2b.
double gaussian_internal::SampleTail(std::array<uint64_t, 4>& xoshiro_state) {
  for (;;) {
    const double a = -Log(OpenUniform(xoshiro_state)) / kR;
    const double b = -Log(OpenUniform(xoshiro_state));
    if (b + b > a * a) return kR + a;
  }
}

GaussianStream::GaussianStream(uint64_t seed) {
  for (uint64_t& word : state_) word = gaussian_internal::SplitMix64(&seed);
}

uint64_t GaussianStream::NextWord() { return XoshiroNext(state_); }

float GaussianStream::Next() {
  if (has_pending_half_) {
    has_pending_half_ = false;
    return FromCandidate(pending_half_, state_);
  }
  const uint64_t word = XoshiroNext(state_);
  pending_half_ = static_cast<uint32_t>(word >> 32);
  has_pending_half_ = true;
  return FromCandidate(static_cast<uint32_t>(word), state_);
}

namespace {

// Two normals per word from `words` fresh words, as the scalar loop of Fill: the state lives in
// a local so that it stays in registers.
void FillWordsScalar(std::array<uint64_t, 4>& state, float* out, size_t words) {
  std::array<uint64_t, 4> s = state;
  for (size_t k = 0; k < words; ++k) {
    const uint64_t word = XoshiroNext(s);
    out[2 * k] = FromCandidate(static_cast<uint32_t>(word), s);
    out[2 * k + 1] = FromCandidate(static_cast<uint32_t>(word >> 32), s);
  }
  state = s;
}

#if defined(GDAQD_GAUSSIAN_AVX2)

// Words per block of the AVX2 kernel: 8 candidates, one 256-bit vector of 32-bit lanes.
constexpr size_t kAvx2BlockWords = 4;

// XoshiroNext's state transition undone: Rewind(s) after XoshiroNext(s) restores s. (With the
// state (a, b, c, d) before the step and (A, B, C, D) after it: D = rotl(d ^ b, 45),
// A = a ^ d ^ b, B = b ^ c ^ a and C = c ^ a ^ (b << 17), so B ^ C = b ^ (b << 17).)
inline void Rewind(std::array<uint64_t, 4>& s) {
  const uint64_t d1 = std::rotr(s[3], 45);  // d ^ b
  uint64_t b = s[1] ^ s[2];                 // b ^ (b << 17), inverted by the next line
  b ^= (b << 17) ^ (b << 34) ^ (b << 51);
  const uint64_t a = s[0] ^ d1;
  const uint64_t c = s[1] ^ b ^ a;
  s = {a, b, c, d1 ^ b};
}

// w[i] and 2 threshold[i] + 1 of the 4 candidates of words a and b (low half first), in stream
// order.
struct WidthsAndBounds {
  __m256d w;
  __m256d bound;
};
__attribute__((target("avx2"))) inline WidthsAndBounds LoadLayersAvx2(uint64_t a, uint64_t b) {
  constexpr uint64_t kMask = kLayers - 1;
  const double* pairs = kTables.width_and_bound.data();
  const __m256d p02 = _mm256_set_m128d(_mm_loadu_pd(pairs + 2 * (b & kMask)),
                                       _mm_loadu_pd(pairs + 2 * (a & kMask)));
  const __m256d p13 = _mm256_set_m128d(_mm_loadu_pd(pairs + 2 * ((b >> 32) & kMask)),
                                       _mm_loadu_pd(pairs + 2 * ((a >> 32) & kMask)));
  return {_mm256_unpacklo_pd(p02, p13), _mm256_unpackhi_pd(p02, p13)};
}

// The fast path of the 8 candidates of words w0..w3 (low half first): stores their normals to
// out[0..8) whether or not they pass, and returns the mask of those that pass (bit m: candidate
// m). Each lane computes x = double(2u + 1) * w[i], rounds it to float and sets the sign bit:
// IEEE conversions, one multiply and bit operations, so a passing candidate c gets exactly the
// bits WithSign(Magnitude(c), c) gives. The test x < x[i+1] is made as 2u + 1 < 2 threshold[i]
// + 1 (the same decision, FastPathThresholds()), which does not wait for the multiply: the
// sooner the block's branch resolves, the less work a failing block throws away.
__attribute__((target("avx2"))) inline uint32_t FastPathAvx2(uint64_t w0, uint64_t w1, uint64_t w2,
                                                             uint64_t w3, float* out) {
  const __m256i c = _mm256_set_epi64x(static_cast<int64_t>(w3), static_cast<int64_t>(w2),
                                      static_cast<int64_t>(w1), static_cast<int64_t>(w0));
  const __m256i odd = _mm256_or_si256(
      _mm256_and_si256(_mm256_srli_epi32(c, 7), _mm256_set1_epi32(0xfffffe)), _mm256_set1_epi32(1));
  const WidthsAndBounds lo = LoadLayersAvx2(w0, w1);
  const WidthsAndBounds hi = LoadLayersAvx2(w2, w3);
  const __m256d odd_lo = _mm256_cvtepi32_pd(_mm256_castsi256_si128(odd));
  const __m256d odd_hi = _mm256_cvtepi32_pd(_mm256_extracti128_si256(odd, 1));
  const __m256d x_lo = _mm256_mul_pd(odd_lo, lo.w);
  const __m256d x_hi = _mm256_mul_pd(odd_hi, hi.w);
  const __m256 x = _mm256_set_m128(_mm256_cvtpd_ps(x_hi), _mm256_cvtpd_ps(x_lo));
  const __m256i sign = _mm256_and_si256(c, _mm256_set1_epi32(static_cast<int>(0x80000000u)));
  _mm256_storeu_ps(out, _mm256_xor_ps(x, _mm256_castsi256_ps(sign)));
  const auto pass_lo =
      static_cast<uint32_t>(_mm256_movemask_pd(_mm256_cmp_pd(odd_lo, lo.bound, _CMP_LT_OQ)));
  const auto pass_hi =
      static_cast<uint32_t>(_mm256_movemask_pd(_mm256_cmp_pd(odd_hi, hi.bound, _CMP_LT_OQ)));
  return pass_lo | pass_hi << 4;
}

// The normals from candidate `first` of `word` (0: both halves, 1: the high half only) by the
// scalar code, from state `s`, where candidate `first` failed the fast path. Out of line: the
// cold end of a block of FillWordsAvx2, which keeps its values in registers. The failed
// candidate goes straight to SlowPath: testing it again here would be a branch taken or not
// depending on which half failed, mispredicted half the time.
ABSL_ATTRIBUTE_NOINLINE void ScalarWord(uint64_t word, int first, std::array<uint64_t, 4>& s,
                                        float* out) {
  out[first] = SlowPath(static_cast<uint32_t>(word >> (32 * first)), s);
  if (first == 0) out[1] = FromCandidate(static_cast<uint32_t>(word >> 32), s);
}

// The end of a block of a vector kernel (its `words`, drawn from xoshiro, and `passed`, the mask
// of its candidates that pass the fast path, not all of them) from its first failing candidate
// on: winds `s`, the state after the block's last word, back to just after that candidate's word,
// where the scalar code takes over for the rest of the word (the earlier candidates passed, and
// their lanes are already right), and returns the number of the block's words consumed. The next
// block starts with the next word and overwrites the lanes after it.
template <size_t kWords>
inline size_t FinishBlock(const std::array<uint64_t, kWords>& words, uint32_t passed,
                          std::array<uint64_t, 4>& s, float* block) {
  const int first_failed = std::countr_one(passed);
  const int q = first_failed / 2;  // its word
  for (int r = q + 1; r < static_cast<int>(kWords); ++r) Rewind(s);
  std::array<uint64_t, 4> copy = s;  // so that `s` never has its address taken
  ScalarWord(words[q], first_failed % 2, copy, block + 2 * q);
  s = copy;
  return static_cast<size_t>(q) + 1;
}

// FillWordsScalar with blocks of 4 words whose 8 candidates are tested and computed at once
// (FinishBlock at the first that fails). Returns the number of words consumed as blocks (the
// caller fills the rest, fewer than 4, with FillWordsScalar).
__attribute__((target("avx2"))) size_t FillWordsAvx2(std::array<uint64_t, 4>& state, float* out,
                                                     size_t words) {
  std::array<uint64_t, 4> s = state;
  size_t k = 0;
  while (k + kAvx2BlockWords <= words) {
    const uint64_t w0 = XoshiroNext(s);
    const uint64_t w1 = XoshiroNext(s);
    const uint64_t w2 = XoshiroNext(s);
    const uint64_t w3 = XoshiroNext(s);
    float* block = out + 2 * k;
    const uint32_t passed = FastPathAvx2(w0, w1, w2, w3, block);
    if (ABSL_PREDICT_TRUE(passed == 0xff)) {
      k += kAvx2BlockWords;
      continue;
    }
    k += FinishBlock<kAvx2BlockWords>({w0, w1, w2, w3}, passed, s, block);
  }
  state = s;
  return k;
}

#endif  // GDAQD_GAUSSIAN_AVX2

// The kernel Fill uses: the fastest this CPU supports.
gaussian_internal::FillKernel BestFillKernel() {
  static const gaussian_internal::FillKernel best =
      gaussian_internal::FillKernelSupported(gaussian_internal::FillKernel::kAvx2)
          ? gaussian_internal::FillKernel::kAvx2
          : gaussian_internal::FillKernel::kScalar;
  return best;
}

}  // namespace

bool gaussian_internal::FillKernelSupported(FillKernel kernel) {
  switch (kernel) {
    case FillKernel::kScalar:
      return true;
    case FillKernel::kAvx2:
#if defined(GDAQD_GAUSSIAN_AVX2)
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2");
#else
      return false;
#endif
  }
  return false;
}

void gaussian_internal::FillWithKernel(FillKernel kernel, GaussianStream& stream,
                                       absl::Span<float> out) {
  size_t j = 0;
  if (stream.has_pending_half_ && !out.empty()) out[j++] = stream.Next();
  const size_t words = (out.size() - j) / 2;
  size_t done = 0;
#if defined(GDAQD_GAUSSIAN_AVX2)
  if (kernel == FillKernel::kAvx2) done = FillWordsAvx2(stream.state_, out.data() + j, words);
#else
  static_cast<void>(kernel);  // only kScalar exists off x86-64
#endif
  FillWordsScalar(stream.state_, out.data() + j + 2 * done, words - done);
  j += 2 * words;
  if (j < out.size()) out[j] = stream.Next();
}

void GaussianStream::Fill(absl::Span<float> out) {
  gaussian_internal::FillWithKernel(BestFillKernel(), *this, out);
}

}  // namespace gdaqd::server
