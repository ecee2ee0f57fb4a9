// The coordinator survives crashes and restarts (docs/durability.md): real gdaqd-server and
// gdaqd-worker processes on 127.0.0.1, killed with SIGKILL (once while a checkpoint is half
// written) and SIGTERM, restarted on the same port and state directory. The experiment must end
// with its exact budget, its id, and the archive of a run that was never interrupted; a damaged
// newest checkpoint must fall back to the previous one.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/experiment_client.h"
#include "common/config/config.h"
#include "common/durable_file.h"
#include "common/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace gdaqd {
namespace {

using client::ExperimentClient;

constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kRunTimeout = absl::Seconds(120);
// Documented bound (README, "What survives what"): SIGTERM ends the server within 10 s plus the
// time to write the checkpoints; these are a few MB.
constexpr absl::Duration kShutdownBound = absl::Seconds(10);
constexpr int64_t kBudget = 4000;

std::string FreshDir(const std::string& name) {
  return ::gdaqd::testing::FreshTempDir("fault_" + name);
}

v1::ExperimentConfig Config(int64_t budget = kBudget) {
  auto config =
      common::ParseExperimentConfig(absl::StrCat(R"pb(
                                                   name: "fault"
                                                   env { task: "point_maze" episode_length: 100 }
                                                   archive { cells_per_dim: [ 20, 20 ] }
                                                   budget { max_evaluations:)pb",
                                                 budget, R"pb(}
                                                              seed: 11
  )pb"));
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// One coordinator process on a given port (0: a free one) and state directory.
class Server {
 public:
  Server(const std::string& state_dir, int port, const std::string& log,
         std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {GDAQD_SERVER_BINARY, absl::StrCat("--listen=127.0.0.1:", port),
                                     "--port_file=-", absl::StrCat("--state_dir=", state_dir)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    common::Subprocess::Options options;
    options.capture_stdout = true;
    options.log_path = log;
    auto process = common::Subprocess::Spawn(argv, options);
    EXPECT_TRUE(process.ok()) << process.status();
    process_ = std::move(process).value();
    port_ = port;
    while (port_ == 0 || !ready_) {
      auto line = process_->ReadLine(kStartTimeout);
      if (!line.ok()) {
        ADD_FAILURE() << "coordinator did not start: " << line.status() << " (see " << log << ")";
        return;
      }
      if (absl::StartsWith(*line, "GDAQD_PORT=")) {
        EXPECT_TRUE(absl::SimpleAtoi(line->substr(11), &port_));
        ready_ = true;
      }
    }
  }
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  common::Subprocess& process() { return *process_; }
  // Waits for a line starting with `prefix` on the server's stdout.
  bool WaitForLine(const std::string& prefix, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      auto line = process_->ReadLine(deadline - absl::Now());
      if (!line.ok()) return false;
      if (absl::StartsWith(*line, prefix)) return true;
    }
    return false;
  }

 private:
  std::unique_ptr<common::Subprocess> process_;
  int port_ = 0;
  bool ready_ = false;
};

std::unique_ptr<common::Subprocess> StartWorker(const std::string& address, int i,
                                                const std::string& log) {
  common::Subprocess::Options options;
  options.log_path = log;
  auto worker = common::Subprocess::Spawn(
      {GDAQD_WORKER_BINARY, absl::StrCat("--coordinator=", address), "--threads=1",
       absl::StrCat("--worker_id=fault-", i, "-", getpid())},
      options);
  EXPECT_TRUE(worker.ok()) << worker.status();
  return std::move(worker).value();
}

std::unique_ptr<ExperimentClient> Connect(const Server& server) {
  auto client = ExperimentClient::Connect(server.address(), kStartTimeout);
  EXPECT_TRUE(client.ok()) << client.status();
  return std::move(client).value();
}

// Waits until the experiment has at least `evaluations` (or is final); returns its status.
v1::ExperimentStatus WaitForEvaluations(ExperimentClient& client, const std::string& id,
                                        int64_t evaluations) {
  v1::ExperimentStatus last;
  const absl::Time deadline = absl::Now() + kRunTimeout;
  while (absl::Now() < deadline) {
    auto status = client.Get(id);
    if (status.ok()) {
      last = *status;
      if (last.progress().evaluations() >= evaluations || last.state() >= v1::SUCCEEDED) break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return last;
}

client::ExportedArchive RunToEnd(ExperimentClient& client, const std::string& id) {
  auto final_status = client.Watch(id, [](const v1::ExperimentStatus&) {});
  EXPECT_TRUE(final_status.ok()) << final_status.status();
  if (final_status.ok()) {
    EXPECT_EQ(final_status->state(), v1::SUCCEEDED) << final_status->error();
    EXPECT_EQ(final_status->progress().evaluations(), kBudget);
  }
  auto exported = client.Export(id);
  EXPECT_TRUE(exported.ok()) << exported.status();
  return exported.ok() ? *exported : client::ExportedArchive();
}

void ExpectSameArchive(const client::ExportedArchive& a, const client::ExportedArchive& b) {
  ASSERT_EQ(a.elites.size(), b.elites.size());
  ASSERT_GT(a.elites.size(), 10u);
  for (size_t i = 0; i < a.elites.size(); ++i) {
    ASSERT_EQ(a.elites[i].SerializeAsString(), b.elites[i].SerializeAsString()) << "elite " << i;
  }
}

// The archive of a run nobody interrupts.
client::ExportedArchive ReferenceArchive(const std::string& dir) {
  std::filesystem::create_directories(dir);
  Server server(dir + "/state", 0, dir + "/server.log");
  auto w0 = StartWorker(server.address(), 0, dir + "/w0.log");
  auto w1 = StartWorker(server.address(), 1, dir + "/w1.log");
  auto client = Connect(server);
  auto id = client->Submit(Config());
  EXPECT_TRUE(id.ok()) << id.status();
  return RunToEnd(*client, *id);
}

TEST(CoordinatorFaultTest, KilledTwiceAndStoppedStillEndsWithTheUninterruptedArchive) {
  const std::string dir = FreshDir("kill");
  const client::ExportedArchive expected = ReferenceArchive(dir + "/reference");
  const std::string state = dir + "/state";
  std::string id;
  int port = 0;
  std::vector<std::unique_ptr<common::Subprocess>> workers;
  {
    // 1: SIGKILL while the 4th checkpoint (3 iterations in) is half written.
    Server server(state, 0, dir + "/server1.log",
                  {"--checkpoint_interval=0s", "--test_hold_checkpoint_write=4"});
    port = server.port();
    workers.push_back(StartWorker(server.address(), 0, dir + "/w0.log"));
    workers.push_back(StartWorker(server.address(), 1, dir + "/w1.log"));
    auto client = Connect(server);
    GDAQD_ASSERT_OK_AND_ASSIGN(id, client->Submit(Config()));
    ASSERT_TRUE(server.WaitForLine("GDAQD_CHECKPOINT_HOLD", kRunTimeout));
    server.process().Signal(SIGKILL);
    EXPECT_THAT(server.process().Wait(kStartTimeout), gdaqd::testing::IsOkAndHolds(128 + SIGKILL));
  }
  {
    // 2: restart on the same port (the workers reconnect by themselves); SIGKILL mid-run.
    Server server(state, port, dir + "/server2.log", {"--checkpoint_interval=0.05s"});
    auto client = Connect(server);
    v1::ExperimentStatus status = WaitForEvaluations(*client, id, kBudget / 3);
    EXPECT_EQ(status.id(), id);
    EXPECT_EQ(status.restarts(), 1);
    ASSERT_LT(status.progress().evaluations(), kBudget) << "finished before the second kill";
    server.process().Signal(SIGKILL);
    ASSERT_TRUE(server.process().Wait(kStartTimeout).ok());
  }
  {
    // 3: restart; SIGTERM mid-run ends the server within the documented bound.
    Server server(state, port, dir + "/server3.log", {"--checkpoint_interval=1h"});
    auto client = Connect(server);
    v1::ExperimentStatus status = WaitForEvaluations(*client, id, 2 * kBudget / 3);
    ASSERT_LT(status.progress().evaluations(), kBudget) << "finished before SIGTERM";
    const absl::Time stop = absl::Now();
    server.process().Signal(SIGTERM);
    EXPECT_THAT(server.process().Wait(kShutdownBound), gdaqd::testing::IsOkAndHolds(0));
    EXPECT_LT(absl::Now() - stop, kShutdownBound);
  }
  // 4: the last restart finishes it.
  Server server(state, port, dir + "/server4.log");
  auto client = Connect(server);
  const client::ExportedArchive resumed = RunToEnd(*client, id);
  EXPECT_EQ(resumed.header.status().id(), "exp-1");
  EXPECT_EQ(resumed.header.status().restarts(), 3);
  ExpectSameArchive(expected, resumed);
  // A new submission gets a new id, never a reused one.
  EXPECT_THAT(client->Submit(Config()), gdaqd::testing::IsOkAndHolds(std::string("exp-2")));
}

// A cancel the client was told succeeded survives a crash before the final checkpoint is on
// disk: SIGKILL while that write is held; the restarted coordinator ends the experiment
// CANCELLED (from the checkpoint it restores) instead of running it on. No worker serves the
// restarted coordinator, so a run that went on would stay RUNNING.
TEST(CoordinatorFaultTest, CancelHeardBeforeACrashStaysCancelled) {
  const std::string dir = FreshDir("cancel_crash");
  const std::string state = dir + "/state";
  std::string id;
  {
    // Checkpoint writes: the 1st at submit; the interval keeps periodic ones out, so the 2nd is
    // the final one.
    Server server(state, 0, dir + "/server1.log",
                  {"--checkpoint_interval=1h", "--test_hold_checkpoint_write=2"});
    auto worker = StartWorker(server.address(), 0, dir + "/w0.log");
    auto client = Connect(server);
    // A budget no run reaches between this poll and the cancel, however loaded the machine:
    // at kBudget a poll delayed by a second could find the run already finished.
    constexpr int64_t kLongBudget = 1'000'000;
    GDAQD_ASSERT_OK_AND_ASSIGN(id, client->Submit(Config(kLongBudget)));
    const v1::ExperimentStatus running = WaitForEvaluations(*client, id, 200);
    ASSERT_GE(running.progress().evaluations(), 200);
    ASSERT_LT(running.progress().evaluations(), kLongBudget);
    GDAQD_ASSERT_OK(client->Cancel(id).status());
    ASSERT_TRUE(server.WaitForLine("GDAQD_CHECKPOINT_HOLD", kRunTimeout));
    auto held = client->Get(id);
    ASSERT_TRUE(held.ok()) << held.status();
    EXPECT_EQ(held->state(), v1::RUNNING) << "the end shows only once it is on disk";
    server.process().Signal(SIGKILL);
    EXPECT_THAT(server.process().Wait(kStartTimeout), gdaqd::testing::IsOkAndHolds(128 + SIGKILL));
  }
  Server server(state, 0, dir + "/server2.log");
  auto client = Connect(server);
  v1::ExperimentStatus last;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(30); absl::Now() < deadline;) {
    auto status = client->Get(id);
    ASSERT_TRUE(status.ok()) << status.status();
    last = *status;
    if (last.state() >= v1::SUCCEEDED) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(last.state(), v1::CANCELLED) << v1::ExperimentState_Name(last.state());
  EXPECT_EQ(last.restarts(), 1);
}

// Whether `log` holds `text` within `timeout` (the coordinator logs to it as it goes).
bool LogMentions(const std::string& log, const std::string& text, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  do {
    absl::StatusOr<std::string> content = common::ReadFileToString(log);
    if (content.ok() && absl::StrContains(*content, text)) return true;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < deadline);
  return false;
}

// A run continues bit for bit only under the BLAS thread count it was checkpointed with
// (docs/durability.md §2): a restore under another count says so in the log, naming both; one
// under the same count says nothing.
TEST(CoordinatorFaultTest, RestoreUnderAnotherBlasThreadCountIsLogged) {
  const std::string dir = FreshDir("blas_threads");
  const std::string state = dir + "/state";
  {
    Server server(state, 0, dir + "/server1.log", {"--checkpoint_interval=0s", "--blas_threads=1"});
    auto worker = StartWorker(server.address(), 0, dir + "/w0.log");
    auto client = Connect(server);
    GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, client->Submit(Config(1'000'000)));
    ASSERT_GE(WaitForEvaluations(*client, id, 300).progress().evaluations(), 300);
    server.process().Signal(SIGKILL);
    ASSERT_TRUE(server.process().Wait(kStartTimeout).ok());
  }
  {
    Server server(state, 0, dir + "/server2.log", {"--blas_threads=1"});
    ASSERT_TRUE(LogMentions(dir + "/server2.log", "experiment_restored id=exp-1", kStartTimeout));
    EXPECT_FALSE(
        LogMentions(dir + "/server2.log", "restore_blas_threads_differ", absl::ZeroDuration()));
    server.process().Signal(SIGKILL);
    ASSERT_TRUE(server.process().Wait(kStartTimeout).ok());
  }
  Server server(state, 0, dir + "/server3.log", {"--blas_threads=2"});
  EXPECT_TRUE(LogMentions(dir + "/server3.log",
                          "restore_blas_threads_differ id=exp-1 checkpointed_with=1 now=2",
                          kStartTimeout));
}

// Replaces the newest checkpoint of experiment 1 by a damaged copy.
void DamageNewestCheckpoint(const std::string& state, bool truncate) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(state + "/experiments/1")) {
    if (entry.path().extension() == ".ckpt") files.push_back(entry.path().string());
  }
  ASSERT_EQ(files.size(), 2u);
  std::sort(files.begin(), files.end());
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string bytes, common::ReadFileToString(files.back()));
  if (truncate) {
    bytes.resize(bytes.size() * 2 / 3);
  } else {
    bytes[bytes.size() / 2] ^= 0x04;
  }
  GDAQD_ASSERT_OK(common::WriteFileDurably(files.back(), bytes));
}

TEST(CoordinatorFaultTest, DamagedNewestCheckpointFallsBackToThePreviousOne) {
  const std::string dir = FreshDir("damaged");
  const std::string state = dir + "/state";
  client::ExportedArchive expected;
  int port = 0;
  std::vector<std::unique_ptr<common::Subprocess>> workers;
  {
    Server server(state, 0, dir + "/server0.log", {"--checkpoint_interval=0s"});
    port = server.port();
    workers.push_back(StartWorker(server.address(), 0, dir + "/w0.log"));
    workers.push_back(StartWorker(server.address(), 1, dir + "/w1.log"));
    auto client = Connect(server);
    GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, client->Submit(Config()));
    expected = RunToEnd(*client, id);
    server.process().Signal(SIGTERM);
    ASSERT_TRUE(server.process().Wait(kShutdownBound).ok());
  }
  for (bool truncate : {true, false}) {
    SCOPED_TRACE(truncate ? "truncated" : "bit-flipped");
    // The newest is the final checkpoint; the previous one is the last iteration boundary, so
    // the restarted server runs the last iteration again and must reach the same archive.
    DamageNewestCheckpoint(state, truncate);
    const std::string log = dir + (truncate ? "/server_truncated.log" : "/server_flipped.log");
    Server server(state, port, log);
    auto client = Connect(server);
    const client::ExportedArchive resumed = RunToEnd(*client, "exp-1");
    ExpectSameArchive(expected, resumed);
    server.process().Signal(SIGTERM);
    ASSERT_TRUE(server.process().Wait(kShutdownBound).ok());
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_THAT(text, ::testing::HasSubstr("checkpoint_damaged experiment=1"));
  }
}

}  // namespace
}  // namespace gdaqd
