#include "worker/sim/rollout_engine.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/mlp_policy.h"
#include "common/rollout.h"
#include "common/task.h"
#include "common/thread.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::worker {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr absl::Duration kWaitTimeout = absl::Seconds(60);

std::shared_ptr<const JobContext> MakeContext(
    std::vector<int> hidden, int episode_length, bool record,
    common::PointMazeActionMap map = common::PointMazeActionMap::kClip01) {
  auto context = std::make_shared<JobContext>();
  context->task = "point_maze";
  context->episode_length = episode_length;
  context->env_options.point_maze_action_map = map;
  const absl::StatusOr<common::TaskSpec> spec = common::GetTaskSpec("point_maze", episode_length);
  EXPECT_TRUE(spec.ok()) << spec.status();
  context->layout.obs_dim = spec->obs_dim;
  context->layout.action_dim = spec->action_dim;
  context->layout.hidden_sizes = std::move(hidden);
  context->record_transitions = record;
  return context;
}

std::vector<float> RandomParams(const common::MlpLayout& layout, uint64_t seed) {
  std::vector<float> params(layout.num_params());
  common::InitLecunUniform(layout, seed, absl::MakeSpan(params));
  return params;
}

// Runs one episode the way the engine should, with fresh objects.
common::EpisodeResult RunDirectly(const JobContext& context, absl::Span<const float> params,
                                  uint64_t seed) {
  absl::StatusOr<std::unique_ptr<common::Environment>> env =
      common::MakeEnvironment(context.task, context.episode_length, context.env_options);
  EXPECT_TRUE(env.ok()) << env.status();
  absl::StatusOr<common::MlpPolicy> policy = common::MlpPolicy::Create(context.layout, params);
  EXPECT_TRUE(policy.ok()) << policy.status();
  common::EpisodeResult result;
  common::RunEpisode(**env, *policy, seed, context.record_transitions, &result);
  return result;
}

// True if both hold the same floats, bit for bit (memcmp, so that even NaN payloads or -0.0
// would count).
bool SameBits(absl::Span<const float> a, absl::Span<const float> b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void ExpectBitIdentical(const common::EpisodeResult& a, const common::EpisodeResult& b) {
  EXPECT_TRUE(SameBits({&a.fitness, 1}, {&b.fitness, 1})) << a.fitness << " vs " << b.fitness;
  EXPECT_TRUE(SameBits(a.descriptor, b.descriptor));
  EXPECT_EQ(a.length, b.length);
  EXPECT_EQ(a.terminated, b.terminated);
  EXPECT_EQ(a.diverged, b.diverged);
  EXPECT_TRUE(SameBits(a.transitions, b.transitions))
      << a.transitions.size() << " vs " << b.transitions.size() << " floats";
}

// Collects callbacks; notifies once `expected` have arrived. Thread-safe.
class Collector {
 public:
  explicit Collector(int expected) : expected_(expected) {}

  RolloutEngine::Callback AsCallback() {
    return [this](const EpisodeJob& job, absl::StatusOr<const common::EpisodeResult*> result) {
      const JobKey& key = job.key;
      absl::MutexLock lock(&mu_);
      if (result.ok()) {
        results_[key.index] = **result;  // the test may copy; the pointer dies after the call
      } else {
        errors_[key.index] = result.status();
      }
      if (++received_ == expected_) done_.Notify();
    };
  }
  bool WaitAll() { return done_.WaitForNotificationWithTimeout(kWaitTimeout); }
  std::map<int, common::EpisodeResult> results() {
    absl::MutexLock lock(&mu_);
    return results_;
  }
  std::map<int, absl::Status> errors() {
    absl::MutexLock lock(&mu_);
    return errors_;
  }
  int received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }

 private:
  const int expected_;
  absl::Notification done_;
  absl::Mutex mu_;
  int received_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, common::EpisodeResult> results_ ABSL_GUARDED_BY(mu_);
  std::map<int, absl::Status> errors_ ABSL_GUARDED_BY(mu_);
};

TEST(RolloutEngineTest, CreateRejectsZeroThreads) {
  EXPECT_THAT(RolloutEngine::Create(0, [](const EpisodeJob&, auto) {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_threads")));
}

TEST(RolloutEngineTest, SubmitRejectsJobWithoutContext) {
  auto engine = RolloutEngine::Create(1, [](const EpisodeJob&, auto) {});
  GDAQD_ASSERT_OK(engine);
  EXPECT_THAT((*engine)->Submit(EpisodeJob{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("context")));
}

// Same results as common::RunEpisode, bit for bit, whatever the thread count, while threads
// switch between contexts (different layouts, episode lengths and action maps) from job to job.
class RolloutEngineThreadsTest : public ::testing::TestWithParam<int> {};

TEST_P(RolloutEngineThreadsTest, MatchesRunEpisodeBitForBit) {
  constexpr int kEpisodes = 48;
  const std::vector<std::shared_ptr<const JobContext>> contexts = {
      MakeContext({8, 8}, 120, /*record=*/true), MakeContext({16}, 60, /*record=*/false),
      MakeContext({8, 8}, 120, /*record=*/true),  // equal to [0] but a different pointer
      // [0] but for the action map: the environment must be rebuilt, not reused.
      MakeContext({8, 8}, 120, /*record=*/true, common::PointMazeActionMap::kClip1Divide10)};
  // One shared buffer for every job's parameters, as the coordinator client does.
  auto buffer = std::make_shared<std::vector<std::vector<float>>>();
  for (int i = 0; i < kEpisodes; ++i) {
    buffer->push_back(RandomParams(contexts[i % contexts.size()]->layout, 1000 + i));
  }

  Collector collector(kEpisodes);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RolloutEngine> engine,
                             RolloutEngine::Create(GetParam(), collector.AsCallback()));
  std::vector<EpisodeJob> jobs;
  for (int i = 0; i < kEpisodes; ++i) {
    EpisodeJob job;
    job.context = contexts[i % contexts.size()];
    job.key = {.group = 1, .lease_id = 7, .index = i};
    job.seed = static_cast<uint64_t>(i % 5);
    job.params = (*buffer)[i];
    job.params_owner = buffer;
    jobs.push_back(std::move(job));
  }
  // Half one by one, half as a batch.
  for (int i = 0; i < kEpisodes / 2; ++i) GDAQD_ASSERT_OK(engine->Submit(std::move(jobs[i])));
  GDAQD_ASSERT_OK(engine->Submit(std::vector<EpisodeJob>(
      std::make_move_iterator(jobs.begin() + kEpisodes / 2), std::make_move_iterator(jobs.end()))));
  ASSERT_TRUE(collector.WaitAll());

  EXPECT_TRUE(collector.errors().empty());
  const std::map<int, common::EpisodeResult> results = collector.results();
  ASSERT_EQ(results.size(), static_cast<size_t>(kEpisodes));
  for (int i = 0; i < kEpisodes; ++i) {
    SCOPED_TRACE(i);
    const JobContext& context = *contexts[i % contexts.size()];
    const common::EpisodeResult expected = RunDirectly(context, (*buffer)[i], i % 5);
    EXPECT_GT(expected.length, 0);
    ExpectBitIdentical(results.at(i), expected);
    if (context.record_transitions) {
      EXPECT_FALSE(results.at(i).transitions.empty());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, RolloutEngineThreadsTest, ::testing::Values(1, 4));

TEST(RolloutEngineTest, BadParamsAreInvalidArgumentAndLaterJobsSucceed) {
  const auto context = MakeContext({8}, 50, /*record=*/false);
  const std::vector<float> good = RandomParams(context->layout, 3);
  std::vector<float> too_short(good.begin(), good.end() - 1);
  std::vector<float> with_nan = good;
  with_nan[4] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<const std::vector<float>*> params = {&good, &too_short, &with_nan, &good};

  Collector collector(static_cast<int>(params.size()));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RolloutEngine> engine,
                             RolloutEngine::Create(1, collector.AsCallback()));
  for (size_t i = 0; i < params.size(); ++i) {
    EpisodeJob job;
    job.context = context;
    job.key.index = static_cast<int>(i);
    job.params = *params[i];
    GDAQD_ASSERT_OK(engine->Submit(std::move(job)));
  }
  ASSERT_TRUE(collector.WaitAll());

  const std::map<int, absl::Status> errors = collector.errors();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(errors.at(1), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("parameters")));
  EXPECT_THAT(errors.at(2), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("finite")));
  const std::map<int, common::EpisodeResult> results = collector.results();
  ASSERT_EQ(results.size(), 2u);
  ExpectBitIdentical(results.at(3), RunDirectly(*context, good, 0));
  ExpectBitIdentical(results.at(0), results.at(3));
}

TEST(RolloutEngineTest, SameJobUnderEachActionMapIsDeterministicAndTheMapsDiffer) {
  const auto paper = MakeContext({8}, 100, /*record=*/true, common::PointMazeActionMap::kClip01);
  const auto later =
      MakeContext({8}, 100, /*record=*/true, common::PointMazeActionMap::kClip1Divide10);
  const std::vector<float> params = RandomParams(paper->layout, 5);
  // One thread, so it switches maps from job to job: paper, later, paper, later.
  Collector collector(4);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RolloutEngine> engine,
                             RolloutEngine::Create(1, collector.AsCallback()));
  for (int i = 0; i < 4; ++i) {
    EpisodeJob job;
    job.context = i % 2 == 0 ? paper : later;
    job.key.index = i;
    job.seed = 3;
    job.params = params;
    GDAQD_ASSERT_OK(engine->Submit(std::move(job)));
  }
  ASSERT_TRUE(collector.WaitAll());
  ASSERT_TRUE(collector.errors().empty());
  const std::map<int, common::EpisodeResult> results = collector.results();
  ASSERT_EQ(results.size(), 4u);
  ExpectBitIdentical(results.at(0), results.at(2));
  ExpectBitIdentical(results.at(1), results.at(3));
  ExpectBitIdentical(results.at(0), RunDirectly(*paper, params, 3));
  ExpectBitIdentical(results.at(1), RunDirectly(*later, params, 3));
  EXPECT_FALSE(SameBits(results.at(0).transitions, results.at(1).transitions));
  EXPECT_NE(results.at(0).fitness, results.at(1).fitness);
}

TEST(RolloutEngineTest, UnknownTaskAndMismatchedLayoutAreInvalidArgument) {
  auto unknown = std::make_shared<JobContext>(*MakeContext({8}, 50, false));
  unknown->task = "no_such_task";
  auto mismatched = std::make_shared<JobContext>(*MakeContext({8}, 50, false));
  mismatched->layout.obs_dim += 1;
  const std::vector<float> params = RandomParams(mismatched->layout, 1);

  Collector collector(2);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RolloutEngine> engine,
                             RolloutEngine::Create(1, collector.AsCallback()));
  EpisodeJob job;
  job.params = params;
  job.context = unknown;
  job.key.index = 0;
  GDAQD_ASSERT_OK(engine->Submit(job));
  job.context = mismatched;
  job.key.index = 1;
  GDAQD_ASSERT_OK(engine->Submit(job));
  ASSERT_TRUE(collector.WaitAll());
  const std::map<int, absl::Status> errors = collector.errors();
  EXPECT_THAT(errors.at(0), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task")));
  EXPECT_THAT(errors.at(1), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs_dim")));
}

// A callback that blocks the single thread until released, so that the queue holds still.
struct Gate {
  absl::Notification entered;
  absl::Notification release;
};

TEST(RolloutEngineTest, CancelDropsOnlyQueuedJobsOfTheGroup) {
  const auto context = MakeContext({8}, 20, /*record=*/false);
  const std::vector<float> params = RandomParams(context->layout, 5);
  Gate gate;
  absl::Mutex mu;
  std::vector<JobKey> done;
  absl::Notification all_done;
  auto callback = [&](const EpisodeJob& job, absl::StatusOr<const common::EpisodeResult*> result) {
    const JobKey& key = job.key;
    EXPECT_TRUE(result.ok()) << result.status();
    if (key.index == 0) {
      gate.entered.Notify();
      ASSERT_TRUE(gate.release.WaitForNotificationWithTimeout(kWaitTimeout));
    }
    absl::MutexLock lock(&mu);
    done.push_back(key);
    if (done.size() == 4) all_done.Notify();
  };
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RolloutEngine> engine,
                             RolloutEngine::Create(1, callback));
  EpisodeJob job;
  job.context = context;
  job.params = params;
  for (int i = 0; i < 7; ++i) {
    job.key = {.group = (i == 0 || i % 2 == 1) ? 1u : 2u, .lease_id = 1, .index = i};
    GDAQD_ASSERT_OK(engine->Submit(job));
  }
  // Group 1: 0 (running), 1, 3, 5 (queued). Group 2: 2, 4, 6.
  ASSERT_TRUE(gate.entered.WaitForNotificationWithTimeout(kWaitTimeout));
  EXPECT_EQ(engine->Cancel(1), 3);
  EXPECT_EQ(engine->queued(), 3);
  gate.release.Notify();
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(kWaitTimeout));
  absl::MutexLock lock(&mu);
  std::vector<int> indices;
  for (const JobKey& key : done) indices.push_back(key.index);
  EXPECT_THAT(indices, ::testing::ElementsAre(0, 2, 4, 6));
}

TEST(RolloutEngineTest, StopWithQueuedJobsTerminatesAndRefusesNewJobs) {
  constexpr int kJobs = 2000;
  const auto context = MakeContext({64, 64}, 1000, /*record=*/true);
  auto params = std::make_shared<const std::vector<float>>(RandomParams(context->layout, 9));
  absl::Mutex mu;
  int callbacks = 0;
  absl::Notification first;
  GDAQD_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<RolloutEngine> engine,
      RolloutEngine::Create(2,
                            [&](const EpisodeJob&, absl::StatusOr<const common::EpisodeResult*>) {
                              absl::MutexLock lock(&mu);
                              if (++callbacks == 1) first.Notify();
                            }));
  std::vector<EpisodeJob> jobs(kJobs);
  for (int i = 0; i < kJobs; ++i) {
    jobs[i].context = context;
    jobs[i].key.index = i;
    jobs[i].params = *params;
    jobs[i].params_owner = params;
  }
  GDAQD_ASSERT_OK(engine->Submit(std::move(jobs)));
  ASSERT_TRUE(first.WaitForNotificationWithTimeout(kWaitTimeout));

  absl::Notification stopped;
  {
    common::Thread stopper("stopper", [&] {
      engine->Stop();
      stopped.Notify();
    });
    EXPECT_TRUE(stopped.WaitForNotificationWithTimeout(kWaitTimeout));
  }
  EXPECT_EQ(engine->queued(), 0);
  {
    absl::MutexLock lock(&mu);
    EXPECT_LT(callbacks, kJobs);
  }
  EpisodeJob late;
  late.context = context;
  late.params = *params;
  EXPECT_THAT(engine->Submit(std::move(late)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stopped")));
  engine->Stop();  // idempotent
}

}  // namespace
}  // namespace gdaqd::worker
