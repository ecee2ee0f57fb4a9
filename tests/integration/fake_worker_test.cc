// Misbehaving workers against a real coordinator (in-process on 127.0.0.1:0) and a real
// gdaqd-worker process (docs/durability.md §5): fake workers are C++ clients that speak
// WorkerService.Connect directly and hang, over-claim threads, flood transition chunks, send
// forged results or never say hello; a real worker is SIGSTOPped while holding leases. Each
// experiment must still finish with exactly its budget and an archive that only honest results
// built.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/experiment_client.h"
#include "common/config/config.h"
#include "common/subprocess.h"
#include "common/task.h"
#include "common/thread.h"
#include "gdaqd/v1/coordinator.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/coordinator.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd {
namespace {

using server::ResultCheck;

constexpr absl::Duration kConnectTimeout = absl::Seconds(20);
constexpr absl::Duration kStreamEndTimeout = absl::Seconds(60);
constexpr int kEpisodeLength = 100;
constexpr int kRowFloats = 9;             // point_maze transition row
constexpr double kLeaseTimeoutS = 2;      // fake-worker experiments
constexpr double kStopLeaseTimeoutS = 3;  // the SIGSTOP experiment
// RSS growth allowed while a fake worker floods 15 MiB chunks: the flooder's own buffer and
// gRPC's copies of one or two messages, not the ~1 GiB an unbounded server staged.
constexpr int64_t kFloodRssBound = int64_t{256} << 20;

std::string FreshDir(const std::string& name) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/gdaqd_", name, "_", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Resident set size of this process (the coordinator runs in it), bytes.
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t total_pages = 0, resident_pages = 0;
  statm >> total_pages >> resident_pages;
  return resident_pages * sysconf(_SC_PAGESIZE);
}

// A small MAP-Elites point_maze experiment with short leases.
v1::ExperimentConfig SmallConfig(int64_t budget, double lease_timeout_s) {
  auto config = common::ParseExperimentConfig(
      absl::StrCat("name: \"faults\" seed: 5 initial_population: 100 "
                   "env { task: \"point_maze\" episode_length: ",
                   kEpisodeLength,
                   " } archive { cells_per_dim: [10, 10] } emitter { batch_size: 100 } "
                   "budget { max_evaluations: ",
                   budget, " } scheduler { lease_timeout_s: ", lease_timeout_s, " }"));
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// What a fake worker does once connected.
enum class Fault {
  kSilent,  // never sends its hello
  kHang,    // says hello, accepts leases, never answers
  kFlood,   // streams 15 MiB transition chunks without last_chunk
  kPoison,  // answers every episode with a forged result (cycling through the kinds below)
};

// One fake worker: a thread that runs a Connect stream with the synchronous API. Thread-safe.
class FakeWorker {
 public:
  FakeWorker(const std::string& address, std::string id, int threads, Fault fault)
      : id_(std::move(id)), threads_(threads), fault_(fault) {
    stub_ = v1::WorkerService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    thread_ = std::make_unique<common::Thread>("fake-" + id_, [this] { Run(); });
  }
  ~FakeWorker() {
    context_.TryCancel();
    thread_.reset();  // joins
  }

  // The status the stream ended with. DeadlineExceeded if it is still open after `timeout`.
  absl::StatusOr<grpc::Status> WaitForEnd(absl::Duration timeout) {
    if (!ended_.WaitForNotificationWithTimeout(timeout)) {
      return absl::DeadlineExceededError(absl::StrCat("stream of ", id_, " still open"));
    }
    return status_;
  }
  int64_t episodes_received() const { return episodes_.load(); }
  int64_t chunks_sent() const { return chunks_.load(); }

 private:
  void Run() {
    std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::CoordinatorMessage>> stream =
        stub_->Connect(&context_);
    if (fault_ != Fault::kSilent) {
      v1::WorkerMessage hello;
      hello.mutable_hello()->set_worker_id(id_);
      hello.mutable_hello()->set_threads(threads_);
      hello.mutable_hello()->set_version(GDAQD_VERSION);
      stream->Write(hello);
    }
    v1::CoordinatorMessage message;
    while (stream->Read(&message)) {
      const v1::Assignment& assignment = message.assignment();
      episodes_ += assignment.episodes_size();
      if (fault_ == Fault::kFlood) Flood(*stream, assignment);
      if (fault_ == Fault::kPoison) Poison(*stream, assignment);
    }
    status_ = stream->Finish();
    ended_.Notify();
  }

  // Chunks of 15 MiB for the lease's first episode, never the last one, until the server stops
  // reading (at most 64 of them, ~1 GiB).
  void Flood(grpc::ClientReaderWriter<v1::WorkerMessage, v1::CoordinatorMessage>& stream,
             const v1::Assignment& assignment) {
    v1::WorkerMessage chunk;
    v1::EpisodeResult* result = chunk.mutable_result();
    result->set_lease_id(assignment.lease_id());
    result->mutable_transitions()->assign(15 << 20, '\0');
    for (int i = 0; i < 64; ++i) {
      result->set_chunk(i);
      if (!stream.Write(chunk)) return;
      ++chunks_;
    }
  }

  // Forged results, cycling through: a descriptor far outside the box, fitness 1e30, a NaN
  // fitness on an episode not flagged diverged, transitions holding NaN, transitions holding
  // 3e38. The fake's transitions have the honest shape (length rows) when transitions were
  // requested, so that only their values are wrong.
  void Poison(grpc::ClientReaderWriter<v1::WorkerMessage, v1::CoordinatorMessage>& stream,
              const v1::Assignment& assignment) {
    for (const v1::Episode& episode : assignment.episodes()) {
      v1::WorkerMessage message;
      v1::EpisodeResult* result = message.mutable_result();
      result->set_lease_id(assignment.lease_id());
      result->set_index(episode.index());
      result->set_fitness(-10.0f);
      result->add_behavior_descriptor(0.5f);
      result->add_behavior_descriptor(0.5f);
      result->set_length(kEpisodeLength);
      result->set_last_chunk(true);
      std::vector<float> transitions(
          assignment.record_transitions() ? kEpisodeLength * kRowFloats : kRowFloats, 0.5f);
      switch (forged_++ % 5) {
        case 0:
          result->set_behavior_descriptor(0, 1e30f);
          result->set_behavior_descriptor(1, -1e30f);
          break;
        case 1:
          result->set_fitness(1e30f);
          break;
        case 2:
          result->set_fitness(std::numeric_limits<float>::quiet_NaN());
          break;
        case 3:
          transitions[7] = std::numeric_limits<float>::quiet_NaN();
          result->set_transitions(transitions.data(), transitions.size() * sizeof(float));
          break;
        case 4:
          transitions[8] = 3e38f;
          result->set_transitions(transitions.data(), transitions.size() * sizeof(float));
          break;
      }
      if (!stream.Write(message)) return;
    }
  }

  const std::string id_;
  const int threads_;
  const Fault fault_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  grpc::ClientContext context_;
  std::atomic<int64_t> episodes_{0};
  std::atomic<int64_t> chunks_{0};
  int64_t forged_ = 0;   // touched by the stream thread only
  grpc::Status status_;  // written before ended_ is notified
  absl::Notification ended_;
  std::unique_ptr<common::Thread> thread_;  // last: started after every member exists
};

class FakeWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    server::CoordinatorOptions options;
    options.listen_address = "127.0.0.1:0";
    options.scheduler.reaper_period = absl::Milliseconds(50);
    GDAQD_ASSERT_OK_AND_ASSIGN(coordinator_, server::Coordinator::Start(options));
    address_ = absl::StrCat("127.0.0.1:", coordinator_->port());
    GDAQD_ASSERT_OK_AND_ASSIGN(client_,
                               client::ExperimentClient::Connect(address_, kConnectTimeout));
  }

  void TearDown() override {
    workers_.clear();  // SIGKILL
    if (coordinator_ != nullptr) coordinator_->Shutdown();
  }

  // Starts a real gdaqd-worker with one rollout thread; returns it (owned by the fixture).
  common::Subprocess& StartRealWorker(const std::string& id) {
    common::Subprocess::Options options;
    options.log_path = absl::StrCat(dir_, "/", id, ".log");
    absl::StatusOr<std::unique_ptr<common::Subprocess>> worker = common::Subprocess::Spawn(
        {GDAQD_WORKER_BINARY, "--coordinator=" + address_, "--threads=1", "--worker_id=" + id},
        options);
    EXPECT_TRUE(worker.ok()) << worker.status();
    workers_.push_back(std::move(worker).value());
    return *workers_.back();
  }

  void WaitForWorkers(int64_t count) {
    ASSERT_TRUE(coordinator_->scheduler().WaitForWorkers(count, kConnectTimeout))
        << count << " workers did not connect; logs in " << dir_;
  }

  // Runs `config` to its end; expects SUCCEEDED with exactly its budget and an archive that only
  // honest results can have built. Returns the final status.
  v1::ExperimentStatus RunAndCheck(const v1::ExperimentConfig& config) {
    absl::StatusOr<std::string> id = client_->Submit(config);
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return {};
    absl::StatusOr<v1::ExperimentStatus> final_status =
        client_->Watch(*id, [](const v1::ExperimentStatus&) {});
    EXPECT_TRUE(final_status.ok()) << final_status.status();
    if (!final_status.ok()) return {};
    EXPECT_EQ(final_status->state(), v1::SUCCEEDED) << final_status->error();
    EXPECT_EQ(final_status->progress().evaluations(), config.budget().max_evaluations());
    ExpectArchiveHasOnlyPossibleElites(*id);
    return *final_status;
  }

  // Every elite's descriptor lies in the task's box and its fitness within what
  // kEpisodeLength steps of the task's rewards allow.
  void ExpectArchiveHasOnlyPossibleElites(const std::string& id) {
    absl::StatusOr<client::ExportedArchive> exported = client_->Export(id);
    ASSERT_TRUE(exported.ok()) << exported.status();
    ASSERT_FALSE(exported->elites.empty());
    absl::StatusOr<common::TaskSpec> spec = common::GetTaskSpec("point_maze", kEpisodeLength);
    ASSERT_TRUE(spec.ok()) << spec.status();
    for (const v1::Elite& elite : exported->elites) {
      ASSERT_EQ(elite.behavior_descriptor_size(), 2);
      for (int d = 0; d < 2; ++d) {
        EXPECT_GE(elite.behavior_descriptor(d), spec->descriptor_low[d]) << elite.cell();
        EXPECT_LE(elite.behavior_descriptor(d), spec->descriptor_high[d]) << elite.cell();
      }
      EXPECT_TRUE(std::isfinite(elite.fitness())) << elite.cell();
      EXPECT_GE(elite.fitness(), kEpisodeLength * spec->min_step_reward) << elite.cell();
      EXPECT_LE(elite.fitness(), kEpisodeLength * spec->max_step_reward) << elite.cell();
    }
  }

  server::SchedulerStats stats() { return coordinator_->scheduler().stats(); }

  std::string dir_;
  std::string address_;
  std::unique_ptr<server::Coordinator> coordinator_;
  std::unique_ptr<client::ExperimentClient> client_;
  std::vector<std::unique_ptr<common::Subprocess>> workers_;
};

TEST_F(FakeWorkerTest, HangingWorkerCostsOneLeaseTimeoutAndChangesNothing) {
  StartRealWorker("honest");
  FakeWorker hang(address_, "hang", 1, Fault::kHang);
  WaitForWorkers(2);
  const absl::Time start = absl::Now();
  RunAndCheck(SmallConfig(500, kLeaseTimeoutS));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3 * kLeaseTimeoutS));
  EXPECT_GE(stats().expired_leases, 1);
  EXPECT_GE(stats().requeued_episodes, 1);
  EXPECT_LE(hang.episodes_received(), 4) << "it got work after its lease expired";
}

TEST_F(FakeWorkerTest, OverClaimingWorkerGetsOnlyItsStartingCredit) {
  FakeWorker greedy(address_, "greedy", std::numeric_limits<int32_t>::max(), Fault::kHang);
  WaitForWorkers(1);
  StartRealWorker("honest");
  WaitForWorkers(2);
  RunAndCheck(SmallConfig(500, kLeaseTimeoutS));
  EXPECT_EQ(stats().clamped_workers, 1);
  EXPECT_LE(greedy.episodes_received(), 8) << "2 threads x 4 episodes of credit";
  EXPECT_GE(greedy.episodes_received(), 1) << "it never held a lease: the test tested nothing";
}

TEST_F(FakeWorkerTest, FloodingWorkerIsCutOffWithResourceExhaustedAndMemoryStaysBounded) {
  StartRealWorker("honest");
  WaitForWorkers(1);
  const int64_t rss_before = ResidentBytes();
  FakeWorker flood(address_, "flood", 1, Fault::kFlood);
  WaitForWorkers(2);
  RunAndCheck(SmallConfig(500, kLeaseTimeoutS));
  absl::StatusOr<grpc::Status> ended = flood.WaitForEnd(kStreamEndTimeout);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << ended->error_message();
  EXPECT_THAT(ended->error_message(), ::testing::HasSubstr("exceed its cap"));
  EXPECT_LT(flood.chunks_sent(), 64) << "the server kept reading";
  EXPECT_EQ(stats().rejected_by(ResultCheck::kTooManyBytes), 1);
  EXPECT_LT(ResidentBytes() - rss_before, kFloodRssBound);
}

TEST_F(FakeWorkerTest, ForgedResultsAreRefusedAndCountedByReason) {
  StartRealWorker("honest");
  FakeWorker poison(address_, "poison", 2, Fault::kPoison);
  WaitForWorkers(2);
  RunAndCheck(SmallConfig(500, kLeaseTimeoutS));
  ASSERT_GE(poison.episodes_received(), 5) << "too few forged results to cover every kind";
  const server::SchedulerStats s = stats();
  EXPECT_GE(s.rejected_by(ResultCheck::kDescriptorOutOfBox), 1);
  EXPECT_GE(s.rejected_by(ResultCheck::kFitnessOutOfBounds), 1);
  EXPECT_GE(s.rejected_by(ResultCheck::kNonFinite), 1);
  // MAP-Elites requests no transitions: any sent are refused.
  EXPECT_GE(s.rejected_by(ResultCheck::kBadTransitions), 2);
  EXPECT_EQ(s.malformed_results, poison.episodes_received());
}

TEST_F(FakeWorkerTest, ForgedTransitionsNeverReachTheCritic) {
  StartRealWorker("honest");
  FakeWorker poison(address_, "poison", 2, Fault::kPoison);
  WaitForWorkers(2);
  v1::ExperimentConfig config = SmallConfig(300, kLeaseTimeoutS);
  config.set_algorithm(v1::PGA_ME);
  v1::PgaConfig* pga = config.mutable_pga();
  pga->add_critic_hidden_sizes(32);
  pga->add_critic_hidden_sizes(32);
  pga->set_critic_steps(20);
  pga->set_pg_steps(5);
  pga->set_critic_batch_size(64);
  pga->set_device("cpu");
  const v1::ExperimentStatus final_status = RunAndCheck(config);
  EXPECT_TRUE(std::isfinite(final_status.progress().critic_loss()))
      << final_status.progress().critic_loss();
  const server::SchedulerStats s = stats();
  EXPECT_GE(s.rejected_by(ResultCheck::kNonFinite), 2);       // NaN fitness and NaN transitions
  EXPECT_GE(s.rejected_by(ResultCheck::kBadTransitions), 1);  // 3e38
  EXPECT_EQ(s.malformed_results, poison.episodes_received());
}

TEST_F(FakeWorkerTest, StreamWithoutHelloEndsWithDeadlineExceeded) {
  const absl::Time start = absl::Now();
  FakeWorker silent(address_, "silent", 1, Fault::kSilent);
  absl::StatusOr<grpc::Status> ended = silent.WaitForEnd(kStreamEndTimeout);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << ended->error_message();
  EXPECT_THAT(ended->error_message(), ::testing::HasSubstr("no hello within 10s"));
  const absl::Duration held = absl::Now() - start;
  EXPECT_GE(held, absl::Seconds(9));
  EXPECT_LT(held, absl::Seconds(30));
  EXPECT_EQ(stats().connected_workers, 0);
}

// A frozen worker holding leases costs about one lease timeout in all, not one per iteration:
// its expired episodes go to the other worker, and it gets no new ones until it speaks again.
TEST_F(FakeWorkerTest, StoppedWorkerCostsAboutOneLeaseTimeoutNotOnePerIteration) {
  common::Subprocess& frozen = StartRealWorker("frozen");
  StartRealWorker("running");
  WaitForWorkers(2);
  constexpr int64_t kBudget = 1500;
  constexpr int64_t kStopAt = 600;  // 9 iterations of 100 remain after the stop
  absl::StatusOr<std::string> id = client_->Submit(SmallConfig(kBudget, kStopLeaseTimeoutS));
  ASSERT_TRUE(id.ok()) << id.status();
  absl::Time stopped_at = absl::InfiniteFuture();
  int64_t iterations_after_stop = 0;
  absl::StatusOr<v1::ExperimentStatus> final_status =
      client_->Watch(*id, [&](const v1::ExperimentStatus& s) {
        if (stopped_at != absl::InfiniteFuture()) {
          ++iterations_after_stop;
        } else if (s.progress().evaluations() >= kStopAt) {
          frozen.Signal(SIGSTOP);
          stopped_at = absl::Now();
        }
      });
  const absl::Duration after_stop = absl::Now() - stopped_at;
  frozen.Signal(SIGCONT);
  ASSERT_TRUE(final_status.ok()) << final_status.status();
  ASSERT_EQ(final_status->state(), v1::SUCCEEDED) << final_status->error();
  EXPECT_EQ(final_status->progress().evaluations(), kBudget);
  ASSERT_NE(stopped_at, absl::InfiniteFuture());
  EXPECT_GE(iterations_after_stop, 5);
  EXPECT_GT(final_status->progress().requeued_episodes(), 0)
      << "the stopped worker held no lease: the test tested nothing";
  EXPECT_LT(after_stop, absl::Seconds(2.5 * kStopLeaseTimeoutS))
      << iterations_after_stop << " iterations after the stop";
  ExpectArchiveHasOnlyPossibleElites(*id);
}

}  // namespace
}  // namespace gdaqd
