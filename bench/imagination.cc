// Imagination throughput against the matmul roofline (issue 4, DESIGN.md §8):
//   (a) LibTorch's float32 matmul rate on this machine, [256,512]x[512,512], 1 torch thread: the
//       limit;
//   (b) for each batch size P: P (64,64) policies rolled out for T steps in a 4 x (512,512)
//       probabilistic ensemble (sampled predictions, members drawn at random), with the task's
//       reward/termination/descriptor on every predicted step: imagined episodes/s, against a
//       roofline of two serial phases per step (the ensemble needs the policies' actions, so the
//       phases cannot overlap and their times add):
//         t_roof = FLOPs / (a) + policy-weight bytes / (c),
//       where (c) is one core's read bandwidth over a buffer the size of the P policies' weights
//       (the policy forward reads every weight once per step, on one thread, from the cache
//       level that size fits in); share = t_roof / measured time. Goal: share >= 0.5 at the
//       production imagined batch (model.imagined_batch_size, 32) and above.
// The ensemble's cost does not depend on its values, but an untrained one drives states to
// infinity within a few dozen steps (and a diverged rollout stops early, which would make
// episodes look cheap), so it is first fitted briefly to a stable synthetic linear system; and
// the task never terminates here, so every rollout runs all T steps.
//
//   build/bench/bench_imagination [--task ant_trap] [--batches 32,128,512] [--profile]
//                                 [--device cpu|cuda] [--csv imagination.csv]
#include "server/models/imagination.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "common/config/config.h"
#include "common/task.h"
#include "server/algorithms/critic_learner.h"
#include "server/algorithms/imagined_task.h"
#include "server/algorithms/map_elites.h"
#include "server/models/batched_policy.h"
#include "server/models/dynamics_ensemble.h"
#include "server/models/host_mlp.h"
#include "server/models/matmul_rate.h"
#include "server/models/torch_util.h"

ABSL_FLAG(std::string, task, "ant_trap", "task whose dimensions and reward are imagined");
ABSL_FLAG(std::string, batches, "32,128,512", "imagined batch sizes P to measure");
ABSL_FLAG(double, seconds, 3.0, "time per measurement (whole imagined batches)");
ABSL_FLAG(bool, profile, false,
          "also time one step's parts (policy forward, ensemble prediction) per batch size");
ABSL_FLAG(std::string, device, "cpu",
          "cpu | cuda: where the ensemble and the policies run (cuda runs the LibTorch loop; "
          "its bandwidth (c) is the device's, over a 256 MB buffer)");
ABSL_FLAG(std::string, csv, "imagination.csv", "where to write the table");

namespace gdaqd::bench {

// Sum of `n` floats, 64 at a time in vector registers (one clone per instruction set, as
// server/models/host_mlp.cc): a read stream as fast as the policy kernel's.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
float ReadAll(const float* data, int64_t n) {
  typedef float Vec __attribute__((vector_size(64 * sizeof(float))));
  Vec acc = {};
  for (int64_t i = 0; i + 64 <= n; i += 64) {
    Vec v;
    std::memcpy(&v, data + i, sizeof(Vec));
    acc += v;
  }
  float total = 0;
  for (int k = 0; k < 64; ++k) total += acc[k];
  return total;
}

namespace {

// GB/s of one thread reading a `bytes` buffer again and again for about `seconds` (after one
// warm-up pass): the rate at which data of that size comes back from wherever it stays.
double ReadBandwidthGbs(int64_t bytes, double seconds) {
  const int64_t n = std::max<int64_t>(64, bytes / sizeof(float) / 64 * 64);
  std::vector<float> buffer(n, 1.0f);
  volatile float sink = ReadAll(buffer.data(), n);
  int64_t passes = 0;
  const absl::Time begin = absl::Now();
  absl::Duration elapsed;
  do {
    sink = sink + ReadAll(buffer.data(), n);
    ++passes;
    elapsed = absl::Now() - begin;
  } while (elapsed < absl::Seconds(seconds));
  return static_cast<double>(passes) * n * sizeof(float) / absl::ToDoubleSeconds(elapsed) / 1e9;
}

// The task's functions, with termination switched off (see the file comment).
class NeverTerminates final : public server::models::ImaginedTask {
 public:
  explicit NeverTerminates(std::unique_ptr<server::models::ImaginedTask> task)
      : task_(std::move(task)) {}
  int descriptor_dim() const override { return task_->descriptor_dim(); }
  void Step(absl::Span<const float> obs, absl::Span<const float> actions,
            absl::Span<const float> next_obs, absl::Span<float> reward,
            absl::Span<uint8_t> terminated) const override {
    task_->Step(obs, actions, next_obs, reward, terminated);
    for (uint8_t& t : terminated) t = 0;
  }
  void Descriptor(absl::Span<const float> obs, absl::Span<float> out) const override {
    task_->Descriptor(obs, out);
  }

 private:
  std::unique_ptr<server::models::ImaginedTask> task_;
};

// GB/s of LibTorch summing a `bytes` float32 buffer on `device` (20 sums, one synchronisation).
absl::StatusOr<double> DeviceReadBandwidthGbs(const std::string& device, int64_t bytes) {
  absl::StatusOr<torch::Device> target = server::models::SelectDevice(device);
  if (!target.ok()) return target.status();
  return server::models::CallTorch("DeviceReadBandwidthGbs", [&]() -> absl::StatusOr<double> {
    const torch::Tensor buffer = torch::ones({bytes / static_cast<int64_t>(sizeof(float))},
                                             torch::TensorOptions().device(*target));
    (void)buffer.sum().item<float>();  // warm-up
    constexpr int kReps = 20;
    const absl::Time begin = absl::Now();
    torch::Tensor total = torch::zeros({}, buffer.options());
    for (int i = 0; i < kReps; ++i) total += buffer.sum();
    (void)total.item<float>();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - begin);
    return kReps * static_cast<double>(buffer.numel()) * sizeof(float) / seconds / 1e9;
  });
}

// Per-step cost of the parts of an imagined step on the CPU path, over 200 repetitions each: the
// host policy kernel over P policies, and the ensemble's host stepper over [E, ceil(P / E)] rows;
// "rest" is the task's functions and the bookkeeping. Printed next to the roofline time.
void Profile(const server::models::PolicyShape& shape,
             const server::models::DynamicsEnsemble& ensemble, const std::vector<float>& params,
             int p, int obs_dim, int action_dim, double step_ms, double roof_ms,
             double bandwidth_gbs) {
  const int e = ensemble.members();
  const int per = (p + e - 1) / e;
  std::vector<const float*> rows(p);
  for (int i = 0; i < p; ++i) rows[i] = params.data() + i * shape.num_params();
  std::vector<float> obs(static_cast<size_t>(e) * per * obs_dim, 0.1f);
  std::vector<float> actions(static_cast<size_t>(e) * per * action_dim, 0.0f);
  std::vector<float> next(obs.size());
  constexpr int kReps = 200;
  absl::Time t0 = absl::Now();
  for (int i = 0; i < kReps; ++i) {
    server::models::HostMlpForward(shape.sizes(), server::models::Activation::kRelu,
                                   server::models::Activation::kTanh, rows,
                                   absl::MakeConstSpan(obs).subspan(0, p * obs_dim), {},
                                   absl::MakeSpan(actions).subspan(0, p * action_dim));
  }
  const double policy_ms = absl::ToDoubleMilliseconds(absl::Now() - t0) / kReps;
  auto stepper = ensemble.MakeHostStepper(per);
  if (!stepper.ok()) {
    std::printf("P %d: no host stepper: %s\n", p, stepper.status().ToString().c_str());
    return;
  }
  at::Generator generator = at::detail::createCPUGenerator(4);
  t0 = absl::Now();
  for (int i = 0; i < kReps; ++i) {
    (void)(*stepper)->Step(obs, actions, true, generator, absl::MakeSpan(next));
  }
  const double model_ms = absl::ToDoubleMilliseconds(absl::Now() - t0) / kReps;
  // Not in the roofline: the ensemble's own weights, streamed once per step whatever P is.
  double ensemble_bytes = 0;
  for (const torch::Tensor& w : ensemble.weights()) ensemble_bytes += w.numel() * sizeof(float);
  std::printf(
      "P %d: step %.3f ms = policy forward %.3f + ensemble %.3f + rest %.3f; "
      "roofline %.3f ms; ensemble weights %.1f MB per step, %.3f ms at (c)\n",
      p, step_ms, policy_ms, model_ms, step_ms - policy_ms - model_ms, roof_ms,
      ensemble_bytes / 1e6, 1e3 * ensemble_bytes / (bandwidth_gbs * 1e9));
}

int Run() {
  const std::string task_name = absl::GetFlag(FLAGS_task);
  absl::StatusOr<gdaqd::v1::ExperimentConfig> config = common::ParseExperimentConfig(
      absl::StrCat("algorithm: GDA_QD env { task: \"", task_name,
                   "\" } budget { max_evaluations: 1 } pga { device: \"cpu\" }"));
  if (!config.ok()) {
    std::fprintf(stderr, "bench_imagination: %s\n", config.status().ToString().c_str());
    return 1;
  }
  const gdaqd::v1::ModelConfig& model = config->model();
  absl::StatusOr<common::TaskSpec> spec = common::GetTaskSpec(task_name, 0);
  absl::StatusOr<common::MlpLayout> layout = common::PolicyLayout(config->env(), config->policy());
  absl::StatusOr<std::unique_ptr<server::models::ImaginedTask>> task =
      server::MakeImaginedTask(*spec);
  if (!spec.ok() || !layout.ok() || !task.ok()) {
    std::fprintf(stderr, "bench_imagination: cannot set up task %s\n", task_name.c_str());
    return 1;
  }
  const NeverTerminates never(std::move(task).value());
  const std::string device = absl::GetFlag(FLAGS_device);
  const bool on_cpu = device == "cpu";

  absl::StatusOr<double> gflops =
      server::models::MeasureMatmulGflops(device, 1, 256, 512, 512, absl::Seconds(1));
  if (!gflops.ok()) {
    std::fprintf(stderr, "bench_imagination: %s\n", gflops.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<double> device_bandwidth_or =
      on_cpu ? absl::StatusOr<double>(ReadBandwidthGbs(int64_t{256} << 20, 0.5))
             : DeviceReadBandwidthGbs(device, int64_t{256} << 20);
  if (!device_bandwidth_or.ok()) {
    std::fprintf(stderr, "bench_imagination: %s\n",
                 device_bandwidth_or.status().ToString().c_str());
    return 1;
  }
  const double device_bandwidth = *device_bandwidth_or;
  server::models::EnsembleConfig ensemble_config;
  ensemble_config.members = model.ensemble_members();
  ensemble_config.hidden.assign(model.ensemble_hidden_sizes().begin(),
                                model.ensemble_hidden_sizes().end());
  ensemble_config.device = device;
  ensemble_config.max_steps = 200;  // enough for stable predictions; only speed is measured
  auto ensemble =
      server::models::DynamicsEnsemble::Create(spec->obs_dim, spec->action_dim, ensemble_config);
  if (!ensemble.ok()) {
    std::fprintf(stderr, "bench_imagination: %s\n", ensemble.status().ToString().c_str());
    return 1;
  }
  {
    // Stable synthetic dynamics: next = 0.95 obs + 0.05 tanh(mixed actions), 20,000 rows.
    const int obs_dim = spec->obs_dim, action_dim = spec->action_dim;
    const int row = 2 * obs_dim + action_dim + 3;
    std::mt19937_64 data_rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> rows(20000 * row, 0.0f);
    for (int r = 0; r < 20000; ++r) {
      float* x = &rows[r * row];
      for (int k = 0; k < obs_dim + action_dim; ++k) x[k] = normal(data_rng);
      for (int k = 0; k < obs_dim; ++k) {
        x[obs_dim + action_dim + 1 + k] =
            0.95f * x[k] + 0.05f * std::tanh(x[obs_dim + k % action_dim]);
      }
    }
    std::mt19937_64 train_rng(6);
    auto trained = (*ensemble)->Train(rows, train_rng);
    if (!trained.ok()) {
      std::fprintf(stderr, "bench_imagination: %s\n", trained.status().ToString().c_str());
      return 1;
    }
  }
  const server::models::PolicyShape shape = server::MakePolicyShape(*config, *layout);
  const int episode_length = spec->episode_length;
  const double flops_per_episode =
      static_cast<double>(server::models::ImaginedStepFlops(shape, spec->obs_dim, spec->action_dim,
                                                            ensemble_config.hidden)) *
      episode_length;
  const std::vector<float> start(spec->obs_dim, 0.0f);

  std::printf("bench_imagination: %s, %s; policy kernel %s\n", MachineDescription().c_str(),
              NowUtc().c_str(), server::models::HostMlpIsa());
  std::printf(
      "task %s: obs %d, action %d, T %d; policy (64,64); ensemble %d x (%d,%d); "
      "%.2f MFLOP per imagined episode\n",
      task_name.c_str(), spec->obs_dim, spec->action_dim, episode_length, ensemble_config.members,
      ensemble_config.hidden[0], ensemble_config.hidden[1], flops_per_episode / 1e6);
  Table table({"measure", "imagined batch P", "value", "goal", "ratio"});
  table.AddRow({"(a) torch matmul GFLOP/s, 1 thread", "", absl::StrFormat("%.1f", *gflops), "limit",
                "1.00"});
  table.AddRow({on_cpu ? "(c) read GB/s, 1 thread, 256 MB (memory)"
                       : "(c) device read GB/s, 256 MB (used for every P)",
                "", absl::StrFormat("%.1f", device_bandwidth), "", ""});
  std::mt19937_64 rng(1);
  for (absl::string_view text : absl::StrSplit(absl::GetFlag(FLAGS_batches), ',')) {
    int p = 0;
    if (!absl::SimpleAtoi(text, &p) || p < 1) {
      std::fprintf(stderr, "bench_imagination: --batches has '%s'\n", std::string(text).c_str());
      return 1;
    }
    uint64_t drawn = 0;
    std::vector<float> params;
    server::RandomPolicies(*layout, 7, p, &drawn, &params);
    std::vector<int32_t> members(p);
    // As ModelBasedQd assigns them: uniformly random, in balanced groups.
    for (int i = 0; i < p; ++i) members[i] = i % ensemble_config.members;
    server::models::ImaginationRequest request;
    request.shape = shape;
    request.params = params;
    request.initial_obs = start;
    request.episode_length = episode_length;
    request.sample = true;
    torch::manual_seed(3);
    c10::optional<at::Generator> generator;  // the device's default generator on cuda
    if (on_cpu) generator = at::detail::createCPUGenerator(3);
    int64_t episodes = 0, diverged = 0;
    // One warm-up batch, then whole batches until the time is used.
    std::shuffle(members.begin(), members.end(), rng);
    request.member = members;
    if (auto out = server::models::ImagineEpisodes(**ensemble, never, request, generator);
        !out.ok()) {
      std::fprintf(stderr, "bench_imagination: %s\n", out.status().ToString().c_str());
      return 1;
    }
    const absl::Time begin = absl::Now();
    absl::Duration elapsed;
    do {
      std::shuffle(members.begin(), members.end(), rng);
      auto out = server::models::ImagineEpisodes(**ensemble, never, request, generator);
      if (!out.ok()) {
        std::fprintf(stderr, "bench_imagination: %s\n", out.status().ToString().c_str());
        return 1;
      }
      for (uint8_t d : out->diverged) diverged += d;
      episodes += p;
      elapsed = absl::Now() - begin;
    } while (elapsed < absl::Seconds(absl::GetFlag(FLAGS_seconds)));
    if (diverged > 0) {
      std::printf("warning: %lld of %lld imagined episodes diverged (ended early)\n",
                  static_cast<long long>(diverged), static_cast<long long>(episodes));
    }
    const double rate = episodes / absl::ToDoubleSeconds(elapsed);
    const double policy_bytes = static_cast<double>(shape.num_params()) * sizeof(float);
    const double bandwidth =
        on_cpu ? ReadBandwidthGbs(static_cast<int64_t>(p * policy_bytes), 0.5) : device_bandwidth;
    // Per imagined episode: T steps of the FLOPs at (a) plus the policy's weights read at (c).
    const double roof_s =
        flops_per_episode / (*gflops * 1e9) + episode_length * policy_bytes / (bandwidth * 1e9);
    if (absl::GetFlag(FLAGS_profile) && on_cpu) {
      const double step_ms = 1e3 * p / rate / episode_length;
      Profile(shape, **ensemble, params, p, spec->obs_dim, spec->action_dim, step_ms,
              1e3 * p * roof_s / episode_length, bandwidth);
    }
    const double share = rate * roof_s;
    table.AddRow({absl::StrFormat("(c) read GB/s, 1 thread, %.1f MB", p * policy_bytes / 1e6),
                  absl::StrCat(p), absl::StrFormat("%.1f", bandwidth), "", ""});
    table.AddRow(
        {"(b) imagined episodes/s", absl::StrCat(p), absl::StrFormat("%.1f", rate), "", ""});
    table.AddRow({"(b) share of the roofline (a)+(c)", absl::StrCat(p),
                  absl::StrFormat("%.2f", share), ">= 0.5", absl::StrFormat("%.2f", share / 0.5)});
  }
  std::printf("%s", table.ToText().c_str());
  const std::string csv = absl::GetFlag(FLAGS_csv);
  if (!csv.empty() && !table.WriteCsv(csv)) {
    std::fprintf(stderr, "bench_imagination: cannot write %s\n", csv.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace gdaqd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return gdaqd::bench::Run();
}
