// PGA-MAP-Elites (Nilsson & Cully 2021) as in QDax HEAD (research/algorithms.md §2): each batch
// is floor(isoline_fraction x count) isoline children, policy-gradient children of uniformly
// selected parents, and the TD3 greedy actor; after every evaluated batch the transitions go to a
// replay buffer and the TD3 critic and greedy actor are trained on it.
//
// This header does not include LibTorch (Td3 is only declared), so Experiment and the service
// stay free of torch headers; pga_me.cc is the only file in server/algorithms that uses them.
#ifndef GDAQD_SERVER_ALGORITHMS_PGA_ME_H_
#define GDAQD_SERVER_ALGORITHMS_PGA_ME_H_

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/mlp_policy.h"
#include "common/task.h"
#include "gdaqd/v1/config.pb.h"
#include "server/algorithms/algorithm.h"
#include "server/algorithms/algorithm_core.h"
#include "server/algorithms/asked_batches.h"
#include "server/algorithms/critic_learner.h"
#include "server/archive/archive_interface.h"
#include "server/models/replay_buffer.h"
#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

// How one batch of `count` policies is split (order in the batch: isoline, pg, greedy).
struct PgaBatchComposition {
  int64_t isoline = 0;
  int64_t pg = 0;
  int64_t greedy = 0;  // 0 or 1

  // isoline = floor(isoline_fraction x count); the rest is (rest - 1) PG children and the greedy
  // actor when rest >= 2. With rest < 2 there is no room for a PG child next to the actor, and the
  // whole batch is isoline (so count 1 gives one isoline child). QDax at count 100: 50 / 49 / 1.
  static PgaBatchComposition For(int64_t count, double isoline_fraction);
};

// Ownership: owns the archive, the replay buffer and the TD3 learner (CriticLearner); the
// interrupt flag is borrowed. Single-thread, like MapElites: the experiment runner drives it;
// const accessors may be called by others under the runner's lock. LibTorch's intra-op threads
// are set to pga.torch_threads at Create (a process-wide setting).
class PgaMe final : public AlgorithmCore {
 public:
  // `config` must be validated with defaults applied and name PGA_ME. InvalidArgument otherwise.
  // `interrupt` (may be null) must outlive the algorithm; CVT construction, critic training and
  // policy-gradient children poll it and return Cancelled once it is set (QdAlgorithm).
  static absl::StatusOr<std::unique_ptr<PgaMe>> Create(const gdaqd::v1::ExperimentConfig& config,
                                                       const CancelFlag* interrupt = nullptr);
  ~PgaMe() override;

  // While the archive is empty (first call): Lecun-uniform random networks. Afterwards the
  // composition of PgaBatchComposition::For(count, pga.isoline_fraction); the PG children are
  // made with Td3::PolicyGradientChildren from parents drawn uniformly from the archive. Until
  // the replay buffer holds critic_batch_size rows (no critic training yet) the PG slots are
  // filled with isoline children instead. Records the provenance of every row for Tell().
  // Internal if LibTorch fails or the children's loss diverges; Cancelled if interrupted.
  absl::Status Ask(int64_t count, std::vector<float>* params) override;

  // Inserts like MapElites, then adds each usable outcome's transitions to the replay buffer
  // tagged with the provenance its row had in the oldest Ask() not yet told, and creates the TD3
  // learner on the first call (greedy actor = the first policy told, as QDax). Transitions that
  // the buffer rejects (wrong size, non-finite) are dropped with a warning and counted
  // (metric rejected_transition_episodes). InvalidArgument on size mismatches;
  // FailedPrecondition if the outcomes do not answer that Ask().
  absl::StatusOr<TellSummary> Tell(absl::Span<const float> params,
                                   absl::Span<const EvalOutcome> outcomes) override;
  // Trains the TD3 learner once (Td3::Train) if a generation was told since the last Learn() and
  // the buffer holds at least critic_batch_size rows. Internal if LibTorch fails or a critic or
  // actor loss becomes non-finite ("... at generation <g>; ..."); Cancelled if interrupted.
  absl::Status Learn() override;
  bool supports_prefetch() const override { return true; }

  absl::Status SaveCheckpoint(std::ostream& out) const override;
  absl::Status RestoreCheckpoint(std::istream& in) override;
  bool needs_transitions() const override { return true; }

  const models::ReplayBuffer& replay_buffer() const { return *buffer_; }
  // Provenance of each row of the last Ask()'s batch, in order (empty once it was told).
  const std::vector<models::Provenance>& last_provenance() const { return asked_.newest(); }
  // Td3::Train calls so far.
  int64_t train_calls() const { return critic_->train_calls(); }
  // critic_loss, critic_train_calls, training_seconds, gradient_seconds and
  // rejected_transition_episodes (docs/metrics.md).
  std::vector<MetricSpec> metric_specs() const override;
  std::vector<Metric> metrics() const override;

 private:
  PgaMe(gdaqd::v1::ExperimentConfig config, QdProblem problem,
        std::unique_ptr<models::ReplayBuffer> buffer, std::unique_ptr<CriticLearner> critic,
        const CancelFlag* interrupt);
  // Appends `n` PG children of uniformly selected parents to *params.
  absl::Status AppendPgChildren(int64_t n, std::vector<float>* params);

  // config_, spec_, layout_, archive_, rng_ (selection and isoline variation) and
  // random_policies_ are AlgorithmCore's.
  std::unique_ptr<models::ReplayBuffer> buffer_;
  std::unique_ptr<CriticLearner> critic_;  // started at the first Tell()
  AskedBatches asked_;                     // asked and not yet told, oldest first
  int64_t untrained_generations_ = 0;      // told since the last Learn()
  double training_seconds_ = 0;
  double gradient_seconds_ = 0;
  const CancelFlag* const interrupt_;  // may be null; not owned
  int64_t generation_ = 0;             // Tell() calls so far (names divergences)
  int64_t rejected_episodes_ = 0;      // episodes whose transitions the buffer refused
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_PGA_ME_H_
