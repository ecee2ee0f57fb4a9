// docs/cluster.md §2's metric tables as data, and checks that a scraped exposition holds them
// with the right types and label names, and only bounded label values. Shared by the collector's
// unit test, the worker metrics' unit test and tests/integration/metrics_test.cc.
#ifndef GDAQD_TESTS_TESTING_CLUSTER_METRICS_H_
#define GDAQD_TESTS_TESTING_CLUSTER_METRICS_H_

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/testing/prometheus_text.h"

namespace gdaqd::testing {

// One row of a table: name, Prometheus type, label names (sorted).
struct MetricSpec {
  const char* name;
  const char* type;
  std::set<std::string> labels;
};

// docs/cluster.md §2, "Coordinator". Per-experiment rows are those with the `experiment` label.
// Of the algorithm metrics' families (gdaqd_experiment_<metric>[_total], docs/metrics.md) only
// the three every experiment has are listed; the others depend on the algorithm.
inline const std::vector<MetricSpec>& CoordinatorMetricSpecs() {
  static const auto* const kSpecs = new std::vector<MetricSpec>{
      {"gdaqd_build_info", "gauge", {"version"}},
      {"gdaqd_experiments", "gauge", {"state"}},
      {"gdaqd_experiment_evaluations_total", "counter", {"experiment"}},
      {"gdaqd_experiment_imagined_evaluations_total", "counter", {"experiment"}},
      {"gdaqd_experiment_iterations_total", "counter", {"experiment"}},
      {"gdaqd_experiment_qd_score", "gauge", {"experiment"}},
      {"gdaqd_experiment_qd_score_ratio", "gauge", {"experiment"}},
      {"gdaqd_experiment_coverage_ratio", "gauge", {"experiment"}},
      {"gdaqd_experiment_max_fitness", "gauge", {"experiment"}},
      {"gdaqd_experiment_phase_duration_seconds", "histogram", {"experiment", "phase"}},
      {"gdaqd_experiment_model_holdout_loss", "gauge", {"experiment"}},
      {"gdaqd_experiment_critic_loss", "gauge", {"experiment"}},
      {"gdaqd_experiment_state", "gauge", {"experiment", "state"}},
      {"gdaqd_scheduler_queued_episodes", "gauge", {}},
      {"gdaqd_scheduler_leases_in_flight", "gauge", {}},
      {"gdaqd_scheduler_completed_episodes_total", "counter", {}},
      {"gdaqd_scheduler_requeued_episodes_total", "counter", {}},
      {"gdaqd_scheduler_expired_leases_total", "counter", {}},
      {"gdaqd_scheduler_rejected_results_total", "counter", {"reason"}},
      {"gdaqd_workers_connected", "gauge", {}},
      {"gdaqd_workers_quarantined", "gauge", {}},
      {"gdaqd_checkpoint_duration_seconds", "histogram", {}},
      {"gdaqd_checkpoint_failures_total", "counter", {}},
  };
  return *kSpecs;
}

// docs/cluster.md §2, "Worker".
inline const std::vector<MetricSpec>& WorkerMetricSpecs() {
  static const auto* const kSpecs = new std::vector<MetricSpec>{
      {"gdaqd_worker_env_steps_total", "counter", {}},
      {"gdaqd_worker_episodes_total", "counter", {}},
      {"gdaqd_worker_episode_duration_seconds", "histogram", {}},
      {"gdaqd_worker_threads", "gauge", {}},
      {"gdaqd_worker_busy_threads", "gauge", {}},
      {"gdaqd_worker_connected", "gauge", {}},
      {"gdaqd_worker_reconnects_total", "counter", {}},
  };
  return *kSpecs;
}

// The samples a family of `spec` is made of: the name itself, or _bucket/_sum/_count.
inline std::vector<PromSample> SamplesOf(const PromExposition& exposition, const MetricSpec& spec) {
  std::vector<PromSample> out;
  const std::string name = spec.name;
  for (const PromSample& sample : exposition.samples) {
    const bool own =
        sample.name == name || (std::string(spec.type) == "histogram" &&
                                (sample.name == name + "_bucket" || sample.name == name + "_sum" ||
                                 sample.name == name + "_count"));
    if (own) out.push_back(sample);
  }
  return out;
}

// Expects `spec`'s family TYPEd as in the table, and every one of its samples to carry exactly
// the table's labels (plus `le` on histogram buckets). With `require_samples`, at least one.
inline void ExpectFamily(const PromExposition& exposition, const MetricSpec& spec,
                         bool require_samples = true) {
  auto type = exposition.types.find(spec.name);
  ASSERT_NE(type, exposition.types.end()) << "no # TYPE line for " << spec.name;
  EXPECT_EQ(type->second, spec.type) << spec.name;
  const std::vector<PromSample> samples = SamplesOf(exposition, spec);
  if (require_samples) {
    EXPECT_FALSE(samples.empty()) << "no samples of " << spec.name;
  }
  for (const PromSample& sample : samples) {
    std::set<std::string> keys;
    for (const auto& [key, value] : sample.labels) keys.insert(key);
    std::set<std::string> expected = spec.labels;
    if (absl::EndsWith(sample.name, "_bucket")) expected.insert("le");
    EXPECT_EQ(keys, expected) << sample.name;
  }
}

// Expects every gdaqd_ sample's label values to come from the bounded sets: the five states,
// the four phases, the ten ResultCheck reasons, `live_experiments` (the unfinished ones) for
// `experiment`, and nothing else.
inline void ExpectBoundedLabels(const PromExposition& exposition,
                                const std::set<std::string>& live_experiments) {
  static const std::set<std::string> kStates = {"pending", "running", "succeeded", "failed",
                                                "cancelled"};
  static const std::set<std::string> kPhases = {"evaluation", "imagination", "training",
                                                "gradient"};
  static const std::set<std::string> kReasons = {
      "worker_error",          "wrong_descriptor_size", "non_finite",
      "descriptor_out_of_box", "fitness_out_of_bounds", "bad_length",
      "bad_transitions",       "chunk_order",           "bad_index",
      "too_many_bytes"};
  for (const PromSample& sample : exposition.samples) {
    if (!absl::StartsWith(sample.name, "gdaqd_")) continue;
    for (const auto& [key, value] : sample.labels) {
      if (key == "state") {
        EXPECT_TRUE(kStates.contains(value)) << sample.name << " state=" << value;
      } else if (key == "phase") {
        EXPECT_TRUE(kPhases.contains(value)) << sample.name << " phase=" << value;
      } else if (key == "reason") {
        EXPECT_TRUE(kReasons.contains(value)) << sample.name << " reason=" << value;
      } else if (key == "experiment") {
        EXPECT_TRUE(live_experiments.contains(value)) << sample.name << " experiment=" << value;
      } else {
        EXPECT_TRUE(key == "le" || key == "version") << sample.name << " label " << key;
      }
    }
  }
}

}  // namespace gdaqd::testing

#endif  // GDAQD_TESTS_TESTING_CLUSTER_METRICS_H_
