// The ask/tell/learn interface every QD algorithm implements (MapElites, PgaMe, ModelBasedQd), so
// that Experiment runs any of them: Ask() proposes a batch of policies, the caller evaluates them
// anywhere (locally or on workers), Tell() hands back the outcomes in the same order, and Learn()
// trains the algorithm's learned models on what Tell() stored (paper Algorithm 1, line 17).
#ifndef GDAQD_SERVER_ALGORITHMS_ALGORITHM_H_
#define GDAQD_SERVER_ALGORITHMS_ALGORITHM_H_

#include <cstdint>
#include <iosfwd>
#include <limits>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/mlp_policy.h"
#include "common/rollout.h"
#include "common/task.h"
#include "gdaqd/v1/config.pb.h"
#include "server/algorithms/progress_metrics.h"
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

// The learned-model counters a model-based algorithm keeps (and checkpoints); it reports them as
// named metrics (QdAlgorithm::metrics()). Losses are of the last training call; counts and
// seconds are cumulative since the algorithm was created.
struct LearningStats {
  int64_t imagined_evaluations = 0;  // episodes rolled out in the dynamics model
  int64_t model_train_calls = 0;
  double model_holdout_loss = kNoValue;  // Gaussian NLL in normalised delta space (can be < 0)
  double model_holdout_mse = kNoValue;   // next-observation MSE in real units
  int64_t critic_train_calls = 0;
  double critic_loss = kNoValue;   // mean TD3 critic loss of the last generation
  double imagination_seconds = 0;  // imagined rollouts and imagined archive insertions
  double training_seconds = 0;     // dynamics-model and critic training
  double gradient_seconds = 0;     // policy-gradient children
  // Episodes whose transitions the replay buffer refused (non-finite values or a wrong row
  // size); their outcomes were still inserted into the archive.
  int64_t rejected_transition_episodes = 0;
  static constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();
};

// What an actor-learner's Ask() hands out beyond the parameters: each episode's skill and
// exploration (common/rollout.h) and the actor version of the batch (EvalRequest's
// episode_options and actor_version). The default, empty, is a batch of plain deterministic
// episodes: every QD and ES algorithm's.
struct EpisodePlan {
  std::vector<common::EpisodeOptions> options;  // [count], or empty: default for every episode
  uint64_t actor_version = 0;                   // 0 = none
};

// A QD algorithm as an ask/tell/learn loop. Implementations are single-thread: owned and driven
// by one experiment runner (const methods may be called by others under the runner's lock).
//
// Schedule. The synchronous loop is Ask, evaluate, Tell, Learn. Tell() only inserts outcomes into
// the archive and stores transitions (fast, run under the runner's archive lock); Learn() trains
// (seconds) and never touches the archive, so readers of the archive need not wait for it. An
// algorithm with supports_prefetch() also accepts one Ask() ahead of the Tell() of the batch in
// flight (at most two batches asked and not yet told; Tell() answers the oldest), which lets the
// runner overlap Learn() and the next Ask() with the real evaluation (LearningSchedule PIPELINED).
// Deterministic given the config seed (up to LibTorch's own determinism for learned models).
//
// Interrupts: an algorithm made with an interrupt flag (MakeAlgorithm) polls it in every long
// step (CVT construction in Create, dynamics-model and critic training, policy-gradient
// children, imagined generations). Once the flag is set, the running Create/Ask/Learn returns
// Cancelled within about a second (one training step on the models we ship) and so does every
// later call that reaches a long step. After any error from Ask(), Tell() or Learn() (Cancelled
// included) the algorithm may be left half-updated (e.g. an archive already told, a critic trained
// on part of a generation): the caller must discard it and, to continue, build a new one and
// RestoreCheckpoint() the last checkpoint.
//
// Failures: a learned model's loss that becomes NaN or infinite fails Ask()/Learn() with Internal
// ("critic loss became non-finite (nan) in critic steps 301-600 at generation 12; the replay
// buffer may hold extreme transitions"), so the experiment ends FAILED instead of running on with
// a broken model. An allocation failure anywhere in Create/Ask/Tell/Learn/
// SaveCheckpoint/RestoreCheckpoint comes back as ResourceExhausted("out of memory while ..."), any
// other exception as Internal; nothing is thrown (for algorithms made by MakeAlgorithm).
class QdAlgorithm {
 public:
  virtual ~QdAlgorithm() = default;

  // Proposes `count` >= 0 policies, row-major [count, num_params] into *params (resized and
  // overwritten). Internal if a learned model fails or diverges, Cancelled if interrupted,
  // ResourceExhausted if out of memory (MAP-Elites never fails).
  virtual absl::Status Ask(int64_t count, std::vector<float>* params) = 0;

  // Ask(), and the batch's per-episode plan into *plan (not null). The default asks and returns
  // an empty plan, so algorithms without per-episode options need not override it (their batches
  // are byte for byte what Ask() gives). Same errors as Ask().
  virtual absl::Status AskEpisodes(int64_t count, std::vector<float>* params, EpisodePlan* plan) {
    *plan = EpisodePlan();
    return Ask(count, params);
  }
  // The plan of the oldest batch asked and not yet told (what a run restored between Ask() and
  // Tell() re-evaluates); empty by default and when nothing is pending.
  virtual EpisodePlan PendingPlan() const { return EpisodePlan(); }
  // How many episodes the next Ask() should propose, given the `wanted` count the runner's config
  // gives (initial_population or emitter.batch_size). The default is `wanted`; an actor-learner
  // returns its round size (exploration or evaluation round). At least 1.
  virtual int64_t NextBatchSize(int64_t wanted) const { return wanted; }

  // Takes the outcomes of the oldest Ask() not yet told: params [n, num_params], outcomes [n],
  // same order. Diverged or failed outcomes are never inserted; transitions with non-finite
  // values are never stored (counted in the metric rejected_transition_episodes). Trains
  // nothing (Learn() does). InvalidArgument on size mismatches; FailedPrecondition if n is not
  // the size of that Ask(); ResourceExhausted if out of memory.
  virtual absl::StatusOr<TellSummary> Tell(absl::Span<const float> params,
                                           absl::Span<const EvalOutcome> outcomes) = 0;

  // Trains the learned models on the data told since the last Learn() (the dynamics ensemble on
  // its model.retrain_every schedule, the critic every generation); OK and nothing done when
  // nothing was told since, or for an algorithm without learned models (the default). Reads and
  // writes no archive. Internal if a loss becomes non-finite; Cancelled if interrupted;
  // ResourceExhausted if out of memory.
  virtual absl::Status Learn() { return absl::OkStatus(); }

  // True if Ask() may be called once more before the Tell() of the previous Ask() (see the class
  // comment). SaveCheckpoint() then fails with FailedPrecondition while two batches are asked.
  virtual bool supports_prefetch() const { return false; }

  // True if Tell() needs each outcome's transitions (EvalRequest::record_transitions).
  virtual bool needs_transitions() const = 0;

  // Writes everything the algorithm needs to continue exactly where it is: archive, learned
  // models with their optimisers, replay buffer, RNG states and counters (a binary format of
  // our own, versioned by its magic). DataLoss if the stream fails.
  virtual absl::Status SaveCheckpoint(std::ostream& out) const = 0;
  // Restores what SaveCheckpoint() wrote into an algorithm created from the same config; the
  // next Ask() then proposes what the saved one would have. On error (InvalidArgument or DataLoss
  // naming what was being read) this algorithm is unchanged.
  virtual absl::Status RestoreCheckpoint(std::istream& in) = 0;

  // The progress metrics this algorithm reports (progress_metrics.h), in report order; the same
  // list for every instance of a config, valid (CheckMetrics()) and available before the first
  // Ask(), so that consumers (Prometheus) can declare them before values exist. The default has
  // none. Adding a metric is one spec here and one value in metrics().
  virtual std::vector<MetricSpec> metric_specs() const { return {}; }
  // The current values of metric_specs(), same names, same order (counters cumulative since the
  // algorithm was created, checkpoint restores included; gauges NaN until they have a value).
  virtual std::vector<Metric> metrics() const { return {}; }

  virtual const ArchiveInterface& archive() const = 0;
  virtual const common::TaskSpec& spec() const = 0;
  virtual const common::MlpLayout& layout() const = 0;
  // QD-score offset for this task: reward offset per step x episode length.
  double qd_offset() const { return spec().reward_offset * spec().episode_length; }
};

// Builds the algorithm config.algorithm() names with its registered factory (registry.h: the
// built-ins MAP_ELITES, PGA_ME, DA_QD_EXT, GDA_QD and any registered at runtime), wrapped by
// GuardExceptions. `config` must be validated with defaults applied; InvalidArgument otherwise or
// for an algorithm without a factory ("algorithm: <name> is not an algorithm (use ...)").
// `interrupt` (may be null: never interrupted) is polled by every long step, this call's CVT
// construction included (then Cancelled "CVT construction interrupted"); it must outlive the
// algorithm. ResourceExhausted if the archive or the models cannot be allocated.
absl::StatusOr<std::unique_ptr<QdAlgorithm>> MakeAlgorithm(
    const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt = nullptr);

// Wraps `algorithm` so that an exception escaping Ask, Tell, Learn, SaveCheckpoint
// or RestoreCheckpoint comes back as a status: std::bad_alloc and std::length_error as
// ResourceExhausted("out of memory while <method>"), anything else as Internal("exception in
// <method>: <what>"). The wrapper forwards everything else; same thread-safety as `algorithm`.
std::unique_ptr<QdAlgorithm> GuardExceptions(std::unique_ptr<QdAlgorithm> algorithm);

// For implementations: the error of a learning step of generation `generation` (1-based count of
// Tell() calls; Ask() reports the generation it proposes for) with that context added. A
// non-finite loss (Internal) becomes "<message> at generation <g>; the replay buffer may hold
// extreme transitions"; other errors (Cancelled, ResourceExhausted, ...) and OK pass unchanged.
absl::Status AtGeneration(absl::Status status, int64_t generation);

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_ALGORITHM_H_
