// One experiment: its config, the algorithm that runs it on a thread of its own, its progress
// history, and listeners that are told after every iteration (WatchExperiment streams).
#ifndef GDAQD_SERVER_ALGORITHMS_EXPERIMENT_H_
#define GDAQD_SERVER_ALGORITHMS_EXPERIMENT_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/thread.h"
#include "gdaqd/v1/coordinator.pb.h"
#include "server/algorithms/algorithm.h"
#include "server/archive/archive_interface.h"
#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

// True for SUCCEEDED, FAILED and CANCELLED: the experiment will not change any more.
bool IsFinalState(gdaqd::v1::ExperimentState state);

// A consistent copy of an experiment's results, taken under its lock.
struct ExperimentExport {
  gdaqd::v1::ExperimentStatus status;
  std::vector<gdaqd::v1::ProgressSnapshot> history;
  std::unique_ptr<ArchiveInterface> archive;  // null until the archive exists
  std::vector<int> cells_per_dim;             // grid archives; empty for CVT
};

// Thread-safe. The runner thread is the only writer of the algorithm state; readers copy under
// the locks below. The destructor cancels the run and joins the thread.
class Experiment {
 public:
  // `config` must be validated with defaults applied. `evaluator` must outlive this object.
  Experiment(std::string id, gdaqd::v1::ExperimentConfig config, Evaluator* evaluator);
  ~Experiment();
  Experiment(const Experiment&) = delete;
  Experiment& operator=(const Experiment&) = delete;

  // Starts the runner thread. Call once.
  void Start();
  // Asks the run to stop after the current evaluation returns; state becomes CANCELLED.
  // No-op on a finished experiment.
  void Cancel();

  const std::string& id() const { return id_; }
  // Never waits for a Tell() in progress.
  gdaqd::v1::ExperimentStatus Status() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits for a Tell() in progress (the archive must not change while it is copied).
  ExperimentExport Export() const ABSL_LOCKS_EXCLUDED(archive_mu_, mu_);
  bool finished() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until the experiment is finished or `timeout` passes; returns finished().
  bool WaitFinished(absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);

  // `listener` is called (on the runner thread, without mu_ held) after each iteration and on
  // every state change. It must not call Add/RemoveListener. Returns an id for RemoveListener.
  int64_t AddListener(std::function<void()> listener) ABSL_LOCKS_EXCLUDED(listeners_mu_);
  // After this returns the listener is not running and will not be called again.
  void RemoveListener(int64_t id) ABSL_LOCKS_EXCLUDED(listeners_mu_);

 private:
  void Run();
  // Returns the final state and, for FAILED, the error.
  absl::Status RunLoop();
  void SetState(gdaqd::v1::ExperimentState state, std::string error) ABSL_LOCKS_EXCLUDED(mu_);
  void Notify() ABSL_LOCKS_EXCLUDED(listeners_mu_);

  const std::string id_;
  const gdaqd::v1::ExperimentConfig config_;
  Evaluator* const evaluator_;
  CancelFlag cancel_{false};

  // Two locks, so status queries never wait for learning: Tell() (archive insertion, and the
  // model and critic training of the learning algorithms, seconds to a minute) holds only
  // archive_mu_; status and history are behind mu_. Lock order: archive_mu_ before mu_.
  mutable absl::Mutex archive_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::unique_ptr<QdAlgorithm> algorithm_ ABSL_GUARDED_BY(archive_mu_);
  mutable absl::Mutex mu_;
  gdaqd::v1::ExperimentStatus status_ ABSL_GUARDED_BY(mu_);
  std::vector<gdaqd::v1::ProgressSnapshot> history_ ABSL_GUARDED_BY(mu_);

  absl::Mutex listeners_mu_;
  std::map<int64_t, std::function<void()>> listeners_ ABSL_GUARDED_BY(listeners_mu_);
  int64_t next_listener_ ABSL_GUARDED_BY(listeners_mu_) = 0;

  std::unique_ptr<common::Thread> runner_;  // last member: joined first
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_EXPERIMENT_H_
