#include "server/scheduler/local_evaluator.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>

#include "absl/types/span.h"
#include "common/config/config.h"
#include "common/mlp_policy.h"
#include "common/rollout.h"
#include "common/task.h"
#include "common/thread.h"

namespace gdaqd::server {
namespace {

EvalOutcome ToOutcome(common::EpisodeResult& result) {
  EvalOutcome outcome;
  outcome.fitness = result.fitness;
  outcome.descriptor = result.descriptor;
  outcome.length = result.length;
  outcome.terminated = result.terminated;
  outcome.diverged = result.diverged;
  outcome.transitions = std::move(result.transitions);
  return outcome;
}

}  // namespace

absl::StatusOr<std::vector<EvalOutcome>> LocalEvaluator::Evaluate(const EvalRequest& request,
                                                                  const CancelFlag* cancel) {
  if (absl::Status status = ValidateEvalRequest(request); !status.ok()) return status;
  absl::StatusOr<common::MlpLayout> layout = common::PolicyLayout(request.env, request.policy);
  if (!layout.ok()) return layout.status();
  if (layout->num_params() != request.num_params) {
    return absl::InvalidArgumentError("request num_params does not match the policy layout");
  }
  absl::StatusOr<common::EnvironmentOptions> env_options =
      common::EnvironmentOptionsFromConfig(request.env);
  if (!env_options.ok()) return env_options.status();
  // Fail fast on an unknown task before starting threads.
  if (absl::Status status =
          common::MakeEnvironment(request.env.task(), request.env.episode_length(), *env_options)
              .status();
      !status.ok()) {
    return status;
  }

  const int64_t n = request.num_episodes();
  std::vector<EvalOutcome> outcomes(n);
  std::atomic<int64_t> next{0};
  auto work = [&] {
    auto env =
        common::MakeEnvironment(request.env.task(), request.env.episode_length(), *env_options);
    std::unique_ptr<common::Environment> environment = std::move(env).value();
    std::vector<float> zeros(request.num_params, 0.0f);
    auto policy = common::MlpPolicy::Create(*layout, zeros);
    common::EpisodeResult result;
    for (int64_t i = next++; i < n; i = next++) {
      if (cancel != nullptr && cancel->load()) return;
      absl::Span<const float> params(&request.params[i * request.num_params], request.num_params);
      if (absl::Status status = policy->SetParams(params); !status.ok()) {
        outcomes[i].error = std::string(status.message());
        continue;
      }
      const common::EpisodeOptions options = EpisodeOptionsAt(request, i);
      if (absl::Status status = common::CheckEpisodeOptions(*layout, options); !status.ok()) {
        outcomes[i].error = std::string(status.message());
        continue;
      }
      common::RunEpisode(*environment, *policy, options, request.seeds[i],
                         request.record_transitions, &result);
      outcomes[i] = ToOutcome(result);
    }
  };
  {
    std::vector<std::unique_ptr<common::Thread>> threads;
    const int64_t count = std::min<int64_t>(threads_, std::max<int64_t>(n, 1));
    for (int64_t t = 1; t < count; ++t) {
      threads.push_back(std::make_unique<common::Thread>("local-eval", work));
    }
    work();
  }  // joins
  if (cancel != nullptr && cancel->load()) return absl::CancelledError("evaluation cancelled");
  return outcomes;
}

}  // namespace gdaqd::server
