// The built-in algorithms' config rules, one function per algorithm file, gathered into the table
// that seeds the registry (common/config/algorithm_rules.h). Thread-safe (pure functions).
#ifndef GDAQD_COMMON_CONFIG_ALGORITHMS_BUILTIN_RULES_H_
#define GDAQD_COMMON_CONFIG_ALGORITHMS_BUILTIN_RULES_H_

#include <vector>

#include "common/config/algorithm_rules.h"

namespace gdaqd::common {

AlgorithmRules MapElitesRules();  // builtin_rules.cc: nothing of its own to default or check
AlgorithmRules PgaMeRules();      // pga_rules.cc
AlgorithmRules DaQdExtRules();    // model_rules.cc
AlgorithmRules GdaQdRules();      // model_rules.cc
AlgorithmRules EsRules();         // es_rules.cc, as are the four below
AlgorithmRules NsEsRules();
AlgorithmRules NsrEsRules();
AlgorithmRules NsraEsRules();
AlgorithmRules MeEsRules();
// rl_rules.cc, as are the three below.
AlgorithmRules Td3Rules();
AlgorithmRules SacRules();
AlgorithmRules DiaynRules();
AlgorithmRules SmerlRules();

// Every built-in algorithm, one line each.
std::vector<AlgorithmRules> BuiltinAlgorithmRules();

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_CONFIG_ALGORITHMS_BUILTIN_RULES_H_
