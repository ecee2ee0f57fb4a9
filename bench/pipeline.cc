// The learning schedules side by side (issue 10): GDA-QD on ant_trap through the real system, one
// gdaqd-server pinned to one core and one gdaqd-worker pinned to the other (taskset), run once
// with scheduler.learning_schedule SYNCHRONOUS (the paper's Algorithm 1: evaluate, then learn and
// ask) and once PIPELINED (learn from batch t-1 and ask batch t+1 while batch t is evaluated).
// Per schedule, over the steady-state iterations (the first two are the bootstrap: random
// population, then the first training before anything can be asked ahead):
//   eval s/it   real evaluation (the worker's share: the batch from dispatch to its last result)
//   learn s/it  the coordinator's learning: ensemble and critic training, imagination, gradient
//               children (LearningStats' seconds)
//   wall s/it   wall time per iteration
//   ratio       wall / max(eval, learn); goal for PIPELINED <= 1.15 (SYNCHRONOUS is about
//               (eval + learn) / max(eval, learn) by construction)
// and the QD-score % at the end (the schedules differ in what they learn from: this is one seed,
// a cost measurement, not a sample-efficiency comparison).
//
//   build/bench/bench_pipeline [--task ant_trap] [--iterations 12] [--batch 100] [--seed 0]
//                              [--cores 0,1] [--csv pipeline.csv]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "client/experiment_client.h"
#include "client/local_cluster.h"
#include "common/config/config.h"
#include "common/status_macros.h"

ABSL_FLAG(std::string, task, "ant_trap", "task");
ABSL_FLAG(int, iterations, 12, "real iterations per schedule (the first two are not measured)");
ABSL_FLAG(int, batch, 100, "policies per iteration (and initial population)");
ABSL_FLAG(int64_t, seed, 0, "experiment seed");
ABSL_FLAG(std::string, cores, "0,1", "coordinator core,worker core (taskset -c)");
ABSL_FLAG(std::string, csv, "", "also write the table here");
ABSL_FLAG(std::string, config_extra, "", "text-format fields merged into both configs");

namespace gdaqd::bench {
namespace {

constexpr int kBootstrapIterations = 2;

// An executable script that runs `binary` pinned to `core` (exec keeps the pid, so the cluster's
// signals reach the binary itself).
std::string PinnedLauncher(const std::string& dir, const std::string& name,
                           const std::string& binary, const std::string& core) {
  const std::string path = absl::StrCat(dir, "/", name);
  std::ofstream(path) << "#!/bin/sh\nexec taskset -c " << core << " " << binary << " \"$@\"\n";
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path;
}

struct Measured {
  std::string schedule;
  double eval = 0, learn = 0, wall = 0;  // seconds per steady-state iteration
  double qd_score_pct = 0;
  int iterations = 0;
};

double Learning(const gdaqd::v1::ProgressSnapshot& p) {
  return p.training_seconds() + p.imagination_seconds() + p.gradient_seconds();
}

absl::StatusOr<Measured> RunSchedule(const std::string& schedule, const std::string& dir) {
  const std::vector<std::string> cores = absl::StrSplit(absl::GetFlag(FLAGS_cores), ',');
  if (cores.size() != 2) return absl::InvalidArgumentError("--cores must be two cores, a,b");
  client::LocalClusterOptions options;
  options.workers = 1;
  options.threads_per_worker = 1;
  options.log_dir = absl::StrCat(dir, "/logs_", schedule);
  options.server_binary = PinnedLauncher(dir, "server.sh", GDAQD_SERVER_BINARY, cores[0]);
  options.worker_binary = PinnedLauncher(dir, "worker.sh", GDAQD_WORKER_BINARY, cores[1]);
  options.server_args = {"--blas_threads=1"};
  GDAQD_ASSIGN_OR_RETURN(auto cluster, client::LocalCluster::Start(options));
  GDAQD_ASSIGN_OR_RETURN(auto client,
                         client::ExperimentClient::Connect(cluster->address(), absl::Seconds(20)));
  const int batch = absl::GetFlag(FLAGS_batch);
  GDAQD_ASSIGN_OR_RETURN(
      gdaqd::v1::ExperimentConfig config,
      common::ParseExperimentConfig(absl::StrCat(
          "name: \"pipeline_", schedule, "\" algorithm: GDA_QD seed: ", absl::GetFlag(FLAGS_seed),
          " env { task: \"", absl::GetFlag(FLAGS_task), "\" } emitter { batch_size: ", batch,
          " } budget { max_evaluations: ", int64_t{batch} * absl::GetFlag(FLAGS_iterations),
          " } scheduler { learning_schedule: ", schedule, " } ",
          absl::GetFlag(FLAGS_config_extra))));
  GDAQD_ASSIGN_OR_RETURN(std::string id, client->Submit(config));
  std::fprintf(stderr, "%s: running %s\n", schedule.c_str(), id.c_str());
  gdaqd::v1::ExperimentStatus status;
  do {
    absl::SleepFor(absl::Seconds(2));
    GDAQD_ASSIGN_OR_RETURN(status, client->Get(id));
  } while (status.state() == gdaqd::v1::PENDING || status.state() == gdaqd::v1::RUNNING);
  if (status.state() != gdaqd::v1::SUCCEEDED) {
    return absl::InternalError(absl::StrCat(schedule, " ended ", status.error()));
  }
  GDAQD_ASSIGN_OR_RETURN(client::ExportedArchive exported, client->Export(id));
  const auto& history = exported.header.history();
  if (history.size() <= kBootstrapIterations + 1) {
    return absl::InvalidArgumentError("--iterations leaves no steady-state iteration to measure");
  }
  const gdaqd::v1::ProgressSnapshot& from = history[kBootstrapIterations - 1];
  const gdaqd::v1::ProgressSnapshot& to = history[history.size() - 1];
  Measured m;
  m.schedule = schedule;
  m.iterations = history.size() - kBootstrapIterations;
  m.eval = (to.evaluation_seconds() - from.evaluation_seconds()) / m.iterations;
  m.learn = (Learning(to) - Learning(from)) / m.iterations;
  m.wall = (to.wall_seconds() - from.wall_seconds()) / m.iterations;
  m.qd_score_pct = to.qd_score_pct();
  return m;
}

int Main() {
  const std::string dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("gdaqd-pipeline-", getpid())).string();
  std::filesystem::create_directories(dir);
  Table table({"schedule", "iterations measured", "eval s/it", "learn s/it", "wall s/it",
               "max(eval, learn)", "ratio wall / max", "goal", "QD-score % at the end"});
  int exit_code = 0;
  for (const std::string schedule : {"SYNCHRONOUS", "PIPELINED"}) {
    absl::StatusOr<Measured> m = RunSchedule(schedule, dir);
    if (!m.ok()) {
      std::fprintf(stderr, "error: %s\n", m.status().ToString().c_str());
      exit_code = 1;
      break;
    }
    const double limit = std::max(m->eval, m->learn);
    table.AddRow({m->schedule, absl::StrCat(m->iterations), absl::StrFormat("%.2f", m->eval),
                  absl::StrFormat("%.2f", m->learn), absl::StrFormat("%.2f", m->wall),
                  absl::StrFormat("%.2f", limit), absl::StrFormat("%.2f", m->wall / limit),
                  schedule == "PIPELINED" ? "<= 1.15" : "-",
                  absl::StrFormat("%.2f", m->qd_score_pct)});
  }
  std::filesystem::remove_all(dir);
  std::printf(
      "GDA-QD on %s, batch %d, coordinator and one worker (1 thread) pinned to cores %s"
      "\nmachine: %s\ndate: %s\n\n%s",
      absl::GetFlag(FLAGS_task).c_str(), absl::GetFlag(FLAGS_batch),
      absl::GetFlag(FLAGS_cores).c_str(), MachineDescription().c_str(), NowUtc().c_str(),
      table.ToText().c_str());
  if (!absl::GetFlag(FLAGS_csv).empty() && !table.WriteCsv(absl::GetFlag(FLAGS_csv))) {
    std::fprintf(stderr, "error: cannot write %s\n", absl::GetFlag(FLAGS_csv).c_str());
    return 1;
  }
  return exit_code;
}

}  // namespace
}  // namespace gdaqd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return gdaqd::bench::Main();
}
