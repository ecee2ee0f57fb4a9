// The model-based algorithms' config rules: DA-QD-ext (Lim et al. 2022, extended to a
// critic-free imagination loop) and GDA-QD (the paper's), i.e. the model.* section's defaults and
// validation plus the pga.* fields each reads (pga_rules.h). Thread-safe (pure functions).
#ifndef GDAQD_COMMON_CONFIG_ALGORITHMS_MODEL_RULES_H_
#define GDAQD_COMMON_CONFIG_ALGORITHMS_MODEL_RULES_H_

namespace gdaqd::common {

// DA-QD-ext / GDA-QD model defaults (DESIGN.md §5, imagined-qd via research/algorithms.md §3.1),
// applied only for the algorithms with a dynamics model (traits.uses_dynamics_model). The one
// place these values live: server/models/dynamics_ensemble.h's EnsembleConfig takes its member
// defaults from here. Constants only (server/models includes this header); real-valued settings
// are double like the struct's, and the float config fields get exactly the float literal.
inline constexpr float kDefaultGdaQdPGradient = 0.1f;  // p_model 0.9 (paper §3.2)
inline constexpr int kDefaultImaginedBatchSize = 32;
inline constexpr int kDefaultImaginedGenerations = 100;
inline constexpr int kDefaultEnsembleMembers = 4;
inline constexpr int kDefaultEnsembleHiddenSize = 512;  // two layers
inline constexpr double kDefaultEnsembleLr = 1e-3;
inline constexpr float kDefaultMinLogStd = -4.0f;
inline constexpr float kDefaultMaxLogStd = 1.0f;
inline constexpr double kDefaultHoldoutFraction = 0.1;
inline constexpr int kDefaultModelPatience = 10;
inline constexpr double kDefaultModelMinImprovement = 0.01;
inline constexpr int kDefaultModelMaxTrainSteps = 2000;
inline constexpr int kDefaultModelTrainBatchSize = 256;
inline constexpr int kDefaultModelRetrainEvery = 1;  // the paper: every real iteration
inline constexpr int kLegacyModelRetrainEvery = 25;  // the default before 2026-11-30

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_CONFIG_ALGORITHMS_MODEL_RULES_H_
