#include "server/algorithms/model_based_qd.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <istream>
#include <numeric>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/config/algorithm_rules.h"
#include "common/config/config.h"
#include "common/logging.h"
#include "common/seeds.h"
#include "common/status_macros.h"
#include "server/algorithms/algorithm_core.h"
#include "server/algorithms/checkpoint_io.h"
#include "server/algorithms/imagined_task.h"
#include "server/emitters/isoline.h"
#include "server/emitters/selection.h"
#include "server/models/batched_policy.h"
#include "server/models/dynamics_ensemble.h"
#include "server/models/errors.h"
#include "server/models/imagination.h"
#include "server/models/torch_util.h"

namespace gdaqd::server {
namespace {

using models::Provenance;

// Version 2 added the generation and rejected-episode counters; version 3 the generations told
// and not yet learned (Learn() apart from Tell()). Version 2 checkpoints were taken after a Tell()
// that had trained, and read as "nothing to learn".
constexpr char kModelBasedQdPrefix[] = "GDQDMBQ";
constexpr char kModelBasedQdMagic[] = "GDQDMBQ3";

models::EnsembleConfig MakeEnsembleConfig(const gdaqd::v1::ExperimentConfig& config) {
  const gdaqd::v1::ModelConfig& model = config.model();
  models::EnsembleConfig ensemble;
  ensemble.members = model.ensemble_members();
  ensemble.hidden.assign(model.ensemble_hidden_sizes().begin(),
                         model.ensemble_hidden_sizes().end());
  ensemble.learning_rate = model.ensemble_lr();
  ensemble.min_log_std = model.min_log_std();
  ensemble.max_log_std = model.max_log_std();
  ensemble.holdout_fraction = model.holdout_fraction();
  ensemble.patience = model.patience();
  ensemble.min_relative_improvement = model.min_improvement();
  ensemble.max_steps = model.max_train_steps();
  ensemble.batch_size = model.train_batch_size();
  ensemble.device = config.pga().device();
  ensemble.seed = config.seed();
  return ensemble;
}

// The model-side LearningStats (the critic's fields live in the critic's own checkpoint).
void WriteModelStats(std::ostream& out, const LearningStats& stats) {
  for (int64_t v :
       {stats.imagined_evaluations, stats.model_train_calls, stats.rejected_transition_episodes}) {
    checkpoint::WriteU64(out, static_cast<uint64_t>(v));
  }
  for (double v : {stats.model_holdout_loss, stats.model_holdout_mse, stats.imagination_seconds,
                   stats.training_seconds, stats.gradient_seconds}) {
    checkpoint::WriteF64(out, v);
  }
}

absl::StatusOr<LearningStats> ReadModelStats(std::istream& in) {
  LearningStats stats;
  for (int64_t* v : {&stats.imagined_evaluations, &stats.model_train_calls,
                     &stats.rejected_transition_episodes}) {
    GDAQD_ASSIGN_OR_RETURN(uint64_t count, checkpoint::ReadU64(in, "learning counters"));
    *v = static_cast<int64_t>(count);
  }
  for (double* v : {&stats.model_holdout_loss, &stats.model_holdout_mse, &stats.imagination_seconds,
                    &stats.training_seconds, &stats.gradient_seconds}) {
    GDAQD_ASSIGN_OR_RETURN(*v, checkpoint::ReadF64(in, "learning statistics"));
  }
  return stats;
}

double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

}  // namespace

absl::StatusOr<std::unique_ptr<ModelBasedQd>> ModelBasedQd::Create(
    const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt) {
  GDAQD_RETURN_IF_ERROR(common::ValidateExperimentConfig(config));
  if (!common::UsesDynamicsModel(config.algorithm())) {
    return absl::InvalidArgumentError(
        absl::StrCat("algorithm: ModelBasedQd needs DA_QD_EXT or GDA_QD, got ",
                     common::AlgorithmName(config.algorithm())));
  }
  GDAQD_ASSIGN_OR_RETURN(QdProblem problem, MakeQdProblem(config, interrupt));
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<models::ImaginedTask> task,
                         MakeImaginedTask(problem.spec));
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<models::ReplayBuffer> buffer,
                         models::ReplayBuffer::Create(problem.spec.obs_dim, problem.spec.action_dim,
                                                      config.pga().replay_capacity()));
  models::SetTorchThreads(config.pga().torch_threads());
  GDAQD_ASSIGN_OR_RETURN(
      std::unique_ptr<models::DynamicsEnsemble> ensemble,
      models::DynamicsEnsemble::Create(problem.spec.obs_dim, problem.spec.action_dim,
                                       MakeEnsembleConfig(config)));
  GDAQD_RETURN_IF_ERROR(MakePolicyShape(config, problem.layout).Validate());
  std::unique_ptr<CriticLearner> critic;
  if (common::UsesCritic(config.algorithm())) {
    GDAQD_ASSIGN_OR_RETURN(critic, CriticLearner::Create(config, problem.layout));
  }
  LOG(INFO) << "model_based_qd algorithm=" << common::AlgorithmName(config.algorithm())
            << " device=" << ensemble->device() << " members=" << ensemble->members()
            << " p_gradient=" << config.model().p_gradient();
  return std::unique_ptr<ModelBasedQd>(
      new ModelBasedQd(config, std::move(problem), std::move(buffer), std::move(ensemble),
                       std::move(task), std::move(critic), interrupt));
}

ModelBasedQd::ModelBasedQd(gdaqd::v1::ExperimentConfig config, QdProblem problem,
                           std::unique_ptr<models::ReplayBuffer> buffer,
                           std::unique_ptr<models::DynamicsEnsemble> ensemble,
                           std::unique_ptr<models::ImaginedTask> task,
                           std::unique_ptr<CriticLearner> critic, const CancelFlag* interrupt)
    : AlgorithmCore(std::move(config), std::move(problem)),
      buffer_(std::move(buffer)),
      ensemble_(std::move(ensemble)),
      task_(std::move(task)),
      critic_(std::move(critic)),
      model_rng_(common::ModelTrainingSeed(config_.seed())),
      interrupt_(interrupt) {}

ModelBasedQd::~ModelBasedQd() = default;

std::vector<MetricSpec> ModelBasedQd::metric_specs() const {
  using enum MetricKind;
  return {
      {"imagined_evaluations", "Episodes rolled out in the dynamics model.", kCounter},
      {"model_train_calls", "Dynamics-model trainings.", kCounter},
      {"model_holdout_loss",
       "Last dynamics-model training's holdout Gaussian NLL (normalised delta space, can be < 0); "
       "NaN before the first.",
       kGauge},
      {"model_holdout_mse",
       "Last dynamics-model training's next-observation MSE (real units); NaN before the first.",
       kGauge},
      {"critic_train_calls", "TD3 critic trainings (0 without a critic).", kCounter},
      {"critic_loss", "Last generation's mean TD3 critic loss; NaN before one or without a critic.",
       kGauge},
      {"imagination_seconds", "Seconds spent in imagined rollouts and imagined insertions.",
       kCounter},
      {"training_seconds", "Seconds spent training the dynamics model and the critic.", kCounter},
      {"gradient_seconds", "Seconds spent making policy-gradient children.", kCounter},
      {"rejected_transition_episodes",
       "Episodes whose transitions the replay buffer refused (non-finite or wrong size).",
       kCounter},
  };
}

std::vector<Metric> ModelBasedQd::metrics() const {
  const auto count = [](int64_t n) { return static_cast<double>(n); };
  const bool critic = critic_ != nullptr;
  return {
      {"imagined_evaluations", count(stats_.imagined_evaluations)},
      {"model_train_calls", count(stats_.model_train_calls)},
      {"model_holdout_loss", stats_.model_holdout_loss},
      {"model_holdout_mse", stats_.model_holdout_mse},
      {"critic_train_calls", critic ? count(critic_->train_calls()) : 0.0},
      {"critic_loss", critic ? critic_->last_critic_loss() : LearningStats::kNoValue},
      {"imagination_seconds", stats_.imagination_seconds},
      {"training_seconds", stats_.training_seconds},
      {"gradient_seconds", stats_.gradient_seconds},
      {"rejected_transition_episodes", count(stats_.rejected_transition_episodes)},
  };
}

models::ProvenanceMask ModelBasedQd::training_filter() const {
  using models::ProvenanceMaskOf;
  switch (config_.model().training_data()) {
    case gdaqd::v1::D_GRADIENT:
      return ProvenanceMaskOf({Provenance::kInitial, Provenance::kGradient, Provenance::kGreedy});
    case gdaqd::v1::D_MODEL_AND_GRADIENT:
      return models::kAllProvenances;
    default:  // D_MODEL
      return ProvenanceMaskOf({Provenance::kInitial, Provenance::kIsoline, Provenance::kModel});
  }
}

absl::Status ModelBasedQd::Imagine(int64_t wanted, std::vector<float>* added) {
  const absl::Time start = absl::Now();
  const int64_t num_params = layout_.num_params();
  const int descriptor_dim = spec_.descriptor_dim;
  const gdaqd::v1::ModelConfig& model = config_.model();
  const IsolineParams isoline{config_.emitter().iso_sigma(), config_.emitter().line_sigma()};
  std::unique_ptr<ArchiveInterface> imagined = archive_->Clone();
  const models::PolicyShape shape = MakePolicyShape(config_, layout_);

  // Sampling noise: a CPU generator seeded per imagination phase keeps runs reproducible; on a
  // GPU LibTorch's default CUDA generator is used.
  c10::optional<at::Generator> generator;
  if (ensemble_->device().is_cpu()) {
    generator =
        at::detail::createCPUGenerator(common::ImaginationSeed(config_.seed(), imagination_calls_));
  }
  ++imagination_calls_;

  ImaginationReport report;
  std::vector<float> children;
  std::vector<int32_t> members;
  std::vector<float> descriptors, fitnesses, kept_params;
  std::vector<int64_t> kept_rows;
  while (report.generations < model.imagined_generations() &&
         static_cast<int64_t>(added->size()) < wanted * num_params) {
    if (models::Interrupted(interrupt_)) return models::InterruptedError("imagination");
    const int64_t batch = model.imagined_batch_size();
    GDAQD_RETURN_IF_ERROR(EmitIsoline(*imagined, batch, isoline, rng_, &children));
    // Each rollout's member is uniformly random but the groups are balanced (a shuffled
    // round-robin assignment): unbalanced groups would be padded to the largest one.
    members.resize(batch);
    for (int64_t i = 0; i < batch; ++i) members[i] = static_cast<int32_t>(i % ensemble_->members());
    std::shuffle(members.begin(), members.end(), rng_);
    models::ImaginationRequest request;
    request.shape = shape;
    request.params = children;
    request.member = members;
    request.initial_obs = initial_obs_;
    request.episode_length = spec_.episode_length;
    request.sample = model.sample_predictions();
    request.terminate = model.terminate_imagined();
    request.interrupt = interrupt_;
    GDAQD_ASSIGN_OR_RETURN(models::ImaginedEpisodes episodes,
                           models::ImagineEpisodes(*ensemble_, *task_, request, generator));
    descriptors.clear();
    fitnesses.clear();
    kept_params.clear();
    kept_rows.clear();
    for (int64_t i = 0; i < batch; ++i) {
      const float* d = &episodes.descriptors[i * descriptor_dim];
      bool usable = !episodes.diverged[i] && std::isfinite(episodes.fitness[i]);
      for (int k = 0; k < descriptor_dim; ++k) usable = usable && std::isfinite(d[k]);
      if (!usable) {
        ++report.diverged;
        continue;
      }
      descriptors.insert(descriptors.end(), d, d + descriptor_dim);
      fitnesses.push_back(episodes.fitness[i]);
      kept_params.insert(kept_params.end(), &children[i * num_params],
                         &children[(i + 1) * num_params]);
      kept_rows.push_back(i);
    }
    GDAQD_ASSIGN_OR_RETURN(std::vector<InsertOutcome> outcomes,
                           imagined->InsertBatch(descriptors, fitnesses, kept_params));
    for (size_t j = 0; j < outcomes.size(); ++j) {
      if (outcomes[j].status == InsertStatus::kNotAdded) continue;
      const int64_t i = kept_rows[j];
      added->insert(added->end(), &children[i * num_params], &children[(i + 1) * num_params]);
      ++report.added;
    }
    ++report.generations;
    report.evaluated += batch;
  }
  report.seconds = SecondsSince(start);
  stats_.imagined_evaluations += report.evaluated;
  stats_.imagination_seconds += report.seconds;
  last_imagination_ = report;
  return absl::OkStatus();
}

absl::Status ModelBasedQd::AppendGradientChildren(int64_t n, const std::vector<float>& pool,
                                                  std::vector<float>* params) {
  const int64_t num_params = layout_.num_params();
  std::vector<float> parents;
  parents.reserve(n * num_params);
  const int64_t pool_rows = static_cast<int64_t>(pool.size()) / num_params;
  if (pool_rows > 0) {
    // Algorithm 1, line 13: select(theta_new, p_gradient). Distinct parents while the pool has
    // them (drawn with replacement, ~38 % of iterations gave two identical gradient children);
    // a pool smaller than n is used whole, in a fresh random order, as often as needed.
    std::vector<int64_t> order(static_cast<size_t>(pool_rows));
    for (int64_t k = 0; k < n; ++k) {
      const int64_t slot = k % pool_rows;
      if (slot == 0) {
        std::iota(order.begin(), order.end(), int64_t{0});
        std::shuffle(order.begin(), order.end(), rng_);
      }
      const int64_t row = order[slot];
      parents.insert(parents.end(), &pool[row * num_params], &pool[(row + 1) * num_params]);
    }
  } else {
    GDAQD_ASSIGN_OR_RETURN(std::vector<int64_t> cells, SelectUniform(*archive_, n, rng_));
    for (int64_t cell : cells) {
      const absl::Span<const float> elite = archive_->elite(cell)->params;
      parents.insert(parents.end(), elite.begin(), elite.end());
    }
  }
  const absl::Time start = absl::Now();
  // The children are for the generation after the last Tell().
  absl::StatusOr<std::vector<float>> children = critic_->Children(parents, *buffer_, interrupt_);
  if (!children.ok()) return AtGeneration(children.status(), generation_ + 1);
  stats_.gradient_seconds += SecondsSince(start);
  params->insert(params->end(), children->begin(), children->end());
  return absl::OkStatus();
}

absl::Status ModelBasedQd::Ask(int64_t count, std::vector<float>* params) {
  count = std::max<int64_t>(count, 0);
  params->clear();
  GDAQD_RETURN_IF_ERROR(asked_.CheckRoom());  // a failed Ask() records nothing a Tell() answers
  last_composition_ = {};
  last_imagination_ = {};
  if (archive_->num_filled() == 0) {
    DrawRandomPolicies(count, params);
    asked_.Push(std::vector<Provenance>(count, Provenance::kInitial));
    return absl::OkStatus();
  }
  const int64_t num_params = layout_.num_params();
  ModelBatchComposition batch;
  if (critic_ != nullptr && critic_->CanLearn(*buffer_)) {
    batch.gradient = std::clamp<int64_t>(
        std::llround(config_.model().p_gradient() * static_cast<double>(count)), 0, count);
  }
  const int64_t n_model = count - batch.gradient;
  std::vector<float> added;
  if (ensemble_->trained() && !initial_obs_.empty()) {
    // With p_gradient = 1 imagination still runs: it supplies the gradient children's parents.
    GDAQD_RETURN_IF_ERROR(Imagine(n_model > 0 ? n_model : batch.gradient, &added));
  }
  batch.model = std::min<int64_t>(n_model, static_cast<int64_t>(added.size()) / num_params);
  batch.isoline = n_model - batch.model;
  params->assign(added.begin(), added.begin() + batch.model * num_params);
  const IsolineParams isoline{config_.emitter().iso_sigma(), config_.emitter().line_sigma()};
  std::vector<float> fill;
  GDAQD_RETURN_IF_ERROR(EmitIsoline(*archive_, batch.isoline, isoline, rng_, &fill));
  params->insert(params->end(), fill.begin(), fill.end());
  if (batch.gradient > 0) {
    GDAQD_RETURN_IF_ERROR(AppendGradientChildren(batch.gradient, added, params));
  }

  std::vector<Provenance> provenance(batch.model, Provenance::kModel);
  provenance.insert(provenance.end(), batch.isoline, Provenance::kIsoline);
  provenance.insert(provenance.end(), batch.gradient, Provenance::kGradient);
  asked_.Push(std::move(provenance));
  last_composition_ = batch;
  return absl::OkStatus();
}

void ModelBasedQd::AddTransitions(absl::Span<const EvalOutcome> outcomes,
                                  absl::Span<const Provenance> provenance) {
  for (const EvalOutcome& outcome : outcomes) {
    if (!initial_obs_.empty()) break;
    if (outcome.error.empty() && !outcome.diverged &&
        static_cast<int64_t>(outcome.transitions.size()) >= buffer_->row_size() &&
        std::all_of(outcome.transitions.begin(), outcome.transitions.begin() + spec_.obs_dim,
                    [](float v) { return std::isfinite(v); })) {
      // Every episode starts from the experiment's one fixed state (env.reset_seed): the first
      // observation of any real episode is where imagination starts.
      initial_obs_.assign(outcome.transitions.begin(), outcome.transitions.begin() + spec_.obs_dim);
    }
  }
  if (const int64_t rejected = StoreTransitions(*buffer_, outcomes, provenance)) {
    stats_.rejected_transition_episodes += rejected;
    LOG(WARNING) << "model_based_qd dropped the transitions of " << rejected
                 << " episodes (malformed or non-finite) generation=" << generation_;
  }
}

absl::Status ModelBasedQd::TrainModel() {
  std::vector<float> rows;
  GDAQD_RETURN_IF_ERROR(buffer_->Gather(training_filter(), &rows));
  if (static_cast<int64_t>(rows.size()) < 2 * buffer_->row_size()) {
    LOG(WARNING) << "model_based_qd: fewer than 2 transitions pass the training filter; the "
                    "dynamics model is not trained yet";
    return absl::OkStatus();
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<models::TrainReport> trained = ensemble_->Train(rows, model_rng_, interrupt_);
  if (!trained.ok()) return AtGeneration(trained.status(), generation_);
  const models::TrainReport& report = *trained;
  stats_.training_seconds += SecondsSince(start);
  ++stats_.model_train_calls;
  stats_.model_holdout_loss = report.holdout_loss;
  stats_.model_holdout_mse = report.holdout_mse;
  iterations_since_training_ = 0;
  LOG(INFO) << "dynamics_model_trained rows=" << report.train_rows + report.holdout_rows
            << " steps=" << report.steps << " stopped_early=" << report.stopped_early
            << " holdout_nll=" << report.holdout_loss << " holdout_mse=" << report.holdout_mse
            << " seconds=" << report.seconds;
  return absl::OkStatus();
}

absl::StatusOr<TellSummary> ModelBasedQd::Tell(absl::Span<const float> params,
                                               absl::Span<const EvalOutcome> outcomes) {
  GDAQD_ASSIGN_OR_RETURN(std::vector<Provenance> provenance, asked_.Pop(outcomes.size()));
  ++generation_;
  GDAQD_ASSIGN_OR_RETURN(TellSummary summary, InsertOutcomes(*archive_, params, outcomes));
  AddTransitions(outcomes, provenance);
  if (critic_ != nullptr) GDAQD_RETURN_IF_ERROR(critic_->EnsureStarted(params));
  ++iterations_since_training_;
  ++untrained_generations_;
  return summary;
}

absl::Status ModelBasedQd::Learn() {
  if (untrained_generations_ == 0) return absl::OkStatus();
  untrained_generations_ = 0;
  // Algorithm 1, line 17: the critic (GDA-QD) after every real iteration, the dynamics model on
  // the model.retrain_every schedule (1, every iteration, by default as the paper).
  if (critic_ != nullptr && critic_->CanLearn(*buffer_)) {
    const absl::Time start = absl::Now();
    GDAQD_RETURN_IF_ERROR(AtGeneration(critic_->Train(*buffer_, interrupt_), generation_));
    stats_.training_seconds += SecondsSince(start);
  }
  if (!ensemble_->trained() || iterations_since_training_ >= config_.model().retrain_every()) {
    GDAQD_RETURN_IF_ERROR(TrainModel());
  }
  return absl::OkStatus();
}

absl::Status ModelBasedQd::SaveCheckpoint(std::ostream& out) const {
  WriteCoreHead(out, kModelBasedQdMagic);
  GDAQD_RETURN_IF_ERROR(checkpoint::WriteReplayBuffer(out, *buffer_));
  std::ostringstream ensemble;
  GDAQD_RETURN_IF_ERROR(ensemble_->Save(ensemble));
  checkpoint::WriteBytes(out, ensemble.str());
  checkpoint::WriteU64(out, critic_ != nullptr ? 1 : 0);
  if (critic_ != nullptr) GDAQD_RETURN_IF_ERROR(critic_->Save(out));
  checkpoint::WriteRng(out, rng_);
  checkpoint::WriteRng(out, model_rng_);
  checkpoint::WriteU64(out, imagination_calls_);
  checkpoint::WriteU64(out, random_policies_);
  checkpoint::WriteU64(out, static_cast<uint64_t>(iterations_since_training_));
  checkpoint::WriteBytes(out, absl::string_view(reinterpret_cast<const char*>(initial_obs_.data()),
                                                initial_obs_.size() * sizeof(float)));
  checkpoint::WriteU64(out, static_cast<uint64_t>(generation_));
  GDAQD_ASSIGN_OR_RETURN(std::vector<Provenance> outstanding, asked_.ForCheckpoint());
  checkpoint::WriteProvenance(out, outstanding);  // a batch asked and not yet told
  WriteModelStats(out, stats_);
  checkpoint::WriteU64(out, static_cast<uint64_t>(untrained_generations_));
  return out ? absl::OkStatus() : absl::DataLossError("cannot write the model-based checkpoint");
}

absl::Status ModelBasedQd::RestoreCheckpoint(std::istream& in) {
  GDAQD_ASSIGN_OR_RETURN(const int version,
                         checkpoint::ReadMagicVersion(in, kModelBasedQdPrefix, 2, 3));
  CoreState core;
  GDAQD_RETURN_IF_ERROR(ReadCoreArchive(in, &core));
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<models::ReplayBuffer> buffer,
                         checkpoint::ReadReplayBuffer(in, buffer_->row_size()));
  GDAQD_ASSIGN_OR_RETURN(std::string ensemble_bytes,
                         checkpoint::ReadBytes(in, "dynamics ensemble", uint64_t{1} << 34));
  std::istringstream ensemble_in(ensemble_bytes);
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<models::DynamicsEnsemble> ensemble,
                         models::DynamicsEnsemble::Load(ensemble_in, config_.pga().device()));
  if (ensemble->obs_dim() != spec_.obs_dim || ensemble->action_dim() != spec_.action_dim ||
      ensemble->members() != ensemble_->members()) {
    return absl::InvalidArgumentError("checkpoint: the dynamics ensemble does not fit this config");
  }
  GDAQD_ASSIGN_OR_RETURN(uint64_t has_critic, checkpoint::ReadU64(in, "critic flag"));
  if (has_critic != (critic_ != nullptr ? 1u : 0u)) {
    return absl::InvalidArgumentError("checkpoint: written by the other model-based algorithm");
  }
  std::unique_ptr<CriticLearner> critic;
  if (has_critic) {
    GDAQD_ASSIGN_OR_RETURN(critic, CriticLearner::Restore(in, config_, layout_));
  }
  // The core's selection RNG and random-network count, with this algorithm's own RNG and counter
  // between them (format 2 and 3).
  std::mt19937_64 model_rng;
  GDAQD_RETURN_IF_ERROR(checkpoint::ReadRng(in, "selection RNG", &core.rng));
  GDAQD_RETURN_IF_ERROR(checkpoint::ReadRng(in, "model training RNG", &model_rng));
  GDAQD_ASSIGN_OR_RETURN(uint64_t imagination_calls, checkpoint::ReadU64(in, "imagination calls"));
  GDAQD_ASSIGN_OR_RETURN(core.random_policies, checkpoint::ReadU64(in, "random policies"));
  GDAQD_ASSIGN_OR_RETURN(uint64_t since_training,
                         checkpoint::ReadU64(in, "iterations since training"));
  GDAQD_ASSIGN_OR_RETURN(std::string initial_obs_bytes,
                         checkpoint::ReadBytes(in, "initial observation", 1 << 20));
  if (!initial_obs_bytes.empty() &&
      initial_obs_bytes.size() != static_cast<size_t>(spec_.obs_dim) * sizeof(float)) {
    return absl::InvalidArgumentError("checkpoint: initial observation has the wrong size");
  }
  std::vector<float> initial_obs(initial_obs_bytes.size() / sizeof(float));
  std::memcpy(initial_obs.data(), initial_obs_bytes.data(), initial_obs_bytes.size());
  GDAQD_ASSIGN_OR_RETURN(uint64_t generation, checkpoint::ReadU64(in, "generation"));
  GDAQD_ASSIGN_OR_RETURN(std::vector<models::Provenance> provenance,
                         checkpoint::ReadProvenance(in, checkpoint::kMaxBatchProvenance));
  GDAQD_ASSIGN_OR_RETURN(LearningStats stats, ReadModelStats(in));
  uint64_t untrained = 0;
  if (version >= 3) {
    GDAQD_ASSIGN_OR_RETURN(untrained, checkpoint::ReadU64(in, "generations not learned"));
  }
  CommitCore(std::move(core));
  buffer_ = std::move(buffer);
  ensemble_ = std::move(ensemble);
  critic_ = std::move(critic);
  model_rng_ = model_rng;
  imagination_calls_ = imagination_calls;
  iterations_since_training_ = static_cast<int64_t>(since_training);
  initial_obs_ = std::move(initial_obs);
  stats_ = stats;
  generation_ = static_cast<int64_t>(generation);
  asked_.Restore(std::move(provenance));
  untrained_generations_ = static_cast<int64_t>(untrained);
  return absl::OkStatus();
}

}  // namespace gdaqd::server
