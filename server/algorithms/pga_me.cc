#include "server/algorithms/pga_me.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/algorithms/map_elites.h"
#include "server/emitters/isoline.h"
#include "server/emitters/selection.h"
#include "server/models/batched_policy.h"
#include "server/models/td3_critic.h"
#include "server/models/torch_util.h"

namespace gdaqd::server {
namespace {

using models::Provenance;

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

}  // namespace

PgaBatchComposition PgaBatchComposition::For(int64_t count, double isoline_fraction) {
  PgaBatchComposition batch;
  if (count <= 0) return batch;
  batch.isoline = std::clamp<int64_t>(
      static_cast<int64_t>(std::floor(isoline_fraction * static_cast<double>(count))), 0, count);
  const int64_t rest = count - batch.isoline;
  if (rest >= 2) {
    batch.greedy = 1;
    batch.pg = rest - 1;
  } else {
    batch.isoline = count;
  }
  return batch;
}

absl::StatusOr<std::unique_ptr<PgaMe>> PgaMe::Create(const gdaqd::v1::ExperimentConfig& config) {
  GDAQD_RETURN_IF_ERROR(common::ValidateExperimentConfig(config));
  if (config.algorithm() != gdaqd::v1::PGA_ME) {
    return absl::InvalidArgumentError(absl::StrCat("algorithm: PgaMe needs PGA_ME, got ",
                                                   gdaqd::v1::Algorithm_Name(config.algorithm())));
  }
  GDAQD_ASSIGN_OR_RETURN(QdProblem problem, MakeQdProblem(config));
  common::TaskSpec& spec = problem.spec;
  common::MlpLayout& layout = problem.layout;
  std::unique_ptr<ArchiveInterface>& archive = problem.archive;
  GDAQD_ASSIGN_OR_RETURN(
      std::unique_ptr<models::ReplayBuffer> buffer,
      models::ReplayBuffer::Create(spec.obs_dim, spec.action_dim, config.pga().replay_capacity()));
  // Check the learner's settings now rather than at the first Tell().
  GDAQD_RETURN_IF_ERROR(MakeTd3Config(config).Validate());
  GDAQD_RETURN_IF_ERROR(MakePolicyShape(config, layout).Validate());
  models::SetTorchThreads(config.pga().torch_threads());
  return std::unique_ptr<PgaMe>(
      new PgaMe(config, std::move(spec), std::move(layout), std::move(archive), std::move(buffer)));
}

PgaMe::PgaMe(gdaqd::v1::ExperimentConfig config, common::TaskSpec spec, common::MlpLayout layout,
             std::unique_ptr<ArchiveInterface> archive,
             std::unique_ptr<models::ReplayBuffer> buffer)
    : config_(std::move(config)),
      spec_(std::move(spec)),
      layout_(std::move(layout)),
      archive_(std::move(archive)),
      buffer_(std::move(buffer)),
      rng_(config_.seed()),
      sample_rng_(config_.seed() ^ 0x5DEECE66DULL) {}

PgaMe::~PgaMe() = default;

bool PgaMe::CanLearn() const {
  return td3_ != nullptr && buffer_->size() >= config_.pga().critic_batch_size();
}

void PgaMe::SampleRows(int64_t n, std::vector<float>* rows) {
  rows->clear();  // on failure Td3 sees the wrong size and reports it
  absl::Status status = buffer_->Sample(n, models::kAllProvenances, sample_rng_, rows);
  if (!status.ok()) LOG(ERROR) << "pga_me replay sample failed: " << status;
}

absl::Status PgaMe::AppendPgChildren(int64_t n, std::vector<float>* params) {
  const int64_t num_params = layout_.num_params();
  GDAQD_ASSIGN_OR_RETURN(std::vector<int64_t> cells, SelectUniform(*archive_, n, rng_));
  std::vector<float> parents;
  parents.reserve(n * num_params);
  for (int64_t cell : cells) {
    const absl::Span<const float> elite = archive_->elite(cell)->params;
    parents.insert(parents.end(), elite.begin(), elite.end());
  }
  auto sample = [this](int64_t n_rows, std::vector<float>* rows) { SampleRows(n_rows, rows); };
  GDAQD_ASSIGN_OR_RETURN(std::vector<float> children,
                         td3_->PolicyGradientChildren(parents, sample));
  params->insert(params->end(), children.begin(), children.end());
  return absl::OkStatus();
}

absl::Status PgaMe::Ask(int64_t count, std::vector<float>* params) {
  count = std::max<int64_t>(count, 0);
  params->clear();
  if (archive_->num_filled() == 0 || td3_ == nullptr) {
    RandomPolicies(layout_, config_.seed(), count, &random_policies_, params);
    last_provenance_.assign(count, Provenance::kIsoline);
    return absl::OkStatus();
  }
  PgaBatchComposition batch = PgaBatchComposition::For(count, config_.pga().isoline_fraction());
  if (!CanLearn()) {  // no trained critic yet: isoline instead of PG children
    batch.isoline += batch.pg;
    batch.pg = 0;
  }
  const IsolineParams isoline{config_.emitter().iso_sigma(), config_.emitter().line_sigma()};
  GDAQD_RETURN_IF_ERROR(EmitIsoline(*archive_, batch.isoline, isoline, rng_, params));
  if (batch.pg > 0) GDAQD_RETURN_IF_ERROR(AppendPgChildren(batch.pg, params));
  if (batch.greedy > 0) {
    GDAQD_ASSIGN_OR_RETURN(std::vector<float> actor, td3_->greedy_actor_params());
    params->insert(params->end(), actor.begin(), actor.end());
  }
  last_provenance_.assign(batch.isoline, Provenance::kIsoline);
  last_provenance_.insert(last_provenance_.end(), batch.pg, Provenance::kGradient);
  last_provenance_.insert(last_provenance_.end(), batch.greedy, Provenance::kGreedy);
  return absl::OkStatus();
}

void PgaMe::AddTransitions(absl::Span<const EvalOutcome> outcomes) {
  const bool tagged = last_provenance_.size() == outcomes.size();
  int64_t rejected = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const EvalOutcome& outcome = outcomes[i];
    if (!outcome.error.empty() || outcome.diverged || outcome.transitions.empty()) continue;
    const Provenance provenance = tagged ? last_provenance_[i] : Provenance::kIsoline;
    if (!buffer_->Add(provenance, outcome.transitions).ok()) ++rejected;
  }
  if (rejected > 0) {
    LOG(WARNING) << "pga_me dropped the transitions of " << rejected << " episodes (malformed)";
  }
}

absl::StatusOr<TellSummary> PgaMe::Tell(absl::Span<const float> params,
                                        absl::Span<const EvalOutcome> outcomes) {
  GDAQD_ASSIGN_OR_RETURN(TellSummary summary, InsertOutcomes(*archive_, params, outcomes));
  AddTransitions(outcomes);
  last_provenance_.clear();
  const int64_t num_params = layout_.num_params();
  if (td3_ == nullptr && static_cast<int64_t>(params.size()) >= num_params) {
    // QDax: the greedy actor starts as the first genotype of the initial population.
    GDAQD_ASSIGN_OR_RETURN(
        td3_, models::Td3::Create(MakeTd3Config(config_), MakePolicyShape(config_, layout_),
                                  params.subspan(0, num_params)));
  }
  if (CanLearn()) {
    auto sample = [this](int64_t n_rows, std::vector<float>* rows) { SampleRows(n_rows, rows); };
    GDAQD_ASSIGN_OR_RETURN(models::TrainReport report, td3_->Train(sample));
    ++train_calls_;
    last_critic_loss_ = report.mean_critic_loss;
  }
  return summary;
}

}  // namespace gdaqd::server
