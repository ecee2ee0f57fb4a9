#include "common/config/algorithms/pga_rules.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config/algorithm_rules.h"
#include "common/config/algorithms/builtin_rules.h"
#include "common/config/config.h"
#include "common/config/config_checks.h"
#include "common/status_macros.h"

namespace gdaqd::common {
namespace {

using checks::CheckHiddenSizes;
using checks::CheckIntRange;
using checks::CheckRange;
using checks::FieldError;

// The pga.* fields every learning algorithm reads; the replay buffer holds at least `min_replay`.
absl::Status ValidateSharedPga(const gdaqd::v1::PgaConfig& pga, int64_t min_replay) {
  if (pga.replay_capacity() < min_replay || pga.replay_capacity() > (int64_t{1} << 31)) {
    return FieldError(
        "pga.replay_capacity",
        absl::StrCat(
            "must be in [",
            min_replay == 1 ? "1" : absl::StrCat("pga.critic_batch_size (", min_replay, ")"),
            ", 2^31], got ", pga.replay_capacity()));
  }
  if (pga.device() != "auto" && pga.device() != "cpu" && pga.device() != "cuda") {
    return FieldError("pga.device",
                      absl::StrCat("must be auto, cpu or cuda, got '", pga.device(), "'"));
  }
  return CheckIntRange("pga.torch_threads", pga.torch_threads(), 1, 256);
}

void ApplyPgaMeDefaults(gdaqd::v1::ExperimentConfig* config) {
  ApplyPgaDefaults(config->mutable_pga());
}

}  // namespace

// DA_QD_EXT has no critic, no greedy actor and no gradient children: a critic field set for it
// would be silently ignored, so it is refused instead.
absl::Status ValidatePgaWithoutCritic(const gdaqd::v1::ExperimentConfig& config) {
  const gdaqd::v1::PgaConfig& pga = config.pga();
  const std::pair<const char*, bool> critic_fields[] = {
      {"pga.isoline_fraction", pga.has_isoline_fraction()},
      {"pga.critic_steps", pga.critic_steps() != 0},
      {"pga.pg_steps", pga.pg_steps() != 0},
      {"pga.critic_batch_size", pga.critic_batch_size() != 0},
      {"pga.critic_hidden_sizes", pga.critic_hidden_sizes_size() != 0},
      {"pga.critic_lr", pga.critic_lr() != 0},
      {"pga.actor_lr", pga.actor_lr() != 0},
      {"pga.policy_lr", pga.policy_lr() != 0},
      {"pga.discount", pga.discount() != 0},
      {"pga.tau", pga.tau() != 0},
      {"pga.policy_noise", pga.policy_noise() != 0},
      {"pga.noise_clip", pga.noise_clip() != 0},
      {"pga.policy_delay", pga.policy_delay() != 0},
  };
  for (const auto& [field, set] : critic_fields) {
    if (set) {
      return FieldError(field, absl::StrCat(AlgorithmName(config.algorithm()),
                                            " has no critic and never reads it; remove it (only "
                                            "pga.replay_capacity, pga.device and "
                                            "pga.torch_threads apply)"));
    }
  }
  return ValidateSharedPga(pga, /*min_replay=*/1);
}

absl::Status ValidatePgaWithCritic(const gdaqd::v1::ExperimentConfig& config) {
  const gdaqd::v1::PgaConfig& pga = config.pga();
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.isoline_fraction", pga.isoline_fraction(), 0, 1));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("pga.critic_steps", pga.critic_steps(), 1, 1'000'000));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("pga.pg_steps", pga.pg_steps(), 1, 1'000'000));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("pga.critic_batch_size", pga.critic_batch_size(), 1, kMaxBatchSize));
  GDAQD_RETURN_IF_ERROR(CheckHiddenSizes("pga.critic_hidden_sizes", pga.critic_hidden_sizes(),
                                         /*may_be_empty=*/false));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.critic_lr", pga.critic_lr(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.actor_lr", pga.actor_lr(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.policy_lr", pga.policy_lr(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.discount", pga.discount(), 0, 1));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.tau", pga.tau(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.policy_noise", pga.policy_noise(), 0, 100));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.noise_clip", pga.noise_clip(), 0, 100));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("pga.policy_delay", pga.policy_delay(), 1, 1'000'000));
  return ValidateSharedPga(pga, /*min_replay=*/pga.critic_batch_size());
}

// The pga.* fields every learning algorithm reads: the replay buffer and where LibTorch runs.
void ApplySharedPgaDefaults(gdaqd::v1::PgaConfig* pga) {
  if (pga->replay_capacity() == 0) pga->set_replay_capacity(kDefaultPgaReplayCapacity);
  if (pga->device().empty()) pga->set_device(kDefaultPgaDevice);
  if (pga->torch_threads() == 0) pga->set_torch_threads(kDefaultPgaTorchThreads);
}

void ApplyPgaDefaults(gdaqd::v1::PgaConfig* pga) {
  ApplySharedPgaDefaults(pga);
  if (!pga->has_isoline_fraction()) pga->set_isoline_fraction(kDefaultPgaIsolineFraction);
  if (pga->critic_steps() == 0) pga->set_critic_steps(kDefaultPgaCriticSteps);
  if (pga->pg_steps() == 0) pga->set_pg_steps(kDefaultPgaPgSteps);
  if (pga->critic_batch_size() == 0) pga->set_critic_batch_size(kDefaultPgaCriticBatchSize);
  if (pga->critic_hidden_sizes_size() == 0) {
    pga->add_critic_hidden_sizes(kDefaultPgaCriticHiddenSize);
    pga->add_critic_hidden_sizes(kDefaultPgaCriticHiddenSize);
  }
  if (pga->critic_lr() == 0) pga->set_critic_lr(kDefaultPgaCriticLr);
  if (pga->actor_lr() == 0) pga->set_actor_lr(kDefaultPgaActorLr);
  if (pga->policy_lr() == 0) pga->set_policy_lr(kDefaultPgaPolicyLr);
  if (pga->discount() == 0) pga->set_discount(kDefaultPgaDiscount);
  if (pga->tau() == 0) pga->set_tau(kDefaultPgaTau);
  if (pga->policy_noise() == 0) pga->set_policy_noise(kDefaultPgaPolicyNoise);
  if (pga->noise_clip() == 0) pga->set_noise_clip(kDefaultPgaNoiseClip);
  if (pga->policy_delay() == 0) pga->set_policy_delay(kDefaultPgaPolicyDelay);
}

AlgorithmRules PgaMeRules() {
  AlgorithmRules rules;
  rules.id = gdaqd::v1::PGA_ME;
  rules.name = "PGA_ME";
  rules.label = "PGA-ME";
  rules.traits = {
      .learns = true, .needs_transitions = true, .uses_dynamics_model = false, .uses_critic = true};
  rules.apply_defaults = &ApplyPgaMeDefaults;
  rules.validate = &ValidatePgaWithCritic;
  return rules;
}

}  // namespace gdaqd::common
