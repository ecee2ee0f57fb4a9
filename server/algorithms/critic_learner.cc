#include "server/algorithms/critic_learner.h"

#include <istream>
#include <limits>
#include <ostream>
#include <string>
#include <utility>

#include "common/logging.h"
#include "common/seeds.h"
#include "common/status_macros.h"
#include "server/algorithms/checkpoint_io.h"
#include "server/models/batched_policy.h"
#include "server/models/td3_critic.h"

namespace gdaqd::server {
namespace {

models::Td3Config MakeTd3Config(const gdaqd::v1::ExperimentConfig& config) {
  const gdaqd::v1::PgaConfig& pga = config.pga();
  models::Td3Config td3;
  td3.critic_hidden.assign(pga.critic_hidden_sizes().begin(), pga.critic_hidden_sizes().end());
  td3.critic_lr = pga.critic_lr();
  td3.actor_lr = pga.actor_lr();
  td3.policy_lr = pga.policy_lr();
  td3.critic_steps = pga.critic_steps();
  td3.pg_steps = pga.pg_steps();
  td3.batch_size = pga.critic_batch_size();
  td3.discount = pga.discount();
  td3.tau = pga.tau();
  td3.policy_noise = pga.policy_noise();
  td3.noise_clip = pga.noise_clip();
  td3.policy_delay = pga.policy_delay();
  td3.device = pga.device();
  td3.seed = config.seed();
  return td3;
}

}  // namespace

models::PolicyShape MakePolicyShape(const gdaqd::v1::ExperimentConfig& config,
                                    const common::MlpLayout& layout) {
  models::PolicyShape shape;
  shape.obs_dim = layout.obs_dim;
  shape.hidden = layout.hidden_sizes;
  shape.action_dim = layout.action_dim;
  shape.hidden_activation = config.policy().hidden_activation();
  shape.output_activation = config.policy().output_activation();
  return shape;
}

absl::StatusOr<std::unique_ptr<CriticLearner>> CriticLearner::Create(
    const gdaqd::v1::ExperimentConfig& config, const common::MlpLayout& layout) {
  // Check the learner's settings now rather than at the first Tell().
  GDAQD_RETURN_IF_ERROR(MakeTd3Config(config).Validate());
  GDAQD_RETURN_IF_ERROR(MakePolicyShape(config, layout).Validate());
  return std::unique_ptr<CriticLearner>(new CriticLearner(config, layout));
}

CriticLearner::CriticLearner(const gdaqd::v1::ExperimentConfig& config,
                             const common::MlpLayout& layout)
    : config_(config),
      layout_(layout),
      sample_rng_(common::CriticSamplingSeed(config.seed())),
      last_critic_loss_(std::numeric_limits<double>::quiet_NaN()) {}

CriticLearner::~CriticLearner() = default;

absl::Status CriticLearner::EnsureStarted(absl::Span<const float> params) {
  const int64_t num_params = layout_.num_params();
  if (td3_ != nullptr || static_cast<int64_t>(params.size()) < num_params) {
    return absl::OkStatus();
  }
  GDAQD_ASSIGN_OR_RETURN(
      td3_, models::Td3::Create(MakeTd3Config(config_), MakePolicyShape(config_, layout_),
                                params.subspan(0, num_params)));
  return absl::OkStatus();
}

bool CriticLearner::CanLearn(const models::ReplayBuffer& buffer) const {
  return td3_ != nullptr && buffer.size() >= config_.pga().critic_batch_size();
}

void CriticLearner::SampleRows(const models::ReplayBuffer& buffer, int64_t n,
                               std::vector<float>* rows) {
  rows->clear();
  absl::Status status = buffer.Sample(n, models::kAllProvenances, sample_rng_, rows);
  if (!status.ok()) LOG(ERROR) << "critic replay sample failed: " << status;
}

absl::Status CriticLearner::Train(const models::ReplayBuffer& buffer,
                                  const std::atomic<bool>* interrupt) {
  auto sample = [&](int64_t n, std::vector<float>* rows) { SampleRows(buffer, n, rows); };
  GDAQD_ASSIGN_OR_RETURN(models::TrainReport report, td3_->Train(sample, interrupt));
  ++train_calls_;
  last_critic_loss_ = report.mean_critic_loss;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> CriticLearner::Children(const std::vector<float>& parents,
                                                           const models::ReplayBuffer& buffer,
                                                           const std::atomic<bool>* interrupt) {
  auto sample = [&](int64_t n, std::vector<float>* rows) { SampleRows(buffer, n, rows); };
  return td3_->PolicyGradientChildren(parents, sample, interrupt);
}

absl::Status CriticLearner::Save(std::ostream& out) const {
  checkpoint::WriteU64(out, td3_ != nullptr ? 1 : 0);
  if (td3_ != nullptr) {
    GDAQD_ASSIGN_OR_RETURN(std::string bytes, td3_->Save());
    checkpoint::WriteBytes(out, bytes);
  }
  checkpoint::WriteRng(out, sample_rng_);
  checkpoint::WriteU64(out, static_cast<uint64_t>(train_calls_));
  checkpoint::WriteF64(out, last_critic_loss_);
  return out ? absl::OkStatus() : absl::DataLossError("cannot write the critic checkpoint");
}

absl::StatusOr<std::unique_ptr<CriticLearner>> CriticLearner::Restore(
    std::istream& in, const gdaqd::v1::ExperimentConfig& config, const common::MlpLayout& layout) {
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<CriticLearner> learner, Create(config, layout));
  GDAQD_ASSIGN_OR_RETURN(uint64_t started, checkpoint::ReadU64(in, "critic started flag"));
  if (started > 1) return absl::InvalidArgumentError("checkpoint: bad critic started flag");
  if (started == 1) {
    GDAQD_ASSIGN_OR_RETURN(std::string bytes,
                           checkpoint::ReadBytes(in, "TD3 learner", uint64_t{1} << 34));
    // Any actor works here: Load() overwrites every tensor.
    const std::vector<float> zeros(layout.num_params(), 0.0f);
    GDAQD_RETURN_IF_ERROR(learner->EnsureStarted(zeros));
    GDAQD_RETURN_IF_ERROR(learner->td3_->Load(bytes));
  }
  GDAQD_RETURN_IF_ERROR(checkpoint::ReadRng(in, "critic minibatch RNG", &learner->sample_rng_));
  GDAQD_ASSIGN_OR_RETURN(uint64_t calls, checkpoint::ReadU64(in, "critic train calls"));
  learner->train_calls_ = static_cast<int64_t>(calls);
  GDAQD_ASSIGN_OR_RETURN(learner->last_critic_loss_, checkpoint::ReadF64(in, "critic loss"));
  return learner;
}

absl::StatusOr<std::vector<float>> CriticLearner::GreedyActor() const {
  return td3_->greedy_actor_params();
}

}  // namespace gdaqd::server
