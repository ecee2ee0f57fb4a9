#include "server/scheduler/eval_batch.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace gdaqd::server {
namespace {

// The result-limit fields of `request` (see EvalRequest).
absl::Status ValidateResultLimits(const EvalRequest& request) {
  if (request.episode_length < 0 || request.transition_row_floats < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("episode_length and transition_row_floats must be >= 0, got ",
                     request.episode_length, " and ", request.transition_row_floats));
  }
  const size_t low = request.descriptor_low.size(), high = request.descriptor_high.size();
  if (low != high || (low != 0 && low != static_cast<size_t>(request.descriptor_dim))) {
    return absl::InvalidArgumentError(absl::StrCat("descriptor box has ", low, " and ", high,
                                                   " bounds, descriptor_dim is ",
                                                   request.descriptor_dim));
  }
  for (size_t d = 0; d < low; ++d) {
    if (!(request.descriptor_low[d] <= request.descriptor_high[d])) {
      return absl::InvalidArgumentError(absl::StrCat("descriptor box dimension ", d, " is [",
                                                     request.descriptor_low[d], ", ",
                                                     request.descriptor_high[d], "]"));
    }
  }
  if (!(request.min_step_reward <= request.max_step_reward)) {
    return absl::InvalidArgumentError(absl::StrCat("step reward bounds [", request.min_step_reward,
                                                   ", ", request.max_step_reward, "] are empty"));
  }
  return absl::OkStatus();
}

// The per-episode options' shape (whether they fit the policy is the evaluator's check:
// common::CheckEpisodeOptions on the worker or in LocalEvaluator).
absl::Status ValidateEpisodeOptions(const EvalRequest& request) {
  if (request.episode_options.empty()) return absl::OkStatus();
  if (static_cast<int64_t>(request.episode_options.size()) != request.num_episodes()) {
    return absl::InvalidArgumentError(absl::StrCat("episode_options has ",
                                                   request.episode_options.size(),
                                                   " entries, expected ", request.num_episodes()));
  }
  for (size_t i = 0; i < request.episode_options.size(); ++i) {
    const common::EpisodeOptions& options = request.episode_options[i];
    if (options.skill.has_value() && *options.skill < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("episode_options[", i, "].skill is ", *options.skill, ", must be >= 0"));
    }
    if (!(options.exploration_std >= 0) || options.exploration_std > common::kMaxExplorationStd) {
      return absl::InvalidArgumentError(absl::StrCat("episode_options[", i, "].exploration_std is ",
                                                     options.exploration_std, ", must be in [0, ",
                                                     common::kMaxExplorationStd, "]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEvalRequest(const EvalRequest& request) {
  if (request.num_params <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_params must be > 0, got ", request.num_params));
  }
  if (request.descriptor_dim <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("descriptor_dim must be > 0, got ", request.descriptor_dim));
  }
  if (static_cast<int64_t>(request.params.size()) != request.num_episodes() * request.num_params) {
    return absl::InvalidArgumentError(absl::StrCat("params has ", request.params.size(),
                                                   " floats, expected ", request.num_episodes(),
                                                   " episodes x ", request.num_params));
  }
  GDAQD_RETURN_IF_ERROR(ValidateEpisodeOptions(request));
  if (request.episodes_per_lease < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("episodes_per_lease must be >= 1, got ", request.episodes_per_lease));
  }
  return ValidateResultLimits(request);
}

EvalBatch::EvalBatch(EvalRequest request)
    : owned_(std::move(request)),
      request_(&*owned_),
      limits_(ResultLimitsFor(*request_)),
      max_episode_transition_bytes_(MaxEpisodeTransitionBytes(limits_)),
      outcomes_(request_->num_episodes()),
      done_(request_->num_episodes(), false),
      remaining_(request_->num_episodes()) {}

EvalBatch::EvalBatch(const EvalRequest* request)
    : request_(request),
      limits_(ResultLimitsFor(*request_)),
      max_episode_transition_bytes_(MaxEpisodeTransitionBytes(limits_)),
      outcomes_(request_->num_episodes()),
      done_(request_->num_episodes(), false),
      remaining_(request_->num_episodes()) {}

bool EvalBatch::Complete(int64_t index, EvalOutcome outcome) {
  absl::MutexLock lock(&mu_);
  if (index < 0 || index >= static_cast<int64_t>(done_.size()) || done_[index]) return false;
  done_[index] = true;
  outcomes_[index] = std::move(outcome);
  --remaining_;
  return true;
}

void EvalBatch::AddRequeued(int64_t n) {
  absl::MutexLock lock(&mu_);
  requeued_ += n;
}

int64_t EvalBatch::requeued() const {
  absl::MutexLock lock(&mu_);
  return requeued_;
}

bool EvalBatch::is_done(int64_t index) const {
  absl::MutexLock lock(&mu_);
  return done_[index];
}

void EvalBatch::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
}

bool EvalBatch::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool EvalBatch::WaitFor(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto finished = [this]()
                      ABSL_SHARED_LOCKS_REQUIRED(mu_) { return remaining_ == 0 || cancelled_; };
  mu_.AwaitWithTimeout(absl::Condition(&finished), timeout);
  return remaining_ == 0;
}

int64_t EvalBatch::remaining() const {
  absl::MutexLock lock(&mu_);
  return remaining_;
}

std::vector<EvalOutcome> EvalBatch::TakeOutcomes() {
  absl::MutexLock lock(&mu_);
  return std::move(outcomes_);
}

}  // namespace gdaqd::server
