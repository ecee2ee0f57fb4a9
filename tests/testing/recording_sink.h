// A WorkerSink for scheduler tests: records the assignments the scheduler sends to one worker.
#ifndef GDAQD_TESTS_TESTING_RECORDING_SINK_H_
#define GDAQD_TESTS_TESTING_RECORDING_SINK_H_

#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gdaqd/v1/coordinator.pb.h"
#include "server/scheduler/scheduler.h"

namespace gdaqd::testing {

// Thread-safe: the scheduler sends under its lock from any thread; the test takes.
class RecordingSink final : public server::WorkerSink {
 public:
  void Send(std::shared_ptr<const gdaqd::v1::CoordinatorMessage> message) override {
    absl::MutexLock lock(&mu_);
    assignments_.push_back(message->assignment());
  }
  // Every assignment recorded since the last Take.
  std::vector<gdaqd::v1::Assignment> Take() {
    absl::MutexLock lock(&mu_);
    return std::exchange(assignments_, {});
  }
  // Waits up to `timeout` for at least one assignment, then takes them all.
  std::vector<gdaqd::v1::Assignment> WaitAndTake(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto sent = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !assignments_.empty(); };
    mu_.AwaitWithTimeout(absl::Condition(&sent), timeout);
    return std::exchange(assignments_, {});
  }

 private:
  absl::Mutex mu_;
  std::vector<gdaqd::v1::Assignment> assignments_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gdaqd::testing

#endif  // GDAQD_TESTS_TESTING_RECORDING_SINK_H_
