// The worker's rollout engine: a fixed pool of threads that run episodes (DESIGN.md §2).
#ifndef GDAQD_WORKER_SIM_ROLLOUT_ENGINE_H_
#define GDAQD_WORKER_SIM_ROLLOUT_ENGINE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/mlp_policy.h"
#include "common/rollout.h"
#include "common/task.h"
#include "common/thread.h"

namespace gdaqd::worker {

// What the episodes of one assignment share. Immutable once built; jobs hold it through a
// shared_ptr<const JobContext>, so one context serves many jobs and threads at no copy cost.
struct JobContext {
  std::string task;        // common::MakeEnvironment name, e.g. "point_maze"
  int episode_length = 0;  // max steps; 0 = the task's default
  // common::MakeEnvironment options, e.g. point_maze's action map (from the assignment's
  // EnvConfig through common::EnvironmentOptionsFromConfig).
  common::EnvironmentOptions env_options;
  common::MlpLayout layout;  // obs_dim/action_dim must match the task's spec
  bool record_transitions = false;
};

// Identifies a job. The engine only uses `group` (for Cancel()); the other fields are passed
// through untouched.
struct JobKey {
  uint64_t group = 0;  // caller-defined, e.g. the connection a job arrived on
  uint64_t lease_id = 0;
  int32_t index = 0;  // episode index inside the lease
};

// One episode to run.
struct EpisodeJob {
  std::shared_ptr<const JobContext> context;  // required
  JobKey key;
  uint64_t seed = 0;  // seed of the initial state (common::RunEpisode)
  // Skill and exploration noise (common::EpisodeOptions); the default is a deterministic episode.
  // Checked against the layout (common::CheckEpisodeOptions) before the episode runs.
  common::EpisodeOptions options;
  // Passed through untouched (the wire's Episode.actor_version).
  uint64_t actor_version = 0;
  // float32 [layout.num_params()]. Must stay valid until the job's callback has returned or the
  // job was dropped by Cancel()/Stop(); `params_owner` (optional) keeps its storage alive, e.g. a
  // shared_ptr to one buffer holding the parameters of every episode of an assignment.
  absl::Span<const float> params;
  std::shared_ptr<const void> params_owner;
};

// Told about every job a rollout thread runs, e.g. for the worker's metrics. Implementations must
// be thread-safe (every rollout thread calls) and return quickly.
class EpisodeObserver {
 public:
  virtual ~EpisodeObserver() = default;
  // A rollout thread took a job and starts running it.
  virtual void OnEpisodeStarted() = 0;
  // That job ended after `duration`: `steps` counted environment steps (EpisodeResult::length;
  // 0 when it failed), `ok` false when it failed (its callback gets an error).
  virtual void OnEpisodeFinished(absl::Duration duration, int64_t steps, bool ok) = 0;
};

// A fixed pool of rollout threads fed by a FIFO queue of EpisodeJobs.
//
// Each thread owns one Environment and one MlpPolicy, built for the context of the last job it
// ran and rebuilt only when the task, episode length, environment options or layout changes;
// new parameters only go through MlpPolicy::SetParams(). Each thread also reuses one
// common::EpisodeResult, so a warm thread allocates nothing per episode.
//
// Every job that runs gets exactly one call of the engine's callback, on the thread that ran it,
// with either a pointer to its result (valid only during the call: serialise it there, do not
// keep it) or the error, always InvalidArgument today: an unknown task or negative episode
// length (common::MakeEnvironment), a layout that does not fit the task
// (common::CheckPolicyMatchesTask), an invalid layout, a wrong parameter count or a non-finite
// parameter (common::MlpPolicy), options that do not fit the layout (common::CheckEpisodeOptions:
// a missing or out-of-range skill, a bad exploration_std). A diverged episode is a result, not an
// error. A failed job does not affect the thread or later jobs. Jobs dropped by Cancel() or Stop()
// get no callback.
//
// Thread-safe: every method may be called from any thread, except that Stop() and the destructor
// must not be called from the callback (they join the rollout threads). The callback runs
// concurrently on several threads and must be thread-safe; it should return quickly, since it
// holds up its rollout thread.
class RolloutEngine {
 public:
  // `job` is the job as submitted (its context tells e.g. the transition row size; its params
  // are still valid), `result` its outcome.
  using Callback = std::function<void(const EpisodeJob& job,
                                      absl::StatusOr<const common::EpisodeResult*> result)>;

  // Starts `num_threads` threads. `observer` (optional) must outlive the engine. Returns
  // InvalidArgument if num_threads < 1 or the callback is empty.
  static absl::StatusOr<std::unique_ptr<RolloutEngine>> Create(int num_threads, Callback callback,
                                                               EpisodeObserver* observer = nullptr);

  // Stop()s: queued jobs are dropped, running ones finish.
  ~RolloutEngine();

  RolloutEngine(const RolloutEngine&) = delete;
  RolloutEngine& operator=(const RolloutEngine&) = delete;

  // Queues `job` (FIFO). Returns InvalidArgument if job.context is null, FailedPrecondition after
  // Stop().
  absl::Status Submit(EpisodeJob job) ABSL_LOCKS_EXCLUDED(mu_);
  // Queues several jobs at once, in order, under one lock; all or none. Same errors as Submit().
  absl::Status Submit(std::vector<EpisodeJob> jobs) ABSL_LOCKS_EXCLUDED(mu_);

  // Drops the queued (not yet started) jobs whose key.group == `group`; they get no callback.
  // Running jobs of the group still finish and get their callback. Returns how many were dropped.
  int64_t Cancel(uint64_t group) ABSL_LOCKS_EXCLUDED(mu_);

  // Cancels: drops every queued job (no callback), lets the running ones finish (their callbacks
  // run), then joins the threads. Later Submit()s fail. Idempotent; blocks for at most one
  // episode per thread.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_, stop_mu_);

  int num_threads() const { return num_threads_; }
  // Jobs queued and not yet started.
  int64_t queued() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct ThreadState;

  RolloutEngine(int num_threads, Callback callback, EpisodeObserver* observer);
  void ThreadLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Runs one job with `state`'s environment and policy, rebuilding them if needed.
  absl::Status RunJob(const EpisodeJob& job, ThreadState& state);

  const int num_threads_;
  const Callback callback_;
  EpisodeObserver* const observer_;  // may be null

  mutable absl::Mutex mu_;
  absl::CondVar work_available_;  // signalled on Submit() and Stop()
  std::deque<EpisodeJob> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Serialises Stop() so that two callers do not join the threads at once.
  absl::Mutex stop_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<std::unique_ptr<common::Thread>> threads_ ABSL_GUARDED_BY(stop_mu_);
};

}  // namespace gdaqd::worker

#endif  // GDAQD_WORKER_SIM_ROLLOUT_ENGINE_H_
