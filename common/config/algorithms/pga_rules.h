// PGA-ME's config rules (Nilsson & Cully 2021): the pga.* section's defaults and validation, also
// used by the model-based algorithms (GDA_QD's critic, DA_QD_EXT's replay buffer and device).
// Thread-safe (pure functions).
#ifndef GDAQD_COMMON_CONFIG_ALGORITHMS_PGA_RULES_H_
#define GDAQD_COMMON_CONFIG_ALGORITHMS_PGA_RULES_H_

#include <cstdint>

#include "absl/status/status.h"
#include "gdaqd/v1/config.pb.h"

namespace gdaqd::common {

// PGA-ME defaults (QDax PGAMEConfig, research/algorithms.md §2.1), applied only for the
// algorithms with a critic (traits.uses_critic).
inline constexpr float kDefaultPgaIsolineFraction = 0.5f;
inline constexpr int kDefaultPgaCriticSteps = 300;
inline constexpr int kDefaultPgaPgSteps = 100;
inline constexpr int kDefaultPgaCriticBatchSize = 256;
inline constexpr int kDefaultPgaCriticHiddenSize = 256;  // two layers
inline constexpr float kDefaultPgaCriticLr = 3e-4f;
inline constexpr float kDefaultPgaActorLr = 3e-4f;
inline constexpr float kDefaultPgaPolicyLr = 1e-3f;
inline constexpr float kDefaultPgaDiscount = 0.99f;
inline constexpr float kDefaultPgaTau = 0.005f;
inline constexpr float kDefaultPgaPolicyNoise = 0.2f;
inline constexpr float kDefaultPgaNoiseClip = 0.5f;
inline constexpr int kDefaultPgaPolicyDelay = 2;
// Every learning algorithm's replay buffer and LibTorch threads.
inline constexpr int64_t kDefaultPgaReplayCapacity = 1'000'000;
inline constexpr int kDefaultPgaTorchThreads = 1;

// The pga.* fields every learning algorithm reads: replay capacity, device and torch threads.
void ApplySharedPgaDefaults(gdaqd::v1::PgaConfig* pga);
// The shared fields and the critic's (TD3) and policy-gradient children's.
void ApplyPgaDefaults(gdaqd::v1::PgaConfig* pga);

// A critic algorithm's pga.* section. InvalidArgument naming the field.
absl::Status ValidatePgaWithCritic(const gdaqd::v1::ExperimentConfig& config);
// A learning algorithm without a critic: the shared fields only, and no critic field set (a
// critic field would be silently ignored, so it is refused). InvalidArgument naming the field.
absl::Status ValidatePgaWithoutCritic(const gdaqd::v1::ExperimentConfig& config);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_CONFIG_ALGORITHMS_PGA_RULES_H_
