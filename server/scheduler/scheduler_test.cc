#include "server/scheduler/scheduler.h"

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/task.h"
#include "common/thread.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/recording_sink.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::StatusIs;
using gdaqd::v1::Assignment;
using gdaqd::v1::CoordinatorMessage;
using gdaqd::v1::EpisodeResult;

constexpr int64_t kNumParams = 3;
constexpr absl::Duration kWait = absl::Seconds(10);

using ::gdaqd::testing::RecordingSink;

EvalRequest MakeRequest(int64_t episodes) {
  EvalRequest request;
  request.experiment_id = "exp";
  request.env.set_task("point_maze");
  request.num_params = kNumParams;
  request.descriptor_dim = 2;
  request.episodes_per_lease = 3;
  for (int64_t i = 0; i < episodes; ++i) {
    request.seeds.push_back(100 + i);
    for (int64_t p = 0; p < kNumParams; ++p) request.params.push_back(static_cast<float>(i));
  }
  return request;
}

// The fitness ResultFor() reports for episode i: -i / 10, within point_maze's bounds for 7
// steps, so that outcomes can be matched to their index.
float FitnessOf(int64_t episode) { return -0.1f * static_cast<float>(episode); }

// The result a well-behaved worker sends: fitness from the policy's first parameter (its episode
// number), so the test can check that outcomes land at the right index.
EpisodeResult ResultFor(const Assignment& assignment, int slot) {
  EpisodeResult result;
  result.set_lease_id(assignment.lease_id());
  result.set_index(slot);
  float first_param;
  std::memcpy(&first_param, assignment.episodes(slot).params().data(), sizeof(float));
  result.set_fitness(FitnessOf(static_cast<int64_t>(first_param)));
  result.add_behavior_descriptor(0.5f);
  result.add_behavior_descriptor(-0.5f);
  result.set_length(7);
  result.set_last_chunk(true);
  // The echoes a worker sets on every chunk.
  result.set_actor_version(assignment.episodes(slot).actor_version());
  if (assignment.episodes(slot).has_skill()) result.set_skill(assignment.episodes(slot).skill());
  return result;
}

// Answers every assignment sent so far; returns how many episodes it answered.
int AnswerAll(Scheduler& scheduler, const std::string& worker, RecordingSink& sink) {
  int answered = 0;
  for (const Assignment& assignment : sink.Take()) {
    for (int slot = 0; slot < assignment.episodes_size(); ++slot) {
      EXPECT_THAT(scheduler.OnResult(worker, ResultFor(assignment, slot)), gdaqd::testing::IsOk());
      ++answered;
    }
  }
  return answered;
}

TEST(SchedulerTest, RespectsWorkerCapacityAndLeaseSize) {
  Scheduler scheduler(Scheduler::Options{.episodes_per_thread = 2});
  RecordingSink sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 2, &sink));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(10)));
  std::vector<Assignment> sent = sink.Take();
  int in_flight = 0;
  for (const Assignment& a : sent) {
    EXPECT_LE(a.episodes_size(), 3);
    in_flight += a.episodes_size();
  }
  EXPECT_EQ(in_flight, 4);  // 2 threads x 2 episodes per thread
  EXPECT_EQ(batch->remaining(), 10);
}

TEST(SchedulerTest, EveryEpisodeGetsItsOwnOutcome) {
  Scheduler scheduler;
  RecordingSink sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 1, &sink));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(25)));
  int answered = 0;
  while (batch->remaining() > 0) answered += AnswerAll(scheduler, "w", sink);
  EXPECT_EQ(answered, 25);
  std::vector<EvalOutcome> outcomes = batch->TakeOutcomes();
  ASSERT_EQ(outcomes.size(), 25u);
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(outcomes[i].fitness, FitnessOf(i));
    EXPECT_TRUE(outcomes[i].error.empty()) << outcomes[i].error;
  }
}

TEST(SchedulerTest, LostWorkerEpisodesGoToAnotherWorkerExactlyOnce) {
  Scheduler scheduler;
  RecordingSink lost_sink, good_sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("lost", 1, &lost_sink));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(6)));
  std::vector<Assignment> lost = lost_sink.Take();
  ASSERT_FALSE(lost.empty());
  // The lost worker finishes one episode, then its stream drops.
  GDAQD_ASSERT_OK(scheduler.OnResult("lost", ResultFor(lost[0], 0)));
  scheduler.UnregisterWorker("lost");
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("good", 1, &good_sink));
  int answered = 0;
  while (batch->remaining() > 0) answered += AnswerAll(scheduler, "good", good_sink);
  EXPECT_EQ(answered, 5);
  EXPECT_GT(scheduler.stats().requeued_episodes, 0);
  EXPECT_EQ(scheduler.stats().episodes_completed, 6);
  std::vector<EvalOutcome> outcomes = batch->TakeOutcomes();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(outcomes[i].fitness, FitnessOf(i));
}

TEST(SchedulerTest, DuplicateResultIsStaleAndDropped) {
  Scheduler scheduler;
  RecordingSink sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 1, &sink));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(2)));
  std::vector<Assignment> sent = sink.Take();
  ASSERT_EQ(sent.size(), 1u);
  GDAQD_ASSERT_OK(scheduler.OnResult("w", ResultFor(sent[0], 0)));
  GDAQD_ASSERT_OK(scheduler.OnResult("w", ResultFor(sent[0], 0)));
  EXPECT_EQ(scheduler.stats().stale_results, 1);
  EXPECT_EQ(scheduler.stats().episodes_completed, 1);
}

TEST(SchedulerTest, ExpiredLeaseIsRequeuedAndLateResultDropped) {
  Scheduler scheduler(Scheduler::Options{.reaper_period = absl::Milliseconds(10)});
  RecordingSink slow_sink, fast_sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("slow", 1, &slow_sink));
  EvalRequest request = MakeRequest(1);
  request.lease_timeout = absl::Milliseconds(50);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(request));
  std::vector<Assignment> slow = slow_sink.Take();
  ASSERT_EQ(slow.size(), 1u);
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("fast", 1, &fast_sink));
  // After expiry the episode is handed to whoever has capacity (the slow worker's capacity is
  // released too), and the slow worker's late answer counts for nothing.
  const absl::Time give_up = absl::Now() + kWait;
  std::vector<Assignment> again;
  while (again.empty() && absl::Now() < give_up) {
    batch->WaitFor(absl::Milliseconds(20));
    again = fast_sink.Take();
    if (again.empty()) again = slow_sink.Take();
  }
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(scheduler.stats().requeued_episodes, 1);
  GDAQD_ASSERT_OK(scheduler.OnResult("slow", ResultFor(slow[0], 0)));
  EXPECT_EQ(scheduler.stats().stale_results, 1);
  EXPECT_EQ(batch->remaining(), 1);
}

TEST(SchedulerTest, MalformedResultCompletesWithErrorAndIsReported) {
  Scheduler scheduler;
  RecordingSink sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 1, &sink));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(1)));
  std::vector<Assignment> sent = sink.Take();
  EpisodeResult bad = ResultFor(sent[0], 0);
  bad.add_behavior_descriptor(1.0f);  // 3 values for a 2-D task
  EXPECT_THAT(scheduler.OnResult("w", bad),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("descriptor")));
  ASSERT_TRUE(batch->WaitFor(kWait));
  EXPECT_THAT(batch->TakeOutcomes()[0].error, ::testing::HasSubstr("malformed"));
}

TEST(SchedulerTest, IndexOutOfRangeChangesNothing) {
  Scheduler scheduler;
  RecordingSink sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 1, &sink));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(1)));
  EpisodeResult bad = ResultFor(sink.Take()[0], 0);
  bad.set_index(99);
  EXPECT_THAT(scheduler.OnResult("w", bad),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("out of range")));
  EXPECT_EQ(batch->remaining(), 1);
}

TEST(SchedulerTest, ChunkedTransitionsAreReassembledInOrder) {
  Scheduler scheduler;
  RecordingSink sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 1, &sink));
  EvalRequest request = MakeRequest(1);
  request.record_transitions = true;
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(request));
  Assignment assignment = sink.Take()[0];
  EXPECT_TRUE(assignment.record_transitions());
  // One point_maze row (9 floats) split 5 + 4 over two chunks.
  const std::vector<float> first = {1, 2, 3, 4, 5}, second = {6, 7, 8, 9};
  EpisodeResult chunk0;
  chunk0.set_lease_id(assignment.lease_id());
  chunk0.set_transitions(std::string(reinterpret_cast<const char*>(first.data()), 20));
  GDAQD_ASSERT_OK(scheduler.OnResult("w", chunk0));
  EpisodeResult chunk1 = ResultFor(assignment, 0);
  chunk1.set_length(1);
  chunk1.set_chunk(1);
  chunk1.set_transitions(std::string(reinterpret_cast<const char*>(second.data()), 16));
  GDAQD_ASSERT_OK(scheduler.OnResult("w", chunk1));
  ASSERT_TRUE(batch->WaitFor(kWait));
  EXPECT_THAT(batch->TakeOutcomes()[0].transitions,
              ::testing::ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9));
}

TEST(SchedulerTest, DuplicateWorkerIdIsRejected) {
  Scheduler scheduler;
  RecordingSink a, b;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 1, &a));
  EXPECT_THAT(scheduler.RegisterWorker("w", 1, &b),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::HasSubstr("w")));
}

TEST(SchedulerTest, CancelWakesEvaluate) {
  Scheduler scheduler;
  CancelFlag cancel{true};
  EXPECT_THAT(scheduler.Evaluate(MakeRequest(3), &cancel),
              StatusIs(absl::StatusCode::kCancelled, ::testing::_));
  EXPECT_EQ(scheduler.stats().queued_episodes, 0);
}

// MakeRequest() with the task's result limits set, as experiments send it: Evaluate() then
// borrows the request instead of copying it.
EvalRequest MakeLimitedRequest(int64_t episodes) {
  EvalRequest request = MakeRequest(episodes);
  absl::StatusOr<common::TaskSpec> spec = common::GetTaskSpec("point_maze", 0);
  EXPECT_TRUE(spec.ok()) << spec.status();
  ApplyTaskLimits(*spec, &request);
  return request;
}

TEST(SchedulerTest, EvaluateOfABorrowedRequestReturnsEachEpisodesOutcome) {
  Scheduler scheduler;
  RecordingSink sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 1, &sink));
  absl::StatusOr<std::vector<EvalOutcome>> outcomes;
  {
    auto request = std::make_unique<EvalRequest>(MakeLimitedRequest(10));
    ASSERT_GT(request->episode_length, 0);
    common::Thread evaluation("evaluate",
                              [&] { outcomes = scheduler.Evaluate(*request, nullptr); });
    const absl::Time give_up = absl::Now() + kWait;
    int answered = 0;
    while (answered < 10 && absl::Now() < give_up) {
      for (const Assignment& assignment : sink.WaitAndTake(absl::Milliseconds(50))) {
        for (int slot = 0; slot < assignment.episodes_size(); ++slot) {
          GDAQD_ASSERT_OK(scheduler.OnResult("w", ResultFor(assignment, slot)));
          ++answered;
        }
      }
    }
    EXPECT_EQ(answered, 10);
  }  // joins
  GDAQD_ASSERT_OK(outcomes.status());
  ASSERT_EQ(outcomes->size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ((*outcomes)[i].fitness, FitnessOf(i));
  EXPECT_EQ(scheduler.stats().queued_episodes, 0);
}

// A cancelled evaluation returns while its leases are still out; their late results and the
// next evaluation must not touch the request it borrowed, which is gone by then (a use would
// read freed memory, or crash on the dropped reference).
TEST(SchedulerTest, LateResultsOfACancelledBorrowedRequestAreHarmless) {
  Scheduler scheduler;
  RecordingSink sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 1, &sink));
  CancelFlag cancel{false};
  absl::StatusOr<std::vector<EvalOutcome>> outcomes;
  std::vector<Assignment> out;
  {
    auto request = std::make_unique<EvalRequest>(MakeLimitedRequest(12));
    common::Thread evaluation("evaluate",
                              [&] { outcomes = scheduler.Evaluate(*request, &cancel); });
    out = sink.WaitAndTake(kWait);
    ASSERT_FALSE(out.empty());
    cancel = true;
    evaluation.Join();
    for (Assignment& more : sink.Take()) out.push_back(std::move(more));  // sent meanwhile
    std::memset(request->params.data(), 0xff, request->params.size() * sizeof(float));
    request.reset();
  }
  EXPECT_THAT(outcomes, StatusIs(absl::StatusCode::kCancelled, ::testing::_));
  EXPECT_EQ(scheduler.stats().queued_episodes, 0);
  for (const Assignment& assignment : out) {
    for (int slot = 0; slot < assignment.episodes_size(); ++slot) {
      GDAQD_EXPECT_OK(scheduler.OnResult("w", ResultFor(assignment, slot)));
    }
  }
  EXPECT_TRUE(sink.Take().empty());  // nothing of the cancelled batch is leased again
  GDAQD_ASSERT_OK_AND_ASSIGN(auto next, scheduler.Submit(MakeRequest(2)));
  while (next->remaining() > 0) ASSERT_GT(AnswerAll(scheduler, "w", sink), 0);
  EXPECT_EQ(next->TakeOutcomes()[1].fitness, FitnessOf(1));
}

// A request whose episodes carry options: episode i explores with noise seed 1000 + i, std 0.1
// (even i) or is an evaluation episode (odd i), all of actor version 4.
EvalRequest MakeExplorationRequest(int64_t episodes) {
  EvalRequest request = MakeRequest(episodes);
  request.actor_version = 4;
  for (int64_t i = 0; i < episodes; ++i) {
    common::EpisodeOptions options;
    if (i % 2 == 0) {
      options.noise_seed = 1000 + i;
      options.exploration_std = 0.1f;
    }
    options.skill = static_cast<int>(i % 3);
    request.episode_options.push_back(options);
  }
  return request;
}

// Checks that `episode` (batch index = its first parameter) carries the options above.
void ExpectExplorationOptions(const gdaqd::v1::Episode& episode) {
  float first_param;
  std::memcpy(&first_param, episode.params().data(), sizeof(float));
  const auto i = static_cast<int64_t>(first_param);
  EXPECT_EQ(episode.actor_version(), 4u);
  ASSERT_TRUE(episode.has_skill());
  EXPECT_EQ(episode.skill(), i % 3);
  if (i % 2 == 0) {
    ASSERT_TRUE(episode.has_noise_seed());
    EXPECT_EQ(episode.noise_seed(), static_cast<uint64_t>(1000 + i));
    EXPECT_FLOAT_EQ(episode.exploration_std(), 0.1f);
  } else {
    EXPECT_FALSE(episode.has_noise_seed());
    EXPECT_EQ(episode.exploration_std(), 0.0f);
  }
}

TEST(SchedulerTest, DefaultEpisodesCarryNoOptions) {
  Scheduler scheduler;
  RecordingSink sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 1, &sink));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(2)));
  for (const Assignment& assignment : sink.Take()) {
    for (const gdaqd::v1::Episode& episode : assignment.episodes()) {
      EXPECT_FALSE(episode.has_skill());
      EXPECT_FALSE(episode.has_noise_seed());
      EXPECT_EQ(episode.exploration_std(), 0.0f);
      EXPECT_EQ(episode.actor_version(), 0u);
    }
  }
}

TEST(SchedulerTest, EpisodeOptionsReachTheWireAndSurviveARequeue) {
  Scheduler scheduler;
  RecordingSink lost_sink, good_sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("lost", 1, &lost_sink));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeExplorationRequest(6)));
  std::vector<Assignment> lost = lost_sink.Take();
  ASSERT_FALSE(lost.empty());
  for (const Assignment& a : lost) {
    for (const gdaqd::v1::Episode& episode : a.episodes()) ExpectExplorationOptions(episode);
  }
  scheduler.UnregisterWorker("lost");  // every episode it held is re-queued
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("good", 1, &good_sink));
  int answered = 0;
  while (batch->remaining() > 0) {
    std::vector<Assignment> sent = good_sink.Take();
    for (const Assignment& a : sent) {
      for (int slot = 0; slot < a.episodes_size(); ++slot) {
        ExpectExplorationOptions(a.episodes(slot));
        GDAQD_ASSERT_OK(scheduler.OnResult("good", ResultFor(a, slot)));
        ++answered;
      }
    }
  }
  EXPECT_EQ(answered, 6);
  EXPECT_GT(scheduler.stats().requeued_episodes, 0);
  for (const EvalOutcome& outcome : batch->TakeOutcomes()) EXPECT_EQ(outcome.error, "");
}

TEST(SchedulerTest, ResultWithTheWrongEchoIsMalformed) {
  Scheduler scheduler;
  RecordingSink sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 1, &sink));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeExplorationRequest(2)));
  std::vector<Assignment> sent = sink.Take();
  ASSERT_FALSE(sent.empty());
  ASSERT_GE(sent[0].episodes_size(), 1);
  EpisodeResult stale_version = ResultFor(sent[0], 0);
  stale_version.set_actor_version(3);
  EXPECT_THAT(scheduler.OnResult("w", stale_version),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("echoes actor_version 3, the episode ran version 4")));
  EXPECT_EQ(scheduler.stats().rejected_by(ResultCheck::kBadIndex), 1);
}

TEST(SchedulerTest, ResultWithTheWrongSkillIsMalformed) {
  Scheduler scheduler;
  RecordingSink sink;
  GDAQD_ASSERT_OK(scheduler.RegisterWorker("w", 1, &sink));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeExplorationRequest(1)));
  std::vector<Assignment> sent = sink.Take();
  ASSERT_EQ(sent.size(), 1u);
  EpisodeResult wrong_skill = ResultFor(sent[0], 0);
  wrong_skill.clear_skill();
  EXPECT_THAT(scheduler.OnResult("w", wrong_skill),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("echoes no skill, the episode has skill 0")));
  std::vector<EvalOutcome> outcomes = batch->TakeOutcomes();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_THAT(outcomes[0].error, ::testing::HasSubstr("malformed result"));
}

TEST(SchedulerTest, EpisodeOptionsOfTheWrongShapeAreRefused) {
  EvalRequest request = MakeExplorationRequest(3);
  request.episode_options.pop_back();
  EXPECT_THAT(ValidateEvalRequest(request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("episode_options has 2 entries, expected 3")));
  request = MakeExplorationRequest(3);
  request.episode_options[1].skill = -1;
  EXPECT_THAT(ValidateEvalRequest(request), StatusIs(absl::StatusCode::kInvalidArgument,
                                                     ::testing::HasSubstr("episode_options[")));
  request = MakeExplorationRequest(3);
  request.episode_options[0].exploration_std = -0.5f;
  EXPECT_THAT(ValidateEvalRequest(request), StatusIs(absl::StatusCode::kInvalidArgument,
                                                     ::testing::HasSubstr("episode_options[")));
}

}  // namespace
}  // namespace gdaqd::server
