#include "worker/sim/rollout_engine.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/mlp_policy.h"
#include "common/rollout.h"
#include "common/status_macros.h"
#include "common/task.h"

namespace gdaqd::worker {
namespace {}  // namespace

// What one rollout thread keeps between episodes. Owned and touched by that thread only.
struct RolloutEngine::ThreadState {
  // The contexts `env` and `policy` were last used with; null when the object is unusable.
  std::shared_ptr<const JobContext> env_context;
  std::unique_ptr<common::Environment> env;
  std::shared_ptr<const JobContext> policy_context;
  std::optional<common::MlpPolicy> policy;
  common::EpisodeResult result;  // reused across episodes
};

absl::StatusOr<std::unique_ptr<RolloutEngine>> RolloutEngine::Create(int num_threads,
                                                                     Callback callback,
                                                                     EpisodeObserver* observer) {
  if (num_threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads is ", num_threads, ", need >= 1"));
  }
  if (!callback) return absl::InvalidArgumentError("callback is empty");
  return std::unique_ptr<RolloutEngine>(
      new RolloutEngine(num_threads, std::move(callback), observer));
}

RolloutEngine::RolloutEngine(int num_threads, Callback callback, EpisodeObserver* observer)
    : num_threads_(num_threads), callback_(std::move(callback)), observer_(observer) {
  absl::MutexLock lock(&stop_mu_);
  threads_.reserve(num_threads_);
  for (int i = 0; i < num_threads_; ++i) {
    threads_.push_back(
        std::make_unique<common::Thread>(absl::StrCat("rollout-", i), [this] { ThreadLoop(); }));
  }
}

RolloutEngine::~RolloutEngine() { Stop(); }

absl::Status RolloutEngine::Submit(EpisodeJob job) {
  if (job.context == nullptr) return absl::InvalidArgumentError("job has no context");
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("rollout engine is stopped");
  queue_.push_back(std::move(job));
  work_available_.Signal();
  return absl::OkStatus();
}

absl::Status RolloutEngine::Submit(std::vector<EpisodeJob> jobs) {
  for (const EpisodeJob& job : jobs) {
    if (job.context == nullptr) return absl::InvalidArgumentError("job has no context");
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("rollout engine is stopped");
  for (EpisodeJob& job : jobs) queue_.push_back(std::move(job));
  work_available_.SignalAll();
  return absl::OkStatus();
}

int64_t RolloutEngine::Cancel(uint64_t group) {
  absl::MutexLock lock(&mu_);
  const auto removed = std::remove_if(
      queue_.begin(), queue_.end(), [group](const EpisodeJob& j) { return j.key.group == group; });
  const int64_t dropped = queue_.end() - removed;
  queue_.erase(removed, queue_.end());
  return dropped;
}

void RolloutEngine::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
    work_available_.SignalAll();
  }
  threads_.clear();  // joins
}

int64_t RolloutEngine::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

void RolloutEngine::ThreadLoop() {
  ThreadState state;
  while (true) {
    EpisodeJob job;
    {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !stopping_) work_available_.Wait(&mu_);
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    const absl::Time started = absl::Now();
    if (observer_ != nullptr) observer_->OnEpisodeStarted();
    const absl::Status status = RunJob(job, state);
    if (observer_ != nullptr) {
      observer_->OnEpisodeFinished(absl::Now() - started, status.ok() ? state.result.length : 0,
                                   status.ok());
    }
    if (status.ok()) {
      callback_(job, &state.result);
    } else {
      VLOG(2) << "lease=" << job.key.lease_id << " index=" << job.key.index
              << " failed: " << status;
      callback_(job, status);
    }
  }
}

absl::Status RolloutEngine::RunJob(const EpisodeJob& job, ThreadState& state) {
  const JobContext& context = *job.context;
  // Contexts differ by pointer for every assignment; rebuild only what really changed.
  if (state.env_context != job.context) {
    const JobContext* old = state.env_context.get();
    if (old == nullptr || old->task != context.task ||
        old->episode_length != context.episode_length || old->env_options != context.env_options) {
      state.env_context = nullptr;
      state.env = nullptr;
      GDAQD_ASSIGN_OR_RETURN(
          state.env,
          common::MakeEnvironment(context.task, context.episode_length, context.env_options));
    }
    state.env_context = job.context;
  }
  // RunEpisode() CHECKs these; the layout and the options come from the network.
  GDAQD_RETURN_IF_ERROR(common::CheckPolicyMatchesTask(context.layout, state.env->spec()));
  GDAQD_RETURN_IF_ERROR(common::CheckEpisodeOptions(context.layout, job.options));
  bool params_set = false;
  if (state.policy_context != job.context) {
    const JobContext* old = state.policy_context.get();
    if (old == nullptr || old->layout != context.layout) {
      state.policy_context = nullptr;
      state.policy.reset();
      // Validates the layout, the parameter count and that every parameter is finite.
      GDAQD_ASSIGN_OR_RETURN(state.policy, common::MlpPolicy::Create(context.layout, job.params));
      params_set = true;
    }
    state.policy_context = job.context;
  }
  // Same checks as Create(), without allocating.
  if (!params_set) GDAQD_RETURN_IF_ERROR(state.policy->SetParams(job.params));
  common::RunEpisode(*state.env, *state.policy, job.options, job.seed, context.record_transitions,
                     &state.result);
  return absl::OkStatus();
}

}  // namespace gdaqd::worker
