// A zero-physics worker for coordinator benchmarks (bench/coordinator_capacity.cc): one real
// WorkerService.Connect stream whose every episode is answered the moment its assignment arrives,
// so that the coordinator, not the simulation, is what limits the rate.
#ifndef GDAQD_BENCH_FAKE_WORKER_H_
#define GDAQD_BENCH_FAKE_WORKER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/task.h"
#include "common/thread.h"
#include "gdaqd/v1/coordinator.grpc.pb.h"

namespace gdaqd::bench {

// One fake worker: it says hello like gdaqd-worker (same version string, `threads` as given),
// then, on its own reader thread, answers each episode of each assignment at once with a
// plausible result:
//   - descriptor uniform inside the task's descriptor box,
//   - fitness uniform in [-reward_offset x length, 0] (the bounds a task's rewards allow),
//   - length = the assignment's episode_length, not terminated, not diverged,
//   - when the assignment has record_transitions, `length` rows of common::TransitionRowSize()
//     floats (obs and actions in [-1, 1], rewards in [-reward_offset, 0], the last row truncated),
//     split into messages below 1 MiB by worker::SplitEpisodeResult(), exactly as gdaqd-worker
//     sends them.
// Results are written in assignment order on the reader thread, one message per Write(), as
// gdaqd-worker's writer does.
//
// Thread-safe: the counters may be read from any thread while the worker runs. Stop() (or the
// destructor) must not run concurrently with itself.
class FakeWorker {
 public:
  struct Options {
    std::string address;    // "127.0.0.1:<port>" of the coordinator
    std::string worker_id;  // unique per coordinator
    int threads = 8;        // declared in the hello: the coordinator keeps ~4 x this in flight
    uint64_t seed = 0;      // of the random descriptors and fitnesses
  };

  // Opens the stream and sends the hello. Unavailable if the hello cannot be written (the
  // coordinator is not reachable within 10 s).
  static absl::StatusOr<std::unique_ptr<FakeWorker>> Start(const Options& options);
  ~FakeWorker();  // Stop()

  // Cancels the stream and joins the reader thread. Idempotent.
  void Stop();

  // Episodes answered so far (their last chunk was written).
  int64_t answered() const { return answered_.load(std::memory_order_relaxed); }
  // Result messages written so far (chunks included).
  int64_t messages() const { return messages_.load(std::memory_order_relaxed); }
  // Assignments received so far.
  int64_t assignments() const { return assignments_.load(std::memory_order_relaxed); }
  // OK while the stream runs; the reason it ended otherwise (after Stop(): its Finish() status,
  // CANCELLED when Stop() ended it).
  absl::Status status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The messages of one episode's answer for one kind of assignment, reused for every episode:
  // only lease_id, index, fitness and the descriptor change between episodes.
  struct Answer {
    common::TaskSpec spec;
    std::vector<gdaqd::v1::WorkerMessage> chunks;  // last one carries the outcome
  };

  explicit FakeWorker(Options options);

  void ReadLoop();
  // Writes every episode's answer; false once the stream is broken.
  bool AnswerAssignment(const gdaqd::v1::Assignment& assignment);
  // The cached answer for the assignment's (task, episode_length, record_transitions).
  absl::StatusOr<Answer*> AnswerFor(const gdaqd::v1::Assignment& assignment);
  void SetStatus(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  std::unique_ptr<gdaqd::v1::WorkerService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<gdaqd::v1::WorkerMessage, gdaqd::v1::CoordinatorMessage>>
      stream_;
  // Touched only by the reader thread.
  absl::flat_hash_map<std::string, std::unique_ptr<Answer>> answers_;
  std::mt19937_64 rng_;

  std::atomic<int64_t> answered_{0};
  std::atomic<int64_t> messages_{0};
  std::atomic<int64_t> assignments_{0};
  mutable absl::Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool stopped_ = false;                    // Stop() ran; touched only by the owner
  std::unique_ptr<common::Thread> reader_;  // last: started after every member exists
};

}  // namespace gdaqd::bench

#endif  // GDAQD_BENCH_FAKE_WORKER_H_
