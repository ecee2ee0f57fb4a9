#include "common/config/config.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config/algorithm_rules.h"
#include "common/config/algorithms/model_rules.h"
#include "common/config/config_checks.h"
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
// Policy kinds (PolicyConfig): brax's NormalTanhDistribution min_std, and bounds on the rest.
constexpr float kDefaultPolicyMinStd = 0.001f;
constexpr float kMaxPolicyMinStd = 10.0f;
constexpr int kMaxPolicySkills = 1000;

// Defined with PolicyLayout() below (the policy section).
void ApplyPolicyDefaults(gdaqd::v1::PolicyConfig* policy);
absl::Status CheckPolicyKindFitsAlgorithm(const ExperimentConfig& config);

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

using checks::CheckHiddenSizes;
using checks::CheckIntRange;
using checks::CheckLength;
using checks::CheckRange;
using checks::FieldError;

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

absl::Status ValidateBudgetAndScheduler(const ExperimentConfig& config,
                                        const AlgorithmRules& rules) {
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
  if (schedule == gdaqd::v1::SchedulerConfig::PIPELINED && !rules.traits.learns) {
    return FieldError("scheduler.learning_schedule",
                      absl::StrCat("PIPELINED overlaps learning with evaluation, and ", rules.name,
                                   " learns nothing; use SYNCHRONOUS"));
  }
  return absl::OkStatus();
}

}  // namespace

bool UsesDynamicsModel(gdaqd::v1::Algorithm algorithm) {
  const AlgorithmRules* rules = FindAlgorithmRules(algorithm);
  return rules != nullptr && rules->traits.uses_dynamics_model;
}

bool UsesCritic(gdaqd::v1::Algorithm algorithm) {
  const AlgorithmRules* rules = FindAlgorithmRules(algorithm);
  return rules != nullptr && rules->traits.uses_critic;
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

  ApplyPolicyDefaults(config->mutable_policy());

  auto* archive = config->mutable_archive();
  if (archive->type() == ArchiveConfig::TYPE_UNSPECIFIED) archive->set_type(ArchiveConfig::GRID);
  if (archive->type() == ArchiveConfig::GRID && archive->cells_per_dim_size() == 0 && spec.ok()) {
    for (int i = 0; i < spec->descriptor_dim; ++i) archive->add_cells_per_dim(kDefaultCellsPerDim);
  }
  if (archive->type() == ArchiveConfig::CVT) {
    if (archive->num_centroids() == 0) archive->set_num_centroids(kDefaultNumCentroids);
    if (archive->cvt_samples() == 0) archive->set_cvt_samples(kDefaultCvtSamples);
  }

  // An unknown algorithm is left for Validate to report.
  const AlgorithmRules* rules = FindAlgorithmRules(config->algorithm());
  if (rules != nullptr && rules->apply_shared_defaults != nullptr) {
    rules->apply_shared_defaults(config);
  }
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
  // Then the algorithm's own sections.
  if (rules != nullptr && rules->apply_defaults != nullptr) rules->apply_defaults(config);
}

absl::Status ValidateExperimentConfig(const ExperimentConfig& config) {
  const AlgorithmRules* rules = FindAlgorithmRules(config.algorithm());
  if (rules == nullptr) return UnknownAlgorithmError(config.algorithm());
  GDAQD_RETURN_IF_ERROR(ValidateSizes(config));
  if (config.env().task().empty()) return FieldError("env.task", "is required");
  absl::StatusOr<TaskSpec> spec = GetTaskSpec(config.env().task(), 0);
  if (!spec.ok()) return FieldError("env.task", spec.status().message());
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("env.episode_length", config.env().episode_length(), 1, kMaxEpisodeLength));
  GDAQD_RETURN_IF_ERROR(EnvironmentOptionsFromConfig(config.env()).status());

  absl::StatusOr<MlpLayout> layout = PolicyLayout(config.env(), config.policy());
  if (!layout.ok()) return layout.status();
  GDAQD_RETURN_IF_ERROR(CheckPolicyKindFitsAlgorithm(config));

  GDAQD_RETURN_IF_ERROR(ValidateArchive(config, spec->descriptor_dim));
  GDAQD_RETURN_IF_ERROR(ValidateEmitter(config));
  if (rules->validate != nullptr) GDAQD_RETURN_IF_ERROR(rules->validate(config));
  return ValidateBudgetAndScheduler(config, *rules);
}

namespace {

// The kind, skills and std floor of a PolicyConfig into `layout`; InvalidArgument naming the
// field (policy.kind, policy.num_skills, policy.min_std).
absl::Status PolicyKindToLayout(const gdaqd::v1::PolicyConfig& policy, MlpLayout* layout) {
  switch (policy.kind()) {
    case gdaqd::v1::PolicyConfig::KIND_UNSPECIFIED:
    case gdaqd::v1::PolicyConfig::DETERMINISTIC:
      layout->kind = PolicyKind::kDeterministic;
      if (policy.min_std() != 0) {
        return FieldError("policy.min_std",
                          "applies to TANH_GAUSSIAN policies only, must be unset");
      }
      break;
    case gdaqd::v1::PolicyConfig::TANH_GAUSSIAN:
      layout->kind = PolicyKind::kTanhGaussian;
      GDAQD_RETURN_IF_ERROR(CheckRange("policy.min_std", policy.min_std(), 0, kMaxPolicyMinStd,
                                       /*low_open=*/true));
      layout->min_std = policy.min_std();
      break;
    default:
      return FieldError("policy.kind", absl::StrCat(policy.kind(),
                                                    " is not a kind (use DETERMINISTIC or "
                                                    "TANH_GAUSSIAN)"));
  }
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("policy.num_skills", policy.num_skills(), 0, kMaxPolicySkills));
  layout->num_skills = policy.num_skills();
  return absl::OkStatus();
}

// Fills the unset PolicyConfig fields (config.proto's defaults).
void ApplyPolicyDefaults(gdaqd::v1::PolicyConfig* policy) {
  if (policy->hidden_sizes_size() == 0) {
    policy->add_hidden_sizes(kDefaultHiddenSize);
    policy->add_hidden_sizes(kDefaultHiddenSize);
  }
  if (policy->hidden_activation().empty()) policy->set_hidden_activation("relu");
  const bool tanh_gaussian = policy->kind() == gdaqd::v1::PolicyConfig::TANH_GAUSSIAN;
  if (policy->output_activation().empty()) {
    policy->set_output_activation(tanh_gaussian ? "identity" : "tanh");  // tanh follows sampling
  }
  if (tanh_gaussian && policy->min_std() == 0) policy->set_min_std(kDefaultPolicyMinStd);
}

// The algorithms from before policy kinds (MAP_ELITES, PGA_ME, DA_QD_EXT, GDA_QD) evaluate,
// mutate and train plain deterministic MLPs only: InvalidArgument naming policy.kind or
// policy.num_skills if the config asks them for another policy. Algorithms added since decide
// for themselves.
absl::Status CheckPolicyKindFitsAlgorithm(const ExperimentConfig& config) {
  const gdaqd::v1::Algorithm algorithm = config.algorithm();
  if (algorithm != gdaqd::v1::ALGORITHM_UNSPECIFIED && algorithm != gdaqd::v1::MAP_ELITES &&
      algorithm != gdaqd::v1::PGA_ME && algorithm != gdaqd::v1::DA_QD_EXT &&
      algorithm != gdaqd::v1::GDA_QD) {
    return absl::OkStatus();
  }
  const std::string& name = gdaqd::v1::Algorithm_Name(algorithm);
  if (config.policy().kind() == gdaqd::v1::PolicyConfig::TANH_GAUSSIAN) {
    return FieldError("policy.kind", absl::StrCat("TANH_GAUSSIAN is not supported by ", name,
                                                  ", which evaluates deterministic policies"));
  }
  if (config.policy().num_skills() != 0) {
    return FieldError("policy.num_skills",
                      absl::StrCat("must be 0 for ", name, ", which has no skills"));
  }
  return absl::OkStatus();
}

}  // namespace

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
  GDAQD_RETURN_IF_ERROR(PolicyKindToLayout(policy, &layout));
  if (layout.kind == PolicyKind::kTanhGaussian &&
      layout.output_activation != Activation::kIdentity) {
    return FieldError(
        "policy.output_activation",
        absl::StrCat("is '", policy.output_activation(),
                     "', must be identity for TANH_GAUSSIAN (tanh follows sampling)"));
  }
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
