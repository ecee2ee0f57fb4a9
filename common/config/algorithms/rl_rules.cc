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

// Bound of the SAC family's unbounded magnitudes (temperature, entropy, returns, scales).
constexpr double kMaxRlMagnitude = 1e9;
// policy.min_std's default (brax's NormalTanhDistribution, as config.cc's).
constexpr float kSacMinStd = 0.001f;

bool IsSmerl(const ExperimentConfig& config) { return config.algorithm() == gdaqd::v1::SMERL; }

// The schedule of rounds: updates, versions, episodes, evaluation and warm-up.
absl::Status ValidateSchedule(const gdaqd::v1::RlConfig& rl, bool td3) {
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.updates_per_step", rl.updates_per_step(), 0,
                                   kMaxRlUpdatesPerStep, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("rl.publish_every", rl.publish_every(), 1, 1'000'000));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("rl.episodes_per_round", rl.episodes_per_round(), 1, kMaxRlRoundEpisodes));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("rl.eval_every", rl.eval_every(), 1, 1'000'000));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("rl.eval_episodes", rl.eval_episodes(), 1, kMaxRlRoundEpisodes));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("rl.warmup_steps", rl.warmup_steps(), 0, kMaxRlEnvSteps));
  // The worker's bound (common/rollout.h kMaxExplorationStd). The SAC family samples its policy.
  if (!td3) return absl::OkStatus();
  return CheckRange("rl.exploration_std", rl.exploration_std(), 0, 10, /*low_open=*/true);
}

// TD3's own update settings.
absl::Status ValidateTd3Learner(const gdaqd::v1::RlConfig& rl) {
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.policy_noise", rl.policy_noise(), 0, 10));
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.noise_clip", rl.noise_clip(), 0, 10));
  return CheckIntRange("rl.policy_delay", rl.policy_delay(), 1, 1'000'000);
}

// InvalidArgument "<field>: must be unset for <name>, <why>" when `set`.
absl::Status MustBeUnset(bool set, const char* field, const std::string& name, const char* why) {
  if (!set) return absl::OkStatus();
  return FieldError(field, absl::StrCat("must be unset for ", name, ", ", why));
}

// The fields of the methods other than config's: a set one is refused by name (a TD3 field in a
// SAC config would silently do nothing otherwise).
absl::Status ValidateForeignFields(const ExperimentConfig& config) {
  const gdaqd::v1::RlConfig& rl = config.rl();
  const std::string name = AlgorithmName(config.algorithm());
  const bool td3 = config.algorithm() == gdaqd::v1::TD3;
  const bool skills = config.algorithm() == gdaqd::v1::DIAYN || IsSmerl(config);
  if (!td3) {
    constexpr char kWhy[] = "which samples its tanh-Gaussian policy (a TD3 setting)";
    GDAQD_RETURN_IF_ERROR(MustBeUnset(rl.exploration_std() != 0, "rl.exploration_std", name, kWhy));
    GDAQD_RETURN_IF_ERROR(MustBeUnset(rl.policy_noise() != 0, "rl.policy_noise", name, kWhy));
    GDAQD_RETURN_IF_ERROR(MustBeUnset(rl.noise_clip() != 0, "rl.noise_clip", name, kWhy));
    GDAQD_RETURN_IF_ERROR(MustBeUnset(rl.policy_delay() != 0, "rl.policy_delay", name, kWhy));
  }
  if (td3) {
    constexpr char kWhy[] = "which has no temperature (a SAC setting)";
    GDAQD_RETURN_IF_ERROR(MustBeUnset(rl.alpha_lr() != 0, "rl.alpha_lr", name, kWhy));
    GDAQD_RETURN_IF_ERROR(MustBeUnset(rl.initial_alpha() != 0, "rl.initial_alpha", name, kWhy));
    GDAQD_RETURN_IF_ERROR(MustBeUnset(rl.has_target_entropy(), "rl.target_entropy", name, kWhy));
    GDAQD_RETURN_IF_ERROR(MustBeUnset(rl.reward_scaling() != 0, "rl.reward_scaling", name, kWhy));
  }
  if (!skills) {
    constexpr char kWhy[] = "which has no discriminator (a DIAYN and SMERL setting)";
    GDAQD_RETURN_IF_ERROR(MustBeUnset(rl.discriminator_hidden_sizes_size() != 0,
                                      "rl.discriminator_hidden_sizes", name, kWhy));
    GDAQD_RETURN_IF_ERROR(
        MustBeUnset(rl.discriminator_lr() != 0, "rl.discriminator_lr", name, kWhy));
  }
  if (!IsSmerl(config)) {
    constexpr char kWhy[] = "which has no diversity gate (a SMERL setting)";
    GDAQD_RETURN_IF_ERROR(
        MustBeUnset(rl.diversity_reward_scale() != 0, "rl.diversity_reward_scale", name, kWhy));
    GDAQD_RETURN_IF_ERROR(MustBeUnset(rl.has_smerl_target(), "rl.smerl_target", name, kWhy));
    GDAQD_RETURN_IF_ERROR(MustBeUnset(rl.has_smerl_margin(), "rl.smerl_margin", name, kWhy));
  }
  return absl::OkStatus();
}

// The SAC family's own settings (temperature, discriminator, SMERL's gate).
absl::Status ValidateSacLearner(const ExperimentConfig& config) {
  const gdaqd::v1::RlConfig& rl = config.rl();
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.alpha_lr", rl.alpha_lr(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(
      CheckRange("rl.initial_alpha", rl.initial_alpha(), 0, kMaxRlMagnitude, /*low_open=*/true));
  if (rl.has_target_entropy()) {
    GDAQD_RETURN_IF_ERROR(
        CheckRange("rl.target_entropy", rl.target_entropy(), -kMaxRlMagnitude, kMaxRlMagnitude));
  }
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.reward_scaling", rl.reward_scaling(), 0, kMaxRlMagnitude,
                                   /*low_open=*/true));
  if (config.algorithm() == gdaqd::v1::SAC) return absl::OkStatus();
  GDAQD_RETURN_IF_ERROR(CheckHiddenSizes("rl.discriminator_hidden_sizes",
                                         rl.discriminator_hidden_sizes(), /*may_be_empty=*/false));
  GDAQD_RETURN_IF_ERROR(
      CheckRange("rl.discriminator_lr", rl.discriminator_lr(), 0, 1, /*low_open=*/true));
  if (!IsSmerl(config)) return absl::OkStatus();
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.diversity_reward_scale", rl.diversity_reward_scale(), 0,
                                   kMaxRlMagnitude, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(
      CheckRange("rl.smerl_target", rl.smerl_target(), -kMaxRlMagnitude, kMaxRlMagnitude));
  return CheckRange("rl.smerl_margin", rl.smerl_margin(), 0, kMaxRlMagnitude);
}

// The learner: the shared update settings, replay buffer and device.
absl::Status ValidateLearner(const gdaqd::v1::RlConfig& rl) {
  GDAQD_RETURN_IF_ERROR(CheckIntRange("rl.batch_size", rl.batch_size(), 1, kMaxBatchSize));
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.discount", rl.discount(), 0, 1));
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.tau", rl.tau(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.critic_lr", rl.critic_lr(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("rl.actor_lr", rl.actor_lr(), 0, 1, /*low_open=*/true));
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

// The policy each method trains: TD3 a deterministic actor without skills; SAC a tanh-Gaussian
// one with ReLU hidden layers (models::Sac's actor); DIAYN and SMERL that with >= 2 skills.
absl::Status ValidatePolicyKind(const ExperimentConfig& config) {
  const std::string name = AlgorithmName(config.algorithm());
  const auto kind = config.policy().kind();
  if (config.algorithm() != gdaqd::v1::TD3) {
    if (kind != gdaqd::v1::PolicyConfig::TANH_GAUSSIAN) {
      return FieldError("policy.kind", absl::StrCat(gdaqd::v1::PolicyConfig::Kind_Name(kind),
                                                    " is not supported by ", name,
                                                    ", which trains a TANH_GAUSSIAN actor"));
    }
    if (config.policy().hidden_activation() != "relu") {
      return FieldError("policy.hidden_activation",
                        absl::StrCat("must be relu for ", name, " (its learner's actor), got '",
                                     config.policy().hidden_activation(), "'"));
    }
    if (config.algorithm() == gdaqd::v1::SAC && config.policy().num_skills() != 0) {
      return FieldError("policy.num_skills",
                        absl::StrCat("must be 0 for ", name, ", which has no skills"));
    }
    if (config.algorithm() != gdaqd::v1::SAC && config.policy().num_skills() < 2) {
      return FieldError("policy.num_skills",
                        absl::StrCat("must be >= 2 for ", name, " (its discriminator tells ",
                                     "skills apart), got ", config.policy().num_skills()));
    }
    return absl::OkStatus();
  }
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

// The SAC family's rl.* and policy defaults (rl_rules.h).
void ApplySacDefaults(ExperimentConfig* config) {
  auto* rl = config->mutable_rl();
  if (rl->discount() == 0) rl->set_discount(kDefaultSacDiscount);
  if (rl->alpha_lr() == 0) rl->set_alpha_lr(kDefaultSacAlphaLr);
  if (rl->initial_alpha() == 0) rl->set_initial_alpha(kDefaultSacInitialAlpha);
  if (rl->reward_scaling() == 0) rl->set_reward_scaling(kDefaultSacRewardScaling);
  auto* policy = config->mutable_policy();
  if (policy->kind() == gdaqd::v1::PolicyConfig::KIND_UNSPECIFIED) {
    // The generic defaults ran for a deterministic policy: redo the kind-dependent ones.
    policy->set_kind(gdaqd::v1::PolicyConfig::TANH_GAUSSIAN);
    policy->set_output_activation("identity");
    if (policy->min_std() == 0) policy->set_min_std(kSacMinStd);
  }
  if (config->algorithm() == gdaqd::v1::SAC) return;
  if (policy->num_skills() == 0) policy->set_num_skills(kDefaultSkillCount);
  if (rl->discriminator_hidden_sizes_size() == 0) {
    rl->add_discriminator_hidden_sizes(kDefaultRlCriticHiddenSize);
    rl->add_discriminator_hidden_sizes(kDefaultRlCriticHiddenSize);
  }
  if (rl->discriminator_lr() == 0) rl->set_discriminator_lr(kDefaultDiscriminatorLr);
  if (config->algorithm() != gdaqd::v1::SMERL) return;
  if (rl->diversity_reward_scale() == 0) {
    rl->set_diversity_reward_scale(kDefaultSmerlDiversityRewardScale);
  }
  if (!rl->has_smerl_target()) rl->set_smerl_target(kDefaultSmerlTarget);
  if (!rl->has_smerl_margin()) rl->set_smerl_margin(kDefaultSmerlMargin);
}

}  // namespace

bool IsRlAlgorithm(gdaqd::v1::Algorithm algorithm) {
  return algorithm == gdaqd::v1::TD3 || algorithm == gdaqd::v1::SAC ||
         algorithm == gdaqd::v1::DIAYN || algorithm == gdaqd::v1::SMERL;
}

void ApplyRlDefaults(ExperimentConfig* config) {
  auto* rl = config->mutable_rl();
  if (rl->updates_per_step() == 0) {
    rl->set_updates_per_step(config->algorithm() == gdaqd::v1::TD3 ? kDefaultRlUpdatesPerStep
                                                                   : kDefaultSacUpdatesPerStep);
  }
  if (rl->publish_every() == 0) rl->set_publish_every(kDefaultRlPublishEvery);
  if (rl->episodes_per_round() == 0) rl->set_episodes_per_round(kDefaultRlEpisodesPerRound);
  if (rl->eval_every() == 0) rl->set_eval_every(kDefaultRlEvalEvery);
  if (rl->eval_episodes() == 0) rl->set_eval_episodes(kDefaultRlEvalEpisodes);
  if (!rl->has_warmup_steps()) rl->set_warmup_steps(kDefaultRlWarmupSteps);
  if (rl->batch_size() == 0) rl->set_batch_size(kDefaultRlBatchSize);
  if (rl->tau() == 0) rl->set_tau(kDefaultRlTau);
  if (rl->critic_lr() == 0) rl->set_critic_lr(kDefaultRlCriticLr);
  if (rl->actor_lr() == 0) rl->set_actor_lr(kDefaultRlActorLr);
  if (config->algorithm() == gdaqd::v1::TD3) {
    if (rl->exploration_std() == 0) rl->set_exploration_std(kDefaultRlExplorationStd);
    if (rl->discount() == 0) rl->set_discount(kDefaultRlDiscount);
    if (rl->policy_noise() == 0) rl->set_policy_noise(kDefaultRlPolicyNoise);
    if (rl->noise_clip() == 0) rl->set_noise_clip(kDefaultRlNoiseClip);
    if (rl->policy_delay() == 0) rl->set_policy_delay(kDefaultRlPolicyDelay);
  } else {
    ApplySacDefaults(config);
  }
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
  const bool td3 = config.algorithm() == gdaqd::v1::TD3;
  GDAQD_RETURN_IF_ERROR(ValidateForeignFields(config));
  GDAQD_RETURN_IF_ERROR(ValidateSchedule(config.rl(), td3));
  GDAQD_RETURN_IF_ERROR(ValidateLearner(config.rl()));
  GDAQD_RETURN_IF_ERROR(td3 ? ValidateTd3Learner(config.rl()) : ValidateSacLearner(config));
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

AlgorithmRules SacRules() {
  AlgorithmRules rules = Td3Rules();  // the same traits, defaults and checks, per algorithm
  rules.id = gdaqd::v1::SAC;
  rules.name = "SAC";
  rules.label = "SAC";
  return rules;
}

AlgorithmRules DiaynRules() {
  AlgorithmRules rules = Td3Rules();
  rules.id = gdaqd::v1::DIAYN;
  rules.name = "DIAYN";
  rules.label = "DIAYN";
  return rules;
}

AlgorithmRules SmerlRules() {
  AlgorithmRules rules = Td3Rules();
  rules.id = gdaqd::v1::SMERL;
  rules.name = "SMERL";
  rules.label = "SMERL";
  return rules;
}

}  // namespace gdaqd::common
