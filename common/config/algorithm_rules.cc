#include "common/config/algorithm_rules.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/config/algorithms/builtin_rules.h"

namespace gdaqd::common {
namespace {

// The process-wide table. Entries are heap-allocated and never freed, so pointers handed out stay
// valid while other threads register more.
class RulesTable {
 public:
  RulesTable() {
    for (AlgorithmRules& rules : BuiltinAlgorithmRules()) {
      absl::Status added = Add(std::move(rules));
      // Two built-ins with one id or name is a programming error in builtin_rules.cc.
      if (!added.ok()) std::abort();
    }
  }

  absl::Status Add(AlgorithmRules rules) ABSL_LOCKS_EXCLUDED(mu_) {
    if (rules.id <= gdaqd::v1::ALGORITHM_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          absl::StrCat("algorithm id must be > 0, got ", static_cast<int>(rules.id)));
    }
    if (rules.name.empty() || rules.label.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("algorithm ", static_cast<int>(rules.id), " needs a name and a label"));
    }
    absl::MutexLock lock(&mu_);
    if (const auto it = by_id_.find(rules.id); it != by_id_.end()) {
      return absl::AlreadyExistsError(absl::StrCat("algorithm id ", static_cast<int>(rules.id),
                                                   " is already registered as ", it->second->name));
    }
    for (const auto& [id, other] : by_id_) {
      if (other->name == rules.name) {
        return absl::AlreadyExistsError(absl::StrCat("algorithm name ", rules.name,
                                                     " is already registered with id ",
                                                     static_cast<int>(id)));
      }
    }
    const gdaqd::v1::Algorithm id = rules.id;
    by_id_.emplace(id, std::make_unique<const AlgorithmRules>(std::move(rules)));
    return absl::OkStatus();
  }

  const AlgorithmRules* Find(gdaqd::v1::Algorithm id) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    const auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second.get();
  }

  std::vector<const AlgorithmRules*> All() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    std::vector<const AlgorithmRules*> all;
    all.reserve(by_id_.size());
    for (const auto& [id, rules] : by_id_) all.push_back(rules.get());
    return all;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<gdaqd::v1::Algorithm, std::unique_ptr<const AlgorithmRules>> by_id_ ABSL_GUARDED_BY(mu_);
};

RulesTable& Table() {
  static RulesTable* const table = new RulesTable();  // never destroyed: used until exit
  return *table;
}

}  // namespace

const AlgorithmRules* FindAlgorithmRules(gdaqd::v1::Algorithm id) { return Table().Find(id); }

std::vector<const AlgorithmRules*> AllAlgorithmRules() { return Table().All(); }

absl::Status RegisterAlgorithmRules(AlgorithmRules rules) { return Table().Add(std::move(rules)); }

std::string AlgorithmName(gdaqd::v1::Algorithm id) {
  if (const AlgorithmRules* rules = FindAlgorithmRules(id)) return rules->name;
  const std::string& name = gdaqd::v1::Algorithm_Name(id);
  return name.empty() ? absl::StrCat(static_cast<int>(id)) : name;
}

absl::Status UnknownAlgorithmError(gdaqd::v1::Algorithm id) {
  const std::vector<const AlgorithmRules*> all = AllAlgorithmRules();
  std::string names;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0) absl::StrAppend(&names, i + 1 == all.size() ? " or " : ", ");
    absl::StrAppend(&names, all[i]->name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("algorithm: ", AlgorithmName(id), " is not an algorithm (use ", names, ")"));
}

}  // namespace gdaqd::common
