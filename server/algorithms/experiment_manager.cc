#include "server/algorithms/experiment_manager.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace gdaqd::server {
namespace {

constexpr char kIdPrefix[] = "exp-";
constexpr size_t kMaxIdDigits = 18;

}  // namespace

int64_t ParseExperimentId(const std::string& id) {
  if (!absl::StartsWith(id, kIdPrefix)) return 0;
  const std::string digits = id.substr(sizeof(kIdPrefix) - 1);
  if (digits.empty() || digits.size() > kMaxIdDigits || digits[0] == '0') return 0;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return 0;
  }
  int64_t number = 0;
  return absl::SimpleAtoi(digits, &number) ? number : 0;
}

ExperimentManager::~ExperimentManager() {
  Shutdown();
  absl::MutexLock lock(&mu_);
  experiments_.clear();  // joins runner threads
}

ExperimentOptions ExperimentManager::ExperimentOptionsFor() const {
  ExperimentOptions options;
  options.state_dir = options_.state_dir;
  options.checkpoint_interval = options_.checkpoint_interval;
  options.observer = options_.observer;
  return options;
}

absl::Status ExperimentManager::CheckServing() const {
  if (restoring_) return absl::UnavailableError("the coordinator is restoring its experiments");
  if (shut_down_) return absl::UnavailableError("the coordinator is shutting down");
  return absl::OkStatus();
}

absl::StatusOr<int> ExperimentManager::RestoreAll() {
  if (options_.state_dir == nullptr) return 0;
  absl::StatusOr<std::vector<int64_t>> numbers = options_.state_dir->ListExperiments();
  if (!numbers.ok()) return numbers.status();
  auto done = [this] {
    absl::MutexLock lock(&mu_);
    restoring_ = false;
  };
  int restored = 0;
  for (int64_t number : *numbers) {
    absl::StatusOr<storage::StateDir::LoadedCheckpoint> checkpoint =
        options_.state_dir->OpenNewestCheckpoint(number);
    absl::StatusOr<std::unique_ptr<Experiment>> experiment =
        checkpoint.ok()
            ? Experiment::Restore(number, *checkpoint, evaluator_, ExperimentOptionsFor())
            : absl::StatusOr<std::unique_ptr<Experiment>>(checkpoint.status());
    if (!experiment.ok()) {
      LOG(ERROR) << "experiment_not_restored id=" << ExperimentId(number)
                 << " error=" << experiment.status();
      continue;
    }
    const gdaqd::v1::ExperimentStatus status = (*experiment)->Status();
    LOG(INFO) << "experiment_restored id=" << status.id()
              << " state=" << gdaqd::v1::ExperimentState_Name(status.state())
              << " evaluations=" << status.progress().evaluations()
              << " damaged_checkpoints_skipped=" << checkpoint->damaged_skipped;
    std::shared_ptr<Experiment> shared = std::move(experiment).value();
    if (!IsFinalState(status.state()) && options_.state_dir->CancelRequested(number)) {
      LOG(WARNING) << "experiment_cancel_resumed id=" << status.id()
                   << " (cancelled before the restart; it ends CANCELLED)";
      shared->CancelAfterRestore();
    }
    // Restored experiments are never refused, but they count against the memory budget.
    absl::StatusOr<ResourceEstimate> estimate = EstimateExperimentResources(status.config());
    {
      absl::MutexLock lock(&mu_);
      experiments_[number] = shared;
      estimated_bytes_[number] = estimate.ok() ? estimate->total : 0;
    }
    shared->Start();
    ++restored;
  }
  done();
  return restored;
}

absl::StatusOr<int64_t> ExperimentManager::NextNumber() {
  if (options_.state_dir != nullptr) return options_.state_dir->ReserveNumber();
  return next_number_++;
}

int64_t ExperimentManager::CommittedBytes() const {
  int64_t total = 0;
  for (const auto& [number, experiment] : experiments_) {
    auto it = estimated_bytes_.find(number);
    if (it != estimated_bytes_.end() && !experiment->finished()) total += it->second;
  }
  return total;
}

absl::StatusOr<std::string> ExperimentManager::Submit(gdaqd::v1::ExperimentConfig config,
                                                      std::string submitted_by) {
  common::ApplyDefaults(&config);
  if (absl::Status status = common::ValidateExperimentConfig(config); !status.ok()) {
    return status;
  }
  GDAQD_ASSIGN_OR_RETURN(const ResourceEstimate estimate, EstimateExperimentResources(config));
  absl::MutexLock lock(&mu_);
  GDAQD_RETURN_IF_ERROR(CheckServing());
  // Checked and recorded under one lock, so two submits cannot both take the last of the budget.
  AdmissionLimits limits = options_.admission;
  limits.committed_bytes = CommittedBytes();
  GDAQD_RETURN_IF_ERROR(CheckAdmission(estimate, limits));
  absl::StatusOr<int64_t> number = NextNumber();
  if (!number.ok()) return number.status();
  absl::StatusOr<std::unique_ptr<Experiment>> created = Experiment::Create(
      *number, std::move(config), evaluator_, ExperimentOptionsFor(), std::move(submitted_by));
  if (!created.ok()) {
    if (options_.state_dir != nullptr) (void)options_.state_dir->DeleteExperiment(*number);
    return absl::UnavailableError(
        absl::StrCat("cannot store the experiment: ", created.status().message()));
  }
  std::shared_ptr<Experiment> experiment = std::move(created).value();
  experiments_[*number] = experiment;
  estimated_bytes_[*number] = estimate.total;
  experiment->Start();
  LOG(INFO) << "experiment_submitted id=" << experiment->id()
            << " estimated_bytes=" << estimate.total;
  return experiment->id();
}

absl::StatusOr<std::shared_ptr<Experiment>> ExperimentManager::Get(const std::string& id) const {
  const int64_t number = ParseExperimentId(id);
  if (number > 0) {
    absl::MutexLock lock(&mu_);
    if (restoring_) return CheckServing();
    auto it = experiments_.find(number);
    if (it != experiments_.end()) return it->second;
  }
  return absl::NotFoundError(absl::StrCat("no experiment '", absl::CHexEscape(id.substr(0, 64)),
                                          id.size() > 64 ? "...'" : "'"));
}

std::vector<std::shared_ptr<Experiment>> ExperimentManager::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Experiment>> out;
  for (const auto& [number, experiment] : experiments_) out.push_back(experiment);
  return out;
}

absl::StatusOr<ExperimentPage> ExperimentManager::ListPage(int page_size,
                                                           const std::string& page_token) const {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: must be in [0, ", kMaxPageSize, "], got ", page_size));
  }
  if (page_size == 0) page_size = kDefaultPageSize;
  int64_t first = 1;
  if (!page_token.empty() && (first = ParseExperimentId(page_token)) == 0) {
    return absl::InvalidArgumentError("page_token: not a token from ListExperiments");
  }
  ExperimentPage page;
  absl::MutexLock lock(&mu_);
  if (restoring_) return CheckServing();
  for (auto it = experiments_.lower_bound(first); it != experiments_.end(); ++it) {
    if (static_cast<int>(page.experiments.size()) == page_size) {
      page.next_page_token = ExperimentId(it->first);
      break;
    }
    page.experiments.push_back(it->second);
  }
  return page;
}

absl::Status ExperimentManager::Delete(const std::string& id) {
  const int64_t number = ParseExperimentId(id);
  std::shared_ptr<Experiment> experiment;
  {
    absl::MutexLock lock(&mu_);
    if (restoring_) return CheckServing();
    auto it = experiments_.find(number);
    if (number == 0 || it == experiments_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no experiment '", absl::CHexEscape(id.substr(0, 64)), "'"));
    }
    if (!it->second->finished()) {
      return absl::FailedPreconditionError(
          absl::StrCat(id, " is ", gdaqd::v1::ExperimentState_Name(it->second->Status().state()),
                       "; cancel it before deleting it"));
    }
    experiment = it->second;
    experiments_.erase(it);
    estimated_bytes_.erase(number);
  }
  experiment->Join();
  if (options_.state_dir != nullptr) {
    if (absl::Status status = options_.state_dir->DeleteExperiment(number); !status.ok()) {
      LOG(ERROR) << "delete_failed id=" << id << " error=" << status;
      return status;
    }
  }
  LOG(INFO) << "experiment_deleted id=" << id;
  return absl::OkStatus();
}

void ExperimentManager::Shutdown() {
  std::vector<std::shared_ptr<Experiment>> experiments;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (const auto& [number, experiment] : experiments_) experiments.push_back(experiment);
  }
  for (const auto& experiment : experiments) experiment->Interrupt();
  for (const auto& experiment : experiments) experiment->Join();
}

}  // namespace gdaqd::server
