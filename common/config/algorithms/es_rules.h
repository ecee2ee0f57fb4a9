// Defaults and validation of the evolution-strategy baselines (algorithms ES, NS_ES, NSR_ES,
// NSRA_ES and ME_ES): the `es` block of ExperimentConfig and what these algorithms need of the
// shared blocks (emitter.batch_size is the generation size, initial_population the first batch).
// Their registry entries (EsRules() ... MeEsRules()) are declared in builtin_rules.h.
// Stateless free functions; thread-safe.
#ifndef GDAQD_COMMON_CONFIG_ALGORITHMS_ES_RULES_H_
#define GDAQD_COMMON_CONFIG_ALGORITHMS_ES_RULES_H_

#include "absl/status/status.h"
#include "gdaqd/v1/config.pb.h"

namespace gdaqd::common {

// Defaults of EsConfig (proto/gdaqd/v1/config.proto says where each comes from).
inline constexpr float kDefaultEsSigma = 0.02f;
inline constexpr float kDefaultEsLearningRate = 0.01f;
inline constexpr float kDefaultEsL2 = 0.0f;     // ES and NS-* ([M] es.yaml, ns_es.yaml)
inline constexpr float kDefaultMeEsL2 = 0.02f;  // ME_ES ([Q2] MEESConfig)
inline constexpr float kDefaultAdamBeta1 = 0.9f;
inline constexpr float kDefaultAdamBeta2 = 0.999f;
inline constexpr float kDefaultAdamEpsilon = 1e-8f;
inline constexpr int kDefaultNoveltyK = 10;
inline constexpr int kDefaultNoveltyArchiveSize = 100'000;
inline constexpr int kDefaultMetaPopulation = 5;
inline constexpr float kDefaultNsraInitialWeight = 1.0f;
inline constexpr float kDefaultNsraWeightDelta = 0.05f;
inline constexpr int kDefaultNsraStagnation = 10;
inline constexpr int kDefaultMeEsStepsPerParent = 10;
inline constexpr int kDefaultMeEsExplorePool = 5;
inline constexpr int kDefaultMeEsExploitPool = 2;
inline constexpr int kDefaultMeEsRecentCells = 5;
// One generation: the centre (or offspring) plus 256 antithetic pairs ([M]'s 512 samples).
inline constexpr int kDefaultEsBatchSize = 513;
inline constexpr int kMaxNoveltyArchiveSize = 10'000'000;

// True for ES, NS_ES, NSR_ES, NSRA_ES and ME_ES.
bool IsEsAlgorithm(gdaqd::v1::Algorithm algorithm);
// True for NS_ES, NSR_ES and NSRA_ES (the meta-population methods).
bool IsNoveltyEsAlgorithm(gdaqd::v1::Algorithm algorithm);

// Fills unset (zero) es.* fields, and for these algorithms emitter.batch_size (513) and, for
// NS-*, initial_population (es.meta_population). Must run before the generic emitter defaults
// (it is the rules' apply_shared_defaults hook). Precondition: IsEsAlgorithm(config->algorithm()).
void ApplyEsDefaults(gdaqd::v1::ExperimentConfig* config);

// InvalidArgument naming the field ("es.sigma: must be in (0, 10], got 0") when an es.* value or
// what these algorithms need of the shared blocks is out of range: a generation needs the centre
// and one pair (emitter.batch_size >= 3, or >= 2 with es.evaluate_centre false for ES); NS-* and
// ME_ES always evaluate their offspring; NS-* needs initial_population >= es.meta_population.
// (PIPELINED is refused by the generic checks: these rules say nothing is learned.) Expects
// defaults applied.
absl::Status ValidateEs(const gdaqd::v1::ExperimentConfig& config);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_CONFIG_ALGORITHMS_ES_RULES_H_
