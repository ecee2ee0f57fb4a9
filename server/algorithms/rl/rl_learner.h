// The learner half of an RL baseline run as an actor-learner (docs/design/rl_actor_learner.md):
// what RlAlgorithm needs of TD3, SAC, DIAYN and SMERL (server/models holds the networks; an
// RlLearner adapts one to this interface).
#ifndef GDAQD_SERVER_ALGORITHMS_RL_RL_LEARNER_H_
#define GDAQD_SERVER_ALGORITHMS_RL_RL_LEARNER_H_

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/models/replay_buffer.h"
#include "server/scheduler/evaluator.h"

namespace gdaqd::server::rl {

// What one Train() call did. Losses are means over the call's updates (NaN if none). The SAC
// family's fields stay NaN for TD3, the skill ones for SAC, diversity_active for DIAYN.
struct LearnerReport {
  static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  int64_t updates = 0;  // gradient updates (critic steps for TD3) in this call
  double critic_loss = 0;
  double actor_loss = 0;
  double alpha = kNone;               // SAC family: the temperature after the call
  double alpha_loss = kNone;          // SAC family: mean temperature loss
  double discriminator_loss = kNone;  // DIAYN, SMERL: mean cross-entropy of q(z | x, y)
  double intrinsic_reward = kNone;    // DIAYN, SMERL: mean log q(z | d(s')) - log p(z)
  double diversity_active = kNone;    // SMERL: fraction of sampled rows with the gate open
};

// An off-policy learner trained from a replay buffer and publishing a flat actor.
// Single-thread: owned and driven by one RlAlgorithm.
class RlLearner {
 public:
  virtual ~RlLearner() = default;

  // Runs `updates` >= 1 gradient updates on minibatches sampled uniformly (with replacement) from
  // `buffer` with `rng`. `interrupt` (may be null) is polled every update: Cancelled once set.
  // FailedPrecondition if the buffer is empty; Internal if a loss becomes non-finite or LibTorch
  // fails; ResourceExhausted if out of memory. After an error the learner must be discarded.
  virtual absl::StatusOr<LearnerReport> Train(int64_t updates, const models::ReplayBuffer& buffer,
                                              std::mt19937_64& rng,
                                              const CancelFlag* interrupt) = 0;

  // The current actor's flat parameters ([num_params], docs/policy_layout.md), what workers run
  // once published. Internal on LibTorch failure.
  virtual absl::StatusOr<std::vector<float>> ActorParams() const = 0;

  // Everything the learner needs to continue exactly: networks, targets, optimisers, counters
  // and noise streams. Internal on LibTorch failure.
  virtual absl::StatusOr<std::string> Save() const = 0;
  // Restores a Save() blob of a learner built from the same config. InvalidArgument if it does
  // not fit; the learner may be partly overwritten after an Internal error.
  virtual absl::Status Load(const std::string& blob) = 0;
};

}  // namespace gdaqd::server::rl

#endif  // GDAQD_SERVER_ALGORITHMS_RL_RL_LEARNER_H_
