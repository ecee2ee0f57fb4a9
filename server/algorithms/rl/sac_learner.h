// SAC (Haarnoja et al. 2018) and its skill-conditioned variants DIAYN (Eysenbach et al. 2019) and
// SMERL (Kumar et al. 2020) as an RlLearner: models::Sac (server/models/sac.h) configured from the
// rl and policy blocks, plus the replay-row layout the skill methods store.
//
// Replay rows. models::Sac wants, for K = policy.num_skills > 0, six columns after the worker's
// transition row: skill, d(s) [2], d(s') [2] and the episode's return R(tau). They are stored IN
// the replay buffer, as wider rows, so that they share its slots, eviction, sampling and
// checkpoint (a side array would have to mirror the ring buffer's eviction and be checkpointed
// on its own). models::ReplayBuffer's row is [obs, action, reward, next_obs, done, truncated], so
// the buffer of a skill method is made with action width action_dim + 6 and each stored row is
//   [obs (O), action (A), skill, d(s) (2), d(s') (2), R(tau), reward, next_obs (O), done, trunc]
// (WidenTransitions()); the learner's sampler moves the six columns to the row end models::Sac
// reads. Plain SAC stores the worker's rows as they are.
//
// d(s) is the state's x-y: obs[0..1] on every task (point_maze's observation is (x, y); the ant
// tasks prepend the normalised torso (x, y), common/ant_tasks.h, so the discriminator sees the
// task's normalised x-y, an affine map of QDax's raw x-y). R(tau) is the whole episode's task
// return: episodes reach the coordinator complete, so QDax's partial sum of a running episode
// never occurs here.
#ifndef GDAQD_SERVER_ALGORITHMS_RL_SAC_LEARNER_H_
#define GDAQD_SERVER_ALGORITHMS_RL_SAC_LEARNER_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/mlp_policy.h"
#include "gdaqd/v1/config.pb.h"
#include "server/algorithms/rl/replay_layout.h"
#include "server/algorithms/rl/rl_learner.h"

namespace gdaqd::server::models {
class Sac;
}  // namespace gdaqd::server::models

namespace gdaqd::server::rl {

// The stored rows of one episode run with `skill`: `rows` are the worker's transition rows
// ([n, 2 * obs_dim + action_dim + 3], common/rollout.h) and the result has kSkillExtraColumns
// more per row, laid out as above, with R(tau) the sum of the episode's rewards. obs_dim >= 2.
// InvalidArgument if rows.size() is not a multiple of the row width.
absl::StatusOr<std::vector<float>> WidenTransitions(int obs_dim, int action_dim, int skill,
                                                    absl::Span<const float> rows);

// Owns its models::Sac. Single-thread (the RlAlgorithm's).
class SacLearner final : public RlLearner {
 public:
  // The learner of a validated, defaulted SAC, DIAYN or SMERL config whose actor starts as
  // `initial_actor` ([layout.num_params()], the TANH_GAUSSIAN layout). InvalidArgument for another
  // algorithm or a bad config; FailedPrecondition for device cuda without a GPU; Internal for
  // LibTorch failures.
  static absl::StatusOr<std::unique_ptr<SacLearner>> Create(
      const gdaqd::v1::ExperimentConfig& config, const common::MlpLayout& layout,
      absl::Span<const float> initial_actor);
  ~SacLearner() override;

  // `updates` SAC updates (models::Sac::TrainSteps) on minibatches of the buffer's stored rows.
  // Besides RlLearner's errors: InvalidArgument if a stored skill is out of range. Fills the
  // report's alpha, alpha loss and, for DIAYN and SMERL, the discriminator loss, intrinsic reward
  // and (SMERL) the fraction of rows whose diversity gate was open.
  absl::StatusOr<LearnerReport> Train(int64_t updates, const models::ReplayBuffer& buffer,
                                      std::mt19937_64& rng, const CancelFlag* interrupt) override;
  // The stochastic actor; workers sample it (noise seed set) or act tanh(mu) (evaluation).
  absl::StatusOr<std::vector<float>> ActorParams() const override;
  absl::StatusOr<std::string> Save() const override;
  absl::Status Load(const std::string& blob) override;

 private:
  explicit SacLearner(int obs_dim, int action_dim, int num_skills);

  const int obs_dim_;
  const int action_dim_;
  const int num_skills_;  // K; 0 for SAC
  std::unique_ptr<models::Sac> sac_;
};

}  // namespace gdaqd::server::rl

#endif  // GDAQD_SERVER_ALGORITHMS_RL_SAC_LEARNER_H_
