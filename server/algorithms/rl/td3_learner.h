// TD3 (Fujimoto et al. 2018) as an RlLearner: models::Td3 (the twin critics, target smoothing
// and delayed actor updates PGA-ME already uses), configured from the rl block.
#ifndef GDAQD_SERVER_ALGORITHMS_RL_TD3_LEARNER_H_
#define GDAQD_SERVER_ALGORITHMS_RL_TD3_LEARNER_H_

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/mlp_policy.h"
#include "gdaqd/v1/config.pb.h"
#include "server/algorithms/rl/rl_learner.h"

namespace gdaqd::server::models {
class Td3;
}  // namespace gdaqd::server::models

namespace gdaqd::server::rl {

// Owns its models::Td3. Single-thread (the RlAlgorithm's).
class Td3Learner final : public RlLearner {
 public:
  // The learner of a validated, defaulted TD3 config with the actor set to `initial_actor`
  // ([layout.num_params()]). InvalidArgument for a bad config; FailedPrecondition for device
  // cuda without a GPU; Internal for LibTorch failures.
  static absl::StatusOr<std::unique_ptr<Td3Learner>> Create(
      const gdaqd::v1::ExperimentConfig& config, const common::MlpLayout& layout,
      absl::Span<const float> initial_actor);
  ~Td3Learner() override;

  // `updates` TD3 steps (models::Td3::Train, one critic step per call, the actor every
  // rl.policy_delay steps of the learner's persistent counter).
  absl::StatusOr<LearnerReport> Train(int64_t updates, const models::ReplayBuffer& buffer,
                                      std::mt19937_64& rng, const CancelFlag* interrupt) override;
  absl::StatusOr<std::vector<float>> ActorParams() const override;
  absl::StatusOr<std::string> Save() const override;
  absl::Status Load(const std::string& blob) override;

 private:
  explicit Td3Learner(const gdaqd::v1::ExperimentConfig& config);

  const gdaqd::v1::ExperimentConfig config_;
  // models::Td3 runs its config's critic_steps per Train() call and the count is fixed at
  // creation, so this Td3 has critic_steps 1 and Train() calls it once per update.
  std::unique_ptr<models::Td3> td3_;
};

}  // namespace gdaqd::server::rl

#endif  // GDAQD_SERVER_ALGORITHMS_RL_TD3_LEARNER_H_
