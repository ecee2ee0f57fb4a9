// Iso+LineDD variation (Vassiliades & Mouret, GECCO 2018), as in QDax's isoline_variation
// (research/algorithms.md §1.4).
#ifndef GDAQD_SERVER_EMITTERS_ISOLINE_H_
#define GDAQD_SERVER_EMITTERS_ISOLINE_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "server/archive/archive_interface.h"

namespace gdaqd::server {

// Defaults are those of the QDax MAP-Elites / PGA-ME notebooks.
struct IsolineParams {
  float iso_sigma = 0.005f;  // std of the isotropic Gaussian noise, per parameter
  float line_sigma = 0.05f;  // std of the scalar step along the parent-to-parent line
};

// child = x1 + iso_sigma * N(0, I) + line_sigma * n * (x2 - x1), with one scalar
// n ~ N(0, 1) per child, shared by all parameters. All normals come from
// GaussianStream(child_seed) (server/emitters/gaussian.h): n is its first sample, the
// isotropic noise of parameter j its (j + 2)-th. Each parameter is computed as
// (x1[j] + iso_sigma * z[j]) + (line_sigma * n) * (x2[j] - x1[j]) in float without fused
// multiply-adds, so a child is a pure, platform-stable function of the parents, `p` and
// `child_seed` (children for different seeds can be generated in any order or in parallel).
// No clipping. `child` may be the very span x1 or x2 (in-place). Precondition: x1, x2 and child
// have the same size (checked by assert). Results for a given seed differ from gdaqd versions
// before the GaussianStream sampler.
void IsolineVariation(absl::Span<const float> x1, absl::Span<const float> x2,
                      const IsolineParams& p, uint64_t child_seed, absl::Span<float> child);

// The same with child_seed = rng(): consumes exactly one 64-bit draw of `rng` per child.
void IsolineVariation(absl::Span<const float> x1, absl::Span<const float> x2,
                      const IsolineParams& p, std::mt19937_64& rng, absl::Span<float> child);

// Emits `batch_size` children of the archive's elites. All first parents, then all second
// parents, are drawn with SelectUniform (independently, with replacement; x1 == x2 is
// possible), then child i is IsolineVariation(..., rng, ...), i.e. one more draw of `rng` each. On
// success *children is resized to [batch_size, num_params] row-major and overwritten; previous
// contents are discarded. Reads `archive` only; `children` must not be null. Returns
// InvalidArgument if batch_size < 0, FailedPrecondition if the archive is empty (then *children is
// untouched).
absl::Status EmitIsoline(const ArchiveInterface& archive, int64_t batch_size,
                         const IsolineParams& p, std::mt19937_64& rng,
                         std::vector<float>* children);

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_EMITTERS_ISOLINE_H_
