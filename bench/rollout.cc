// Rollout engine efficiency against the physics limit (DESIGN.md §8, issue "MuJoCo tasks"):
//   (a) mujoco-testspeed on the task's own MJCF file, one thread: physics steps/s, the limit;
//   (b) RolloutEngine, one thread, (64,64) policy, transitions recorded: env steps/s x frame_skip;
//   (c) RolloutEngine, all threads;
//   (d) episodes/s through an in-process coordinator and 2 gdaqd-worker processes over gRPC with
//       transitions streamed, against the in-process rate (LocalEvaluator, 2 threads) on the same batch.
// Goals: (b)/(a) >= 0.95, (c) >= 0.90 x threads x (b), (d) >= 0.90. Prints a table with the
// machine and date and writes it as CSV.
//
//   build/bench/bench_rollout [--task ant_trap] [--episodes 24] [--csv bench_rollout.csv]
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "common/config/config.h"
#include "common/mlp_policy.h"
#include "common/subprocess.h"
#include "common/task.h"
#include "server/scheduler/local_evaluator.h"
#include "server/service/coordinator.h"
#include "worker/sim/ant_model.h"
#include "worker/sim/mujoco_tasks.h"
#include "worker/sim/rollout_engine.h"

ABSL_FLAG(std::string, task, "ant_trap", "task to roll out");
ABSL_FLAG(int, episodes, 24, "episodes per measurement (per thread for the all-thread run)");
ABSL_FLAG(int, testspeed_steps, 20000, "physics steps for mujoco-testspeed");
ABSL_FLAG(std::string, csv, "bench_rollout.csv", "where the table goes as CSV");

namespace {

using gdaqd::common::MlpLayout;

constexpr int kFrameSkip = 5;  // physics steps per env step (tasks.md §3.1)

struct Batch {
  MlpLayout layout;
  std::vector<float> params;  // [episodes, num_params]
  int episodes = 0;
};

Batch RandomPolicies(const std::string& task, int episodes) {
  gdaqd::v1::EnvConfig env;
  env.set_task(task);
  gdaqd::v1::PolicyConfig policy;
  policy.add_hidden_sizes(64);
  policy.add_hidden_sizes(64);
  policy.set_hidden_activation("relu");
  policy.set_output_activation("tanh");
  Batch batch;
  batch.layout = gdaqd::common::PolicyLayout(env, policy).value();
  batch.episodes = episodes;
  const int64_t n = batch.layout.num_params();
  batch.params.resize(episodes * n);
  for (int i = 0; i < episodes; ++i) {
    gdaqd::common::InitLecunUniform(batch.layout, 1000 + i,
                                    absl::Span<float>(&batch.params[i * n], n));
  }
  return batch;
}

// (a): physics steps/s of mujoco-testspeed on `xml_path`, one thread, small control noise.
absl::StatusOr<double> TestspeedStepsPerSecond(const std::string& xml_path, int steps) {
  gdaqd::common::Subprocess::Options options;
  options.capture_stdout = true;
  auto process = gdaqd::common::Subprocess::Spawn(
      {"/usr/bin/mujoco-testspeed", xml_path, absl::StrCat(steps), "1", "0.01"}, options);
  if (!process.ok()) return process.status();
  while (true) {
    absl::StatusOr<std::string> line = (*process)->ReadLine(absl::Minutes(5));
    if (!line.ok()) return line.status();
    if (absl::StrContains(*line, "Steps per second")) {
      double value = 0;
      std::string number(absl::StripAsciiWhitespace(line->substr(line->find(':') + 1)));
      if (!absl::SimpleAtod(number, &value)) {
        return absl::InternalError(absl::StrCat("cannot parse testspeed line: ", *line));
      }
      return value;
    }
  }
}

// (b), (c): env steps/s of the rollout engine with `threads` threads over `batch`.
double EngineStepsPerSecond(const std::string& task, const Batch& batch, int threads) {
  std::atomic<int64_t> steps{0};
  absl::BlockingCounter done(batch.episodes);
  auto engine = gdaqd::worker::RolloutEngine::Create(
      threads, [&](const gdaqd::worker::EpisodeJob&,
                   absl::StatusOr<const gdaqd::common::EpisodeResult*> result) {
        if (result.ok()) steps += (*result)->length;
        done.DecrementCount();
      });
  auto context = std::make_shared<gdaqd::worker::JobContext>();
  context->task = task;
  context->layout = batch.layout;
  context->record_transitions = true;
  const int64_t n = batch.layout.num_params();
  std::vector<gdaqd::worker::EpisodeJob> jobs;
  for (int i = 0; i < batch.episodes; ++i) {
    gdaqd::worker::EpisodeJob job;
    job.context = context;
    job.key.index = i;
    job.seed = 0;
    job.params = absl::Span<const float>(&batch.params[i * n], n);
    jobs.push_back(job);
  }
  const absl::Time start = absl::Now();
  (void)(*engine)->Submit(std::move(jobs));
  done.Wait();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return steps.load() / seconds;
}

// (d): episodes/s of `evaluator` on `request`.
double EpisodesPerSecond(gdaqd::server::Evaluator& evaluator,
                         const gdaqd::server::EvalRequest& request) {
  const absl::Time start = absl::Now();
  auto outcomes = evaluator.Evaluate(request, nullptr);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!outcomes.ok()) {
    std::fprintf(stderr, "evaluation failed: %s\n", outcomes.status().ToString().c_str());
    return 0;
  }
  return request.num_episodes() / seconds;
}

int Main() {
  gdaqd::worker::RegisterMujocoTasks();
  const std::string task = absl::GetFlag(FLAGS_task);
  const int episodes = absl::GetFlag(FLAGS_episodes);
  const int threads = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));

  // (a) on the very file the engine loads.
  absl::StatusOr<std::string> xml = gdaqd::worker::AntModelXml(task);
  if (!xml.ok()) {
    std::fprintf(stderr, "error: %s\n", xml.status().ToString().c_str());
    return 1;
  }
  const std::string xml_path = absl::StrCat("/tmp/gdaqd_bench_", task, "_", getpid(), ".xml");
  std::ofstream(xml_path) << *xml;
  absl::StatusOr<double> limit = TestspeedStepsPerSecond(xml_path, absl::GetFlag(FLAGS_testspeed_steps));
  std::remove(xml_path.c_str());
  if (!limit.ok()) {
    std::fprintf(stderr, "error: mujoco-testspeed: %s\n", limit.status().ToString().c_str());
    return 1;
  }

  // (b), (c)
  const Batch one = RandomPolicies(task, episodes);
  const double single = EngineStepsPerSecond(task, one, 1) * kFrameSkip;
  // The all-thread run repeats the one-thread batch on every thread: identical work per thread,
  // so the ratio measures scaling, not differences between policies.
  Batch many = one;
  many.episodes = episodes * threads;
  for (int t = 1; t < threads; ++t) {
    many.params.insert(many.params.end(), one.params.begin(), one.params.end());
  }
  const double all = EngineStepsPerSecond(task, many, threads) * kFrameSkip;

  // (d): the same batch in-process and through gRPC workers, transitions recorded.
  gdaqd::server::EvalRequest request;
  request.experiment_id = "bench";
  request.env.set_task(task);
  request.env.set_episode_length(gdaqd::common::GetTaskSpec(task, 0)->episode_length);
  request.policy.add_hidden_sizes(64);
  request.policy.add_hidden_sizes(64);
  request.policy.set_hidden_activation("relu");
  request.policy.set_output_activation("tanh");
  request.record_transitions = true;
  request.num_params = many.layout.num_params();
  request.descriptor_dim = 2;
  request.params = many.params;
  request.seeds.assign(many.episodes, 0);
  request.episodes_per_lease = 2;
  gdaqd::server::LocalEvaluator local(2);
  const double in_process = EpisodesPerSecond(local, request);

  gdaqd::server::CoordinatorOptions options;
  options.listen_address = "127.0.0.1:0";
  auto coordinator = gdaqd::server::Coordinator::Start(options);
  if (!coordinator.ok()) {
    std::fprintf(stderr, "error: %s\n", coordinator.status().ToString().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<gdaqd::common::Subprocess>> workers;
  for (int i = 0; i < 2; ++i) {
    gdaqd::common::Subprocess::Options worker_options;
    worker_options.log_path = absl::StrCat("/tmp/gdaqd_bench_worker_", i, ".log");
    workers.push_back(gdaqd::common::Subprocess::Spawn(
                          {GDAQD_WORKER_BINARY,
                           absl::StrCat("--coordinator=127.0.0.1:", (*coordinator)->port()),
                           "--threads=1", absl::StrCat("--worker_id=bench-", i)},
                          worker_options)
                          .value());
  }
  // Workers dial in within a second or two; waiting here is set-up, not measurement.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while ((*coordinator)->scheduler().stats().connected_workers < 2 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  const double over_grpc = EpisodesPerSecond((*coordinator)->scheduler(), request);
  for (auto& worker : workers) worker->Stop(absl::Seconds(5));
  (*coordinator)->Shutdown();

  gdaqd::bench::Table table({"measure", "value", "goal", "ratio"});
  table.AddRow({"(a) mujoco-testspeed physics steps/s, 1 thread", absl::StrFormat("%.0f", *limit),
                "limit", "1.00"});
  table.AddRow({"(b) engine env steps/s x 5, 1 thread, transitions on",
                absl::StrFormat("%.0f", single), ">= 0.95 x (a)",
                absl::StrFormat("%.2f", single / *limit)});
  table.AddRow({absl::StrFormat("(c) engine env steps/s x 5, %d threads", threads),
                absl::StrFormat("%.0f", all), absl::StrFormat(">= 0.90 x %d x (b)", threads),
                absl::StrFormat("%.2f", all / (threads * single))});
  table.AddRow({"(d) episodes/s, in-process (2 threads)", absl::StrFormat("%.1f", in_process), "",
                ""});
  table.AddRow({"(d) episodes/s, coordinator + 2 workers over gRPC",
                absl::StrFormat("%.1f", over_grpc), ">= 0.90 x in-process",
                absl::StrFormat("%.2f", over_grpc / in_process)});
  std::printf("rollout engine vs physics limit, task %s, (64,64) policy, %d episodes per thread\n"
              "machine: %s\ndate: %s\n\n%s",
              task.c_str(), episodes, gdaqd::bench::MachineDescription().c_str(),
              gdaqd::bench::NowUtc().c_str(), table.ToText().c_str());
  table.WriteCsv(absl::GetFlag(FLAGS_csv));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return Main();
}
