// What every QD algorithm holds and does the same way, so an algorithm file holds only what is
// its own: AlgorithmCore (config, task spec, policy layout, archive, the selection RNG and the
// random-network counter, with the checkpoint pieces that save and restore them), and the
// toolkit of free functions every algorithm reuses (MakeArchive, MakeQdProblem, InsertOutcomes,
// StoreTransitions, RandomPolicies). map_elites.h includes this header, so code that reached the
// toolkit through it keeps compiling.
#ifndef GDAQD_SERVER_ALGORITHMS_ALGORITHM_CORE_H_
#define GDAQD_SERVER_ALGORITHMS_ALGORITHM_CORE_H_

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/mlp_policy.h"
#include "common/task.h"
#include "gdaqd/v1/config.pb.h"
#include "server/algorithms/algorithm.h"
#include "server/archive/archive_interface.h"
#include "server/models/replay_buffer.h"
#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

// ---- Toolkit -----------------------------------------------------------------------------------

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
// (seed, k) (common::RandomPolicySeed), so the sequence does not depend on how it is split into
// calls.
void RandomPolicies(const common::MlpLayout& layout, uint64_t seed, int64_t count, uint64_t* drawn,
                    std::vector<float>* params);

// ---- AlgorithmCore -----------------------------------------------------------------------------

// Base of the algorithms: owns the config, task spec, policy layout and archive, the selection
// RNG (seeded with config.seed()) and the count of random networks drawn, and answers
// QdAlgorithm's archive(), spec() and layout(). Derived algorithms read and write the members
// directly (they are the algorithm's own state, kept here once instead of in every algorithm).
//
// Checkpoints. Every algorithm's format starts with WriteCoreHead (8-byte magic, archive); MAP-
// Elites and PGA-ME later write WriteCoreStreams (RNG, random-network count) in one place, while
// ModelBasedQd interleaves its own RNG between them, so it writes the two fields itself. Reading
// is staged (ReadCoreArchive / ReadCoreStreams into a CoreState, CommitCore once everything else
// was read too), so a failed restore leaves the algorithm unchanged. SaveCore / RestoreCore are
// the whole checkpoint of an algorithm with no other state (head, then streams).
//
// Thread-safety: single-thread, like every QdAlgorithm.
class AlgorithmCore : public QdAlgorithm {
 public:
  const ArchiveInterface& archive() const override { return *archive_; }
  const common::TaskSpec& spec() const override { return spec_; }
  const common::MlpLayout& layout() const override { return layout_; }
  const gdaqd::v1::ExperimentConfig& config() const { return config_; }

 protected:
  // What a restore reads before it commits.
  struct CoreState {
    std::unique_ptr<ArchiveInterface> archive;
    std::mt19937_64 rng;
    uint64_t random_policies = 0;
  };

  // Takes what MakeQdProblem built for `config`.
  AlgorithmCore(gdaqd::v1::ExperimentConfig config, QdProblem problem);

  // `magic` is 8 bytes. Stream errors surface at the algorithm's final stream check.
  void WriteCoreHead(std::ostream& out, absl::string_view magic) const;
  void WriteCoreStreams(std::ostream& out) const;
  // DataLoss / InvalidArgument from checkpoint_io naming what was read.
  absl::Status ReadCoreArchive(std::istream& in, CoreState* state) const;
  absl::Status ReadCoreStreams(std::istream& in, CoreState* state) const;
  void CommitCore(CoreState state);

  // Head then streams, DataLoss("cannot write the <what> checkpoint") if the stream failed.
  absl::Status SaveCore(std::ostream& out, absl::string_view magic, absl::string_view what) const;
  // Checks the magic (InvalidArgument naming both), reads head and streams, commits.
  absl::Status RestoreCore(std::istream& in, absl::string_view magic);

  // Draws `count` random networks on this core's counter (RandomPolicies).
  void DrawRandomPolicies(int64_t count, std::vector<float>* params);

  const gdaqd::v1::ExperimentConfig config_;
  const common::TaskSpec spec_;
  const common::MlpLayout layout_;
  std::unique_ptr<ArchiveInterface> archive_;  // never null
  std::mt19937_64 rng_;                        // selection and variation
  uint64_t random_policies_ = 0;               // how many random networks were drawn (seeds them)
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_ALGORITHM_CORE_H_
