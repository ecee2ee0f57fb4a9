// One experiment: its config, the algorithm that runs it on a thread of its own, its progress
// history, its checkpoints in the state directory, and listeners that are told after every
// iteration (WatchExperiment streams).
//
// Durability (docs/durability.md §2): checkpoints are taken at iteration boundaries only — after
// a Tell() (and Learn()) once `checkpoint_interval` has passed, at every final state, and on
// Interrupt() while a batch is out for evaluation (then with the asked batch, so a restored run
// evaluates exactly that batch). Under the PIPELINED schedule a boundary checkpoint holds the
// batch asked ahead as that pending batch, and an Interrupt() while a batch is out resumes from
// the last boundary checkpoint (the learner has moved the models on). A run resumed from any of
// them ends with the archive of the uninterrupted run.
#ifndef GDAQD_SERVER_ALGORITHMS_EXPERIMENT_H_
#define GDAQD_SERVER_ALGORITHMS_EXPERIMENT_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/thread.h"
#include "gdaqd/v1/coordinator.pb.h"
#include "gdaqd/v1/storage.pb.h"
#include "server/algorithms/algorithm.h"
#include "server/algorithms/experiment_observer.h"
#include "server/algorithms/progress_metrics.h"
#include "server/archive/qd_metrics.h"
#include "server/scheduler/evaluator.h"
#include "server/storage/archive_export.h"
#include "server/storage/state_dir.h"

namespace gdaqd::server {

// True for SUCCEEDED, FAILED and CANCELLED: the experiment will not change any more.
bool IsFinalState(gdaqd::v1::ExperimentState state);

// "exp-<number>".
std::string ExperimentId(int64_t number);

struct ExperimentOptions {
  // Where checkpoints go; must outlive the experiment. Null: nothing is persisted and a finished
  // experiment keeps its algorithm in memory (unit tests).
  storage::StateDir* state_dir = nullptr;
  absl::Duration checkpoint_interval = absl::Seconds(60);
  // Told about iterations, checkpoint writes and the final state; null: nobody. Must outlive the
  // experiment.
  ExperimentObserver* observer = nullptr;
};

// Thread-safe. The runner thread is the only writer of the algorithm state and of the run
// counters; readers copy under the locks below. The destructor interrupts the run and joins.
class Experiment {
 public:
  // A new PENDING experiment numbered `number`. `config` must be validated with defaults applied;
  // `evaluator` must outlive this object. With a state directory its first checkpoint (the record
  // alone) is written before this returns: errno-derived codes if that fails. `submitted_by`
  // goes into ExperimentStatus.submitted_by (and so into every checkpoint).
  static absl::StatusOr<std::unique_ptr<Experiment>> Create(int64_t number,
                                                            gdaqd::v1::ExperimentConfig config,
                                                            Evaluator* evaluator,
                                                            ExperimentOptions options,
                                                            std::string submitted_by = "");
  // The experiment stored in `checkpoint` (options.state_dir must be set). A final experiment
  // stays final and exports from disk; any other continues from the checkpoint on Start().
  // DataLoss if the record does not parse.
  static absl::StatusOr<std::unique_ptr<Experiment>> Restore(
      int64_t number, const storage::StateDir::LoadedCheckpoint& checkpoint, Evaluator* evaluator,
      ExperimentOptions options);
  ~Experiment();
  Experiment(const Experiment&) = delete;
  Experiment& operator=(const Experiment&) = delete;

  // Starts the runner thread unless the experiment is final. Call once.
  void Start();
  // Asks the run to stop at the next safe point; the state becomes CANCELLED. No-op when final.
  // With a state directory the request is recorded there first (StateDir::MarkCancelRequested),
  // so that a crash before the final checkpoint does not run the experiment on.
  void Cancel();
  // Restored with a recorded cancel request: ends CANCELLED as soon as its algorithm is rebuilt,
  // keeping the restored archive. Before Start() only.
  void CancelAfterRestore() { cancel_ = true; }
  // Shutdown: the run stops at the next safe point, writes a checkpoint if it is waiting for
  // evaluations, and leaves its state as it is (RUNNING stays RUNNING, to resume on restart).
  void Interrupt();
  // Waits until the runner thread has ended (after a final state or an Interrupt()).
  void Join();

  const std::string& id() const { return id_; }
  int64_t number() const { return number_; }
  // Never waits for a Tell() in progress.
  gdaqd::v1::ExperimentStatus Status() const ABSL_LOCKS_EXCLUDED(mu_);
  // The progress metrics its algorithm declares (QdAlgorithm::metric_specs()); empty until the
  // runner has built the algorithm (PENDING, or final from a checkpoint). Never waits for a
  // Tell() in progress.
  std::vector<MetricSpec> metric_specs() const ABSL_LOCKS_EXCLUDED(mu_);
  // The ExportArchive stream: from memory while the algorithm is held (waits for a Tell() in
  // progress, not for other exports or the final checkpoint's write), else from the newest
  // checkpoint on disk. Errors from reading that checkpoint.
  absl::StatusOr<std::unique_ptr<storage::ExportReader>> Export() const
      ABSL_LOCKS_EXCLUDED(archive_mu_, mu_);
  bool finished() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until the experiment is finished or `timeout` passes; returns finished().
  bool WaitFinished(absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);

  // `listener` is called (on the runner thread, without mu_ held) after each iteration and on
  // every state change. It must not call Add/RemoveListener. Returns an id for RemoveListener.
  int64_t AddListener(std::function<void()> listener) ABSL_LOCKS_EXCLUDED(listeners_mu_);
  // After this returns the listener is not running and will not be called again.
  void RemoveListener(int64_t id) ABSL_LOCKS_EXCLUDED(listeners_mu_);

 private:
  Experiment(int64_t number, gdaqd::v1::ExperimentConfig config, Evaluator* evaluator,
             ExperimentOptions options);

  void Run();
  // OK at the budget; Cancelled on Cancel(); Aborted("interrupted") on Interrupt(); else FAILED.
  absl::Status RunLoop();
  // Builds the algorithm, restoring the checkpointed state when there is one.
  absl::StatusOr<QdAlgorithm*> BuildAlgorithm() ABSL_LOCKS_EXCLUDED(archive_mu_);
  // Runs one iteration (ask or take the pending batch, evaluate, tell, record progress).
  absl::Status RunIteration(QdAlgorithm* algorithm, EvalRequest* request);
  // True once budget.max_evaluations, or budget.max_env_steps when set (> 0), is reached.
  bool BudgetSpent() const;
  // The batch of this iteration into request->params (and its per-episode plan into
  // request->episode_options and actor_version): the pending one of a resumed run, else the
  // one a PIPELINED run asked ahead, else asked now. Returns its size.
  absl::StatusOr<int64_t> TakeBatch(QdAlgorithm* algorithm, int64_t iteration,
                                    EvalRequest* request);
  // Evaluates request.params. Under the PIPELINED schedule (once the archive holds a told batch
  // and `remaining` evaluations are left after this batch) a learner thread meanwhile runs
  // Learn() and asks the next batch into prefetched_. Aborted("interrupted") on shutdown (with a
  // checkpoint of the asked batch unless the learner ran); the evaluator's or the learner's error.
  // *evaluation_seconds: the evaluation's own wall time (not the wait for the learner).
  absl::StatusOr<std::vector<EvalOutcome>> EvaluateAndPrefetch(QdAlgorithm* algorithm,
                                                               const EvalRequest& request,
                                                               int64_t remaining,
                                                               EvalCallStats* call_stats,
                                                               double* evaluation_seconds);
  // The algorithm's metrics(); Internal if they are not what it declared (metric_specs_).
  absl::StatusOr<std::vector<Metric>> ReportedMetrics(const QdAlgorithm& algorithm) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // `learning`: the algorithm's metrics(), in the order of metric_specs_.
  gdaqd::v1::ProgressSnapshot MakeSnapshot(int64_t iteration, const QdMetrics& metrics,
                                           absl::Span<const Metric> learning, int64_t count,
                                           double batch_seconds) const;
  // Writes a checkpoint (no-op without a state directory). `pending` is the batch asked and not
  // yet told ([count, num_params]), empty at a boundary. Runner thread only.
  absl::Status WriteCheckpoint(bool with_algorithm, absl::Span<const float> pending,
                               int64_t pending_count) ABSL_LOCKS_EXCLUDED(archive_mu_, mu_);
  // WriteCheckpoint() with a state directory, without telling the observer.
  absl::Status WriteCheckpointFiles(bool with_algorithm, absl::Span<const float> pending,
                                    int64_t pending_count) ABSL_LOCKS_EXCLUDED(archive_mu_, mu_);
  void Finish(const absl::Status& status);
  // cells_per_dim of a grid archive; empty for CVT (the export header's shape).
  std::vector<int> GridShape() const;
  void Notify() ABSL_LOCKS_EXCLUDED(listeners_mu_);
  bool interrupted() const { return interrupt_.load(); }

  const int64_t number_;
  const std::string id_;
  const gdaqd::v1::ExperimentConfig config_;
  Evaluator* const evaluator_;
  const ExperimentOptions options_;
  std::atomic<bool> cancel_{false}, interrupt_{false};
  CancelFlag stop_{false};  // cancel_ || interrupt_: what evaluations and learning poll

  // Run counters and the checkpoint to resume from: the runner thread's alone once it started.
  gdaqd::v1::ExperimentRecord run_;  // iteration, evaluations, ... (status/history live below)
  std::string restore_algorithm_;    // QdAlgorithm checkpoint bytes to resume from, then freed
  absl::Time last_checkpoint_ = absl::InfinitePast();
  absl::Time run_start_ = absl::InfinitePast();  // when this process started running it
  double wall_base_ = 0;  // seconds it ran before this process (earlier lives of the server)
  // PIPELINED: the next batch, asked while the current one was evaluated ([count, num_params]).
  std::vector<float> prefetched_;
  int64_t prefetched_count_ = 0;
  EpisodePlan prefetched_plan_;  // its per-episode options (actor-learners)

  // Two locks, so status queries never wait for learning: Tell() (archive insertion) holds only
  // archive_mu_, and Learn() (model and critic training, seconds to a minute) holds neither;
  // status and history are behind mu_. Lock order: archive_mu_ before mu_.
  mutable absl::Mutex archive_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::unique_ptr<QdAlgorithm> algorithm_ ABSL_GUARDED_BY(archive_mu_);
  mutable absl::Mutex mu_;
  gdaqd::v1::ExperimentStatus status_ ABSL_GUARDED_BY(mu_);
  std::vector<gdaqd::v1::ProgressSnapshot> history_ ABSL_GUARDED_BY(mu_);
  std::vector<MetricSpec> metric_specs_ ABSL_GUARDED_BY(mu_);  // set once by BuildAlgorithm()
  bool runner_done_ ABSL_GUARDED_BY(mu_) = false;
  // While Finish() writes the final checkpoint: the state and error it records, which status_
  // takes only once the write is over.
  struct Ending {
    gdaqd::v1::ExperimentState state;
    std::string error;
  };
  std::optional<Ending> ending_ ABSL_GUARDED_BY(mu_);

  absl::Mutex listeners_mu_;
  std::map<int64_t, std::function<void()>> listeners_ ABSL_GUARDED_BY(listeners_mu_);
  int64_t next_listener_ ABSL_GUARDED_BY(listeners_mu_) = 0;

  std::unique_ptr<common::Thread> runner_;  // last member: joined first
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_EXPERIMENT_H_
