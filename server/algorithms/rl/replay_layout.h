// The replay-row layout of the RL methods, without the learners: what the admission estimate
// (server/algorithms/resource_estimate.cc) and RlAlgorithm both need to agree on. Header-only so
// that the estimate does not link LibTorch.
//
// Thread-safe: constants and pure functions.
#ifndef GDAQD_SERVER_ALGORITHMS_RL_REPLAY_LAYOUT_H_
#define GDAQD_SERVER_ALGORITHMS_RL_REPLAY_LAYOUT_H_

#include "gdaqd/v1/config.pb.h"

namespace gdaqd::server::rl {

// Floats a skill method (DIAYN, SMERL) adds to each stored row: skill, d(s) [2], d(s') [2] and
// the episode's return R(tau); the row layout is in sac_learner.h.
inline constexpr int kSkillExtraColumns = 6;

// The replay buffer's action width for `config`: action_dim, + kSkillExtraColumns when
// policy.num_skills > 0.
inline int StoredActionWidth(const gdaqd::v1::ExperimentConfig& config, int action_dim) {
  return config.policy().num_skills() > 0 ? action_dim + kSkillExtraColumns : action_dim;
}

}  // namespace gdaqd::server::rl

#endif  // GDAQD_SERVER_ALGORITHMS_RL_REPLAY_LAYOUT_H_
