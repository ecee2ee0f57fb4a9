#include "server/metrics/coordinator_collector.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"
#include "server/algorithms/experiment.h"
#include "server/algorithms/progress_metrics.h"
#include "server/scheduler/result_validation.h"

namespace gdaqd::server::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

constexpr gdaqd::v1::ExperimentState kStates[] = {gdaqd::v1::PENDING, gdaqd::v1::RUNNING,
                                                  gdaqd::v1::SUCCEEDED, gdaqd::v1::FAILED,
                                                  gdaqd::v1::CANCELLED};

// A per-experiment gauge or counter read from the experiment's latest progress row.
struct ProgressMetric {
  const char* name;
  const char* help;
  MetricType type;
  double (*value)(const gdaqd::v1::ProgressSnapshot&);
};

constexpr ProgressMetric kProgressMetrics[] = {
    {"gdaqd_experiment_evaluations_total", "Real evaluations counted, each episode once.",
     MetricType::Counter, [](const auto& p) { return static_cast<double>(p.evaluations()); }},
    {"gdaqd_experiment_iterations_total", "Iterations (generations) completed.",
     MetricType::Counter, [](const auto& p) { return static_cast<double>(p.iteration()); }},
    {"gdaqd_experiment_qd_score", "QD-score (QDax convention, offset per step x episode length).",
     MetricType::Gauge, [](const auto& p) { return p.qd_score(); }},
    {"gdaqd_experiment_qd_score_ratio", "QD-score as a fraction of its maximum, 0-1.",
     MetricType::Gauge, [](const auto& p) { return p.qd_score_pct() / 100; }},
    {"gdaqd_experiment_coverage_ratio", "Fraction of the archive's cells filled, 0-1.",
     MetricType::Gauge, [](const auto& p) { return p.coverage_pct() / 100; }},
    {"gdaqd_experiment_max_fitness", "Best fitness in the archive; -Inf while it is empty.",
     MetricType::Gauge, [](const auto& p) { return p.max_fitness(); }},
};

// The algorithm metrics declared for every live experiment, whatever its algorithm (0 or NaN
// where it does not report them): the learned-model series that predate named metrics.
constexpr absl::string_view kAlwaysDeclared[] = {"imagined_evaluations", "model_holdout_loss",
                                                 "critic_loss"};

// One family per algorithm metric: the always-declared ones, then every live experiment's
// declared metrics in order of first appearance (the first declaration's help wins).
struct AlgorithmFamily {
  MetricSpec spec;
  MetricFamily family;
};

MetricType TypeOf(MetricKind kind) {
  return kind == MetricKind::kCounter ? MetricType::Counter : MetricType::Gauge;
}

std::string StateName(gdaqd::v1::ExperimentState state) {
  return absl::AsciiStrToLower(gdaqd::v1::ExperimentState_Name(state));
}

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

// Appends one sample of `value` to a gauge or counter family.
void Add(MetricFamily& family, double value, Labels labels = {}) {
  ClientMetric& metric = family.metric.emplace_back();
  metric.label = std::move(labels);
  if (family.type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
}

MetricFamily Single(const char* name, const char* help, MetricType type, double value) {
  MetricFamily family = Family(name, help, type);
  Add(family, value);
  return family;
}

bool IsLive(const gdaqd::v1::ExperimentStatus& status) {
  return !IsFinalState(status.state()) && !status.id().empty();
}

// The algorithm families (no samples yet) of the live experiments among `statuses`.
std::vector<AlgorithmFamily> DeclareAlgorithmFamilies(
    const std::vector<gdaqd::v1::ExperimentStatus>& statuses,
    absl::Span<const std::vector<MetricSpec>> specs) {
  std::vector<AlgorithmFamily> families;
  absl::flat_hash_set<std::string> declared;
  const auto declare = [&](const MetricSpec& spec) {
    std::string name = PrometheusFamilyName(spec);
    if (!declared.insert(name).second) return;
    families.push_back({spec, Family(std::move(name), spec.help, TypeOf(spec.kind))});
  };
  for (absl::string_view always : kAlwaysDeclared) {
    for (const MetricSpec& legacy : LegacyLearningMetrics()) {
      if (legacy.name == always) declare(legacy);
    }
  }
  for (size_t i = 0; i < statuses.size() && i < specs.size(); ++i) {
    if (!IsLive(statuses[i])) continue;
    for (const MetricSpec& spec : specs[i]) declare(spec);
  }
  return families;
}

// Adds `status`'s sample to each family it declares (`specs`) or that every experiment has.
void AddAlgorithmSamples(const gdaqd::v1::ExperimentStatus& status,
                         absl::Span<const MetricSpec> specs,
                         std::vector<AlgorithmFamily>* families) {
  for (AlgorithmFamily& entry : *families) {
    const bool own = absl::c_any_of(specs, [&](const MetricSpec& spec) {
      return spec.name == entry.spec.name && spec.kind == entry.spec.kind;
    });
    if (!own && !absl::c_linear_search(kAlwaysDeclared, entry.spec.name)) continue;
    Add(entry.family,
        FindMetric(status.progress(), entry.spec.name)
            .value_or(DefaultMetricValue(entry.spec.kind)),
        {{"experiment", status.id()}});
  }
}

void AppendExperimentFamilies(const std::vector<gdaqd::v1::ExperimentStatus>& statuses,
                              absl::Span<const std::vector<MetricSpec>> specs,
                              const MetricsRecorder& recorder, std::vector<MetricFamily>* out) {
  MetricFamily by_state = Family(
      "gdaqd_experiments", "Experiments known to the coordinator, by state.", MetricType::Gauge);
  for (gdaqd::v1::ExperimentState state : kStates) {
    int64_t count = 0;
    for (const auto& status : statuses) count += status.state() == state ? 1 : 0;
    Add(by_state, static_cast<double>(count), {{"state", StateName(state)}});
  }
  out->push_back(std::move(by_state));

  absl::flat_hash_set<std::string> live;
  std::vector<MetricFamily> progress;
  for (const ProgressMetric& spec : kProgressMetrics) {
    progress.push_back(Family(spec.name, spec.help, spec.type));
  }
  std::vector<AlgorithmFamily> algorithm = DeclareAlgorithmFamilies(statuses, specs);
  MetricFamily state_family =
      Family("gdaqd_experiment_state", "1 for the experiment's current state, 0 for the others.",
             MetricType::Gauge);
  for (size_t e = 0; e < statuses.size(); ++e) {
    const gdaqd::v1::ExperimentStatus& status = statuses[e];
    if (!IsLive(status)) continue;
    live.insert(status.id());
    AddAlgorithmSamples(status, e < specs.size() ? specs[e] : absl::Span<const MetricSpec>(),
                        &algorithm);
    for (size_t i = 0; i < progress.size(); ++i) {
      Add(progress[i], kProgressMetrics[i].value(status.progress()), {{"experiment", status.id()}});
    }
    for (gdaqd::v1::ExperimentState state : kStates) {
      Add(state_family, status.state() == state ? 1 : 0,
          {{"experiment", status.id()}, {"state", StateName(state)}});
    }
  }
  for (MetricFamily& family : progress) out->push_back(std::move(family));
  for (AlgorithmFamily& entry : algorithm) out->push_back(std::move(entry.family));
  out->push_back(std::move(state_family));
  MetricFamily phases = Family("gdaqd_experiment_phase_duration_seconds",
                               "Seconds one iteration spent in each phase.", MetricType::Histogram);
  phases.metric = recorder.CollectPhases(live);
  out->push_back(std::move(phases));
}

void AppendSchedulerFamilies(const SchedulerStats& stats, std::vector<MetricFamily>* out) {
  const auto d = [](int64_t v) { return static_cast<double>(v); };
  out->push_back(Single("gdaqd_scheduler_queued_episodes", "Episodes waiting for a worker.",
                        MetricType::Gauge, d(stats.queued_episodes)));
  out->push_back(Single("gdaqd_scheduler_leases_in_flight", "Leases held by workers.",
                        MetricType::Gauge, d(stats.leases_in_flight)));
  out->push_back(Single("gdaqd_scheduler_completed_episodes_total",
                        "Episode outcomes recorded, each episode once.", MetricType::Counter,
                        d(stats.episodes_completed)));
  out->push_back(Single("gdaqd_scheduler_requeued_episodes_total",
                        "Episodes handed out again after a lost, expired or revoked lease.",
                        MetricType::Counter, d(stats.requeued_episodes)));
  out->push_back(Single("gdaqd_scheduler_expired_leases_total",
                        "Leases whose deadline passed with episodes unfinished.",
                        MetricType::Counter, d(stats.expired_leases)));
  MetricFamily rejected = Family("gdaqd_scheduler_rejected_results_total",
                                 "Worker results refused, by reason.", MetricType::Counter);
  for (int i = 1; i < kNumResultChecks; ++i) {  // every check but kAccepted
    const auto check = static_cast<ResultCheck>(i);
    Add(rejected, d(stats.rejected_by(check)), {{"reason", std::string(ResultCheckName(check))}});
  }
  out->push_back(std::move(rejected));
  out->push_back(Single("gdaqd_workers_connected", "Workers with an open stream.",
                        MetricType::Gauge, d(stats.connected_workers)));
  out->push_back(Single("gdaqd_workers_quarantined", "Connected workers in quarantine.",
                        MetricType::Gauge, d(stats.quarantined_workers)));
}

}  // namespace

std::vector<MetricFamily> CoordinatorFamilies(
    const std::vector<gdaqd::v1::ExperimentStatus>& statuses, const SchedulerStats& stats,
    const MetricsRecorder& recorder, absl::Span<const std::vector<MetricSpec>> specs) {
  std::vector<MetricFamily> out;
  MetricFamily build =
      Family("gdaqd_build_info", "1, labelled with the coordinator's version.", MetricType::Gauge);
  Add(build, 1, {{"version", GDAQD_VERSION}});
  out.push_back(std::move(build));
  AppendExperimentFamilies(statuses, specs, recorder, &out);
  AppendSchedulerFamilies(stats, &out);
  MetricFamily checkpoint = Family("gdaqd_checkpoint_duration_seconds",
                                   "Seconds one checkpoint write took.", MetricType::Histogram);
  checkpoint.metric.push_back(recorder.CollectCheckpointDuration());
  out.push_back(std::move(checkpoint));
  out.push_back(Single("gdaqd_checkpoint_failures_total", "Checkpoint writes that failed.",
                       MetricType::Counter, static_cast<double>(recorder.checkpoint_failures())));
  return out;
}

std::vector<MetricFamily> CoordinatorCollector::Collect() const {
  std::vector<gdaqd::v1::ExperimentStatus> statuses;
  std::vector<std::vector<MetricSpec>> specs;
  if (const ExperimentManager* manager = manager_.load(); manager != nullptr) {
    for (const std::shared_ptr<Experiment>& experiment : manager->List()) {
      statuses.push_back(experiment->Status());
      specs.push_back(experiment->metric_specs());
    }
  }
  return CoordinatorFamilies(statuses, scheduler_->stats(), *recorder_, specs);
}

}  // namespace gdaqd::server::metrics
