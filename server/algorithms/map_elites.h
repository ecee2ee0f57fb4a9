// MAP-Elites (Mouret & Clune 2015) with QDax's defaults, as an ask/tell loop: Ask() proposes a
// batch of policies (the random initial population first, then isoline children of the archive),
// the caller evaluates them anywhere, Tell() inserts the outcomes.
#ifndef GDAQD_SERVER_ALGORITHMS_MAP_ELITES_H_
#define GDAQD_SERVER_ALGORITHMS_MAP_ELITES_H_

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/mlp_policy.h"
#include "common/task.h"
#include "gdaqd/v1/config.pb.h"
#include "server/archive/archive_interface.h"
#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

// What one Tell() did to the archive.
struct TellSummary {
  int64_t added = 0;      // NEW
  int64_t improved = 0;   // IMPROVED
  int64_t not_added = 0;  // NOT_ADDED
  int64_t diverged = 0;   // skipped: physics diverged
  int64_t failed = 0;     // skipped: the episode produced an error
};

// Builds the archive a validated config asks for (grid or CVT over the task's descriptor box).
absl::StatusOr<std::unique_ptr<ArchiveInterface>> MakeArchive(
    const gdaqd::v1::ExperimentConfig& config, const common::TaskSpec& spec, int64_t num_params);

// Single-thread: owned and driven by one experiment runner. Deterministic given the config seed.
class MapElites {
 public:
  // `config` must be validated with defaults applied. InvalidArgument otherwise.
  static absl::StatusOr<std::unique_ptr<MapElites>> Create(
      const gdaqd::v1::ExperimentConfig& config);

  // Proposes `count` policies, row-major [count, num_params] into *params. The first call gives
  // Lecun-uniform random networks; later calls isoline children of the archive (if the archive is
  // still empty, e.g. every initial episode failed, random networks again).
  void Ask(int64_t count, std::vector<float>* params);

  // Inserts evaluated policies: params [n, num_params], outcomes [n]. Diverged or failed
  // outcomes are never inserted.
  absl::StatusOr<TellSummary> Tell(absl::Span<const float> params,
                                   absl::Span<const EvalOutcome> outcomes);

  const ArchiveInterface& archive() const { return *archive_; }
  const common::TaskSpec& spec() const { return spec_; }
  const common::MlpLayout& layout() const { return layout_; }
  // QD-score offset for this task: reward offset per step x episode length.
  double qd_offset() const { return spec_.reward_offset * spec_.episode_length; }

 private:
  MapElites(gdaqd::v1::ExperimentConfig config, common::TaskSpec spec, common::MlpLayout layout,
            std::unique_ptr<ArchiveInterface> archive);

  const gdaqd::v1::ExperimentConfig config_;
  const common::TaskSpec spec_;
  const common::MlpLayout layout_;
  std::unique_ptr<ArchiveInterface> archive_;
  std::mt19937_64 rng_;
  uint64_t random_policies_ = 0;  // how many random networks were drawn (seeds them)
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_MAP_ELITES_H_
