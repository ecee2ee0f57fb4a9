#include "server/algorithms/registry.h"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/config/algorithms/builtin_rules.h"
#include "common/logging.h"
#include "server/algorithms/es/es_algorithm.h"
#include "server/algorithms/map_elites.h"
#include "server/algorithms/model_based_qd.h"
#include "server/algorithms/pga_me.h"
#include "server/algorithms/rl/rl_algorithm.h"

namespace gdaqd::server {
namespace {

// A concrete algorithm's Create(), upcast.
template <typename T>
absl::StatusOr<std::unique_ptr<QdAlgorithm>> Make(const gdaqd::v1::ExperimentConfig& config,
                                                  const CancelFlag* interrupt) {
  absl::StatusOr<std::unique_ptr<T>> made = T::Create(config, interrupt);
  if (!made.ok()) return made.status();
  return std::unique_ptr<QdAlgorithm>(std::move(made).value());
}

// The built-in factories, one line per algorithm (their config rules:
// common/config/algorithms/builtin_rules.cc).
const std::pair<gdaqd::v1::Algorithm, AlgorithmFactory> kBuiltinFactories[] = {
    {gdaqd::v1::MAP_ELITES, &Make<MapElites>},   {gdaqd::v1::PGA_ME, &Make<PgaMe>},
    {gdaqd::v1::DA_QD_EXT, &Make<ModelBasedQd>}, {gdaqd::v1::GDA_QD, &Make<ModelBasedQd>},
    {gdaqd::v1::ES, &Make<es::EsAlgorithm>},     {gdaqd::v1::NS_ES, &Make<es::EsAlgorithm>},
    {gdaqd::v1::NSR_ES, &Make<es::EsAlgorithm>}, {gdaqd::v1::NSRA_ES, &Make<es::EsAlgorithm>},
    {gdaqd::v1::ME_ES, &Make<es::EsAlgorithm>},  {gdaqd::v1::TD3, &Make<rl::RlAlgorithm>},
    {gdaqd::v1::SAC, &Make<rl::RlAlgorithm>},    {gdaqd::v1::DIAYN, &Make<rl::RlAlgorithm>},
    {gdaqd::v1::SMERL, &Make<rl::RlAlgorithm>},
};

class FactoryTable {
 public:
  FactoryTable() {
    for (const auto& [id, factory] : kBuiltinFactories) factories_.emplace(id, factory);
  }

  AlgorithmFactory Find(gdaqd::v1::Algorithm id) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    const auto it = factories_.find(id);
    return it == factories_.end() ? nullptr : it->second;
  }

  // Under the lock, so two registrations of one id cannot both pass the factory check.
  absl::Status Add(common::AlgorithmRules rules, AlgorithmFactory factory)
      ABSL_LOCKS_EXCLUDED(mu_) {
    if (factory == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("algorithm ", rules.name, " needs a factory, got null"));
    }
    absl::MutexLock lock(&mu_);
    const gdaqd::v1::Algorithm id = rules.id;
    if (factories_.contains(id)) {
      return absl::AlreadyExistsError(absl::StrCat("algorithm id ", static_cast<int>(id),
                                                   " already has a factory (",
                                                   common::AlgorithmName(id), ")"));
    }
    if (absl::Status added = common::RegisterAlgorithmRules(std::move(rules)); !added.ok()) {
      return added;
    }
    factories_.emplace(id, factory);
    return absl::OkStatus();
  }

  // The ids with a factory, sorted.
  std::vector<gdaqd::v1::Algorithm> Ids() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    std::vector<gdaqd::v1::Algorithm> ids;
    for (const auto& [id, factory] : factories_) ids.push_back(id);
    return ids;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<gdaqd::v1::Algorithm, AlgorithmFactory> factories_ ABSL_GUARDED_BY(mu_);
};

// Internal naming the ids in one table and not the other.
absl::Status CheckTables(const FactoryTable& factories) {
  std::vector<std::string> without_factory, without_rules;
  for (const common::AlgorithmRules* rules : common::AllAlgorithmRules()) {
    if (factories.Find(rules->id) == nullptr) without_factory.push_back(rules->name);
  }
  for (const gdaqd::v1::Algorithm id : factories.Ids()) {
    if (common::FindAlgorithmRules(id) == nullptr) {
      without_rules.push_back(common::AlgorithmName(id));
    }
  }
  if (without_factory.empty() && without_rules.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(
      "algorithm registry: config rules without a factory: [", absl::StrJoin(without_factory, ", "),
      "]; factories without config rules: [", absl::StrJoin(without_rules, ", "), "]"));
}

// True if the built-in factories and the built-in rules name the same ids. Only the built-ins:
// rules registered at runtime before this table's first use may still be waiting for their
// factory (CheckAlgorithmRegistry reports those).
bool BuiltinsAgree() {
  std::set<gdaqd::v1::Algorithm> rules, factories;
  for (const common::AlgorithmRules& r : common::BuiltinAlgorithmRules()) rules.insert(r.id);
  for (const auto& [id, factory] : kBuiltinFactories) factories.insert(id);
  return rules == factories;
}

FactoryTable& Table() {
  static FactoryTable* const table = [] {
    // The built-in tables disagree: a programming error in builtin_rules.cc or registry.cc.
    CHECK(BuiltinsAgree()) << "builtin_rules.cc and registry.cc list different algorithms";
    return new FactoryTable();  // never destroyed: used until exit
  }();
  return *table;
}

}  // namespace

AlgorithmFactory FindAlgorithmFactory(gdaqd::v1::Algorithm id) { return Table().Find(id); }

absl::Status RegisterAlgorithm(common::AlgorithmRules rules, AlgorithmFactory factory) {
  return Table().Add(std::move(rules), factory);
}

absl::Status CheckAlgorithmRegistry() { return CheckTables(Table()); }

}  // namespace gdaqd::server
