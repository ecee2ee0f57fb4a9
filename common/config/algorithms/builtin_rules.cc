#include "common/config/algorithms/builtin_rules.h"

namespace gdaqd::common {

AlgorithmRules MapElitesRules() {
  AlgorithmRules rules;
  rules.id = gdaqd::v1::MAP_ELITES;
  rules.name = "MAP_ELITES";
  rules.label = "MAP-Elites";
  return rules;  // learns nothing, records no transitions, owns no config section
}

std::vector<AlgorithmRules> BuiltinAlgorithmRules() {
  return {
      MapElitesRules(), PgaMeRules(), DaQdExtRules(), GdaQdRules(), EsRules(),
      NsEsRules(),      NsrEsRules(), NsraEsRules(),  MeEsRules(),  Td3Rules(),
      SacRules(),       DiaynRules(), SmerlRules(),
  };
}

}  // namespace gdaqd::common
