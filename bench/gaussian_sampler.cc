// Gaussian sampling for isoline variation, old against new, side by side in one run (issue
// "coordinator capacity": ~80% of the coordinator's CPU was MAP-Elites' Ask, most of it in
// std::normal_distribution<float> over std::mt19937_64):
//   (a) one N(0, 1) float: std::normal_distribution<float> over std::mt19937_64 (the old
//       sampler) against GaussianStream::Fill and GaussianStream::Next
//       (server/emitters/gaussian.h), ns per normal;
//   (a') one N(0, 1) float, GaussianStream::Fill with the portable scalar kernel against the
//       kernel Fill picks on this CPU (gaussian.h, FillKernel; the same bits), ns per normal;
//   (b) one isoline child of --params parameters: the old IsolineVariation (copied below as it
//       was) against the new one, ns per parameter.
// Each figure is the fastest of --repeats timed runs (the machine is shared), and the ratio is
// old / new. Goal: (b) >= 4.
//
//   build/bench/bench_gaussian_sampler [--params 4482] [--children 500] [--repeats 7]
//       [--csv bench_gaussian_sampler.csv]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "bench/bench_util.h"
#include "server/emitters/gaussian.h"
#include "server/emitters/isoline.h"

ABSL_FLAG(int, params, 4482, "parameters per child ((64,64) PointMaze policy: 4,482)");
ABSL_FLAG(int, children, 500, "children per timed run");
ABSL_FLAG(int, repeats, 7, "timed runs per figure; the fastest counts");
ABSL_FLAG(std::string, csv, "bench_gaussian_sampler.csv", "where the table goes as CSV");

namespace {

using gdaqd::server::GaussianStream;
namespace gaussian_internal = gdaqd::server::gaussian_internal;
using gdaqd::server::IsolineParams;

constexpr float kGoal = 4.0f;  // (b) old / new

// IsolineVariation before GaussianStream, verbatim.
void OldIsolineVariation(absl::Span<const float> x1, absl::Span<const float> x2,
                         const IsolineParams& p, std::mt19937_64& rng, absl::Span<float> child) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const float line_step = p.line_sigma * normal(rng);
  for (size_t j = 0; j < child.size(); ++j) {
    child[j] = x1[j] + p.iso_sigma * normal(rng) + line_step * (x2[j] - x1[j]);
  }
}

// Nanoseconds per item of the fastest of `repeats` runs of `run`, which handles `items` items.
double FastestNsPerItem(int repeats, int64_t items, const std::function<void()>& run) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    run();
    const std::chrono::duration<double, std::nano> elapsed =
        std::chrono::steady_clock::now() - start;
    best = std::min(best, elapsed.count() / static_cast<double>(items));
  }
  return best;
}

// Keeps the optimiser from dropping the samples; reads one, since a full sum (a serial chain
// of float adds) would cost more than the new sampler itself.
float Checksum(const std::vector<float>& values, int child) {
  return values[static_cast<size_t>(child) % values.size()];
}

// The fastest ns per item of each sampler (see the file comment); `sink` keeps their samples.
struct Timings {
  double old_normal;   // (a) std::normal_distribution<float>
  double fill;         // (a) GaussianStream::Fill, the kernel this CPU gets
  double scalar_fill;  // (a') GaussianStream::Fill, scalar kernel
  double next;         // (a) GaussianStream::Next
  double old_isoline;  // (b), per parameter
  double new_isoline;
};

Timings TimeSamplers(int params, int children, int repeats, float& sink) {
  const int64_t items = static_cast<int64_t>(params) * children;
  Timings t{};
  std::vector<float> out(params);
  std::vector<float> x1(params);
  std::vector<float> x2(params);
  std::mt19937_64 init(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int j = 0; j < params; ++j) {
    x1[j] = uniform(init);
    x2[j] = uniform(init);
  }
  std::mt19937_64 rng(7);
  t.old_normal = FastestNsPerItem(repeats, items, [&] {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int c = 0; c < children; ++c) {
      for (float& v : out) v = normal(rng);
      sink += Checksum(out, c);
    }
  });
  uint64_t seed = 0;
  t.fill = FastestNsPerItem(repeats, items, [&] {
    for (int c = 0; c < children; ++c) {
      GaussianStream(++seed).Fill(absl::MakeSpan(out));
      sink += Checksum(out, c);
    }
  });
  t.scalar_fill = FastestNsPerItem(repeats, items, [&] {
    for (int c = 0; c < children; ++c) {
      GaussianStream stream(++seed);
      gaussian_internal::FillWithKernel(gaussian_internal::FillKernel::kScalar, stream,
                                        absl::MakeSpan(out));
      sink += Checksum(out, c);
    }
  });
  t.next = FastestNsPerItem(repeats, items, [&] {
    for (int c = 0; c < children; ++c) {
      GaussianStream stream(++seed);
      for (float& v : out) v = stream.Next();
      sink += Checksum(out, c);
    }
  });
  const IsolineParams isoline;
  t.old_isoline = FastestNsPerItem(repeats, items, [&] {
    for (int c = 0; c < children; ++c) {
      OldIsolineVariation(x1, x2, isoline, rng, absl::MakeSpan(out));
      sink += Checksum(out, c);
    }
  });
  t.new_isoline = FastestNsPerItem(repeats, items, [&] {
    for (int c = 0; c < children; ++c) {
      gdaqd::server::IsolineVariation(x1, x2, isoline, rng, absl::MakeSpan(out));
      sink += Checksum(out, c);
    }
  });
  return t;
}

gdaqd::bench::Table MakeTable(const Timings& t, int params) {
  const char* best_kernel =
      gaussian_internal::FillKernelSupported(gaussian_internal::FillKernel::kAvx2) ? "AVX2"
                                                                                   : "scalar";
  gdaqd::bench::Table table({"measure", "old ns", "new ns", "old / new", "goal"});
  table.AddRow({"(a) N(0,1) float: normal_distribution vs GaussianStream::Fill",
                absl::StrFormat("%.2f", t.old_normal), absl::StrFormat("%.2f", t.fill),
                absl::StrFormat("%.1f", t.old_normal / t.fill), ""});
  table.AddRow({absl::StrFormat("(a') GaussianStream::Fill: scalar vs %s kernel", best_kernel),
                absl::StrFormat("%.2f", t.scalar_fill), absl::StrFormat("%.2f", t.fill),
                absl::StrFormat("%.2f", t.scalar_fill / t.fill), ""});
  table.AddRow({"(a) N(0,1) float: normal_distribution vs GaussianStream::Next",
                absl::StrFormat("%.2f", t.old_normal), absl::StrFormat("%.2f", t.next),
                absl::StrFormat("%.1f", t.old_normal / t.next), ""});
  table.AddRow({absl::StrFormat("(b) IsolineVariation, per parameter (%d params)", params),
                absl::StrFormat("%.2f", t.old_isoline), absl::StrFormat("%.2f", t.new_isoline),
                absl::StrFormat("%.1f", t.old_isoline / t.new_isoline),
                absl::StrFormat(">= %.0f", kGoal)});
  return table;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int params = absl::GetFlag(FLAGS_params);
  const int children = absl::GetFlag(FLAGS_children);
  const int repeats = absl::GetFlag(FLAGS_repeats);
  float sink = 0.0f;
  const Timings t = TimeSamplers(params, children, repeats, sink);
  const gdaqd::bench::Table table = MakeTable(t, params);
  std::printf("bench_gaussian_sampler: %s, %s\n", gdaqd::bench::MachineDescription().c_str(),
              gdaqd::bench::NowUtc().c_str());
  std::printf("%d children x %d params per run, fastest of %d runs (checksum %g)\n\n", children,
              params, repeats, static_cast<double>(sink));
  std::printf("%s", table.ToText().c_str());
  std::printf("\nper child of %d params: old %.1f us, new %.1f us\n", params,
              t.old_isoline * params / 1000.0, t.new_isoline * params / 1000.0);
  const std::string csv = absl::GetFlag(FLAGS_csv);
  if (!csv.empty() && !table.WriteCsv(csv)) {
    std::fprintf(stderr, "bench_gaussian_sampler: cannot write %s\n", csv.c_str());
    return 1;
  }
  return 0;
}
