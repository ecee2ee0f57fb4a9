#include "server/algorithms/experiment_manager.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/logging.h"

namespace gdaqd::server {

constexpr char kIdPrefix[] = "exp-";

ExperimentManager::~ExperimentManager() {
  CancelAll();
  absl::MutexLock lock(&mu_);
  experiments_.clear();  // joins runner threads
}

absl::StatusOr<std::string> ExperimentManager::Submit(gdaqd::v1::ExperimentConfig config) {
  common::ApplyDefaults(&config);
  if (absl::Status status = common::ValidateExperimentConfig(config); !status.ok()) {
    return status;
  }
  absl::MutexLock lock(&mu_);
  const int64_t number = next_id_++;
  std::string id = absl::StrCat(kIdPrefix, number);
  auto experiment = std::make_shared<Experiment>(id, std::move(config), evaluator_);
  experiments_[number] = experiment;
  experiment->Start();
  LOG(INFO) << "experiment_submitted id=" << id;
  return id;
}

absl::StatusOr<std::shared_ptr<Experiment>> ExperimentManager::Get(const std::string& id) const {
  int64_t number = 0;
  if (absl::StartsWith(id, kIdPrefix) &&
      absl::SimpleAtoi(id.substr(sizeof(kIdPrefix) - 1), &number)) {
    absl::MutexLock lock(&mu_);
    auto it = experiments_.find(number);
    if (it != experiments_.end()) return it->second;
  }
  return absl::NotFoundError(absl::StrCat("no experiment '", id, "'"));
}

std::vector<std::shared_ptr<Experiment>> ExperimentManager::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Experiment>> out;
  for (const auto& [number, experiment] : experiments_) out.push_back(experiment);
  return out;
}

void ExperimentManager::CancelAll() {
  absl::MutexLock lock(&mu_);
  for (const auto& [number, experiment] : experiments_) experiment->Cancel();
}

}  // namespace gdaqd::server
