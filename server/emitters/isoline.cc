#include "server/emitters/isoline.h"

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
#include "server/emitters/selection.h"

namespace gdaqd::server {

void IsolineVariation(absl::Span<const float> x1, absl::Span<const float> x2,
                      const IsolineParams& p, std::mt19937_64& rng, absl::Span<float> child) {
  assert(x1.size() == x2.size() && x1.size() == child.size());
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const float line_step = p.line_sigma * normal(rng);
  for (size_t j = 0; j < child.size(); ++j) {
    child[j] = x1[j] + p.iso_sigma * normal(rng) + line_step * (x2[j] - x1[j]);
  }
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
