// Helpers the RL algorithms' tests share: build an algorithm, run one synchronous round as
// Experiment does (ask with the plan, evaluate in-process, tell, learn), read a metric.
// Test-only; thread-compatible.
#ifndef GDAQD_SERVER_ALGORITHMS_RL_RL_TEST_UTIL_H_
#define GDAQD_SERVER_ALGORITHMS_RL_RL_TEST_UTIL_H_

#include <cstdint>
#include <memory>
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

}  // namespace gdaqd::server::rl::testing

#endif  // GDAQD_SERVER_ALGORITHMS_RL_RL_TEST_UTIL_H_
