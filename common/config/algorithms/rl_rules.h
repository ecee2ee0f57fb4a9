// Defaults and validation of the deep-RL baselines run as actor-learners (algorithms TD3, SAC,
// DIAYN and SMERL): the `rl` block of ExperimentConfig, the budget in environment steps and the
// policy kind each method trains. The registry entries (Td3Rules(), SacRules(), DiaynRules(),
// SmerlRules()) are declared in builtin_rules.h. Stateless free functions; thread-safe.
#ifndef GDAQD_COMMON_CONFIG_ALGORITHMS_RL_RULES_H_
#define GDAQD_COMMON_CONFIG_ALGORITHMS_RL_RULES_H_

#include <cstdint>

#include "absl/status/status.h"
#include "gdaqd/v1/config.pb.h"

namespace gdaqd::common {

// Defaults of RlConfig (proto/gdaqd/v1/config.proto says where each comes from: QDax's
// TD3Config, research/baselines.md section 2.5, unless marked as our choice there).
inline constexpr float kDefaultRlUpdatesPerStep = 1.0f;
inline constexpr int kDefaultRlPublishEvery = 50;
inline constexpr int kDefaultRlEpisodesPerRound = 4;
inline constexpr int kDefaultRlEvalEvery = 5;
inline constexpr int kDefaultRlEvalEpisodes = 1;
inline constexpr int64_t kDefaultRlWarmupSteps = 1000;
inline constexpr float kDefaultRlExplorationStd = 0.1f;
inline constexpr int kDefaultRlBatchSize = 256;
inline constexpr float kDefaultRlDiscount = 0.99f;
inline constexpr float kDefaultRlTau = 0.005f;
inline constexpr float kDefaultRlCriticLr = 3e-4f;
inline constexpr float kDefaultRlActorLr = 3e-4f;
inline constexpr float kDefaultRlPolicyNoise = 0.2f;
inline constexpr float kDefaultRlNoiseClip = 0.5f;
inline constexpr int kDefaultRlPolicyDelay = 2;
inline constexpr int64_t kDefaultRlReplayCapacity = 1'000'000;
inline constexpr char kDefaultRlDevice[] = "auto";
inline constexpr int kDefaultRlTorchThreads = 1;
inline constexpr int kDefaultRlCriticHiddenSize = 256;  // two layers
// The SAC family's (QDax SacConfig, DiaynConfig, DiaynSmerlConfig; research/baselines.md
// sections 2.6-2.8). They share the TD3 defaults above except discount (SacConfig's 0.97) and
// leave exploration_std, policy_noise, noise_clip and policy_delay unset.
inline constexpr float kDefaultSacDiscount = 0.97f;
inline constexpr float kDefaultSacAlphaLr = 3e-4f;
inline constexpr float kDefaultSacInitialAlpha = 1.0f;
inline constexpr float kDefaultSacRewardScaling = 1.0f;
// QDax's SAC-family notebooks (DIAYN, SMERL: grad_updates_per_step 0.25; research/baselines.md
// sections 2.7-2.8); TD3 keeps QDax TD3Config's 1.0.
inline constexpr float kDefaultSacUpdatesPerStep = 0.25f;
inline constexpr int kDefaultSkillCount = 5;  // policy.num_skills of DIAYN and SMERL
inline constexpr float kDefaultDiscriminatorLr = 3e-4f;
inline constexpr float kDefaultSmerlDiversityRewardScale = 1.0f;
inline constexpr float kDefaultSmerlTarget = 1e3f;
inline constexpr float kDefaultSmerlMargin = 1e2f;
// Bounds of the validated fields.
inline constexpr float kMaxRlUpdatesPerStep = 1000;
inline constexpr int kMaxRlRoundEpisodes = 100'000;
inline constexpr int64_t kMaxRlEnvSteps = 1'000'000'000'000;
inline constexpr int64_t kMaxRlReplayCapacity = 100'000'000;

// True for TD3, SAC, DIAYN and SMERL.
bool IsRlAlgorithm(gdaqd::v1::Algorithm algorithm);

// Fills unset rl.* fields (the method's own only: TD3's noise settings for TD3, the temperature
// for the SAC family, the discriminator for DIAYN and SMERL, the gate for SMERL), the SAC family's
// policy (kind TANH_GAUSSIAN when unset, then with an identity output and min_std; num_skills 5
// for DIAYN and SMERL when unset) and, when budget.max_evaluations is 0, sets it to
// budget.max_env_steps (an RL run is bounded by its environment steps; every counted episode
// takes at least one, so that bound on episodes never binds first). Idempotent.
// Precondition: IsRlAlgorithm(config->algorithm()).
void ApplyRlDefaults(gdaqd::v1::ExperimentConfig* config);

// InvalidArgument naming the field when an rl.* value is out of range ("rl.tau: must be in (0, 1],
// got 0"), budget.max_env_steps is not in [1, 1e12] ("budget.max_env_steps: is required for TD3
// (its budget is in environment steps), got 0"), the policy kind is not the method's (TD3 trains a
// DETERMINISTIC actor: policy.kind TANH_GAUSSIAN is refused by name, as are skills; the SAC family
// a TANH_GAUSSIAN one with relu hidden layers; DIAYN and SMERL need policy.num_skills >= 2, SAC 0),
// another method's field is set ("rl.policy_noise: must be unset for SAC, ..."), or rl.device is
// not auto/cpu/cuda. Expects defaults applied.
absl::Status ValidateRl(const gdaqd::v1::ExperimentConfig& config);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_CONFIG_ALGORITHMS_RL_RULES_H_
