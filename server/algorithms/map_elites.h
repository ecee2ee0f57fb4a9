// MAP-Elites (Mouret & Clune 2015) with QDax's defaults, as an ask/tell loop: Ask() proposes a
// batch of policies (the random initial population first, then isoline children of the archive),
// the caller evaluates them anywhere, Tell() inserts the outcomes. Also the archive helpers every
// algorithm shares (MakeArchive, InsertOutcomes, random initial networks).
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
#include "server/algorithms/algorithm.h"
#include "server/archive/archive_interface.h"
#include "server/models/replay_buffer.h"
#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

// Builds the archive a validated config asks for (grid or CVT over the task's descriptor box).
// CVT construction polls `interrupt` (may be null) and returns Cancelled once it is set.
absl::StatusOr<std::unique_ptr<ArchiveInterface>> MakeArchive(
    const gdaqd::v1::ExperimentConfig& config, const common::TaskSpec& spec, int64_t num_params,
    const CancelFlag* interrupt = nullptr);

// What every algorithm builds first from a config: its task, its policy layout and an empty
// archive of the configured kind.
struct QdProblem {
  common::TaskSpec spec;
  common::MlpLayout layout;
  std::unique_ptr<ArchiveInterface> archive;
};
// `config` must already be validated (ValidateExperimentConfig); errors come from building the
// archive (e.g. CVT k-means, Cancelled once `interrupt` is set).
absl::StatusOr<QdProblem> MakeQdProblem(const gdaqd::v1::ExperimentConfig& config,
                                        const CancelFlag* interrupt = nullptr);

// Inserts evaluated policies (params [n, num_params], outcomes [n]) into `archive`, skipping
// diverged and failed outcomes. InvalidArgument if the sizes disagree.
absl::StatusOr<TellSummary> InsertOutcomes(ArchiveInterface& archive,
                                           absl::Span<const float> params,
                                           absl::Span<const EvalOutcome> outcomes);

// Adds each usable outcome's transitions (not failed, not diverged, non-empty) to `buffer`,
// tagged with provenance[i]; the caller has checked (AskedBatches::Pop) that there is one
// provenance per outcome. Returns how many episodes the buffer rejected as malformed (wrong row
// size, non-finite values); those are skipped.
int64_t StoreTransitions(models::ReplayBuffer& buffer, absl::Span<const EvalOutcome> outcomes,
                         absl::Span<const models::Provenance> provenance);

// Writes `count` Lecun-uniform random networks [count, num_params] into *params. Network k of
// the experiment (counted by *drawn, which is advanced) has its own stream seeded from
// (seed, k), so the sequence does not depend on how it is split into calls.
void RandomPolicies(const common::MlpLayout& layout, uint64_t seed, int64_t count, uint64_t* drawn,
                    std::vector<float>* params);

// Single-thread: owned and driven by one experiment runner. Deterministic given the config seed.
class MapElites final : public QdAlgorithm {
 public:
  // `config` must be validated with defaults applied. InvalidArgument otherwise; Cancelled if
  // `interrupt` (may be null) is set during CVT construction. The only long step of MAP-Elites
  // is that construction, so the flag is not kept.
  static absl::StatusOr<std::unique_ptr<MapElites>> Create(
      const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt = nullptr);

  // Proposes `count` policies, row-major [count, num_params] into *params. The first call gives
  // Lecun-uniform random networks; later calls isoline children of the archive (if the archive is
  // still empty, e.g. every initial episode failed, random networks again). Always OK.
  absl::Status Ask(int64_t count, std::vector<float>* params) override;

  // Inserts evaluated policies: params [n, num_params], outcomes [n]. Diverged or failed
  // outcomes are never inserted.
  absl::StatusOr<TellSummary> Tell(absl::Span<const float> params,
                                   absl::Span<const EvalOutcome> outcomes) override;

  absl::Status SaveCheckpoint(std::ostream& out) const override;
  absl::Status RestoreCheckpoint(std::istream& in) override;
  bool needs_transitions() const override { return false; }
  const ArchiveInterface& archive() const override { return *archive_; }
  const common::TaskSpec& spec() const override { return spec_; }
  const common::MlpLayout& layout() const override { return layout_; }

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
