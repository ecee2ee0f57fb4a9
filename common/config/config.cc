#include "common/config/config.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config/es_rules.h"
#include "common/point_maze.h"
#include "common/status_macros.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace gdaqd::common {
namespace {

using gdaqd::v1::ArchiveConfig;
using gdaqd::v1::EnvConfig;
using gdaqd::v1::ExperimentConfig;

// Longest parse error kept: the parser quotes the offending token, which may be all the input.
constexpr size_t kMaxParseErrorBytes = 256;

// Keeps the first text-format parse error with its position.
class FirstErrorCollector final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!error_.empty()) return;
    error_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ",
                          absl::string_view(message).substr(0, kMaxParseErrorBytes));
    if (message.size() > kMaxParseErrorBytes) error_ += "...";
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// Finite and in [low, high] (either bound optionally open).
absl::Status CheckRange(absl::string_view field, double value, double low, double high,
                        bool low_open = false) {
  const bool above_low = low_open ? value > low : value >= low;
  if (!std::isfinite(value) || !above_low || value > high) {
    return FieldError(field, absl::StrCat("must be in ", low_open ? "(" : "[", low, ", ", high,
                                          "], got ", value));
  }
  return absl::OkStatus();
}

absl::Status CheckIntRange(absl::string_view field, int64_t value, int64_t low, int64_t high) {
  if (value < low || value > high) {
    return FieldError(field, absl::StrCat("must be in [", low, ", ", high, "], got ", value));
  }
  return absl::OkStatus();
}

// At most max_bytes long; the message gives the length, never the (possibly huge) value.
absl::Status CheckLength(absl::string_view field, absl::string_view value, int64_t max_bytes) {
  if (static_cast<int64_t>(value.size()) > max_bytes) {
    return FieldError(field,
                      absl::StrCat("must be at most ", max_bytes, " bytes, got ", value.size()));
  }
  return absl::OkStatus();
}

// A hidden-layer list: 1..kMaxHiddenLayers entries (0 too when `may_be_empty`), each in
// [1, kMaxHiddenSize].
absl::Status CheckHiddenSizes(absl::string_view field,
                              const google::protobuf::RepeatedField<int32_t>& sizes,
                              bool may_be_empty) {
  if (sizes.empty() && !may_be_empty) return FieldError(field, "must have at least one entry");
  if (sizes.size() > kMaxHiddenLayers) {
    return FieldError(field, absl::StrCat("must have at most ", kMaxHiddenLayers, " entries, got ",
                                          sizes.size()));
  }
  for (int i = 0; i < sizes.size(); ++i) {
    GDAQD_RETURN_IF_ERROR(
        CheckIntRange(absl::StrCat(field, "[", i, "]"), sizes.Get(i), 1, kMaxHiddenSize));
  }
  return absl::OkStatus();
}

// The free-text and enum-like strings, before anything parses or echoes them, then the whole
// message (unknown fields and sections the algorithm ignores included).
absl::Status ValidateSizes(const ExperimentConfig& config) {
  GDAQD_RETURN_IF_ERROR(CheckLength("name", config.name(), kMaxNameBytes));
  for (size_t i = 0; i < config.name().size(); ++i) {
    const auto c = static_cast<unsigned char>(config.name()[i]);
    if (c < 0x20 || c == 0x7f) {
      return FieldError("name", absl::StrCat("must not contain control characters, got byte ",
                                             static_cast<int>(c), " at offset ", i));
    }
  }
  GDAQD_RETURN_IF_ERROR(CheckLength("env.task", config.env().task(), kMaxTaskBytes));
  GDAQD_RETURN_IF_ERROR(CheckLength("policy.hidden_activation", config.policy().hidden_activation(),
                                    kMaxActivationBytes));
  GDAQD_RETURN_IF_ERROR(CheckLength("policy.output_activation", config.policy().output_activation(),
                                    kMaxActivationBytes));
  GDAQD_RETURN_IF_ERROR(CheckLength("pga.device", config.pga().device(), kMaxDeviceBytes));
  const size_t bytes = config.ByteSizeLong();
  if (bytes > static_cast<size_t>(kMaxConfigBytes)) {
    return FieldError("config", absl::StrCat("must serialize to at most ", kMaxConfigBytes,
                                             " bytes, got ", bytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateArchive(const ExperimentConfig& config, int descriptor_dim) {
  const ArchiveConfig& archive = config.archive();
  if (archive.type() == ArchiveConfig::GRID) {
    if (archive.cells_per_dim_size() != descriptor_dim) {
      return FieldError(
          "archive.cells_per_dim",
          absl::StrCat("has ", archive.cells_per_dim_size(), " entries, task '",
                       config.env().task(), "' has ", descriptor_dim, " descriptor dimensions"));
    }
    int64_t cells = 1;
    for (int i = 0; i < archive.cells_per_dim_size(); ++i) {
      const int n = archive.cells_per_dim(i);
      GDAQD_RETURN_IF_ERROR(
          CheckIntRange(absl::StrCat("archive.cells_per_dim[", i, "]"), n, 1, kMaxGridCells));
      cells *= n;  // <= kMaxGridCells^2 before the check below: no overflow
      if (cells > kMaxGridCells) {
        return FieldError("archive.cells_per_dim",
                          absl::StrCat("gives more than ", kMaxGridCells, " cells"));
      }
    }
  } else if (archive.type() == ArchiveConfig::CVT) {
    GDAQD_RETURN_IF_ERROR(
        CheckIntRange("archive.num_centroids", archive.num_centroids(), 1, kMaxNumCentroids));
    if (archive.cvt_samples() < archive.num_centroids() || archive.cvt_samples() > kMaxCvtSamples) {
      return FieldError("archive.cvt_samples",
                        absl::StrCat("must be in [archive.num_centroids (", archive.num_centroids(),
                                     "), ", kMaxCvtSamples, "], got ", archive.cvt_samples()));
    }
  } else {
    return FieldError("archive.type", "must be GRID or CVT");
  }
  return absl::OkStatus();
}

absl::Status ValidateEmitter(const ExperimentConfig& config) {
  const auto& emitter = config.emitter();
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("emitter.batch_size", emitter.batch_size(), 1, kMaxBatchSize));
  GDAQD_RETURN_IF_ERROR(CheckRange("emitter.iso_sigma", emitter.iso_sigma(), 0, kMaxSigma));
  GDAQD_RETURN_IF_ERROR(CheckRange("emitter.line_sigma", emitter.line_sigma(), 0, kMaxSigma));
  return CheckIntRange("initial_population", config.initial_population(), 1, kMaxBatchSize);
}

// The pga.* fields every learning algorithm reads; the replay buffer holds at least `min_replay`.
absl::Status ValidateSharedPga(const gdaqd::v1::PgaConfig& pga, int64_t min_replay) {
  if (pga.replay_capacity() < min_replay || pga.replay_capacity() > (int64_t{1} << 31)) {
    return FieldError(
        "pga.replay_capacity",
        absl::StrCat(
            "must be in [",
            min_replay == 1 ? "1" : absl::StrCat("pga.critic_batch_size (", min_replay, ")"),
            ", 2^31], got ", pga.replay_capacity()));
  }
  if (pga.device() != "auto" && pga.device() != "cpu" && pga.device() != "cuda") {
    return FieldError("pga.device",
                      absl::StrCat("must be auto, cpu or cuda, got '", pga.device(), "'"));
  }
  return CheckIntRange("pga.torch_threads", pga.torch_threads(), 1, 256);
}

// DA_QD_EXT has no critic, no greedy actor and no gradient children: a critic field set for it
// would be silently ignored, so it is refused instead.
absl::Status ValidateNoCritic(const ExperimentConfig& config) {
  const gdaqd::v1::PgaConfig& pga = config.pga();
  const std::pair<const char*, bool> critic_fields[] = {
      {"pga.isoline_fraction", pga.has_isoline_fraction()},
      {"pga.critic_steps", pga.critic_steps() != 0},
      {"pga.pg_steps", pga.pg_steps() != 0},
      {"pga.critic_batch_size", pga.critic_batch_size() != 0},
      {"pga.critic_hidden_sizes", pga.critic_hidden_sizes_size() != 0},
      {"pga.critic_lr", pga.critic_lr() != 0},
      {"pga.actor_lr", pga.actor_lr() != 0},
      {"pga.policy_lr", pga.policy_lr() != 0},
      {"pga.discount", pga.discount() != 0},
      {"pga.tau", pga.tau() != 0},
      {"pga.policy_noise", pga.policy_noise() != 0},
      {"pga.noise_clip", pga.noise_clip() != 0},
      {"pga.policy_delay", pga.policy_delay() != 0},
  };
  for (const auto& [field, set] : critic_fields) {
    if (set) {
      return FieldError(field,
                        "DA_QD_EXT has no critic and never reads it; remove it (only "
                        "pga.replay_capacity, pga.device and pga.torch_threads apply)");
    }
  }
  return ValidateSharedPga(pga, /*min_replay=*/1);
}

absl::Status ValidatePga(const ExperimentConfig& config) {
  if (!UsesCritic(config.algorithm())) return ValidateNoCritic(config);
  const gdaqd::v1::PgaConfig& pga = config.pga();
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.isoline_fraction", pga.isoline_fraction(), 0, 1));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("pga.critic_steps", pga.critic_steps(), 1, 1'000'000));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("pga.pg_steps", pga.pg_steps(), 1, 1'000'000));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("pga.critic_batch_size", pga.critic_batch_size(), 1, kMaxBatchSize));
  GDAQD_RETURN_IF_ERROR(CheckHiddenSizes("pga.critic_hidden_sizes", pga.critic_hidden_sizes(),
                                         /*may_be_empty=*/false));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.critic_lr", pga.critic_lr(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.actor_lr", pga.actor_lr(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.policy_lr", pga.policy_lr(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.discount", pga.discount(), 0, 1));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.tau", pga.tau(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.policy_noise", pga.policy_noise(), 0, 100));
  GDAQD_RETURN_IF_ERROR(CheckRange("pga.noise_clip", pga.noise_clip(), 0, 100));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("pga.policy_delay", pga.policy_delay(), 1, 1'000'000));
  return ValidateSharedPga(pga, /*min_replay=*/pga.critic_batch_size());
}

// The pga.* fields every learning algorithm reads: the replay buffer and where LibTorch runs.
void ApplySharedPgaDefaults(gdaqd::v1::PgaConfig* pga) {
  if (pga->replay_capacity() == 0) pga->set_replay_capacity(kDefaultPgaReplayCapacity);
  if (pga->device().empty()) pga->set_device("auto");
  if (pga->torch_threads() == 0) pga->set_torch_threads(kDefaultPgaTorchThreads);
}

void ApplyPgaDefaults(gdaqd::v1::PgaConfig* pga) {
  ApplySharedPgaDefaults(pga);
  if (!pga->has_isoline_fraction()) pga->set_isoline_fraction(kDefaultPgaIsolineFraction);
  if (pga->critic_steps() == 0) pga->set_critic_steps(kDefaultPgaCriticSteps);
  if (pga->pg_steps() == 0) pga->set_pg_steps(kDefaultPgaPgSteps);
  if (pga->critic_batch_size() == 0) pga->set_critic_batch_size(kDefaultPgaCriticBatchSize);
  if (pga->critic_hidden_sizes_size() == 0) {
    pga->add_critic_hidden_sizes(kDefaultPgaCriticHiddenSize);
    pga->add_critic_hidden_sizes(kDefaultPgaCriticHiddenSize);
  }
  if (pga->critic_lr() == 0) pga->set_critic_lr(kDefaultPgaCriticLr);
  if (pga->actor_lr() == 0) pga->set_actor_lr(kDefaultPgaActorLr);
  if (pga->policy_lr() == 0) pga->set_policy_lr(kDefaultPgaPolicyLr);
  if (pga->discount() == 0) pga->set_discount(kDefaultPgaDiscount);
  if (pga->tau() == 0) pga->set_tau(kDefaultPgaTau);
  if (pga->policy_noise() == 0) pga->set_policy_noise(kDefaultPgaPolicyNoise);
  if (pga->noise_clip() == 0) pga->set_noise_clip(kDefaultPgaNoiseClip);
  if (pga->policy_delay() == 0) pga->set_policy_delay(kDefaultPgaPolicyDelay);
}

void ApplyModelDefaults(gdaqd::v1::Algorithm algorithm, gdaqd::v1::ModelConfig* model) {
  if (!model->has_p_gradient()) {
    model->set_p_gradient(algorithm == gdaqd::v1::GDA_QD ? kDefaultGdaQdPGradient : 0.0f);
  }
  if (model->imagined_batch_size() == 0) model->set_imagined_batch_size(kDefaultImaginedBatchSize);
  if (model->imagined_generations() == 0) {
    model->set_imagined_generations(kDefaultImaginedGenerations);
  }
  if (!model->has_sample_predictions()) model->set_sample_predictions(true);
  if (!model->has_terminate_imagined()) model->set_terminate_imagined(false);
  if (model->ensemble_members() == 0) model->set_ensemble_members(kDefaultEnsembleMembers);
  if (model->ensemble_hidden_sizes_size() == 0) {
    model->add_ensemble_hidden_sizes(kDefaultEnsembleHiddenSize);
    model->add_ensemble_hidden_sizes(kDefaultEnsembleHiddenSize);
  }
  if (model->ensemble_lr() == 0) model->set_ensemble_lr(kDefaultEnsembleLr);
  if (model->min_log_std() == 0) model->set_min_log_std(kDefaultMinLogStd);
  if (model->max_log_std() == 0) model->set_max_log_std(kDefaultMaxLogStd);
  if (model->holdout_fraction() == 0) model->set_holdout_fraction(kDefaultHoldoutFraction);
  if (model->patience() == 0) model->set_patience(kDefaultModelPatience);
  if (model->min_improvement() == 0) model->set_min_improvement(kDefaultModelMinImprovement);
  if (model->max_train_steps() == 0) model->set_max_train_steps(kDefaultModelMaxTrainSteps);
  if (model->train_batch_size() == 0) model->set_train_batch_size(kDefaultModelTrainBatchSize);
  if (model->retrain_every() == 0) model->set_retrain_every(kDefaultModelRetrainEvery);
  if (model->training_data() == gdaqd::v1::MODEL_TRAINING_DATA_UNSPECIFIED) {
    model->set_training_data(gdaqd::v1::D_MODEL);
  }
}

absl::Status ValidateModel(const ExperimentConfig& config) {
  const gdaqd::v1::ModelConfig& model = config.model();
  if (config.algorithm() == gdaqd::v1::DA_QD_EXT && model.p_gradient() != 0) {
    return FieldError("model.p_gradient",
                      absl::StrCat("DA_QD_EXT makes no gradient children; must be 0, got ",
                                   model.p_gradient(), " (use GDA_QD)"));
  }
  GDAQD_RETURN_IF_ERROR(CheckRange("model.p_gradient", model.p_gradient(), 0, 1));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("model.imagined_batch_size", model.imagined_batch_size(), 1, kMaxBatchSize));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("model.imagined_generations", model.imagined_generations(), 1, 100'000));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("model.ensemble_members", model.ensemble_members(), 1, 64));
  GDAQD_RETURN_IF_ERROR(CheckHiddenSizes("model.ensemble_hidden_sizes",
                                         model.ensemble_hidden_sizes(), /*may_be_empty=*/false));
  GDAQD_RETURN_IF_ERROR(
      CheckRange("model.ensemble_lr", model.ensemble_lr(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("model.min_log_std", model.min_log_std(), -20, 20));
  GDAQD_RETURN_IF_ERROR(CheckRange("model.max_log_std", model.max_log_std(), -20, 20));
  if (!(model.min_log_std() < model.max_log_std())) {
    return FieldError("model.max_log_std",
                      absl::StrCat("must be > model.min_log_std (", model.min_log_std(), "), got ",
                                   model.max_log_std()));
  }
  GDAQD_RETURN_IF_ERROR(CheckRange("model.holdout_fraction", model.holdout_fraction(), 0, 0.9));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("model.patience", model.patience(), 1, 1'000'000));
  GDAQD_RETURN_IF_ERROR(CheckRange("model.min_improvement", model.min_improvement(), 0, 1));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("model.max_train_steps", model.max_train_steps(), 1, 10'000'000));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("model.train_batch_size", model.train_batch_size(), 1, kMaxBatchSize));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("model.retrain_every", model.retrain_every(), 1, 1'000'000));
  if (!gdaqd::v1::ModelTrainingData_IsValid(model.training_data()) ||
      model.training_data() == gdaqd::v1::MODEL_TRAINING_DATA_UNSPECIFIED) {
    return FieldError("model.training_data",
                      absl::StrCat("must be D_MODEL, D_GRADIENT or D_MODEL_AND_GRADIENT, got ",
                                   model.training_data()));
  }
  return absl::OkStatus();
}

absl::Status ValidateBudgetAndScheduler(const ExperimentConfig& config) {
  GDAQD_RETURN_IF_ERROR(CheckIntRange("budget.max_evaluations", config.budget().max_evaluations(),
                                      1, kMaxEvaluations));
  GDAQD_RETURN_IF_ERROR(CheckRange("scheduler.lease_timeout_s",
                                   config.scheduler().lease_timeout_s(), kMinLeaseTimeoutS,
                                   kMaxLeaseTimeoutS));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("scheduler.episodes_per_lease",
                                      config.scheduler().episodes_per_lease(), 1,
                                      kMaxEpisodesPerLease));
  const auto schedule = config.scheduler().learning_schedule();
  if (schedule != gdaqd::v1::SchedulerConfig::SYNCHRONOUS &&
      schedule != gdaqd::v1::SchedulerConfig::PIPELINED) {
    return FieldError("scheduler.learning_schedule",
                      absl::StrCat("must be SYNCHRONOUS or PIPELINED, got ", schedule));
  }
  if (schedule == gdaqd::v1::SchedulerConfig::PIPELINED &&
      config.algorithm() == gdaqd::v1::MAP_ELITES) {
    return FieldError("scheduler.learning_schedule",
                      "PIPELINED overlaps learning with evaluation, and MAP_ELITES learns nothing; "
                      "use SYNCHRONOUS");
  }
  return absl::OkStatus();
}

}  // namespace

bool UsesDynamicsModel(gdaqd::v1::Algorithm algorithm) {
  return algorithm == gdaqd::v1::DA_QD_EXT || algorithm == gdaqd::v1::GDA_QD;
}

bool UsesCritic(gdaqd::v1::Algorithm algorithm) {
  return algorithm == gdaqd::v1::PGA_ME || algorithm == gdaqd::v1::GDA_QD;
}

void ApplyDefaults(ExperimentConfig* config) {
  if (config->algorithm() == gdaqd::v1::ALGORITHM_UNSPECIFIED) {
    config->set_algorithm(gdaqd::v1::MAP_ELITES);
  }
  // An over-long task name is left for Validate to report (and not copied into an error here).
  absl::StatusOr<TaskSpec> spec =
      static_cast<int64_t>(config->env().task().size()) > kMaxTaskBytes
          ? absl::StatusOr<TaskSpec>(absl::InvalidArgumentError("task name too long"))
          : GetTaskSpec(config->env().task(), std::max(0, config->env().episode_length()));
  auto* env = config->mutable_env();
  if (spec.ok() && env->episode_length() == 0) env->set_episode_length(spec->episode_length);
  if (env->task() == kPointMazeName && env->action_map() == EnvConfig::ACTION_MAP_UNSPECIFIED) {
    env->set_action_map(EnvConfig::CLIP_0_1);  // the paper's (QDax v0.1.0)
  }

  auto* policy = config->mutable_policy();
  if (policy->hidden_sizes_size() == 0) {
    policy->add_hidden_sizes(kDefaultHiddenSize);
    policy->add_hidden_sizes(kDefaultHiddenSize);
  }
  if (policy->hidden_activation().empty()) policy->set_hidden_activation("relu");
  if (policy->output_activation().empty()) policy->set_output_activation("tanh");

  auto* archive = config->mutable_archive();
  if (archive->type() == ArchiveConfig::TYPE_UNSPECIFIED) archive->set_type(ArchiveConfig::GRID);
  if (archive->type() == ArchiveConfig::GRID && archive->cells_per_dim_size() == 0 && spec.ok()) {
    for (int i = 0; i < spec->descriptor_dim; ++i) archive->add_cells_per_dim(kDefaultCellsPerDim);
  }
  if (archive->type() == ArchiveConfig::CVT) {
    if (archive->num_centroids() == 0) archive->set_num_centroids(kDefaultNumCentroids);
    if (archive->cvt_samples() == 0) archive->set_cvt_samples(kDefaultCvtSamples);
  }

  if (IsEsAlgorithm(config->algorithm())) ApplyEsDefaults(config);
  auto* emitter = config->mutable_emitter();
  if (emitter->batch_size() == 0) emitter->set_batch_size(kDefaultBatchSize);
  if (emitter->iso_sigma() == 0) emitter->set_iso_sigma(kDefaultIsoSigma);
  if (emitter->line_sigma() == 0) emitter->set_line_sigma(kDefaultLineSigma);
  if (config->initial_population() == 0) config->set_initial_population(emitter->batch_size());

  auto* scheduler = config->mutable_scheduler();
  if (scheduler->lease_timeout_s() == 0) scheduler->set_lease_timeout_s(kDefaultLeaseTimeoutS);
  if (scheduler->episodes_per_lease() == 0) {
    scheduler->set_episodes_per_lease(kDefaultEpisodesPerLease);
  }
  if (scheduler->learning_schedule() == gdaqd::v1::SchedulerConfig::LEARNING_SCHEDULE_UNSPECIFIED) {
    scheduler->set_learning_schedule(gdaqd::v1::SchedulerConfig::SYNCHRONOUS);
  }
  // DA_QD_EXT has no critic: it gets only the pga.* replay/device/thread fields, so its stored
  // config shows no critic settings it never reads.
  if (UsesCritic(config->algorithm())) {
    ApplyPgaDefaults(config->mutable_pga());
  } else if (UsesDynamicsModel(config->algorithm())) {
    ApplySharedPgaDefaults(config->mutable_pga());
  }
  if (UsesDynamicsModel(config->algorithm())) {
    ApplyModelDefaults(config->algorithm(), config->mutable_model());
  }
}

absl::Status ValidateExperimentConfig(const ExperimentConfig& config) {
  if (config.algorithm() != gdaqd::v1::MAP_ELITES && config.algorithm() != gdaqd::v1::PGA_ME &&
      !UsesDynamicsModel(config.algorithm()) && !IsEsAlgorithm(config.algorithm())) {
    const std::string& name = gdaqd::v1::Algorithm_Name(config.algorithm());
    return FieldError("algorithm",
                      absl::StrCat(name.empty() ? absl::StrCat(config.algorithm()) : name,
                                   " is not an algorithm (use MAP_ELITES, PGA_ME, DA_QD_EXT, "
                                   "GDA_QD, ES, NS_ES, NSR_ES, NSRA_ES or ME_ES)"));
  }
  GDAQD_RETURN_IF_ERROR(ValidateSizes(config));
  if (config.env().task().empty()) return FieldError("env.task", "is required");
  absl::StatusOr<TaskSpec> spec = GetTaskSpec(config.env().task(), 0);
  if (!spec.ok()) return FieldError("env.task", spec.status().message());
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("env.episode_length", config.env().episode_length(), 1, kMaxEpisodeLength));
  GDAQD_RETURN_IF_ERROR(EnvironmentOptionsFromConfig(config.env()).status());

  absl::StatusOr<MlpLayout> layout = PolicyLayout(config.env(), config.policy());
  if (!layout.ok()) return layout.status();

  GDAQD_RETURN_IF_ERROR(ValidateArchive(config, spec->descriptor_dim));
  GDAQD_RETURN_IF_ERROR(ValidateEmitter(config));
  if (config.algorithm() == gdaqd::v1::PGA_ME || UsesDynamicsModel(config.algorithm())) {
    GDAQD_RETURN_IF_ERROR(ValidatePga(config));
  }
  if (UsesDynamicsModel(config.algorithm())) GDAQD_RETURN_IF_ERROR(ValidateModel(config));
  if (IsEsAlgorithm(config.algorithm())) GDAQD_RETURN_IF_ERROR(ValidateEs(config));
  return ValidateBudgetAndScheduler(config);
}

absl::StatusOr<MlpLayout> PolicyLayout(const gdaqd::v1::EnvConfig& env,
                                       const gdaqd::v1::PolicyConfig& policy) {
  GDAQD_RETURN_IF_ERROR(CheckLength("env.task", env.task(), kMaxTaskBytes));
  GDAQD_ASSIGN_OR_RETURN(TaskSpec spec, GetTaskSpec(env.task(), env.episode_length()));
  MlpLayout layout;
  layout.obs_dim = spec.obs_dim;
  layout.action_dim = spec.action_dim;
  GDAQD_RETURN_IF_ERROR(
      CheckHiddenSizes("policy.hidden_sizes", policy.hidden_sizes(), /*may_be_empty=*/true));
  layout.hidden_sizes.assign(policy.hidden_sizes().begin(), policy.hidden_sizes().end());
  GDAQD_RETURN_IF_ERROR(
      CheckLength("policy.hidden_activation", policy.hidden_activation(), kMaxActivationBytes));
  GDAQD_RETURN_IF_ERROR(
      CheckLength("policy.output_activation", policy.output_activation(), kMaxActivationBytes));
  absl::StatusOr<Activation> hidden = ParseActivation(policy.hidden_activation());
  if (!hidden.ok()) return FieldError("policy.hidden_activation", hidden.status().message());
  absl::StatusOr<Activation> output = ParseActivation(policy.output_activation());
  if (!output.ok()) return FieldError("policy.output_activation", output.status().message());
  layout.hidden_activation = *hidden;
  layout.output_activation = *output;
  GDAQD_RETURN_IF_ERROR(layout.Validate());
  return layout;
}

absl::StatusOr<EnvironmentOptions> EnvironmentOptionsFromConfig(const EnvConfig& env) {
  EnvironmentOptions options;
  switch (env.action_map()) {
    case EnvConfig::ACTION_MAP_UNSPECIFIED:
      return options;  // the defaults, whatever the task
    case EnvConfig::CLIP_0_1:
      options.point_maze_action_map = PointMazeActionMap::kClip01;
      break;
    case EnvConfig::CLIP_1_DIVIDE_10:
      options.point_maze_action_map = PointMazeActionMap::kClip1Divide10;
      break;
    default:  // an open proto3 enum: any int32 can arrive
      return FieldError("env.action_map",
                        absl::StrCat(static_cast<int>(env.action_map()),
                                     " is not an action map (use CLIP_0_1 or CLIP_1_DIVIDE_10)"));
  }
  if (env.task() != kPointMazeName) {
    return FieldError("env.action_map",
                      absl::StrCat("applies to point_maze only; leave it unset for this task, got ",
                                   EnvConfig::ActionMap_Name(env.action_map())));
  }
  return options;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    if (err == EACCES)
      return absl::PermissionDeniedError(absl::StrCat(path, ": permission denied"));
    return absl::InternalError(absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::InternalError(absl::StrCat(path, ": read error"));
  return contents.str();
}

void UpgradeStoredConfig(ExperimentConfig* config) {
  if (config->env().task() == "point_maze" &&
      config->env().action_map() == gdaqd::v1::EnvConfig::ACTION_MAP_UNSPECIFIED) {
    config->mutable_env()->set_action_map(gdaqd::v1::EnvConfig::CLIP_1_DIVIDE_10);
  }
  if (UsesDynamicsModel(config->algorithm()) && config->model().retrain_every() == 0) {
    config->mutable_model()->set_retrain_every(kLegacyModelRetrainEvery);
  }
}

namespace {

absl::StatusOr<ExperimentConfig> ParseConfig(const std::string& text, bool stored) {
  ExperimentConfig config;
  google::protobuf::TextFormat::Parser parser;
  FirstErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &config)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot parse config: ", errors.error()));
  }
  if (stored) UpgradeStoredConfig(&config);
  ApplyDefaults(&config);
  GDAQD_RETURN_IF_ERROR(ValidateExperimentConfig(config));
  return config;
}

absl::StatusOr<ExperimentConfig> LoadConfig(const std::string& path, bool stored) {
  GDAQD_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  absl::StatusOr<ExperimentConfig> config = ParseConfig(text, stored);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace

absl::StatusOr<ExperimentConfig> ParseExperimentConfig(const std::string& text) {
  return ParseConfig(text, /*stored=*/false);
}

absl::StatusOr<ExperimentConfig> LoadExperimentConfig(const std::string& path) {
  return LoadConfig(path, /*stored=*/false);
}

absl::StatusOr<ExperimentConfig> LoadStoredExperimentConfig(const std::string& path) {
  return LoadConfig(path, /*stored=*/true);
}

}  // namespace gdaqd::common
