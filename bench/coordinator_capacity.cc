// Coordinator capacity (DESIGN.md §8, issue 8): how many results per second one real coordinator
// ingests from N zero-physics fake workers, and what each result costs it.
//
// For each mode and each N in --workers, a fresh gdaqd-server is spawned on 127.0.0.1:0
// (--port_file=-, as client/local_cluster.cc does), N bench::FakeWorker streams connect to it,
// and --experiments concurrent experiments with PointMaze-size policies (--hidden_sizes 64,64:
// 4,482 parameters) are submitted through client/experiment_client.h, together --evaluations
// evaluations. Modes:
//   me   MAP_ELITES: transitions off.
//   pga  PGA_ME: every result carries episode_length transition rows (chunked below 1 MiB as
//        gdaqd-worker does) that go into the replay buffer. Its learning is cut to the minimum
//        the config allows (--pga_critic_steps critic updates per generation, isoline_fraction
//        --pga_isoline_fraction, i.e. no policy-gradient children by default), so that the
//        ingest path, not TD3, is measured; the "learn s" column shows what learning still cost
//        (wall seconds summed over the experiments).
// Measured from the first submit to the last experiment's final state: evaluations/s (outcomes
// recorded by the experiments, each exactly once), coordinator CPU-seconds per 10,000 results
// (utime + stime from /proc/<pid>/stat) and what that CPU cost would allow on 2 cores, the cores
// the coordinator and the bench process (the fake workers share the machine) used, coordinator
// RSS (VmRSS) idle before the first submit, at half the budget and at the end, its peak (VmHWM),
// and the episodes per assignment the fake workers received. The "steady" columns repeat
// evaluations/s, CPU per 10k and the capacity for the middle half of the budget (25 % to 75 %):
// a coordinator serving running experiments, which is what a long study asks of it, without the
// fixed costs of a run (start-up, the experiments' first random batches, their final
// checkpoints of ~44 MB each) that weigh on a run of a few seconds. Goal: >= 20,000 evaluations/s
// on 2 cores with flat memory (end / mid ~ 1).
//
//   build/bench/bench_coordinator_capacity [--workers 1,2,4,8] [--modes me,pga] [--blas_threads
//   0,1]
//       [--evaluations 200000] [--experiments 4] [--batch_size 1000] [--episode_length 250]
//       [--hidden_sizes 64,64] [--csv bench_coordinator_capacity.csv] [--server_binary PATH]
// Profiling: --server_prefix "/usr/bin/valgrind --tool=callgrind" --startup_timeout_s 600, or
// perf record -p <the pid printed on stderr>.
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/fake_worker.h"
#include "client/experiment_client.h"
#include "common/config/config.h"
#include "common/subprocess.h"
#include "common/thread.h"

ABSL_FLAG(std::vector<std::string>, workers, std::vector<std::string>({"1", "2", "4", "8"}),
          "fake worker counts to measure");
ABSL_FLAG(std::vector<std::string>, modes, std::vector<std::string>({"me", "pga"}),
          "me: MAP_ELITES without transitions; pga: PGA_ME with transitions, learning minimised");
ABSL_FLAG(int64_t, evaluations, 200000,
          "evaluations per configuration, split evenly over --experiments (the steady columns "
          "measure the middle half of them)");
ABSL_FLAG(int, experiments, 4, "concurrent experiments per configuration");
ABSL_FLAG(int, batch_size, 1000, "emitter.batch_size (and initial population) of each experiment");
ABSL_FLAG(int, episode_length, 250, "env.episode_length (transition rows per result in pga mode)");
ABSL_FLAG(std::vector<std::string>, hidden_sizes, std::vector<std::string>({"64", "64"}),
          "policy.hidden_sizes (64,64: PointMaze-size, 4,482 parameters)");
ABSL_FLAG(int, episodes_per_lease, 32, "scheduler.episodes_per_lease of each experiment");
ABSL_FLAG(
    int, threads_per_worker, 8,
    "threads each fake worker declares (the coordinator keeps 4 episodes per thread in flight)");
ABSL_FLAG(std::vector<std::string>, blas_threads, std::vector<std::string>({"0", "1"}),
          "gdaqd-server --blas_threads values to measure (0: OpenBLAS's default, a thread per "
          "core, whose spinning competes with the fake workers for the cores; 1: the setting "
          "for a coordinator that shares its machine with workers)");
ABSL_FLAG(int, pga_critic_steps, 1, "pga mode: pga.critic_steps");
ABSL_FLAG(double, pga_isoline_fraction, 1.0, "pga mode: pga.isoline_fraction (1: no PG children)");
ABSL_FLAG(double, timeout_s, 120,
          "per configuration: experiments still running after this are cancelled (row marked)");
ABSL_FLAG(std::string, server_binary, GDAQD_SERVER_BINARY,
          "the gdaqd-server to measure (an A/B of two builds runs the same bench against each)");
ABSL_FLAG(std::string, server_prefix, "",
          "command put before gdaqd-server, split at spaces (profiling: \"valgrind "
          "--tool=callgrind --instr-atstart=no\"); the bench prints the server pid");
ABSL_FLAG(double, startup_timeout_s, 30,
          "how long the coordinator may take to start and go idle, and to stop (raise it under "
          "valgrind)");
ABSL_FLAG(std::string, log_dir, "bench_logs", "where the coordinators' logs go");
ABSL_FLAG(std::string, csv, "bench_coordinator_capacity.csv", "where the table goes as CSV");

namespace {

using gdaqd::common::Subprocess;

constexpr double kGoalEvaluationsPerSecond = 20000;
constexpr double kGoalCores = 2;
constexpr char kPortPrefix[] = "GDAQD_PORT=";
// The coordinator measures LibTorch's matmul rate after publishing its port; WaitIdle waits for
// that (at most --startup_timeout_s).
constexpr double kIdleCpuSeconds = 0.01;  // per kIdleWindow
constexpr absl::Duration kIdleWindow = absl::Milliseconds(300);
constexpr absl::Duration kSamplePeriod = absl::Milliseconds(100);
// The steady window, as fractions of the evaluation budget.
constexpr double kWindowStart = 0.25;
constexpr double kWindowEnd = 0.75;

// ---------------------------------------------------------------------------------------------
// /proc readers

// utime + stime of `pid` in seconds; -1 if unreadable.
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  // After "pid (comm)" come state (field 3), ..., utime (14), stime (15).
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(text).substr(paren + 2), ' ', absl::SkipEmpty());
  int64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A "VmRSS:"-style line of /proc/<pid>/status, in MiB; -1 if absent.
double StatusMiB(pid_t pid, absl::string_view field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (!absl::StartsWith(line, field)) continue;
    int64_t kib = 0;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) return kib / 1024.0;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// The coordinator process

absl::StatusOr<std::unique_ptr<Subprocess>> StartServer(const std::string& log_path,
                                                        int blas_threads, int* port) {
  std::vector<std::string> argv;
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_server_prefix), ' ', absl::SkipEmpty())) {
    argv.emplace_back(part);
  }
  // A fresh state directory per coordinator, removed after the run (StopServer): the bench
  // measures ingest, not restoring earlier runs, and must not fill the disk.
  const std::string state_dir = log_path + ".state";
  std::filesystem::remove_all(state_dir);
  argv.insert(argv.end(), {absl::GetFlag(FLAGS_server_binary), "--listen=127.0.0.1:0",
                           "--port_file=-", absl::StrCat("--state_dir=", state_dir),
                           absl::StrCat("--blas_threads=", blas_threads)});
  Subprocess::Options options;
  options.log_path = log_path;
  options.capture_stdout = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> server = Subprocess::Spawn(argv, options);
  if (!server.ok()) return server.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_startup_timeout_s));
  for (*port = 0; *port == 0;) {
    absl::StatusOr<std::string> line = (*server)->ReadLine(deadline - absl::Now());
    if (!line.ok()) {
      return absl::UnavailableError(absl::StrCat("the coordinator did not start (",
                                                 line.status().message(), "); see ", log_path));
    }
    if (absl::StartsWith(*line, kPortPrefix) &&
        !absl::SimpleAtoi(line->substr(sizeof(kPortPrefix) - 1), port)) {
      return absl::InternalError(absl::StrCat("bad port line from the coordinator: ", *line));
    }
  }
  return server;
}

// Waits until the coordinator's start-up work is over: less than kIdleCpuSeconds of CPU in
// kIdleWindow. DeadlineExceeded after --startup_timeout_s.
absl::Status WaitIdle(pid_t pid) {
  const absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_startup_timeout_s));
  double before = CpuSeconds(pid);
  while (absl::Now() < deadline) {
    absl::SleepFor(kIdleWindow);
    const double now = CpuSeconds(pid);
    if (now >= 0 && now - before < kIdleCpuSeconds) return absl::OkStatus();
    before = now;
  }
  return absl::DeadlineExceededError("the coordinator stayed busy after start-up");
}

// ---------------------------------------------------------------------------------------------
// One configuration

struct Measurement {
  int64_t evaluations = 0;  // recorded by the experiments
  int64_t answered = 0;     // answered by the fake workers
  int64_t assignments = 0;  // received by the fake workers
  double wall_s = 0, server_cpu_s = 0, bench_cpu_s = 0;
  double rss_start = 0, rss_mid = -1, rss_end = 0, rss_peak = 0;  // MiB
  double learn_s = 0;  // training + gradient seconds of the experiments (pga)
  // The steady window: from the first sample at >= kWindowStart of the budget to the first at
  // >= kWindowEnd (start-up, the first random batch and the final checkpoints left out).
  int64_t steady_evaluations = 0;
  double steady_wall_s = 0, steady_server_cpu_s = 0, steady_bench_cpu_s = 0;
  std::string note;  // empty, or why the row is incomplete
};

absl::StatusOr<gdaqd::v1::ExperimentConfig> ExperimentConfigFor(const std::string& mode, int seed,
                                                                int64_t budget) {
  std::string text = absl::StrCat(
      "env { task: \"point_maze\" episode_length: ", absl::GetFlag(FLAGS_episode_length), " }\n",
      "policy { hidden_sizes: [", absl::StrJoin(absl::GetFlag(FLAGS_hidden_sizes), ", "), "] }\n",
      "emitter { batch_size: ", absl::GetFlag(FLAGS_batch_size), " }\n",
      "budget { max_evaluations: ", budget, " }\n",
      "scheduler { episodes_per_lease: ", absl::GetFlag(FLAGS_episodes_per_lease), " }\n",
      "seed: ", seed, "\nname: \"capacity-", mode, "-", seed, "\"\n");
  if (mode == "me") {
    absl::StrAppend(&text, "algorithm: MAP_ELITES\n");
  } else if (mode == "pga") {
    absl::StrAppend(
        &text, "algorithm: PGA_ME\npga { critic_steps: ", absl::GetFlag(FLAGS_pga_critic_steps),
        " isoline_fraction: ", absl::GetFlag(FLAGS_pga_isoline_fraction),
        " device: \"cpu\" torch_threads: 1 }\n");
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown mode '", mode, "' (me, pga)"));
  }
  return gdaqd::common::ParseExperimentConfig(text);
}

// What the watcher threads share with the sampling loop.
struct Progress {
  absl::Mutex mu;
  std::vector<int64_t> evaluations ABSL_GUARDED_BY(mu);  // per experiment, last streamed
  // Per experiment: its final status, or why watching it failed.
  std::vector<absl::StatusOr<gdaqd::v1::ExperimentStatus>> final_status ABSL_GUARDED_BY(mu);
  int running ABSL_GUARDED_BY(mu) = 0;
  absl::Time last_end ABSL_GUARDED_BY(mu);  // when the last experiment reached its final state
};

// Samples RSS until every experiment is final or the timeout passes (then cancels them).
void SampleUntilDone(pid_t pid, int64_t budget, gdaqd::client::ExperimentClient& client,
                     const std::vector<std::string>& ids, Progress& progress, Measurement& m) {
  const absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_timeout_s));
  auto all_done = [&progress]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress.mu) { return progress.running == 0; };
  struct Mark {
    int64_t done = -1;
    absl::Time time;
    double server_cpu = 0, bench_cpu = 0;
  } window_start;
  for (bool cancelled = false;;) {
    int64_t done = 0;
    {
      absl::MutexLock lock(&progress.mu);
      if (progress.mu.AwaitWithTimeout(absl::Condition(&all_done), kSamplePeriod)) return;
      for (int64_t e : progress.evaluations) done += e;
    }
    if (m.rss_mid < 0 && 2 * done >= budget) m.rss_mid = StatusMiB(pid, "VmRSS:");
    const double fraction = static_cast<double>(done) / static_cast<double>(budget);
    if (window_start.done < 0 && fraction >= kWindowStart) {
      window_start = {done, absl::Now(), CpuSeconds(pid), CpuSeconds(getpid())};
    } else if (window_start.done >= 0 && m.steady_evaluations == 0 && fraction >= kWindowEnd) {
      m.steady_evaluations = done - window_start.done;
      m.steady_wall_s = absl::ToDoubleSeconds(absl::Now() - window_start.time);
      m.steady_server_cpu_s = CpuSeconds(pid) - window_start.server_cpu;
      m.steady_bench_cpu_s = CpuSeconds(getpid()) - window_start.bench_cpu;
    }
    if (!cancelled && absl::Now() > deadline) {
      cancelled = true;
      m.note = "timeout: cancelled";
      for (const std::string& id : ids) (void)client.Cancel(id);
    }
  }
}

// One client per watcher (ExperimentClient cancels one Watch per client) plus one for submits,
// the last.
absl::StatusOr<std::vector<std::unique_ptr<gdaqd::client::ExperimentClient>>> ConnectClients(
    const std::string& address, int watchers) {
  std::vector<std::unique_ptr<gdaqd::client::ExperimentClient>> clients;
  for (int i = 0; i <= watchers; ++i) {
    auto client = gdaqd::client::ExperimentClient::Connect(address, absl::Seconds(20));
    if (!client.ok()) return client.status();
    clients.push_back(*std::move(client));
  }
  return clients;
}

// Totals of the final statuses; the first failure becomes the row's note.
void Summarise(Progress& progress, Measurement& m) {
  absl::MutexLock lock(&progress.mu);
  for (const auto& status : progress.final_status) {
    if (!status.ok()) {
      if (m.note.empty()) m.note = absl::StrCat("watch: ", status.status().ToString());
      continue;
    }
    m.evaluations += status->progress().evaluations();
    m.learn_s += status->progress().training_seconds() + status->progress().gradient_seconds();
    if (status->state() != gdaqd::v1::SUCCEEDED && m.note.empty()) {
      m.note = absl::StrCat(gdaqd::v1::ExperimentState_Name(status->state()), " ", status->error());
    }
  }
}

// Submits the experiments, watches them to the end, and fills every field but the workers'.
absl::Status RunExperiments(const std::string& mode, const std::string& address, pid_t pid,
                            Measurement& m) {
  const int n = absl::GetFlag(FLAGS_experiments);
  const int64_t per_experiment = absl::GetFlag(FLAGS_evaluations) / n;
  std::vector<gdaqd::v1::ExperimentConfig> configs;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<gdaqd::v1::ExperimentConfig> config =
        ExperimentConfigFor(mode, i, per_experiment);
    if (!config.ok()) return config.status();
    configs.push_back(*std::move(config));
  }
  auto clients = ConnectClients(address, n);
  if (!clients.ok()) return clients.status();
  Progress progress;
  {
    absl::MutexLock lock(&progress.mu);
    progress.evaluations.assign(n, 0);
    progress.final_status.assign(n, absl::UnknownError("not watched"));
    progress.running = n;
  }
  const double cpu0 = CpuSeconds(pid), self0 = CpuSeconds(getpid());
  const absl::Time start = absl::Now();
  std::vector<std::string> ids;
  for (const auto& config : configs) {
    absl::StatusOr<std::string> id = (*clients)[n]->Submit(config);
    if (!id.ok()) return id.status();
    ids.push_back(*id);
  }
  std::vector<std::unique_ptr<gdaqd::common::Thread>> watchers;
  for (int i = 0; i < n; ++i) {
    watchers.push_back(std::make_unique<gdaqd::common::Thread>("watch", [&, i] {
      auto last = (*clients)[i]->Watch(ids[i], [&](const gdaqd::v1::ExperimentStatus& s) {
        absl::MutexLock lock(&progress.mu);
        progress.evaluations[i] = s.progress().evaluations();
      });
      absl::MutexLock lock(&progress.mu);
      progress.final_status[i] = std::move(last);
      progress.last_end = absl::Now();
      --progress.running;
    }));
  }
  SampleUntilDone(pid, per_experiment * n, *(*clients)[n], ids, progress, m);
  watchers.clear();  // joins
  m.server_cpu_s = CpuSeconds(pid) - cpu0;
  m.bench_cpu_s = CpuSeconds(getpid()) - self0;
  {
    absl::MutexLock lock(&progress.mu);
    m.wall_s = absl::ToDoubleSeconds(progress.last_end - start);
  }
  Summarise(progress, m);
  return absl::OkStatus();
}

absl::StatusOr<Measurement> Measure(const std::string& mode, int num_workers, int blas_threads) {
  const std::string log_path = absl::StrCat(absl::GetFlag(FLAGS_log_dir), "/capacity_server_", mode,
                                            "_blas", blas_threads, "_", num_workers, ".log");
  int port = 0;
  absl::StatusOr<std::unique_ptr<Subprocess>> server = StartServer(log_path, blas_threads, &port);
  if (!server.ok()) return server.status();
  const pid_t pid = (*server)->pid();
  std::fprintf(stderr, "mode=%s blas_threads=%d workers=%d: coordinator pid %d port %d\n",
               mode.c_str(), blas_threads, num_workers, static_cast<int>(pid), port);
  if (absl::Status idle = WaitIdle(pid); !idle.ok()) return idle;
  Measurement m;
  m.rss_start = StatusMiB(pid, "VmRSS:");
  const std::string address = absl::StrCat("127.0.0.1:", port);
  std::vector<std::unique_ptr<gdaqd::bench::FakeWorker>> workers;
  for (int i = 0; i < num_workers; ++i) {
    gdaqd::bench::FakeWorker::Options options;
    options.address = address;
    options.worker_id = absl::StrCat("fake-", i);
    options.threads = absl::GetFlag(FLAGS_threads_per_worker);
    options.seed = static_cast<uint64_t>(i);
    absl::StatusOr<std::unique_ptr<gdaqd::bench::FakeWorker>> worker =
        gdaqd::bench::FakeWorker::Start(options);
    if (!worker.ok()) return worker.status();
    workers.push_back(*std::move(worker));
  }
  if (absl::Status run = RunExperiments(mode, address, pid, m); !run.ok()) return run;
  m.rss_end = StatusMiB(pid, "VmRSS:");
  m.rss_peak = StatusMiB(pid, "VmHWM:");
  for (auto& worker : workers) {
    m.answered += worker->answered();
    m.assignments += worker->assignments();
    absl::Status status = worker->status();
    if (!status.ok() && m.note.empty()) m.note = absl::StrCat("fake worker: ", status.ToString());
  }
  workers.clear();  // closes the streams before the coordinator goes
  (*server)->Stop(absl::Seconds(absl::GetFlag(FLAGS_startup_timeout_s)));
  std::filesystem::remove_all(log_path + ".state");
  return m;
}

// ---------------------------------------------------------------------------------------------
// Table

std::vector<std::string> Row(const std::string& mode, int blas_threads, int workers,
                             const Measurement& m) {
  const double rate = m.wall_s > 0 ? m.evaluations / m.wall_s : 0;
  const double cpu_per_10k = m.evaluations > 0 ? m.server_cpu_s * 1e4 / m.evaluations : 0;
  // What the coordinator alone could ingest with both cores to itself.
  const double capacity = cpu_per_10k > 0 ? kGoalCores * 1e4 / cpu_per_10k : 0;
  const double steady_rate = m.steady_wall_s > 0 ? m.steady_evaluations / m.steady_wall_s : 0;
  const double steady_cpu_per_10k =
      m.steady_evaluations > 0 ? m.steady_server_cpu_s * 1e4 / m.steady_evaluations : 0;
  const double steady_capacity = steady_cpu_per_10k > 0 ? kGoalCores * 1e4 / steady_cpu_per_10k : 0;
  return {mode,
          absl::StrCat(blas_threads),
          absl::StrCat(workers),
          absl::StrCat(m.evaluations),
          absl::StrFormat("%.2f", m.wall_s),
          absl::StrFormat("%.0f", rate),
          absl::StrFormat("%.2f", rate / kGoalEvaluationsPerSecond),
          absl::StrFormat("%.2f", cpu_per_10k),
          absl::StrFormat("%.2f", m.wall_s > 0 ? m.server_cpu_s / m.wall_s : 0),
          absl::StrFormat("%.2f", m.wall_s > 0 ? m.bench_cpu_s / m.wall_s : 0),
          absl::StrFormat("%.0f", capacity),
          absl::StrFormat("%.2f", capacity / kGoalEvaluationsPerSecond),
          absl::StrFormat("%.0f", steady_rate),
          absl::StrFormat("%.2f", steady_rate / kGoalEvaluationsPerSecond),
          absl::StrFormat("%.2f", steady_cpu_per_10k),
          absl::StrFormat("%.2f", m.steady_wall_s > 0 ? m.steady_bench_cpu_s / m.steady_wall_s : 0),
          absl::StrFormat("%.2f", steady_capacity / kGoalEvaluationsPerSecond),
          absl::StrFormat("%.0f", m.rss_start),
          absl::StrFormat("%.0f", m.rss_mid),
          absl::StrFormat("%.0f", m.rss_end),
          absl::StrFormat("%.0f", m.rss_peak),
          absl::StrFormat("%.2f", m.rss_mid > 0 ? m.rss_end / m.rss_mid : 0),
          absl::StrFormat("%.2f", m.learn_s),
          absl::StrFormat("%.1f", m.assignments > 0 ? 1.0 * m.answered / m.assignments : 0),
          m.answered == m.evaluations ? "" : absl::StrCat(m.answered - m.evaluations),
          m.note};
}

std::vector<std::string> Header() {
  return {"mode",
          "blas threads",
          "workers",
          "evaluations",
          "wall s",
          "eval/s",
          "eval/s / goal",
          "coord CPU-s / 10k",
          "coord cores",
          "bench cores",
          "2-core capacity (coord CPU)",
          "capacity / goal",
          "steady eval/s",
          "steady eval/s / goal",
          "steady coord CPU-s / 10k",
          "steady bench cores",
          "steady capacity / goal",
          "RSS idle MiB",
          "RSS mid MiB",
          "RSS end MiB",
          "RSS peak MiB",
          "end / mid",
          "learn s",
          "episodes / assignment",
          "answered - recorded",
          "note"};
}

void PrintReport(const gdaqd::bench::Table& table, absl::Duration elapsed) {
  std::printf(
      "Coordinator capacity: one gdaqd-server, N zero-physics fake workers (in the bench "
      "process), %d concurrent point_maze experiments, (%s) MLP, batch %d, episode_length "
      "%d, %d episodes per lease, %d threads declared per worker; me = MAP_ELITES, pga = PGA_ME "
      "with transitions (critic_steps %d, isoline_fraction %.2f)\nmachine: %s\ndate: %s "
      "(whole run %.0f s)\n\n%s",
      absl::GetFlag(FLAGS_experiments),
      absl::StrJoin(absl::GetFlag(FLAGS_hidden_sizes), ",").c_str(),
      absl::GetFlag(FLAGS_batch_size), absl::GetFlag(FLAGS_episode_length),
      absl::GetFlag(FLAGS_episodes_per_lease), absl::GetFlag(FLAGS_threads_per_worker),
      absl::GetFlag(FLAGS_pga_critic_steps), absl::GetFlag(FLAGS_pga_isoline_fraction),
      gdaqd::bench::MachineDescription().c_str(), gdaqd::bench::NowUtc().c_str(),
      absl::ToDoubleSeconds(elapsed), table.ToText().c_str());
  std::printf(
      "\ngoal: >= %.0f evaluations/s on %.0f cores (eval/s / goal >= 1 with the fake workers on "
      "the same cores; capacity / goal >= 1 for the coordinator's own CPU) and flat memory "
      "(end / mid ~ 1.00). The steady columns cover the evaluations from %.0f %% to %.0f %% of "
      "each row's budget: the coordinator serving running experiments, without its start-up, "
      "the experiments' first random batches and their final checkpoints\n",
      kGoalEvaluationsPerSecond, kGoalCores, 100 * kWindowStart, 100 * kWindowEnd);
}

int Main() {
  std::filesystem::create_directories(absl::GetFlag(FLAGS_log_dir));
  gdaqd::bench::Table table(Header());
  const absl::Time start = absl::Now();
  std::vector<int> worker_counts, blas_counts;
  for (const std::string& count : absl::GetFlag(FLAGS_workers)) {
    int workers = 0;
    if (!absl::SimpleAtoi(count, &workers) || workers < 1) {
      std::fprintf(stderr, "error: --workers needs positive counts, got '%s'\n", count.c_str());
      return 1;
    }
    worker_counts.push_back(workers);
  }
  for (const std::string& count : absl::GetFlag(FLAGS_blas_threads)) {
    int blas = 0;
    if (!absl::SimpleAtoi(count, &blas) || blas < 0) {
      std::fprintf(stderr, "error: --blas_threads needs counts >= 0, got '%s'\n", count.c_str());
      return 1;
    }
    blas_counts.push_back(blas);
  }
  for (const std::string& mode : absl::GetFlag(FLAGS_modes)) {
    for (const int blas : blas_counts) {
      for (const int workers : worker_counts) {
        absl::StatusOr<Measurement> m = Measure(mode, workers, blas);
        if (!m.ok()) {
          std::fprintf(stderr, "error: mode %s, blas %d, %d workers: %s\n", mode.c_str(), blas,
                       workers, m.status().ToString().c_str());
          return 1;
        }
        table.AddRow(Row(mode, blas, workers, *m));
        std::fprintf(stderr, "%s", table.ToText().c_str());
      }
    }
  }
  PrintReport(table, absl::Now() - start);
  if (!table.WriteCsv(absl::GetFlag(FLAGS_csv))) {
    std::fprintf(stderr, "error: cannot write %s\n", absl::GetFlag(FLAGS_csv).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return Main();
}
