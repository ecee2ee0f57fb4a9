// The coordinator's experiment registry: accepts configs, runs each experiment on its own
// thread against the shared evaluator (so experiments share the workers), looks them up, and —
// with a state directory — restores them after a restart (docs/durability.md).
#ifndef GDAQD_SERVER_ALGORITHMS_EXPERIMENT_MANAGER_H_
#define GDAQD_SERVER_ALGORITHMS_EXPERIMENT_MANAGER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gdaqd/v1/config.pb.h"
#include "server/algorithms/experiment.h"
#include "server/algorithms/experiment_observer.h"
#include "server/algorithms/resource_estimate.h"
#include "server/scheduler/evaluator.h"
#include "server/storage/state_dir.h"

namespace gdaqd::server {

struct ExperimentManagerOptions {
  // Null: experiments live in memory only and ids restart at exp-1 (unit tests).
  storage::StateDir* state_dir = nullptr;  // must outlive the manager
  absl::Duration checkpoint_interval = absl::Seconds(60);
  // Admission control at submit (committed_bytes is ignored: the manager sums the estimates of
  // the experiments that hold their state, i.e. every unfinished one).
  AdmissionLimits admission;
  // Given to every experiment (ExperimentOptions::observer); null: none. Must outlive the manager.
  ExperimentObserver* observer = nullptr;
};

// One page of ListExperiments.
struct ExperimentPage {
  std::vector<std::shared_ptr<Experiment>> experiments;  // ascending id
  std::string next_page_token;                           // empty on the last page
};

// Thread-safe. Experiments live until deleted or the manager is destroyed.
class ExperimentManager {
 public:
  static constexpr int kDefaultPageSize = 100;
  static constexpr int kMaxPageSize = 1000;

  // `evaluator` must outlive the manager.
  explicit ExperimentManager(Evaluator* evaluator, ExperimentManagerOptions options = {})
      : evaluator_(evaluator), options_(options), restoring_(options.state_dir != nullptr) {}
  ~ExperimentManager();  // Shutdown()

  // Restores every experiment of the state directory: final ones are listed, the others resume
  // where their newest valid checkpoint left them. An experiment without any valid checkpoint is
  // logged at ERROR and skipped (its files stay for inspection). Returns the number restored;
  // errno codes if the directory cannot be listed. Call once. Until it returns, every other
  // method that takes an id or a config answers Unavailable ("restoring").
  absl::StatusOr<int> RestoreAll() ABSL_LOCKS_EXCLUDED(mu_);

  // Applies defaults, validates (InvalidArgument naming the field), estimates what the
  // experiment will hold and refuses it (ResourceExhausted naming the limit and the estimate)
  // beyond --max_experiment_bytes, the remaining --memory_budget or the message limit, writes
  // the experiment's first checkpoint, starts it and returns its id ("exp-<n>", never reused).
  // `submitted_by` (the caller's token name; empty without tokens) is recorded in its status.
  absl::StatusOr<std::string> Submit(gdaqd::v1::ExperimentConfig config,
                                     std::string submitted_by = "") ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound for an unknown or malformed id ("exp-1 " is malformed).
  absl::StatusOr<std::shared_ptr<Experiment>> Get(const std::string& id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Every experiment, ascending id.
  std::vector<std::shared_ptr<Experiment>> List() const ABSL_LOCKS_EXCLUDED(mu_);
  // A page: page_size 0 means kDefaultPageSize. InvalidArgument for a page_size outside
  // [0, kMaxPageSize] or a token that this server did not make.
  absl::StatusOr<ExperimentPage> ListPage(int page_size, const std::string& page_token) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Removes a finished experiment and its state. NotFound for an unknown id; FailedPrecondition
  // if it is not SUCCEEDED, FAILED or CANCELLED (cancel it first).
  absl::Status Delete(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  // Interrupts every run (each checkpoints where it stands) and waits for their threads. The
  // experiments keep their states, to resume on the next start. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::StatusOr<int64_t> NextNumber() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unavailable while restoring or shut down.
  absl::Status CheckServing() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sum of the estimates of the unfinished experiments.
  int64_t CommittedBytes() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ExperimentOptions ExperimentOptionsFor() const;

  Evaluator* const evaluator_;
  const ExperimentManagerOptions options_;
  mutable absl::Mutex mu_;
  std::map<int64_t, std::shared_ptr<Experiment>> experiments_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, int64_t> estimated_bytes_ ABSL_GUARDED_BY(mu_);  // per experiment number
  int64_t next_number_ ABSL_GUARDED_BY(mu_) = 1;                     // without a state directory
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  bool restoring_ ABSL_GUARDED_BY(mu_);
};

// The number in "exp-<number>", or nullopt-like 0 for anything else (strict: digits only).
int64_t ParseExperimentId(const std::string& id);

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_EXPERIMENT_MANAGER_H_
