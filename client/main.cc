// gdaqd: the command-line client. Submits and follows experiments on a coordinator, exports
// results folders, replays elites, and runs the embedded local mode (`gdaqd run`).
// Commands, flags and exit codes: client/cli_help.cc (what `gdaqd help COMMAND` prints) and
// docs/cli.md.
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/cli_help.h"
#include "client/experiment_client.h"
#include "client/local_cluster.h"
#include "client/progress.h"
#include "client/provenance.h"
#include "client/replay.h"
#include "client/results_folder.h"
#include "client/signal_watcher.h"
#include "common/config/algorithm_rules.h"
#include "common/config/config.h"
#include "common/logging.h"
#include "common/thread.h"
#include "common/tls.h"
#include "worker/sim/mujoco_tasks.h"

#ifndef GDAQD_GIT_COMMIT
#define GDAQD_GIT_COMMIT "unknown"
#endif

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "coordinator address host:port");
ABSL_FLAG(int, workers, 2, "local worker processes to start (0: none; start your own)");
ABSL_FLAG(int, threads, 1, "rollout threads per local worker");
ABSL_FLAG(std::string, out, "",
          "run: the results folder to write (default runs/<config>-<time>); replay: where "
          "trajectory_N.csv goes (default the results folder); compare: where the table and "
          "figures go (default comparison)");
ABSL_FLAG(bool, force, false,
          "write into a non-empty results folder, removing the results files already there "
          "(trajectory_*.csv, logs/, state/ included); other files are kept");
ABSL_FLAG(std::string, cell, "",
          "archive cell of the elite to re-run: a number, or \"best\" for the fittest elite");
ABSL_FLAG(int, connect_timeout_s, 10, "seconds to wait for the coordinator");
ABSL_FLAG(int, verbosity, 0, "verbose logging level (1: per RPC, 2: per episode)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA that signed the coordinator's certificate; turns TLS on");
ABSL_FLAG(std::string, tls_server_name, "",
          "name to check in the coordinator's certificate instead of the --coordinator host");
ABSL_FLAG(std::string, token_file, "", "file whose first line is your bearer token");

namespace {

using gdaqd::client::ExperimentClient;
using gdaqd::client::Provenance;
using gdaqd::client::SignalWatcher;

// How long `run` and `watch` wait for a first worker before saying how to start one.
constexpr absl::Duration kNoWorkerWarningAfter = absl::Seconds(5);

// Prints `status` as one line "error: CODE: message" and returns the exit code.
int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", status.ToString().c_str());
  return 1;
}

int UsageError(const std::string& message, const std::string& command) {
  const gdaqd::client::CommandHelp* help = gdaqd::client::FindCommand(command);
  std::fprintf(stderr, "error: %s\n\n%s", message.c_str(),
               help != nullptr ? gdaqd::client::CommandUsage(*help).c_str()
                               : gdaqd::client::OverviewUsage().c_str());
  return 2;
}

bool IsFinal(gdaqd::v1::ExperimentState state) {
  return state == gdaqd::v1::SUCCEEDED || state == gdaqd::v1::FAILED ||
         state == gdaqd::v1::CANCELLED;
}

// Connects to `address`; with `remote`, over TLS and with the token the flags name (`gdaqd run`'s
// own loopback coordinator runs without either).
absl::StatusOr<std::unique_ptr<ExperimentClient>> ConnectClient(const std::string& address,
                                                                bool remote) {
  gdaqd::common::ClientSecurity security;
  if (remote) {
    gdaqd::common::ClientSecurityOptions options;
    options.ca_file = absl::GetFlag(FLAGS_tls_ca);
    options.server_name = absl::GetFlag(FLAGS_tls_server_name);
    options.token_file = absl::GetFlag(FLAGS_token_file);
    absl::StatusOr<gdaqd::common::ClientSecurity> loaded =
        gdaqd::common::LoadClientSecurity(options);
    if (!loaded.ok()) return loaded.status();
    security = *std::move(loaded);
  }
  return ExperimentClient::Connect(address, absl::Seconds(absl::GetFlag(FLAGS_connect_timeout_s)),
                                   std::move(security));
}

// Follows `id` with a progress line; returns the final status. If no worker is connected
// kNoWorkerWarningAfter after the start, prints a warning ending in `hint` and keeps waiting.
absl::StatusOr<gdaqd::v1::ExperimentStatus> WatchWithProgress(ExperimentClient& client,
                                                              const std::string& id,
                                                              const std::string& hint) {
  gdaqd::client::ProgressPrinter printer(stdout);
  absl::Notification done;
  gdaqd::common::Thread no_workers("no-workers", [&] {
    if (done.WaitForNotificationWithTimeout(kNoWorkerWarningAfter)) return;
    absl::StatusOr<gdaqd::v1::ExperimentStatus> status = client.Get(id);
    if (status.ok() && status->connected_workers() == 0 && !IsFinal(status->state())) {
      printer.Note(absl::StrCat("warning: no worker has connected after ",
                                absl::FormatDuration(kNoWorkerWarningAfter), "; ", hint));
    }
  });
  absl::StatusOr<gdaqd::v1::ExperimentStatus> final_status =
      client.Watch(id, [&](const gdaqd::v1::ExperimentStatus& s) { printer.Update(s); });
  done.Notify();
  no_workers.Join();
  printer.Finish();
  return final_status;
}

std::string WorkerHint(const std::string& address) {
  return absl::StrCat("still waiting; start one with: gdaqd-worker --coordinator=", address);
}

// Exports `id` into `dir` with provenance.json (`provenance`'s experiment, state and end time
// are filled here; its start defaults to the submission time).
int ExportTo(ExperimentClient& client, const std::string& id, const std::string& dir,
             Provenance provenance) {
  absl::StatusOr<gdaqd::client::ExportedArchive> archive = client.Export(id);
  if (!archive.ok()) return Fail(archive.status());
  const gdaqd::v1::ExperimentStatus& status = archive->header.status();
  provenance.experiment_id = id;
  provenance.final_state = gdaqd::v1::ExperimentState_Name(status.state());
  provenance.coordinator = client.address();
  if (provenance.start_time == absl::InfinitePast() && status.submitted_unix_ms() > 0) {
    provenance.start_time = absl::FromUnixMillis(status.submitted_unix_ms());
  }
  provenance.end_time = absl::Now();
  if (absl::Status written = gdaqd::client::WriteResultsFolder(dir, *archive, &provenance);
      !written.ok()) {
    return Fail(written);
  }
  std::printf(
      "results: %s (%s elites; archive.svg, progress.svg, metrics.csv, archive.csv, "
      "archive_params.npy, provenance.json)\n",
      std::filesystem::absolute(dir).c_str(),
      gdaqd::client::WithThousands(archive->header.num_elites()).c_str());
  return 0;
}

// PrepareResultsFolder with --force, saying what it removed.
absl::Status PrepareOut(const std::string& dir) {
  absl::StatusOr<int> removed =
      gdaqd::client::PrepareResultsFolder(dir, absl::GetFlag(FLAGS_force));
  if (!removed.ok()) return removed.status();
  if (*removed > 0)
    std::printf("--force: removed %d old results entries from %s\n", *removed, dir.c_str());
  return absl::OkStatus();
}

std::string DefaultOutDir(const std::string& config_path) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::localtime(&now));
  return absl::StrCat("runs/", std::filesystem::path(config_path).stem().string(), "-", stamp);
}

// "experiment exp-1: GDA_QD on point_maze, 3,000 evaluations" (or "100,000 environment steps"
// for a step budget), flushed (scripts wait for it).
void PrintSubmitted(const std::string& id, const gdaqd::v1::ExperimentConfig& config) {
  const bool steps = config.budget().max_env_steps() > 0;
  std::printf("experiment %s: %s on %s, %s %s\n", id.c_str(),
              gdaqd::common::AlgorithmName(config.algorithm()).c_str(), config.env().task().c_str(),
              gdaqd::client::WithThousands(steps ? config.budget().max_env_steps()
                                                 : config.budget().max_evaluations())
                  .c_str(),
              steps ? "environment steps" : "evaluations");
  std::fflush(stdout);
}

// `gdaqd run`'s process tree: logs and the coordinator's state inside the results folder.
gdaqd::client::LocalClusterOptions LocalRunOptions(const std::string& out) {
  gdaqd::client::LocalClusterOptions options;
  options.workers = absl::GetFlag(FLAGS_workers);
  options.threads_per_worker = absl::GetFlag(FLAGS_threads);
  options.log_dir = (std::filesystem::path(out) / "logs").string();
  options.state_dir = (std::filesystem::path(out) / "state").string();
  return options;
}

int Run(const std::string& config_path, SignalWatcher& signals, Provenance provenance) {
  absl::StatusOr<gdaqd::v1::ExperimentConfig> config =
      gdaqd::common::LoadExperimentConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) out = DefaultOutDir(config_path);
  // Before anything is started or written: a non-empty --out is refused without --force.
  if (absl::Status prepared = PrepareOut(out); !prepared.ok()) return Fail(prepared);
  provenance.start_time = absl::Now();

  std::shared_ptr<ExperimentClient> client;
  std::string id;
  absl::Mutex mu;  // guards client and id for the signal thread
  signals.set_on_signal(
      [&] {
        absl::MutexLock lock(&mu);
        if (client != nullptr && !id.empty()) (void)client->Cancel(id);
      },
      "cancelling the experiment; the results so far will be written");
  // The callback uses this frame's locals.
  absl::Cleanup reset_signals = [&] { signals.set_on_signal(nullptr, ""); };

  const gdaqd::client::LocalClusterOptions options = LocalRunOptions(out);
  absl::StatusOr<std::unique_ptr<gdaqd::client::LocalCluster>> cluster =
      gdaqd::client::LocalCluster::Start(options);
  if (!cluster.ok()) return Fail(cluster.status());
  std::printf("local coordinator on %s with %d worker processes x %d threads (logs: %s)\n",
              (*cluster)->address().c_str(), options.workers, options.threads_per_worker,
              options.log_dir.c_str());

  absl::StatusOr<std::unique_ptr<ExperimentClient>> connected =
      ConnectClient((*cluster)->address(), /*remote=*/false);
  if (!connected.ok()) return Fail(connected.status());
  absl::StatusOr<std::string> submitted = (*connected)->Submit(*config);
  if (!submitted.ok()) return Fail(submitted.status());
  {
    absl::MutexLock lock(&mu);
    client = std::move(connected).value();
    id = *submitted;
  }
  if (signals.interrupted()) (void)client->Cancel(id);  // Ctrl-C while starting up
  PrintSubmitted(id, *config);
  const std::string hint =
      options.workers > 0
          ? absl::StrCat("still waiting; see the workers' logs in ", options.log_dir)
          : WorkerHint((*cluster)->address());
  absl::StatusOr<gdaqd::v1::ExperimentStatus> final_status = WatchWithProgress(*client, id, hint);
  if (!final_status.ok()) return Fail(final_status.status());
  // Whatever the final state, the archive so far is exported: nothing is lost on cancel.
  const int exported = ExportTo(*client, id, out, std::move(provenance));
  (*cluster)->Stop();
  // A failed export is the error to report; otherwise an interruption is what ended the run.
  if (exported != 0) return exported;
  if (signals.interrupted()) return gdaqd::client::kInterruptedExitCode;
  if (final_status->state() == gdaqd::v1::FAILED) {
    std::fprintf(stderr, "error: experiment failed: %s\n", final_status->error().c_str());
    return 1;
  }
  return 0;
}

int Replay(const std::string& dir) {
  const std::string cell_flag = absl::GetFlag(FLAGS_cell);
  int64_t cell = -1;
  if (cell_flag == "best") {
    absl::StatusOr<int64_t> best = gdaqd::client::FittestCell(dir);
    if (!best.ok()) return Fail(best.status());
    cell = *best;
  } else if (!absl::SimpleAtoi(cell_flag, &cell) || cell < 0) {
    return UsageError(
        absl::StrCat("replay needs --cell N (N >= 0) or --cell best, not '", cell_flag, "'"),
        "replay");
  }
  absl::StatusOr<gdaqd::client::ReplayResult> result =
      gdaqd::client::ReplayElite(dir, cell, absl::GetFlag(FLAGS_out));
  if (!result.ok()) return Fail(result.status());
  std::printf("cell %lld: fitness %.9g (archived %.9g), descriptor", static_cast<long long>(cell),
              result->fitness, result->archived_fitness);
  for (size_t i = 0; i < result->descriptor.size(); ++i) {
    std::printf(" %.9g (archived %.9g)", result->descriptor[i], result->archived_descriptor[i]);
  }
  std::printf(", %d steps\n%s\ntrajectory: %s\n", result->length,
              result->matches ? "matches the archive" : "DOES NOT match the archive",
              result->trajectory_path.c_str());
  return result->matches ? 0 : 2;
}

int Compare(const std::vector<std::string>& args) {
  std::vector<gdaqd::client::ComparedRun> runs;
  for (size_t i = 1; i < args.size(); ++i) {
    absl::StatusOr<gdaqd::client::ComparedRun> run = gdaqd::client::LoadComparedRun(args[i]);
    if (!run.ok()) return Fail(run.status());
    runs.push_back(*std::move(run));
  }
  std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) out = "comparison";
  if (absl::Status written = gdaqd::client::WriteComparison(out, runs); !written.ok()) {
    return Fail(written);
  }
  std::printf("comparison of %zu runs: %s (table1.csv, table1.md, progress_<task>.svg)\n",
              runs.size(), std::filesystem::absolute(out).c_str());
  return 0;
}

int Watch(ExperimentClient& client, const std::string& id, SignalWatcher& signals) {
  signals.set_on_signal([&] { client.TryCancelWatch(); },
                        "stopping the watch; the experiment keeps running");
  absl::Cleanup reset_signals = [&] { signals.set_on_signal(nullptr, ""); };
  absl::StatusOr<gdaqd::v1::ExperimentStatus> status =
      signals.interrupted() ? absl::CancelledError("interrupted")
                            : WatchWithProgress(client, id, WorkerHint(client.address()));
  if (signals.interrupted()) {
    std::printf("experiment %s keeps running; gdaqd cancel %s stops it\n", id.c_str(), id.c_str());
    return gdaqd::client::kInterruptedExitCode;
  }
  if (!status.ok()) return Fail(status.status());
  return status->state() == gdaqd::v1::SUCCEEDED ? 0 : 1;
}

int Cancel(ExperimentClient& client, const std::string& id) {
  absl::StatusOr<gdaqd::v1::ExperimentStatus> before = client.Get(id);
  if (!before.ok()) return Fail(before.status());
  if (!IsFinal(before->state())) {
    absl::StatusOr<gdaqd::v1::ExperimentStatus> after = client.Cancel(id);
    if (!after.ok()) return Fail(after.status());
    // It may have ended on its own between the two calls.
    if (after->state() != gdaqd::v1::SUCCEEDED && after->state() != gdaqd::v1::FAILED) {
      std::printf("cancelling %s\n", id.c_str());
      return 0;
    }
    before = std::move(after);
  }
  std::printf("%s already finished (%s); nothing to cancel\n", id.c_str(),
              gdaqd::v1::ExperimentState_Name(before->state()).c_str());
  return 0;
}

int Status(ExperimentClient& client, const std::vector<std::string>& args) {
  std::vector<gdaqd::v1::ExperimentStatus> experiments;
  if (args.size() == 2) {
    absl::StatusOr<gdaqd::v1::ExperimentStatus> status = client.Get(args[1]);
    if (!status.ok()) return Fail(status.status());
    experiments.push_back(*std::move(status));
  } else {
    absl::StatusOr<std::vector<gdaqd::v1::ExperimentStatus>> all = client.List();
    if (!all.ok()) return Fail(all.status());
    experiments = *std::move(all);
  }
  if (experiments.empty()) {
    std::printf("no experiments\n");
  } else {
    std::printf("%s", gdaqd::client::FormatStatusTable(experiments).c_str());
  }
  return 0;
}

int Help(const std::vector<std::string>& args) {
  if (args.size() == 1) {
    std::printf("%s", gdaqd::client::OverviewUsage().c_str());
    return 0;
  }
  const gdaqd::client::CommandHelp* command = gdaqd::client::FindCommand(args[1]);
  if (args.size() > 2 || command == nullptr) {
    return UsageError(absl::StrCat("no command '", args[1], "'"), "help");
  }
  std::printf("%s", gdaqd::client::CommandUsage(*command).c_str());
  return 0;
}

int Dispatch(const std::vector<std::string>& args, SignalWatcher& signals,
             const Provenance& provenance) {
  if (args.empty()) {
    std::fprintf(stderr, "%s", gdaqd::client::OverviewUsage().c_str());
    return 2;
  }
  const std::string& command = args[0];
  const gdaqd::client::CommandHelp* help = gdaqd::client::FindCommand(command);
  if (help == nullptr) return UsageError(absl::StrCat("unknown command '", command, "'"), "");
  if (command == "help") return Help(args);
  const bool arity_ok = command == "status"    ? args.size() <= 2
                        : command == "export"  ? args.size() == 3
                        : command == "compare" ? args.size() >= 2
                                               : args.size() == 2;
  if (!arity_ok) {
    return UsageError(absl::StrCat("wrong number of arguments for '", command, "'"), command);
  }
  if (command == "run") return Run(args[1], signals, provenance);
  if (command == "replay") return Replay(args[1]);
  if (command == "compare") return Compare(args);
  if (command == "export") {
    if (absl::Status prepared = PrepareOut(args[2]); !prepared.ok()) return Fail(prepared);
  }

  absl::StatusOr<std::unique_ptr<ExperimentClient>> client =
      ConnectClient(absl::GetFlag(FLAGS_coordinator), /*remote=*/true);
  if (!client.ok()) return Fail(client.status());
  if (command == "submit") {
    absl::StatusOr<gdaqd::v1::ExperimentConfig> config =
        gdaqd::common::LoadExperimentConfig(args[1]);
    if (!config.ok()) return Fail(config.status());
    absl::StatusOr<std::string> id = (*client)->Submit(*config);
    if (!id.ok()) return Fail(id.status());
    std::printf("%s\n", id->c_str());
    return 0;
  }
  if (command == "status") return Status(**client, args);
  if (command == "watch") return Watch(**client, args[1], signals);
  if (command == "cancel") return Cancel(**client, args[1]);
  if (command == "delete") {
    if (absl::Status status = (*client)->Delete(args[1]); !status.ok()) return Fail(status);
    std::printf("deleted %s\n", args[1].c_str());
    return 0;
  }
  return ExportTo(**client, args[1], args[2], provenance);
}

}  // namespace

int main(int argc, char** argv) {
  // Our own help before absl's parser, which knows only one usage text for all commands.
  if (const std::optional<std::string> help = gdaqd::client::HelpRequest(argc, argv)) {
    const gdaqd::client::CommandHelp* command = gdaqd::client::FindCommand(*help);
    std::printf("%s", command != nullptr ? gdaqd::client::CommandUsage(*command).c_str()
                                         : gdaqd::client::OverviewUsage().c_str());
    return 0;
  }
  absl::SetProgramUsageMessage("gdaqd COMMAND [ARGS] [FLAGS]; gdaqd help for the commands");
  absl::FlagsUsageConfig usage;
  usage.version_string = [] {
    return gdaqd::client::VersionLine("gdaqd", GDAQD_VERSION, GDAQD_GIT_COMMIT);
  };
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  gdaqd::common::InitLogging(argv[0], absl::GetFlag(FLAGS_verbosity));
  gdaqd::worker::RegisterMujocoTasks();  // `gdaqd replay` simulates ant elites locally
  // Before any other thread starts, so that they all have SIGINT and SIGTERM blocked.
  SignalWatcher signals;

  Provenance provenance;
  provenance.version = GDAQD_VERSION;
  provenance.commit = GDAQD_GIT_COMMIT;
  provenance.command = absl::StrJoin(argv, argv + argc, " ");
  gdaqd::client::FillMachineInfo(&provenance);
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  return Dispatch(args, signals, provenance);
}
