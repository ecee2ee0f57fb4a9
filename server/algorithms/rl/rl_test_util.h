// Helpers the RL algorithms' tests share: build an algorithm, run one synchronous round as
// Experiment does (ask with the plan, evaluate in-process, tell, learn), read a metric, check
// that a run resumed from a checkpoint continues exactly.
// Test-only; thread-compatible.
#ifndef GDAQD_SERVER_ALGORITHMS_RL_RL_TEST_UTIL_H_
#define GDAQD_SERVER_ALGORITHMS_RL_RL_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "server/algorithms/algorithm.h"
#include "server/scheduler/local_evaluator.h"
#include "server/scheduler/result_validation.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::rl::testing {

// MakeAlgorithm(config), or null after a test failure naming the status.
inline std::unique_ptr<QdAlgorithm> Make(const gdaqd::v1::ExperimentConfig& config) {
  absl::StatusOr<std::unique_ptr<QdAlgorithm>> made = MakeAlgorithm(config);
  EXPECT_TRUE(made.ok()) << made.status();
  return made.ok() ? std::move(made).value() : nullptr;
}

// One synchronous round as Experiment runs it: ask (with the plan), evaluate, tell, learn.
// Returns the request it evaluated; its outcomes into *told when not null.
inline EvalRequest RunRound(QdAlgorithm& algorithm, const gdaqd::v1::ExperimentConfig& config,
                            std::vector<EvalOutcome>* told = nullptr) {
  EvalRequest request;
  request.env = config.env();
  request.policy = config.policy();
  request.record_transitions = algorithm.needs_transitions();
  request.num_params = algorithm.layout().num_params();
  request.descriptor_dim = algorithm.spec().descriptor_dim;
  ApplyTaskLimits(algorithm.spec(), &request);
  const int64_t count = algorithm.NextBatchSize(100);
  EpisodePlan plan;
  EXPECT_THAT(algorithm.AskEpisodes(count, &request.params, &plan), ::gdaqd::testing::IsOk());
  request.episode_options = plan.options;
  request.actor_version = plan.actor_version;
  request.seeds.assign(static_cast<size_t>(count), config.env().reset_seed());
  LocalEvaluator evaluator(1);
  absl::StatusOr<std::vector<EvalOutcome>> outcomes = evaluator.Evaluate(request, nullptr);
  EXPECT_TRUE(outcomes.ok()) << outcomes.status();
  if (!outcomes.ok()) return request;
  for (const EvalOutcome& outcome : *outcomes) EXPECT_EQ(outcome.error, "");
  EXPECT_TRUE(algorithm.Tell(request.params, *outcomes).ok());
  EXPECT_THAT(algorithm.Learn(), ::gdaqd::testing::IsOk());
  if (told != nullptr) *told = *outcomes;
  return request;
}

// The value of the algorithm's metric `name` (a test failure and 0 if it has none).
inline double MetricValue(const QdAlgorithm& algorithm, const std::string& name) {
  for (const Metric& metric : algorithm.metrics()) {
    if (metric.name == name) return metric.value;
  }
  ADD_FAILURE() << "no metric " << name;
  return 0;
}

// Runs `before` rounds on two algorithms built from `config`, restores a third from the second's
// checkpoint, then runs `after` rounds on the uninterrupted one and the resumed one, expecting
// the same requests (params bit for bit, actor version, episode options) and the same metrics.
// Returns {uninterrupted, resumed} for further checks (both null after a failure to build).
inline std::pair<std::unique_ptr<QdAlgorithm>, std::unique_ptr<QdAlgorithm>> ExpectResumesExactly(
    const gdaqd::v1::ExperimentConfig& config, int before, int after) {
  std::unique_ptr<QdAlgorithm> straight = Make(config);
  std::unique_ptr<QdAlgorithm> first = Make(config);
  std::unique_ptr<QdAlgorithm> resumed = Make(config);
  if (straight == nullptr || first == nullptr || resumed == nullptr) return {};
  for (int round = 0; round < before; ++round) {
    RunRound(*straight, config);
    RunRound(*first, config);
  }
  std::stringstream saved;
  EXPECT_THAT(first->SaveCheckpoint(saved), ::gdaqd::testing::IsOk());
  EXPECT_THAT(resumed->RestoreCheckpoint(saved), ::gdaqd::testing::IsOk());
  for (int round = 0; round < after; ++round) {
    const EvalRequest a = RunRound(*straight, config);
    const EvalRequest b = RunRound(*resumed, config);
    EXPECT_EQ(a.actor_version, b.actor_version) << "round " << round;
    EXPECT_EQ(a.params.size(), b.params.size()) << "round " << round;
    if (a.params.size() == b.params.size()) {
      EXPECT_EQ(std::memcmp(a.params.data(), b.params.data(), a.params.size() * sizeof(float)), 0)
          << "round " << round;
    }
    EXPECT_EQ(a.episode_options.size(), b.episode_options.size()) << "round " << round;
    for (size_t i = 0; i < std::min(a.episode_options.size(), b.episode_options.size()); ++i) {
      EXPECT_EQ(a.episode_options[i].noise_seed, b.episode_options[i].noise_seed);
      EXPECT_EQ(a.episode_options[i].skill, b.episode_options[i].skill);
    }
  }
  for (const Metric& metric : straight->metrics()) {
    const double other = MetricValue(*resumed, metric.name);
    if (std::isnan(metric.value)) {
      EXPECT_TRUE(std::isnan(other)) << metric.name;
    } else {
      EXPECT_EQ(metric.value, other) << metric.name;
    }
  }
  return {std::move(straight), std::move(resumed)};
}

}  // namespace gdaqd::server::rl::testing

#endif  // GDAQD_SERVER_ALGORITHMS_RL_RL_TEST_UTIL_H_
