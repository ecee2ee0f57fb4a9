#include "common/config/algorithms/model_rules.h"

#include "absl/strings/str_cat.h"
#include "common/config/algorithm_rules.h"
#include "common/config/algorithms/builtin_rules.h"
#include "common/config/algorithms/pga_rules.h"
#include "common/config/config.h"
#include "common/config/config_checks.h"
#include "common/status_macros.h"

namespace gdaqd::common {
namespace {

using checks::CheckHiddenSizes;
using checks::CheckIntRange;
using checks::CheckRange;
using checks::FieldError;

// The model.* defaults; p_gradient (the share of gradient children) differs per algorithm.
void ApplyModelDefaults(float default_p_gradient, gdaqd::v1::ModelConfig* model) {
  if (!model->has_p_gradient()) model->set_p_gradient(default_p_gradient);
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

absl::Status ValidateModel(const gdaqd::v1::ExperimentConfig& config) {
  const gdaqd::v1::ModelConfig& model = config.model();
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

void ApplyDaQdExtDefaults(gdaqd::v1::ExperimentConfig* config) {
  // No critic: only the pga.* replay/device/thread fields, so its stored config shows no critic
  // settings it never reads.
  ApplySharedPgaDefaults(config->mutable_pga());
  ApplyModelDefaults(/*default_p_gradient=*/0, config->mutable_model());
}

absl::Status ValidateDaQdExt(const gdaqd::v1::ExperimentConfig& config) {
  GDAQD_RETURN_IF_ERROR(ValidatePgaWithoutCritic(config));
  if (config.model().p_gradient() != 0) {
    return FieldError("model.p_gradient",
                      absl::StrCat("DA_QD_EXT makes no gradient children; must be 0, got ",
                                   config.model().p_gradient(), " (use GDA_QD)"));
  }
  return ValidateModel(config);
}

void ApplyGdaQdDefaults(gdaqd::v1::ExperimentConfig* config) {
  ApplyPgaDefaults(config->mutable_pga());
  ApplyModelDefaults(kDefaultGdaQdPGradient, config->mutable_model());
}

absl::Status ValidateGdaQd(const gdaqd::v1::ExperimentConfig& config) {
  GDAQD_RETURN_IF_ERROR(ValidatePgaWithCritic(config));
  return ValidateModel(config);
}

}  // namespace

AlgorithmRules DaQdExtRules() {
  AlgorithmRules rules;
  rules.id = gdaqd::v1::DA_QD_EXT;
  rules.name = "DA_QD_EXT";
  rules.label = "DA-QD-ext";
  rules.traits = {
      .learns = true, .needs_transitions = true, .uses_dynamics_model = true, .uses_critic = false};
  rules.apply_defaults = &ApplyDaQdExtDefaults;
  rules.validate = &ValidateDaQdExt;
  return rules;
}

AlgorithmRules GdaQdRules() {
  AlgorithmRules rules;
  rules.id = gdaqd::v1::GDA_QD;
  rules.name = "GDA_QD";
  rules.label = "GDA-QD";
  rules.traits = {
      .learns = true, .needs_transitions = true, .uses_dynamics_model = true, .uses_critic = true};
  rules.apply_defaults = &ApplyGdaQdDefaults;
  rules.validate = &ValidateGdaQd;
  return rules;
}

}  // namespace gdaqd::common
