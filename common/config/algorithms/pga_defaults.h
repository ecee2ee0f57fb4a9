// PGA-ME's and every learning algorithm's pga.* defaults: the one place these values live. The
// config layer writes them into configs (pga_rules.cc); the models' config structs
// (server/models/td3_critic.h, dynamics_ensemble.h) take their member defaults from here rather
// than repeating the numbers. Constants only, no dependencies, so server/models can include it.
// Learning rates and other real-valued settings are double: the structs hold doubles, and the
// float config fields they are written to get exactly the float of the same literal.
#ifndef GDAQD_COMMON_CONFIG_ALGORITHMS_PGA_DEFAULTS_H_
#define GDAQD_COMMON_CONFIG_ALGORITHMS_PGA_DEFAULTS_H_

#include <cstdint>

namespace gdaqd::common {

// PGA-ME defaults (QDax PGAMEConfig, research/algorithms.md §2.1), applied only for the
// algorithms with a critic (traits.uses_critic).
inline constexpr float kDefaultPgaIsolineFraction = 0.5f;
inline constexpr int kDefaultPgaCriticSteps = 300;
inline constexpr int kDefaultPgaPgSteps = 100;
inline constexpr int kDefaultPgaCriticBatchSize = 256;
inline constexpr int kDefaultPgaCriticHiddenSize = 256;  // two layers
inline constexpr double kDefaultPgaCriticLr = 3e-4;
inline constexpr double kDefaultPgaActorLr = 3e-4;
inline constexpr double kDefaultPgaPolicyLr = 1e-3;
inline constexpr double kDefaultPgaDiscount = 0.99;
inline constexpr double kDefaultPgaTau = 0.005;
inline constexpr double kDefaultPgaPolicyNoise = 0.2;
inline constexpr double kDefaultPgaNoiseClip = 0.5;
inline constexpr int kDefaultPgaPolicyDelay = 2;
// Every learning algorithm's replay buffer and LibTorch threads.
inline constexpr int64_t kDefaultPgaReplayCapacity = 1'000'000;
inline constexpr int kDefaultPgaTorchThreads = 1;
inline constexpr char kDefaultPgaDevice[] = "auto";  // auto | cpu | cuda

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_CONFIG_ALGORITHMS_PGA_DEFAULTS_H_
