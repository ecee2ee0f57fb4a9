#include "server/algorithms/rl/td3_learner.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/algorithms/critic_learner.h"
#include "server/models/td3_critic.h"

namespace gdaqd::server::rl {
namespace {

// The rl block as models::Td3's config, one critic step per Train() call.
models::Td3Config MakeTd3Config(const gdaqd::v1::ExperimentConfig& config) {
  const gdaqd::v1::RlConfig& rl = config.rl();
  models::Td3Config td3;
  td3.critic_hidden.assign(rl.critic_hidden_sizes().begin(), rl.critic_hidden_sizes().end());
  td3.critic_lr = rl.critic_lr();
  td3.actor_lr = rl.actor_lr();
  td3.critic_steps = 1;
  td3.batch_size = rl.batch_size();
  td3.discount = rl.discount();
  td3.tau = rl.tau();
  td3.policy_noise = rl.policy_noise();
  td3.noise_clip = rl.noise_clip();
  td3.policy_delay = rl.policy_delay();
  td3.device = rl.device();
  td3.seed = config.seed();
  return td3;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Td3Learner>> Td3Learner::Create(
    const gdaqd::v1::ExperimentConfig& config, const common::MlpLayout& layout,
    absl::Span<const float> initial_actor) {
  std::unique_ptr<Td3Learner> learner(new Td3Learner(config));
  GDAQD_ASSIGN_OR_RETURN(
      learner->td3_,
      models::Td3::Create(MakeTd3Config(config), MakePolicyShape(config, layout), initial_actor));
  return learner;
}

Td3Learner::Td3Learner(const gdaqd::v1::ExperimentConfig& config) : config_(config) {}

Td3Learner::~Td3Learner() = default;

absl::StatusOr<LearnerReport> Td3Learner::Train(int64_t updates, const models::ReplayBuffer& buffer,
                                                std::mt19937_64& rng, const CancelFlag* interrupt) {
  absl::Status sampled = absl::OkStatus();
  const models::SampleFn sample = [&](int64_t n, std::vector<float>* rows) {
    absl::Status status = buffer.Sample(n, models::kAllProvenances, rng, rows);
    if (!status.ok() && sampled.ok()) sampled = status;
  };
  LearnerReport report;
  double critic_sum = 0, actor_sum = 0;
  int64_t actor_steps = 0;
  for (int64_t u = 0; u < updates; ++u) {
    if (interrupt != nullptr && interrupt->load()) {
      return absl::CancelledError("TD3 training interrupted");
    }
    absl::StatusOr<models::TrainReport> step = td3_->Train(sample, interrupt);
    GDAQD_RETURN_IF_ERROR(sampled);
    if (!step.ok()) return step.status();
    critic_sum += step->mean_critic_loss;
    actor_sum += step->mean_actor_loss * static_cast<double>(step->actor_steps);
    actor_steps += step->actor_steps;
    report.updates += step->critic_steps;
  }
  constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
  report.critic_loss = report.updates > 0 ? critic_sum / static_cast<double>(report.updates) : kNan;
  report.actor_loss = actor_steps > 0 ? actor_sum / static_cast<double>(actor_steps) : kNan;
  return report;
}

absl::StatusOr<std::vector<float>> Td3Learner::ActorParams() const {
  return td3_->greedy_actor_params();
}

absl::StatusOr<std::string> Td3Learner::Save() const { return td3_->Save(); }

absl::Status Td3Learner::Load(const std::string& blob) { return td3_->Load(blob); }

}  // namespace gdaqd::server::rl
