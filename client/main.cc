// gdaqd: the command-line client. Submits and follows experiments on a coordinator, exports
// results folders, replays elites, and runs the embedded local mode (`gdaqd run`).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "client/experiment_client.h"
#include "client/local_cluster.h"
#include "client/progress.h"
#include "client/replay.h"
#include "client/results_folder.h"
#include "common/config/config.h"
#include "common/logging.h"
#include "common/thread.h"
#include "common/tls.h"
#include "worker/sim/mujoco_tasks.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "coordinator address host:port");
ABSL_FLAG(int, workers, 2, "run: local worker processes");
ABSL_FLAG(int, threads, 1, "run: rollout threads per local worker");
ABSL_FLAG(std::string, out, "",
          "run: results folder (default runs/<config>-<time>); replay: where trajectory_N.csv goes "
          "(default the results folder)");
ABSL_FLAG(int64_t, cell, -1, "replay: archive cell of the elite to re-run");
ABSL_FLAG(int, connect_timeout_s, 10, "seconds to wait for the coordinator");
ABSL_FLAG(int, verbosity, 0, "verbose logging level");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA that signed the coordinator's certificate; turns TLS on");
ABSL_FLAG(std::string, tls_server_name, "",
          "name to check in the coordinator's certificate instead of the --coordinator host");
ABSL_FLAG(std::string, token_file, "", "file whose first line is your bearer token");

namespace {

using gdaqd::client::ExperimentClient;

constexpr char kUsage[] =
    R"(gdaqd: model-based Quality-Diversity experiments on a gdaqd coordinator.

usage: gdaqd [--coordinator HOST:PORT] [--tls_ca PEM] [--token_file PATH] COMMAND ARGS

  run CONFIG            start a local coordinator and --workers worker processes, run CONFIG
                        to the end with a progress bar, write a results folder (--out)
  submit CONFIG         submit an experiment; prints its id
  status [ID]           one experiment, or all of them
  watch ID              follow an experiment with a progress bar until it ends
  cancel ID             stop an experiment (its archive stays exportable)
  delete ID             remove a finished experiment and its stored state for good
  export ID DIR         write the results folder of an experiment into DIR
  replay DIR --cell N   re-run the elite of cell N from a results folder, check its fitness and
                        descriptor, write DIR/trajectory_N.csv

results folder: config.textproto metrics.csv archive.csv archive_params.npy archive.svg
progress.svg (see README.md; policy layout in docs/policy_layout.md))";

// Prints `status` as one line "error: CODE: message" and returns the exit code.
int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", status.ToString().c_str());
  return 1;
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

// Runs `on_signal` on a dedicated thread when SIGINT/SIGTERM arrives (never in a handler); a
// second signal exits at once. Construct before any other thread starts.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::function<void()> on_signal) : on_signal_(std::move(on_signal)) {
    sigset_t set = Signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    thread_ = std::make_unique<gdaqd::common::Thread>("signals", [this] { Loop(); });
  }
  ~SignalWatcher() {
    stopping_ = true;
    kill(getpid(), SIGUSR1);  // wakes sigwait
    thread_.reset();
  }
  void set_on_signal(std::function<void()> on_signal) {
    absl::MutexLock lock(&mu_);
    on_signal_ = std::move(on_signal);
  }

 private:
  static sigset_t Signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    return set;
  }
  void Loop() {
    sigset_t set = Signals();
    int count = 0;
    while (true) {
      int signal_number = 0;
      sigwait(&set, &signal_number);
      if (stopping_) return;
      if (signal_number == SIGUSR1) continue;
      if (++count > 1) {
        std::fprintf(stderr, "\ninterrupted again: exiting now\n");
        _exit(130);
      }
      std::fprintf(stderr, "\ninterrupted: cancelling the experiment (again to exit now)\n");
      absl::MutexLock lock(&mu_);
      if (on_signal_) on_signal_();
    }
  }
  absl::Mutex mu_;
  std::function<void()> on_signal_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<gdaqd::common::Thread> thread_;
};

void PrintStatus(const gdaqd::v1::ExperimentStatus& status) {
  std::printf("%-8s %-10s %-11s %-12s %s\n", status.id().c_str(),
              gdaqd::v1::ExperimentState_Name(status.state()).c_str(),
              gdaqd::v1::Algorithm_Name(status.config().algorithm()).c_str(),
              status.config().env().task().c_str(),
              gdaqd::client::FormatProgress(status, 10).c_str());
  if (!status.error().empty()) std::printf("         error: %s\n", status.error().c_str());
}

// Follows `id` with a progress bar; returns the final status.
absl::StatusOr<gdaqd::v1::ExperimentStatus> WatchWithProgress(ExperimentClient& client,
                                                              const std::string& id) {
  gdaqd::client::ProgressPrinter printer(stdout);
  absl::StatusOr<gdaqd::v1::ExperimentStatus> final_status =
      client.Watch(id, [&](const gdaqd::v1::ExperimentStatus& s) { printer.Update(s); });
  printer.Finish();
  return final_status;
}

int ExportTo(ExperimentClient& client, const std::string& id, const std::string& dir) {
  absl::StatusOr<gdaqd::client::ExportedArchive> archive = client.Export(id);
  if (!archive.ok()) return Fail(archive.status());
  if (absl::Status status = gdaqd::client::WriteResultsFolder(dir, *archive); !status.ok()) {
    return Fail(status);
  }
  std::printf(
      "results: %s (%s elites; archive.svg, progress.svg, metrics.csv, archive.csv, "
      "archive_params.npy)\n",
      std::filesystem::absolute(dir).c_str(),
      gdaqd::client::WithThousands(archive->header.num_elites()).c_str());
  return 0;
}

std::string DefaultOutDir(const std::string& config_path) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::localtime(&now));
  return absl::StrCat("runs/", std::filesystem::path(config_path).stem().string(), "-", stamp);
}

int Run(const std::string& config_path) {
  absl::StatusOr<gdaqd::v1::ExperimentConfig> config =
      gdaqd::common::LoadExperimentConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) out = DefaultOutDir(config_path);

  std::shared_ptr<ExperimentClient> client;
  std::string id;
  absl::Mutex mu;  // guards client and id for the signal thread
  SignalWatcher signals([&] {
    absl::MutexLock lock(&mu);
    if (client != nullptr && !id.empty()) (void)client->Cancel(id);
  });

  gdaqd::client::LocalClusterOptions options;
  options.workers = absl::GetFlag(FLAGS_workers);
  options.threads_per_worker = absl::GetFlag(FLAGS_threads);
  options.log_dir = (std::filesystem::path(out) / "logs").string();
  options.state_dir = (std::filesystem::path(out) / "state").string();
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
  std::printf("experiment %s: %s on %s, %s evaluations\n", id.c_str(),
              gdaqd::v1::Algorithm_Name(config->algorithm()).c_str(), config->env().task().c_str(),
              gdaqd::client::WithThousands(config->budget().max_evaluations()).c_str());
  absl::StatusOr<gdaqd::v1::ExperimentStatus> final_status = WatchWithProgress(*client, id);
  if (!final_status.ok()) return Fail(final_status.status());
  // Whatever the final state, the archive so far is exported: nothing is lost on cancel.
  const int exported = ExportTo(*client, id, out);
  (*cluster)->Stop();
  if (final_status->state() == gdaqd::v1::FAILED) {
    std::fprintf(stderr, "error: experiment failed: %s\n", final_status->error().c_str());
    return 1;
  }
  return exported;
}

int Replay(const std::string& dir) {
  const int64_t cell = absl::GetFlag(FLAGS_cell);
  if (cell < 0) return Fail(absl::InvalidArgumentError("replay needs --cell N (N >= 0)"));
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

int Dispatch(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::fprintf(stderr, "%s\n", kUsage);
    return 2;
  }
  const std::string& command = args[0];
  auto need = [&](size_t n) {
    if (args.size() == n + 1) return true;
    std::fprintf(stderr, "error: '%s' takes %zu argument(s)\n\n%s\n", command.c_str(), n, kUsage);
    return false;
  };
  if (command == "run") return need(1) ? Run(args[1]) : 2;
  if (command == "replay") return need(1) ? Replay(args[1]) : 2;

  if (command != "submit" && command != "status" && command != "watch" && command != "cancel" &&
      command != "delete" && command != "export") {
    std::fprintf(stderr, "error: unknown command '%s'\n\n%s\n", command.c_str(), kUsage);
    return 2;
  }
  absl::StatusOr<std::unique_ptr<ExperimentClient>> client =
      ConnectClient(absl::GetFlag(FLAGS_coordinator), /*remote=*/true);
  if (!client.ok()) return Fail(client.status());

  if (command == "submit") {
    if (!need(1)) return 2;
    absl::StatusOr<gdaqd::v1::ExperimentConfig> config =
        gdaqd::common::LoadExperimentConfig(args[1]);
    if (!config.ok()) return Fail(config.status());
    absl::StatusOr<std::string> id = (*client)->Submit(*config);
    if (!id.ok()) return Fail(id.status());
    std::printf("%s\n", id->c_str());
    return 0;
  }
  if (command == "status") {
    if (args.size() == 2) {
      absl::StatusOr<gdaqd::v1::ExperimentStatus> status = (*client)->Get(args[1]);
      if (!status.ok()) return Fail(status.status());
      PrintStatus(*status);
      return 0;
    }
    absl::StatusOr<std::vector<gdaqd::v1::ExperimentStatus>> all = (*client)->List();
    if (!all.ok()) return Fail(all.status());
    if (all->empty()) std::printf("no experiments\n");
    for (const auto& status : *all) PrintStatus(status);
    return 0;
  }
  if (command == "watch") {
    if (!need(1)) return 2;
    absl::StatusOr<gdaqd::v1::ExperimentStatus> status = WatchWithProgress(**client, args[1]);
    if (!status.ok()) return Fail(status.status());
    return status->state() == gdaqd::v1::SUCCEEDED ? 0 : 1;
  }
  if (command == "cancel") {
    if (!need(1)) return 2;
    absl::StatusOr<gdaqd::v1::ExperimentStatus> status = (*client)->Cancel(args[1]);
    if (!status.ok()) return Fail(status.status());
    std::printf("cancelling %s\n", args[1].c_str());
    return 0;
  }
  if (command == "delete") {
    if (!need(1)) return 2;
    if (absl::Status status = (*client)->Delete(args[1]); !status.ok()) return Fail(status);
    std::printf("deleted %s\n", args[1].c_str());
    return 0;
  }
  // export
  if (!need(2)) return 2;
  return ExportTo(**client, args[1], args[2]);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  gdaqd::common::InitLogging(argv[0], absl::GetFlag(FLAGS_verbosity));
  gdaqd::worker::RegisterMujocoTasks();  // `gdaqd replay` simulates ant elites locally
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  return Dispatch(args);
}
