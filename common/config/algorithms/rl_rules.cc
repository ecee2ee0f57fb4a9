#include "common/config/algorithms/rl_rules.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/config/algorithms/builtin_rules.h"
#include "common/config/config.h"
#include "common/config/config_checks.h"
#include "common/status_macros.h"

namespace gdaqd::common {
namespace {

using gdaqd::v1::ExperimentConfig;

using checks::CheckHiddenSizes;
using checks::CheckIntRange;
using checks::CheckRange;
using checks::FieldError;

// The schedule of rounds: updates, versions, episodes, evaluation and warm-up.
absl::Status ValidateSchedule(const gdaqd::v1::RlConfig& rl) {
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.updates_per_step", rl.updates_per_step(), 0,
                                   kMaxRlUpdatesPerStep, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("rl.publish_every", rl.publish_every(), 1, 1'000'000));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("rl.episodes_per_round", rl.episodes_per_round(), 1, kMaxRlRoundEpisodes));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("rl.eval_every", rl.eval_every(), 1, 1'000'000));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("rl.eval_episodes", rl.eval_episodes(), 1, kMaxRlRoundEpisodes));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("rl.warmup_steps", rl.warmup_steps(), 0, kMaxRlEnvSteps));
  // The worker's bound (common/rollout.h kMaxExplorationStd).
  return CheckRange("rl.exploration_std", rl.exploration_std(), 0, 10, /*low_open=*/true);
}

// The learner: TD3's update rule, replay buffer and device.
absl::Status ValidateLearner(const gdaqd::v1::RlConfig& rl) {
  GDAQD_RETURN_IF_ERROR(CheckIntRange("rl.batch_size", rl.batch_size(), 1, kMaxBatchSize));
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.discount", rl.discount(), 0, 1));
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.tau", rl.tau(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.critic_lr", rl.critic_lr(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.actor_lr", rl.actor_lr(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.policy_noise", rl.policy_noise(), 0, 10));
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.noise_clip", rl.noise_clip(), 0, 10));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("rl.policy_delay", rl.policy_delay(), 1, 1'000'000));
  GDAQD_RETURN_IF_ERROR(CheckHiddenSizes("rl.critic_hidden_sizes", rl.critic_hidden_sizes(),
                                         /*may_be_empty=*/false));
  if (rl.replay_capacity() < rl.batch_size() || rl.replay_capacity() > kMaxRlReplayCapacity) {
    return FieldError("rl.replay_capacity",
                      absl::StrCat("must be in [rl.batch_size (", rl.batch_size(), "), ",
                                   kMaxRlReplayCapacity, "], got ", rl.replay_capacity()));
  }
  if (rl.device() != "auto" && rl.device() != "cpu" && rl.device() != "cuda") {
    return FieldError("rl.device",
                      absl::StrCat("must be auto, cpu or cuda, got '", rl.device(), "'"));
  }
  return CheckIntRange("rl.torch_threads", rl.torch_threads(), 1, 256);
}

// The policy each method trains: TD3 a deterministic actor without skills.
absl::Status ValidatePolicyKind(const ExperimentConfig& config) {
  const std::string name = AlgorithmName(config.algorithm());
  const auto kind = config.policy().kind();
  if (config.algorithm() == gdaqd::v1::TD3 && kind == gdaqd::v1::PolicyConfig::TANH_GAUSSIAN) {
    return FieldError("policy.kind",
                      absl::StrCat("TANH_GAUSSIAN is not supported by ", name,
                                   ", which trains a DETERMINISTIC actor with Gaussian "
                                   "exploration noise"));
  }
  if (config.algorithm() == gdaqd::v1::TD3 && config.policy().num_skills() != 0) {
    return FieldError("policy.num_skills",
                      absl::StrCat("must be 0 for ", name, ", which has no skills"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsRlAlgorithm(gdaqd::v1::Algorithm algorithm) {
  return algorithm == gdaqd::v1::TD3 || algorithm == gdaqd::v1::SAC ||
         algorithm == gdaqd::v1::DIAYN || algorithm == gdaqd::v1::SMERL;
}

void ApplyRlDefaults(ExperimentConfig* config) {
  auto* rl = config->mutable_rl();
  if (rl->updates_per_step() == 0) rl->set_updates_per_step(kDefaultRlUpdatesPerStep);
  if (rl->publish_every() == 0) rl->set_publish_every(kDefaultRlPublishEvery);
  if (rl->episodes_per_round() == 0) rl->set_episodes_per_round(kDefaultRlEpisodesPerRound);
  if (rl->eval_every() == 0) rl->set_eval_every(kDefaultRlEvalEvery);
  if (rl->eval_episodes() == 0) rl->set_eval_episodes(kDefaultRlEvalEpisodes);
  if (!rl->has_warmup_steps()) rl->set_warmup_steps(kDefaultRlWarmupSteps);
  if (rl->exploration_std() == 0) rl->set_exploration_std(kDefaultRlExplorationStd);
  if (rl->batch_size() == 0) rl->set_batch_size(kDefaultRlBatchSize);
  if (rl->discount() == 0) rl->set_discount(kDefaultRlDiscount);
  if (rl->tau() == 0) rl->set_tau(kDefaultRlTau);
  if (rl->critic_lr() == 0) rl->set_critic_lr(kDefaultRlCriticLr);
  if (rl->actor_lr() == 0) rl->set_actor_lr(kDefaultRlActorLr);
  if (rl->policy_noise() == 0) rl->set_policy_noise(kDefaultRlPolicyNoise);
  if (rl->noise_clip() == 0) rl->set_noise_clip(kDefaultRlNoiseClip);
  if (rl->policy_delay() == 0) rl->set_policy_delay(kDefaultRlPolicyDelay);
  if (rl->replay_capacity() == 0) rl->set_replay_capacity(kDefaultRlReplayCapacity);
  if (rl->device().empty()) rl->set_device(kDefaultRlDevice);
  if (rl->torch_threads() == 0) rl->set_torch_threads(kDefaultRlTorchThreads);
  if (rl->critic_hidden_sizes_size() == 0) {
    rl->add_critic_hidden_sizes(kDefaultRlCriticHiddenSize);
    rl->add_critic_hidden_sizes(kDefaultRlCriticHiddenSize);
  }
  // The budget is in environment steps. Every counted episode takes at least one step, so
  // max_env_steps episodes never bind first: unset, episodes are bounded by the steps alone.
  if (config->budget().max_evaluations() == 0) {
    config->mutable_budget()->set_max_evaluations(config->budget().max_env_steps());
  }
}

absl::Status ValidateRl(const ExperimentConfig& config) {
  const std::string name = AlgorithmName(config.algorithm());
  if (config.budget().max_env_steps() <= 0 || config.budget().max_env_steps() > kMaxRlEnvSteps) {
    return FieldError("budget.max_env_steps",
                      absl::StrCat("is required for ", name,
                                   " (its budget is in environment steps) and must be in [1, ",
                                   kMaxRlEnvSteps, "], got ", config.budget().max_env_steps()));
  }
  GDAQD_RETURN_IF_ERROR(ValidateSchedule(config.rl()));
  GDAQD_RETURN_IF_ERROR(ValidateLearner(config.rl()));
  return ValidatePolicyKind(config);
}

AlgorithmRules Td3Rules() {
  AlgorithmRules rules;
  rules.id = gdaqd::v1::TD3;
  rules.name = "TD3";
  rules.label = "TD3";
  rules.traits = {.learns = true,
                  .needs_transitions = true,
                  .uses_dynamics_model = false,
                  .uses_critic = false};  // its critic is configured by rl.*, not pga.*
  rules.apply_defaults = &ApplyRlDefaults;
  rules.validate = &ValidateRl;
  return rules;
}

}  // namespace gdaqd::common
