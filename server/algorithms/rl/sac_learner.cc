#include "server/algorithms/rl/sac_learner.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config/algorithm_rules.h"
#include "common/status_macros.h"
#include "server/models/sac.h"

namespace gdaqd::server::rl {
namespace {

// The rl and policy blocks as models::Sac's config, one update per step of TrainSteps().
models::SacConfig MakeSacConfig(const gdaqd::v1::ExperimentConfig& config) {
  const gdaqd::v1::RlConfig& rl = config.rl();
  models::SacConfig sac;
  sac.policy_hidden.assign(config.policy().hidden_sizes().begin(),
                           config.policy().hidden_sizes().end());
  sac.critic_hidden.assign(rl.critic_hidden_sizes().begin(), rl.critic_hidden_sizes().end());
  sac.policy_lr = rl.actor_lr();
  sac.critic_lr = rl.critic_lr();
  sac.alpha_lr = rl.alpha_lr();
  sac.batch_size = rl.batch_size();
  sac.discount = rl.discount();
  sac.tau = rl.tau();
  sac.reward_scaling = rl.reward_scaling();
  sac.initial_alpha = rl.initial_alpha();
  if (rl.has_target_entropy()) sac.target_entropy = rl.target_entropy();
  sac.min_std = config.policy().min_std();
  sac.num_skills = config.policy().num_skills();
  if (config.algorithm() == gdaqd::v1::DIAYN) sac.diversity.mode = models::DiversityMode::kDiayn;
  if (config.algorithm() == gdaqd::v1::SMERL) sac.diversity.mode = models::DiversityMode::kSmerl;
  if (sac.diversity.mode != models::DiversityMode::kNone) {
    sac.diversity.discriminator_hidden.assign(rl.discriminator_hidden_sizes().begin(),
                                              rl.discriminator_hidden_sizes().end());
    sac.diversity.discriminator_lr = rl.discriminator_lr();
  }
  if (sac.diversity.mode == models::DiversityMode::kSmerl) {
    sac.diversity.diversity_reward_scale = rl.diversity_reward_scale();
    sac.diversity.smerl_target = rl.smerl_target();
    sac.diversity.smerl_margin = rl.smerl_margin();
  }
  sac.steps_per_train = 1;
  sac.device = rl.device();
  sac.seed = config.seed();
  return sac;
}

}  // namespace

absl::StatusOr<std::vector<float>> WidenTransitions(int obs_dim, int action_dim, int skill,
                                                    absl::Span<const float> rows) {
  const size_t width = 2 * static_cast<size_t>(obs_dim) + action_dim + 3;
  if (obs_dim < 2 || rows.size() % width != 0) {
    return absl::InvalidArgumentError(absl::StrCat("transitions of ", rows.size(),
                                                   " floats are not rows of ", width, " (obs_dim ",
                                                   obs_dim, ")"));
  }
  const size_t n = rows.size() / width;
  const size_t head = static_cast<size_t>(obs_dim) + action_dim;  // obs, action
  const size_t next_obs = head + 1;                               // after the reward
  double episode_return = 0;
  for (size_t i = 0; i < n; ++i) episode_return += rows[i * width + head];
  std::vector<float> wide(n * (width + kSkillExtraColumns));
  for (size_t i = 0; i < n; ++i) {
    const float* in = rows.data() + i * width;
    float* out = wide.data() + i * (width + kSkillExtraColumns);
    out = std::copy(in, in + head, out);
    *out++ = static_cast<float>(skill);
    *out++ = in[0];  // d(s): the state's x-y
    *out++ = in[1];
    *out++ = in[next_obs];  // d(s')
    *out++ = in[next_obs + 1];
    *out++ = static_cast<float>(episode_return);
    std::copy(in + head, in + width, out);  // reward, next_obs, done, truncated
  }
  return wide;
}

absl::StatusOr<std::unique_ptr<SacLearner>> SacLearner::Create(
    const gdaqd::v1::ExperimentConfig& config, const common::MlpLayout& layout,
    absl::Span<const float> initial_actor) {
  const gdaqd::v1::Algorithm algorithm = config.algorithm();
  if (algorithm != gdaqd::v1::SAC && algorithm != gdaqd::v1::DIAYN &&
      algorithm != gdaqd::v1::SMERL) {
    return absl::InvalidArgumentError(absl::StrCat("algorithm: ", common::AlgorithmName(algorithm),
                                                   " is not SAC, DIAYN or SMERL"));
  }
  std::unique_ptr<SacLearner> learner(
      new SacLearner(layout.obs_dim, layout.action_dim, config.policy().num_skills()));
  GDAQD_ASSIGN_OR_RETURN(learner->sac_, models::Sac::Create(MakeSacConfig(config), layout.obs_dim,
                                                            layout.action_dim, initial_actor));
  return learner;
}

SacLearner::SacLearner(int obs_dim, int action_dim, int num_skills)
    : obs_dim_(obs_dim), action_dim_(action_dim), num_skills_(num_skills) {}

SacLearner::~SacLearner() = default;

absl::StatusOr<LearnerReport> SacLearner::Train(int64_t updates, const models::ReplayBuffer& buffer,
                                                std::mt19937_64& rng, const CancelFlag* interrupt) {
  if (buffer.size() == 0) return absl::FailedPreconditionError("the replay buffer is empty");
  absl::Status sampled = absl::OkStatus();
  std::vector<float> stored;
  const int64_t head = int64_t{obs_dim_} + action_dim_;
  const int64_t tail = int64_t{obs_dim_} + 3;  // reward, next_obs, done, truncated
  const models::SampleFn sample = [&](int64_t n, std::vector<float>* rows) {
    absl::Status status =
        buffer.Sample(n, models::kAllProvenances, rng, num_skills_ > 0 ? &stored : rows);
    if (!status.ok() && sampled.ok()) sampled = status;
    if (num_skills_ == 0 || !status.ok()) return;
    // Stored [head, extras, tail] -> models::Sac's [head, tail, extras].
    const int64_t width = head + kSkillExtraColumns + tail;
    rows->resize(stored.size());
    for (int64_t i = 0; i < n; ++i) {
      const float* in = stored.data() + i * width;
      float* out = rows->data() + i * width;
      out = std::copy(in, in + head, out);
      out = std::copy(in + head + kSkillExtraColumns, in + width, out);
      std::copy(in + head, in + head + kSkillExtraColumns, out);
    }
  };
  absl::StatusOr<models::SacReport> step = sac_->TrainSteps(sample, updates, interrupt);
  GDAQD_RETURN_IF_ERROR(sampled);
  if (!step.ok()) return step.status();
  LearnerReport report;
  report.updates = step->steps;
  if (step->steps == 0) {
    report.critic_loss = report.actor_loss = LearnerReport::kNone;
    return report;
  }
  report.critic_loss = step->mean_critic_loss;
  report.actor_loss = step->mean_actor_loss;
  report.alpha = step->alpha;
  report.alpha_loss = step->mean_alpha_loss;
  if (num_skills_ > 0) {
    report.discriminator_loss = step->mean_discriminator_loss;
    report.intrinsic_reward = step->mean_intrinsic_reward;
  }
  if (sac_->config().diversity.mode == models::DiversityMode::kSmerl) {
    report.diversity_active = step->gate_open_fraction;
  }
  return report;
}

absl::StatusOr<std::vector<float>> SacLearner::ActorParams() const { return sac_->actor_params(); }

absl::StatusOr<std::string> SacLearner::Save() const { return sac_->Save(); }

absl::Status SacLearner::Load(const std::string& blob) { return sac_->Load(blob); }

}  // namespace gdaqd::server::rl
