#include "common/config/algorithms/es_rules.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/config/algorithms/builtin_rules.h"
#include "common/config/config_checks.h"
#include "common/status_macros.h"

namespace gdaqd::common {
namespace {

using gdaqd::v1::ExperimentConfig;

using checks::CheckIntRange;
using checks::CheckRange;
using checks::FieldError;

absl::Status ValidateOptimiser(const gdaqd::v1::EsConfig& es) {
  GDAQD_RETURN_IF_ERROR(CheckRange("es.sigma", es.sigma(), 0, 10, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(
      CheckRange("es.learning_rate", es.learning_rate(), 0, 1, /*low_open=*/true));
  GDAQD_RETURN_IF_ERROR(CheckRange("es.l2_coefficient", es.l2_coefficient(), 0, 10));
  GDAQD_RETURN_IF_ERROR(CheckRange("es.adam_beta1", es.adam_beta1(), 0, 1, false, true));
  GDAQD_RETURN_IF_ERROR(CheckRange("es.adam_beta2", es.adam_beta2(), 0, 1, false, true));
  return CheckRange("es.adam_epsilon", es.adam_epsilon(), 0, 1, /*low_open=*/true);
}

absl::Status ValidateNovelty(const gdaqd::v1::EsConfig& es) {
  GDAQD_RETURN_IF_ERROR(CheckIntRange("es.novelty_k", es.novelty_k(), 1, 10'000));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("es.novelty_archive_size", es.novelty_archive_size(), 1,
                                      kMaxNoveltyArchiveSize));
  GDAQD_RETURN_IF_ERROR(CheckIntRange("es.meta_population", es.meta_population(), 1, 10'000));
  GDAQD_RETURN_IF_ERROR(CheckRange("es.nsra_initial_weight", es.nsra_initial_weight(), 0, 1));
  GDAQD_RETURN_IF_ERROR(
      CheckRange("es.nsra_weight_delta", es.nsra_weight_delta(), 0, 1, /*low_open=*/true));
  return CheckIntRange("es.nsra_stagnation", es.nsra_stagnation(), 1, 1'000'000);
}

absl::Status ValidateMeEs(const gdaqd::v1::EsConfig& es) {
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("es.me_es_steps_per_parent", es.me_es_steps_per_parent(), 1, 1'000'000));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("es.me_es_explore_pool", es.me_es_explore_pool(), 1, 100'000));
  GDAQD_RETURN_IF_ERROR(
      CheckIntRange("es.me_es_exploit_pool", es.me_es_exploit_pool(), 1, 100'000));
  return CheckIntRange("es.me_es_recent_cells", es.me_es_recent_cells(), 1, 100'000);
}

}  // namespace

bool IsEsAlgorithm(gdaqd::v1::Algorithm algorithm) {
  return algorithm == gdaqd::v1::ES || algorithm == gdaqd::v1::ME_ES ||
         IsNoveltyEsAlgorithm(algorithm);
}

bool IsNoveltyEsAlgorithm(gdaqd::v1::Algorithm algorithm) {
  return algorithm == gdaqd::v1::NS_ES || algorithm == gdaqd::v1::NSR_ES ||
         algorithm == gdaqd::v1::NSRA_ES;
}

void ApplyEsDefaults(ExperimentConfig* config) {
  auto* es = config->mutable_es();
  if (es->sigma() == 0) es->set_sigma(kDefaultEsSigma);
  if (es->learning_rate() == 0) es->set_learning_rate(kDefaultEsLearningRate);
  if (!es->has_l2_coefficient()) {
    es->set_l2_coefficient(config->algorithm() == gdaqd::v1::ME_ES ? kDefaultMeEsL2 : kDefaultEsL2);
  }
  if (es->adam_beta1() == 0) es->set_adam_beta1(kDefaultAdamBeta1);
  if (es->adam_beta2() == 0) es->set_adam_beta2(kDefaultAdamBeta2);
  if (es->adam_epsilon() == 0) es->set_adam_epsilon(kDefaultAdamEpsilon);
  if (es->novelty_k() == 0) es->set_novelty_k(kDefaultNoveltyK);
  if (es->novelty_archive_size() == 0) es->set_novelty_archive_size(kDefaultNoveltyArchiveSize);
  if (es->meta_population() == 0) es->set_meta_population(kDefaultMetaPopulation);
  if (!es->has_nsra_initial_weight()) es->set_nsra_initial_weight(kDefaultNsraInitialWeight);
  if (es->nsra_weight_delta() == 0) es->set_nsra_weight_delta(kDefaultNsraWeightDelta);
  if (es->nsra_stagnation() == 0) es->set_nsra_stagnation(kDefaultNsraStagnation);
  if (es->me_es_steps_per_parent() == 0) {
    es->set_me_es_steps_per_parent(kDefaultMeEsStepsPerParent);
  }
  if (es->me_es_explore_pool() == 0) es->set_me_es_explore_pool(kDefaultMeEsExplorePool);
  if (es->me_es_exploit_pool() == 0) es->set_me_es_exploit_pool(kDefaultMeEsExploitPool);
  if (es->me_es_recent_cells() == 0) es->set_me_es_recent_cells(kDefaultMeEsRecentCells);
  if (!es->has_evaluate_centre()) es->set_evaluate_centre(true);
  if (config->emitter().batch_size() == 0) {
    config->mutable_emitter()->set_batch_size(kDefaultEsBatchSize);
  }
  if (IsNoveltyEsAlgorithm(config->algorithm()) && config->initial_population() == 0) {
    config->set_initial_population(es->meta_population());
  }
}

absl::Status ValidateEs(const ExperimentConfig& config) {
  const gdaqd::v1::EsConfig& es = config.es();
  GDAQD_RETURN_IF_ERROR(ValidateOptimiser(es));
  GDAQD_RETURN_IF_ERROR(ValidateNovelty(es));
  GDAQD_RETURN_IF_ERROR(ValidateMeEs(es));
  // The search distribution perturbs the parameters of a deterministic network.
  if (config.policy().kind() == gdaqd::v1::PolicyConfig::TANH_GAUSSIAN) {
    return FieldError("policy.kind", absl::StrCat("TANH_GAUSSIAN is not supported by ",
                                                  AlgorithmName(config.algorithm()),
                                                  ", which evaluates deterministic policies"));
  }
  if (config.policy().num_skills() != 0) {
    return FieldError(
        "policy.num_skills",
        absl::StrCat("must be 0 for ", AlgorithmName(config.algorithm()), ", which has no skills"));
  }
  if (!es.evaluate_centre() && config.algorithm() != gdaqd::v1::ES) {
    return FieldError("es.evaluate_centre",
                      "must be true for NS_ES, NSR_ES, NSRA_ES and ME_ES (their novelty archive "
                      "and meta-population need each offspring's descriptor)");
  }
  const int min_batch = es.evaluate_centre() ? 3 : 2;
  if (config.emitter().batch_size() < min_batch) {
    return FieldError("emitter.batch_size",
                      absl::StrCat("must be at least ", min_batch,
                                   " for an ES generation (centre and one antithetic pair), got ",
                                   config.emitter().batch_size()));
  }
  if (IsNoveltyEsAlgorithm(config.algorithm()) &&
      config.initial_population() < es.meta_population()) {
    return FieldError("initial_population",
                      absl::StrCat("must be at least es.meta_population (", es.meta_population(),
                                   "), got ", config.initial_population()));
  }
  return absl::OkStatus();
}

namespace {

AlgorithmRules EsFamilyRules(gdaqd::v1::Algorithm id, const char* name, const char* label) {
  AlgorithmRules rules;
  rules.id = id;
  rules.name = name;
  rules.label = label;
  // Nothing is learned between batches (so PIPELINED is refused) and no transitions are kept.
  rules.apply_shared_defaults = &ApplyEsDefaults;
  rules.validate = &ValidateEs;
  return rules;
}

}  // namespace

AlgorithmRules EsRules() { return EsFamilyRules(gdaqd::v1::ES, "ES", "ES"); }
AlgorithmRules NsEsRules() { return EsFamilyRules(gdaqd::v1::NS_ES, "NS_ES", "NS-ES"); }
AlgorithmRules NsrEsRules() { return EsFamilyRules(gdaqd::v1::NSR_ES, "NSR_ES", "NSR-ES"); }
AlgorithmRules NsraEsRules() { return EsFamilyRules(gdaqd::v1::NSRA_ES, "NSRA_ES", "NSRA-ES"); }
AlgorithmRules MeEsRules() { return EsFamilyRules(gdaqd::v1::ME_ES, "ME_ES", "ME-ES"); }

}  // namespace gdaqd::common
