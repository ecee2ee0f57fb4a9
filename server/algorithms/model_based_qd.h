// DA-QD-ext and GDA-QD (Lim, Flageat, Cully 2022, Algorithm 1) as an ask/tell loop.
//
// Every real iteration (Ask):
//   1. the real archive is copied into an imagined one;
//   2. up to model.imagined_generations imagined generations of model.imagined_batch_size isoline
//      children of the imagined archive are rolled out in the dynamics ensemble (one member per
//      rollout, drawn at random in balanced groups) and inserted into the imagined archive, until
//      n_model children were added (NEW or IMPROVED, in insertion order: theta_new);
//   3. the batch is theta_model = the first n_model of theta_new (provenance kModel), isoline
//      children of the real archive for the slots imagination could not fill (kIsoline), and, for
//      GDA-QD, n_gradient = round(p_gradient x count) policy-gradient children of parents drawn
//      uniformly from theta_new (kGradient).
// Tell inserts the real outcomes and stores their transitions by provenance; Learn trains the
// critic every iteration (GDA-QD) and the dynamics ensemble after the initial population and then
// every model.retrain_every iterations (1 by default: Algorithm 1 line 17 trains after every real
// iteration), warm-started from its last weights and early-stopped on a holdout split, on the
// model.training_data filter (paper §4.3). Ask may run once ahead of the Tell of the batch in
// flight (supports_prefetch; the PIPELINED schedule).
//
// The first Ask gives the random initial population (kInitial). Until the ensemble is trained
// and the critic can learn, the respective slots are isoline children of the real archive.
//
// Torch-free header: the ensemble and the imagination live behind pointers to incomplete types.
#ifndef GDAQD_SERVER_ALGORITHMS_MODEL_BASED_QD_H_
#define GDAQD_SERVER_ALGORITHMS_MODEL_BASED_QD_H_

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
#include "server/models/imagined_task.h"
#include "server/models/replay_buffer.h"
#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

namespace models {
class DynamicsEnsemble;
}  // namespace models

// How a real batch of `count` is split; order in the batch: model, isoline fill, gradient.
struct ModelBatchComposition {
  int64_t model = 0;     // added in imagination, sent as is
  int64_t isoline = 0;   // fill for imagination's shortfall
  int64_t gradient = 0;  // policy-gradient children of imagined additions
};

// What the last imagination phase did.
struct ImaginationReport {
  int64_t generations = 0;  // imagined generations run
  int64_t evaluated = 0;    // imagined episodes
  int64_t added = 0;        // children added to the imagined archive (theta_new)
  int64_t diverged = 0;     // imagined episodes whose prediction was not finite
  double seconds = 0;
};

// Single-thread, like the other algorithms. Owns the archive, the replay buffer, the ensemble
// and (GDA-QD) the critic; borrows the interrupt flag. Deterministic given the config seed up to
// LibTorch's own determinism.
//
// Long steps and their interrupt polls (QdAlgorithm): CVT construction in Create, imagined
// generations (every imagined step), policy-gradient children (every step), critic training
// (every step) and dynamics-model training (every Adam step). Errors of Ask/Tell: Cancelled once
// interrupted; Internal "... loss became non-finite ... at generation <g>; ..." if the critic,
// the actor, the children or the dynamics model diverge; Internal for LibTorch failures.
class ModelBasedQd final : public AlgorithmCore {
 public:
  // `config` must be validated with defaults applied and name DA_QD_EXT or GDA_QD.
  // InvalidArgument otherwise; Unimplemented for a task without observation-level functions;
  // Cancelled if `interrupt` (may be null; must outlive the algorithm) is set during CVT
  // construction.
  static absl::StatusOr<std::unique_ptr<ModelBasedQd>> Create(
      const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt = nullptr);
  ~ModelBasedQd() override;

  absl::Status Ask(int64_t count, std::vector<float>* params) override;
  absl::StatusOr<TellSummary> Tell(absl::Span<const float> params,
                                   absl::Span<const EvalOutcome> outcomes) override;
  absl::Status Learn() override;
  bool supports_prefetch() const override { return true; }

  absl::Status SaveCheckpoint(std::ostream& out) const override;
  absl::Status RestoreCheckpoint(std::istream& in) override;
  bool needs_transitions() const override { return true; }
  // imagined_evaluations, model_train_calls, model_holdout_loss, model_holdout_mse,
  // critic_train_calls, critic_loss, imagination_seconds, training_seconds, gradient_seconds and
  // rejected_transition_episodes (docs/metrics.md); the critic's are 0 / NaN without a critic.
  std::vector<MetricSpec> metric_specs() const override;
  std::vector<Metric> metrics() const override;

  const models::ReplayBuffer& replay_buffer() const { return *buffer_; }
  // Provenance of the last Ask()'s rows (empty once that batch was told).
  const std::vector<models::Provenance>& last_provenance() const { return asked_.newest(); }
  const ModelBatchComposition& last_composition() const { return last_composition_; }
  const ImaginationReport& last_imagination() const { return last_imagination_; }
  // The transitions the ensemble trains on under model.training_data.
  models::ProvenanceMask training_filter() const;

 private:
  ModelBasedQd(gdaqd::v1::ExperimentConfig config, QdProblem problem,
               std::unique_ptr<models::ReplayBuffer> buffer,
               std::unique_ptr<models::DynamicsEnsemble> ensemble,
               std::unique_ptr<models::ImaginedTask> task, std::unique_ptr<CriticLearner> critic,
               const CancelFlag* interrupt);

  // Steps 1-2: fills *added with theta_new (at most `wanted` rows are needed, more may come).
  absl::Status Imagine(int64_t wanted, std::vector<float>* added);
  // Appends policy-gradient children of `n` parents drawn uniformly from `pool` rows (or from
  // the real archive when pool is empty).
  absl::Status AppendGradientChildren(int64_t n, const std::vector<float>& pool,
                                      std::vector<float>* params);
  void AddTransitions(absl::Span<const EvalOutcome> outcomes,
                      absl::Span<const models::Provenance> provenance);
  absl::Status TrainModel();

  // config_, spec_, layout_, archive_, rng_ (selection, variation, member draws) and
  // random_policies_ are AlgorithmCore's.
  std::unique_ptr<models::ReplayBuffer> buffer_;
  std::unique_ptr<models::DynamicsEnsemble> ensemble_;
  std::unique_ptr<models::ImaginedTask> task_;
  std::unique_ptr<CriticLearner> critic_;  // null for DA-QD-ext
  std::mt19937_64 model_rng_;              // ensemble training splits and minibatches
  uint64_t imagination_calls_ = 0;         // seeds each imagination's sampling noise
  std::vector<float> initial_obs_;  // the task's start observation, from the first real episode
  int64_t iterations_since_training_ = 0;
  int64_t untrained_generations_ = 0;  // told since the last Learn()
  AskedBatches asked_;                 // asked and not yet told, oldest first
  ModelBatchComposition last_composition_;
  ImaginationReport last_imagination_;
  LearningStats stats_;                // the critic's fields are read from critic_ instead
  const CancelFlag* const interrupt_;  // may be null; not owned
  int64_t generation_ = 0;             // Tell() calls so far (names divergences)
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_MODEL_BASED_QD_H_
