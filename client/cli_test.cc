// The gdaqd binary as a user drives it: every command's --help, `help`, --version of the three
// binaries, and the documented exit codes (docs/cli.md) against a real coordinator and worker.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/experiment_client.h"
#include "client/local_cluster.h"
#include "client/results/csv.h"
#include "common/config/config.h"
#include "common/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kProcessTimeout = absl::Seconds(60);

// A folder for one test, removed (with everything in it) when the test ends.
class TestDir {
 public:
  explicit TestDir(const std::string& name)
      : path_(absl::StrCat(::testing::TempDir(), "/gdaqd_cli_", name, "_", getpid())) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TestDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

struct Outcome {
  int code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `args` to the end; stdout is captured, stderr goes through a file in `dir`.
Outcome RunBinary(const std::vector<std::string>& args, const TestDir& dir) {
  common::Subprocess::Options options;
  options.capture_stdout = true;
  options.log_path = dir / "stderr.txt";
  Outcome outcome;
  absl::StatusOr<std::unique_ptr<common::Subprocess>> process =
      common::Subprocess::Spawn(args, options);
  EXPECT_TRUE(process.ok()) << process.status();
  if (!process.ok()) return outcome;
  while (true) {
    absl::StatusOr<std::string> line = (*process)->ReadLine(kProcessTimeout);
    if (!line.ok()) break;
    absl::StrAppend(&outcome.out, *line, "\n");
  }
  absl::StatusOr<int> code = (*process)->Wait(kProcessTimeout);
  EXPECT_TRUE(code.ok()) << code.status();
  outcome.code = code.ok() ? *code : -1;
  outcome.err = ReadFile(options.log_path);
  return outcome;
}

Outcome Gdaqd(std::vector<std::string> args, const TestDir& dir) {
  args.insert(args.begin(), GDAQD_CLIENT_BINARY);
  return RunBinary(args, dir);
}

// Reads stdout lines of `process` until one contains `text`; false after the timeout or EOF.
bool WaitForLine(common::Subprocess& process, const std::string& text, std::string* seen) {
  const absl::Time deadline = absl::Now() + kProcessTimeout;
  while (true) {
    absl::StatusOr<std::string> line = process.ReadLine(deadline - absl::Now());
    if (!line.ok()) return false;
    absl::StrAppend(seen, *line, "\n");
    if (absl::StrContains(*line, text)) return true;
  }
}

std::string SmallConfig(const TestDir& dir, int64_t budget) {
  const std::string path = dir / "small.textproto";
  WriteFile(path, absl::StrCat("name: \"cli test\"\n"
                               "env { task: \"point_maze\" episode_length: 60 }\n"
                               "archive { cells_per_dim: [10, 10] }\n"
                               "budget { max_evaluations: ",
                               budget, " }\n"));
  return path;
}

struct HelpCase {
  std::string command;
  std::vector<std::string> own;      // flags its help must list
  std::vector<std::string> foreign;  // flags of other commands it must not list
};

TEST(CliTest, EveryCommandHelpListsItsOwnFlagsAndExitsZero) {
  TestDir dir("help");
  const std::vector<HelpCase> cases = {
      {"run",
       {"--out", "--force", "--workers", "--threads", "--verbosity"},
       {"--cell", "--tls_ca"}},
      {"submit", {"--coordinator", "--tls_ca", "--token_file"}, {"--workers", "--cell"}},
      {"status", {"--coordinator", "--connect_timeout_s"}, {"--out", "--workers"}},
      {"watch", {"--coordinator", "--tls_server_name"}, {"--cell", "--force"}},
      {"cancel", {"--coordinator"}, {"--out", "--threads"}},
      {"delete", {"--coordinator"}, {"--out", "--threads"}},
      {"export", {"--force", "--coordinator"}, {"--workers", "--cell"}},
      {"replay", {"--cell", "--out"}, {"--workers", "--coordinator"}},
      {"compare", {"--out"}, {"--workers", "--coordinator", "--cell"}},
      {"help", {}, {"--workers"}},
  };
  for (const HelpCase& c : cases) {
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {c.command, "--help"}, {"help", c.command}, {"-h", c.command}}) {
      SCOPED_TRACE(absl::StrCat("gdaqd ", args[0], " ", args[1]));
      const Outcome outcome = Gdaqd(args, dir);
      EXPECT_EQ(outcome.code, 0) << outcome.err;
      EXPECT_THAT(outcome.out, HasSubstr(absl::StrCat("usage: gdaqd ", c.command)));
      for (const std::string& flag : c.own) EXPECT_THAT(outcome.out, HasSubstr(flag + " "));
      for (const std::string& flag : c.foreign) EXPECT_THAT(outcome.out, Not(HasSubstr(flag)));
    }
  }
  // Flag help comes from the flag's definition, default included.
  EXPECT_THAT(Gdaqd({"run", "--help"}, dir).out, HasSubstr("(default: 2)"));
}

TEST(CliTest, OverviewListsEveryCommand) {
  TestDir dir("overview");
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"}, {"help"}}) {
    const Outcome outcome = Gdaqd(args, dir);
    EXPECT_EQ(outcome.code, 0) << outcome.err;
    for (const char* command : {"run", "submit", "status", "watch", "cancel", "delete", "export",
                                "replay", "compare", "help"}) {
      EXPECT_THAT(outcome.out, HasSubstr(absl::StrCat("\n  ", command, " ")));
    }
    EXPECT_THAT(outcome.out, Not(HasSubstr("Try --helpfull")));
  }
  const Outcome unknown = Gdaqd({"help", "frobnicate"}, dir);
  EXPECT_EQ(unknown.code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("no command 'frobnicate'"));
  EXPECT_EQ(Gdaqd({"frobnicate"}, dir).code, 2);
  EXPECT_EQ(Gdaqd({}, dir).code, 2);
}

TEST(CliTest, VersionOfAllThreeBinariesNamesVersionAndCommit) {
  TestDir dir("version");
  for (const auto& [binary, name] :
       std::vector<std::pair<std::string, std::string>>{{GDAQD_CLIENT_BINARY, "gdaqd"},
                                                        {GDAQD_SERVER_BINARY, "gdaqd-server"},
                                                        {GDAQD_WORKER_BINARY, "gdaqd-worker"}}) {
    const Outcome outcome = RunBinary({binary, "--version"}, dir);
    EXPECT_EQ(outcome.code, 0) << outcome.err;
    EXPECT_THAT(outcome.out, HasSubstr(absl::StrCat(name, " ", GDAQD_VERSION, " (commit ")));
    EXPECT_THAT(outcome.out, Not(HasSubstr("Debug build")));
  }
}

// One verbosity flag name for the three binaries; the worker's old --v still parses.
TEST(CliTest, AllBinariesTakeVerbosityAndListTheirOwnFlags) {
  TestDir dir("verbosity");
  for (const std::string& binary :
       {std::string(GDAQD_CLIENT_BINARY), std::string(GDAQD_SERVER_BINARY),
        std::string(GDAQD_WORKER_BINARY)}) {
    SCOPED_TRACE(binary);
    EXPECT_EQ(RunBinary({binary, "--verbosity=1", "--version"}, dir).code, 0);
  }
  EXPECT_EQ(RunBinary({GDAQD_WORKER_BINARY, "--v=1", "--version"}, dir).code, 0);
  // abseil's --help (exit 1, abseil's choice) lists the flags of the binary's own file.
  EXPECT_THAT(RunBinary({GDAQD_SERVER_BINARY, "--help"}, dir).out, HasSubstr("--state_dir"));
  const Outcome worker = RunBinary({GDAQD_WORKER_BINARY, "--help"}, dir);
  EXPECT_THAT(worker.out, HasSubstr("--verbosity"));
  EXPECT_THAT(worker.out, Not(HasSubstr("No flags matched")));
}

TEST(CliTest, RunRefusesANonEmptyOutWithoutForceAndWritesNothing) {
  TestDir dir("refuse");
  const std::string config = SmallConfig(dir, 100);
  const std::string out = dir / "out";
  fs::create_directories(out);
  WriteFile(out + "/trajectory_3.csv", "old\n");
  const Outcome outcome = Gdaqd({"run", config, "--out=" + out}, dir);
  EXPECT_EQ(outcome.code, 1);
  EXPECT_THAT(outcome.err, HasSubstr(absl::StrCat("results folder ", out, " is not empty")));
  EXPECT_THAT(outcome.err, HasSubstr("--force"));
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(out)) left.push_back(entry.path().filename());
  EXPECT_THAT(left, ::testing::ElementsAre("trajectory_3.csv"));
}

// A real SIGINT to a real `gdaqd run` with a worker: the experiment is cancelled, the results so
// far are written with their provenance, and the exit status is 130.
TEST(CliTest, CtrlCCancelsWritesResultsAndExits130) {
  TestDir dir("sigint");
  const std::string out = dir / "out";
  common::Subprocess::Options options;
  options.capture_stdout = true;
  options.log_path = dir / "stderr.txt";
  GDAQD_ASSERT_OK_AND_ASSIGN(
      auto run, common::Subprocess::Spawn({GDAQD_CLIENT_BINARY, "run", SmallConfig(dir, 10000000),
                                           "--out=" + out, "--workers=1"},
                                          options));
  std::string seen;
  ASSERT_TRUE(WaitForLine(*run, "evals ", &seen)) << seen << ReadFile(options.log_path);
  run->Signal(SIGINT);
  GDAQD_ASSERT_OK_AND_ASSIGN(int code, run->Wait(kProcessTimeout));
  EXPECT_EQ(code, 130) << ReadFile(options.log_path);
  EXPECT_THAT(ReadFile(options.log_path), HasSubstr("interrupted: cancelling the experiment"));
  EXPECT_THAT(ReadFile(out + "/status.textproto"), HasSubstr("state: CANCELLED"));
  const std::string provenance = ReadFile(out + "/provenance.json");
  EXPECT_THAT(provenance, HasSubstr(absl::StrCat("\"gdaqd_version\": \"", GDAQD_VERSION, "\"")));
  EXPECT_THAT(provenance, HasSubstr("\"final_state\": \"CANCELLED\""));
  EXPECT_THAT(provenance, HasSubstr("\"end_time\": \"20"));
  EXPECT_THAT(ReadFile(out + "/config.textproto"), HasSubstr("seed: 0\n"));
}

// --workers 0: a warning after 5 s saying how to start a worker, and the wait goes on until
// Ctrl-C. --force cleared the stale trajectory of an earlier run first.
TEST(CliTest, WarnsWhenNoWorkerConnectsAndForceClearsStaleFiles) {
  TestDir dir("no_workers");
  const std::string out = dir / "out";
  fs::create_directories(out);
  WriteFile(out + "/trajectory_3.csv", "old\n");
  WriteFile(out + "/notes.txt", "mine\n");
  common::Subprocess::Options options;
  options.capture_stdout = true;
  options.log_path = dir / "stderr.txt";
  GDAQD_ASSERT_OK_AND_ASSIGN(
      auto run, common::Subprocess::Spawn({GDAQD_CLIENT_BINARY, "run", SmallConfig(dir, 1000),
                                           "--out=" + out, "--workers=0", "--force"},
                                          options));
  std::string seen;
  ASSERT_TRUE(WaitForLine(*run, "warning: no worker has connected after 5s", &seen))
      << seen << ReadFile(options.log_path);
  EXPECT_THAT(seen, HasSubstr("gdaqd-worker --coordinator=127.0.0.1:"));
  EXPECT_THAT(seen, HasSubstr("removed 1 old results entries"));
  EXPECT_EQ(run->Wait(absl::Milliseconds(500)).status().code(), absl::StatusCode::kDeadlineExceeded)
      << "the warning must not end the wait";
  run->Signal(SIGINT);
  GDAQD_ASSERT_OK_AND_ASSIGN(int code, run->Wait(kProcessTimeout));
  EXPECT_EQ(code, 130) << ReadFile(options.log_path);
  EXPECT_FALSE(fs::exists(out + "/trajectory_3.csv"));
  EXPECT_TRUE(fs::exists(out + "/notes.txt"));
  EXPECT_TRUE(fs::exists(out + "/metrics.csv"));
}

// A coordinator and one worker, logging into dir/logs.
absl::StatusOr<std::unique_ptr<client::LocalCluster>> StartOneWorkerCluster(const TestDir& dir) {
  client::LocalClusterOptions options;
  options.workers = 1;
  options.log_dir = dir / "logs";
  options.server_binary = GDAQD_SERVER_BINARY;
  options.worker_binary = GDAQD_WORKER_BINARY;
  return client::LocalCluster::Start(options);
}

// The local cluster's workers share the machine's cores, so its coordinator runs its BLAS on
// one thread (OpenBLAS's default, a thread per core, slowed model training ~10x beside busy
// workers); the coordinator logs the count it got once its port is published.
TEST(CliTest, LocalCoordinatorRunsItsBlasOnOneThread) {
  TestDir dir("blas");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto cluster, StartOneWorkerCluster(dir));
  const std::string log = dir / "logs/server.log";
  std::string text;
  for (const absl::Time deadline = absl::Now() + kProcessTimeout;
       absl::Now() < deadline && !absl::StrContains(text, "torch_matmul_rate");) {
    absl::SleepFor(absl::Milliseconds(50));
    text = ReadFile(log);
  }
  EXPECT_THAT(text, HasSubstr("torch_threads=1 blas_threads=1\n"));
}

// Against a running coordinator: status as a table, cancel of a finished experiment, export
// (and its refusal to overwrite), replay --cell best.
TEST(CliTest, FinishedExperimentStatusCancelExportReplay) {
  TestDir dir("finished");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto cluster, StartOneWorkerCluster(dir));
  const std::string coordinator = "--coordinator=" + cluster->address();
  const Outcome submitted = Gdaqd({"submit", SmallConfig(dir, 300), coordinator}, dir);
  ASSERT_EQ(submitted.code, 0) << submitted.err;
  const std::string id = submitted.out.substr(0, submitted.out.find('\n'));
  const Outcome watched = Gdaqd({"watch", id, coordinator}, dir);
  ASSERT_EQ(watched.code, 0) << watched.err;
  EXPECT_THAT(watched.out, HasSubstr("SUCCEEDED"));

  const Outcome status = Gdaqd({"status", coordinator}, dir);
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_THAT(status.out, ::testing::StartsWith("ID"));
  for (const char* column : {"NAME", "ALGORITHM", "TASK", "STATE", "PROGRESS", "ELAPSED", "ETA"}) {
    EXPECT_THAT(status.out, HasSubstr(column));
  }
  EXPECT_THAT(status.out, HasSubstr("cli test"));
  EXPECT_THAT(status.out, HasSubstr("300/300 (100%)"));

  const Outcome cancel = Gdaqd({"cancel", id, coordinator}, dir);
  EXPECT_EQ(cancel.code, 0) << cancel.err;
  EXPECT_THAT(cancel.out, HasSubstr(absl::StrCat(id, " already finished (SUCCEEDED)")));

  const std::string results = dir / "results";
  const Outcome exported = Gdaqd({"export", id, results, coordinator}, dir);
  ASSERT_EQ(exported.code, 0) << exported.err;
  EXPECT_THAT(ReadFile(results + "/provenance.json"), HasSubstr("\"final_state\": \"SUCCEEDED\""));
  EXPECT_EQ(Gdaqd({"export", id, results, coordinator}, dir).code, 1);
  EXPECT_EQ(Gdaqd({"export", id, results, coordinator, "--force"}, dir).code, 0);

  const Outcome replay = Gdaqd({"replay", results, "--cell=best"}, dir);
  EXPECT_EQ(replay.code, 0) << replay.out << replay.err;
  EXPECT_THAT(replay.out, HasSubstr("matches the archive"));
  EXPECT_EQ(Gdaqd({"replay", results, "--cell=worst"}, dir).code, 2);
  cluster->Stop();
}

// Ctrl-C in `watch` stops watching (130) and leaves the experiment running; `cancel` of a running
// experiment cancels it.
TEST(CliTest, CtrlCInWatchLeavesTheExperimentRunning) {
  TestDir dir("watch");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto cluster, StartOneWorkerCluster(dir));
  const std::string coordinator = "--coordinator=" + cluster->address();
  const Outcome submitted = Gdaqd({"submit", SmallConfig(dir, 10000000), coordinator}, dir);
  ASSERT_EQ(submitted.code, 0) << submitted.err;
  const std::string id = submitted.out.substr(0, submitted.out.find('\n'));

  common::Subprocess::Options watch_options;
  watch_options.capture_stdout = true;
  watch_options.log_path = dir / "watch_stderr.txt";
  GDAQD_ASSERT_OK_AND_ASSIGN(
      auto watch,
      common::Subprocess::Spawn({GDAQD_CLIENT_BINARY, "watch", id, coordinator}, watch_options));
  std::string seen;
  ASSERT_TRUE(WaitForLine(*watch, "evals ", &seen)) << seen << ReadFile(watch_options.log_path);
  watch->Signal(SIGINT);
  GDAQD_ASSERT_OK_AND_ASSIGN(int code, watch->Wait(kProcessTimeout));
  EXPECT_EQ(code, 130) << ReadFile(watch_options.log_path);
  GDAQD_ASSERT_OK_AND_ASSIGN(
      auto client, client::ExperimentClient::Connect(cluster->address(), kProcessTimeout));
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentStatus status, client->Get(id));
  EXPECT_TRUE(status.state() == v1::RUNNING || status.state() == v1::PENDING)
      << v1::ExperimentState_Name(status.state());

  const Outcome cancel = Gdaqd({"cancel", id, coordinator}, dir);
  EXPECT_EQ(cancel.code, 0) << cancel.err;
  EXPECT_THAT(cancel.out, HasSubstr(absl::StrCat("cancelling ", id)));
  GDAQD_ASSERT_OK_AND_ASSIGN(status, client->Watch(id, [](const v1::ExperimentStatus&) {}));
  EXPECT_EQ(status.state(), v1::CANCELLED);
  cluster->Stop();
}

// Three seeds of two algorithms, as results folders (config.textproto and metrics.csv, no
// archive_params.npy as in bench_reproduce's runs): the table's medians and quartiles are the
// runs' final metrics', and the figure is drawn.
TEST(CliTest, CompareSummarisesSeedsPerAlgorithm) {
  TestDir dir("compare");
  const std::vector<std::pair<std::string, std::vector<double>>> finals = {
      {"MAP_ELITES", {12.5, 30, 20}}, {"PGA_ME", {44, 36, 40}}};
  std::vector<std::string> args = {"compare"};
  for (const auto& [algorithm, qd] : finals) {
    for (size_t seed = 0; seed < qd.size(); ++seed) {
      const std::string run = dir / absl::StrCat(algorithm, "_s", seed);
      fs::create_directories(run);
      WriteFile(run + "/config.textproto",
                absl::StrCat("algorithm: ", algorithm, " seed: ", seed,
                             " env { task: \"point_maze\" } budget { max_evaluations: 200 }\n"));
      std::vector<client::MetricsRow> rows;
      for (int i = 0; i <= 2; ++i) {
        client::MetricsRow row{};
        row.iteration = i;
        row.evaluations = 100 * i;
        row.qd_score_pct = qd[seed] * i / 2;
        row.coverage_pct = qd[seed] * i;
        row.max_fitness = -100 + qd[seed] * i;
        row.wall_seconds = 3.0 * i;
        rows.push_back(row);
      }
      GDAQD_ASSERT_OK(client::WriteMetricsCsv(run + "/metrics.csv", rows));
      args.push_back(run);
    }
  }
  args.push_back("--out=" + (dir / "cmp"));
  const Outcome outcome = Gdaqd(args, dir);
  ASSERT_EQ(outcome.code, 0) << outcome.err;
  EXPECT_THAT(outcome.out, HasSubstr("comparison of 6 runs"));
  const std::string csv = ReadFile(dir / "cmp/table1.csv");
  // MAP_ELITES final QD-score %: 12.5, 20, 30 -> median 20, quartiles 16.25 and 25.
  EXPECT_THAT(csv, HasSubstr("\npoint_maze,MAP_ELITES,3,200,20.0000,16.2500,25.0000,"
                             "40.0000,32.5000,50.0000,-60.0000,-67.5000,-50.0000,200,"));
  // PGA_ME: 36, 40, 44 -> 40 [38, 42]; its median passes ME's final 20 at 100 evaluations.
  EXPECT_THAT(csv, HasSubstr("\npoint_maze,PGA_ME,3,200,40.0000,38.0000,42.0000,"
                             "80.0000,76.0000,84.0000,-20.0000,-24.0000,-16.0000,100,"));
  EXPECT_THAT(ReadFile(dir / "cmp/table1.md"), HasSubstr("| point_maze | PGA_ME | 3 | 200 |"));
  const std::string svg = ReadFile(dir / "cmp/progress_point_maze.svg");
  EXPECT_THAT(svg, HasSubstr("MAP_ELITES"));
  EXPECT_THAT(svg, HasSubstr("PGA_ME"));
  EXPECT_THAT(svg, HasSubstr("class=\"band\""));
  EXPECT_EQ(Gdaqd({"compare", dir / "missing"}, dir).code, 1);
  EXPECT_EQ(Gdaqd({"compare"}, dir).code, 2);
}

}  // namespace
}  // namespace gdaqd
