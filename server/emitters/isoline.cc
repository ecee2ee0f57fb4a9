#include "server/emitters/isoline.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/status_macros.h"
#include "server/archive/archive_interface.h"
#include "server/emitters/gaussian.h"
#include "server/emitters/selection.h"

namespace gdaqd::server {

namespace {

// out[k] = a[k] + iso_sigma * noise[k] + line_step * (b[k] - a[k]) for k < n, as the documented
// formula rounds it (element-wise IEEE float operations, no fused multiply-adds: the library
// builds with -ffp-contract=off), so the vector width changes no bit. Cloned for AVX2 (8 floats
// per operation instead of SSE2's 4), chosen at load time.
#if defined(__x86_64__)
#define GDAQD_ISOLINE_CLONES [[gnu::target_clones("avx2", "default")]]
#else
#define GDAQD_ISOLINE_CLONES
#endif
GDAQD_ISOLINE_CLONES void Combine(const float* a, const float* b, const float* noise,
                                  float iso_sigma, float line_step, size_t n, float* out) {
  for (size_t k = 0; k < n; ++k) {
    out[k] = a[k] + iso_sigma * noise[k] + line_step * (b[k] - a[k]);
  }
}

}  // namespace

void IsolineVariation(absl::Span<const float> x1, absl::Span<const float> x2,
                      const IsolineParams& p, uint64_t child_seed, absl::Span<float> child) {
  assert(x1.size() == x2.size() && x1.size() == child.size());
  GaussianStream normal(child_seed);
  const float line_step = p.line_sigma * normal.Next();
  const float iso_sigma = p.iso_sigma;
  // The noise goes through a small buffer rather than `child`, so that child may alias x1/x2
  // (4 KiB: long enough that the scalar Next() at each chunk boundary costs little).
  constexpr size_t kChunk = 1024;
  std::array<float, kChunk> noise;
  for (size_t begin = 0; begin < child.size(); begin += kChunk) {
    const size_t n = std::min(kChunk, child.size() - begin);
    normal.Fill(absl::MakeSpan(noise.data(), n));
    // Raw pointers: Span's checked operator[] would keep the loop from vectorising.
    Combine(x1.data() + begin, x2.data() + begin, noise.data(), iso_sigma, line_step, n,
            child.data() + begin);
  }
}

void IsolineVariation(absl::Span<const float> x1, absl::Span<const float> x2,
                      const IsolineParams& p, std::mt19937_64& rng, absl::Span<float> child) {
  IsolineVariation(x1, x2, p, static_cast<uint64_t>(rng()), child);
}

absl::Status EmitIsoline(const ArchiveInterface& archive, int64_t batch_size,
                         const IsolineParams& p, std::mt19937_64& rng,
                         std::vector<float>* children) {
  assert(children != nullptr);
  if (batch_size < 0) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size = ", batch_size, "; need >= 0"));
  }
  GDAQD_ASSIGN_OR_RETURN(const std::vector<int64_t> first, SelectUniform(archive, batch_size, rng));
  GDAQD_ASSIGN_OR_RETURN(const std::vector<int64_t> second,
                         SelectUniform(archive, batch_size, rng));
  const auto num_params = static_cast<size_t>(archive.num_params());
  children->resize(static_cast<size_t>(batch_size) * num_params);
  for (size_t i = 0; i < first.size(); ++i) {
    IsolineVariation(archive.elite(first[i])->params, archive.elite(second[i])->params, p, rng,
                     absl::MakeSpan(*children).subspan(i * num_params, num_params));
  }
  return absl::OkStatus();
}

}  // namespace gdaqd::server
