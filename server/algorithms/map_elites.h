// MAP-Elites (Mouret & Clune 2015) with QDax's defaults, as an ask/tell loop: Ask() proposes a
// batch of policies (the random initial population first, then isoline children of the archive),
// the caller evaluates them anywhere, Tell() inserts the outcomes. The archive helpers every
// algorithm shares (MakeArchive, InsertOutcomes, StoreTransitions, RandomPolicies) live in
// algorithm_core.h, which this header includes for the code that reaches them through it.
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
#include "server/algorithms/algorithm_core.h"
#include "server/archive/archive_interface.h"
#include "server/models/replay_buffer.h"
#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

// Single-thread: owned and driven by one experiment runner. Deterministic given the config seed.
class MapElites final : public AlgorithmCore {
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

 private:
  MapElites(gdaqd::v1::ExperimentConfig config, QdProblem problem);
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_MAP_ELITES_H_
