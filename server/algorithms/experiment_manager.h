// The coordinator's experiment registry: accepts configs, runs each experiment on its own
// thread against the shared evaluator (so experiments share the workers), and looks them up.
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
#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

// Thread-safe. Experiments live until the manager is destroyed (finished ones stay queryable).
class ExperimentManager {
 public:
  // `evaluator` must outlive the manager.
  explicit ExperimentManager(Evaluator* evaluator) : evaluator_(evaluator) {}
  ~ExperimentManager();  // cancels and joins every experiment

  // Applies defaults, validates (InvalidArgument naming the field), starts the experiment and
  // returns its id ("exp-1", "exp-2", ...).
  absl::StatusOr<std::string> Submit(gdaqd::v1::ExperimentConfig config) ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound for an unknown id.
  absl::StatusOr<std::shared_ptr<Experiment>> Get(const std::string& id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::shared_ptr<Experiment>> List() const ABSL_LOCKS_EXCLUDED(mu_);
  // Cancels every running experiment (shutdown).
  void CancelAll() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Evaluator* const evaluator_;
  mutable absl::Mutex mu_;
  std::map<int64_t, std::shared_ptr<Experiment>> experiments_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_EXPERIMENT_MANAGER_H_
