// The Scheduler against misbehaving workers (docs/durability.md §5): capacity by measured
// throughput, re-queueing away from the worker that let a lease expire, probation, quarantine,
// transition byte caps and result validation. Time is a fake clock advanced by the test, and
// expiry sweeps run when the test calls ReapNow().
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/thread.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scheduler/scheduler.h"
#include "tests/testing/recording_sink.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::StatusIs;
using gdaqd::v1::Assignment;
using gdaqd::v1::CoordinatorMessage;
using gdaqd::v1::EpisodeResult;
using ::testing::HasSubstr;

constexpr int64_t kNumParams = 3;
constexpr int kEpisodeLength = 10;  // point_maze steps of every request here
constexpr int kRowFloats = 9;       // point_maze transition row
constexpr int64_t kEpisodeBytes = kEpisodeLength * kRowFloats * sizeof(float);
constexpr absl::Duration kLeaseTimeout = absl::Seconds(10);

// A clock that moves only when told to.
class FakeClock {
 public:
  absl::Time Now() {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1'000'000);
};

using ::gdaqd::testing::RecordingSink;

// The batch index of episode `slot` (every parameter of episode i is i).
int64_t EpisodeOf(const Assignment& assignment, int slot) {
  float first;
  std::memcpy(&first, assignment.episodes(slot).params().data(), sizeof(float));
  return static_cast<int64_t>(first);
}

// A point_maze request of `episodes` episodes of kEpisodeLength steps; parameters of episode i
// are all i.
EvalRequest MakeRequest(int64_t episodes, int episodes_per_lease = 8) {
  EvalRequest request;
  request.experiment_id = "exp";
  request.env.set_task("point_maze");
  request.env.set_episode_length(kEpisodeLength);
  request.num_params = kNumParams;
  request.descriptor_dim = 2;
  request.episodes_per_lease = episodes_per_lease;
  request.lease_timeout = kLeaseTimeout;
  for (int64_t i = 0; i < episodes; ++i) {
    request.seeds.push_back(i);
    for (int64_t p = 0; p < kNumParams; ++p) request.params.push_back(static_cast<float>(i));
  }
  return request;
}

// The final message of an honest episode `slot` of lease `lease_id`, without transitions.
EpisodeResult HonestResult(uint64_t lease_id, int slot) {
  EpisodeResult result;
  result.set_lease_id(lease_id);
  result.set_index(slot);
  result.set_fitness(-1.0f);
  result.add_behavior_descriptor(0.5f);
  result.add_behavior_descriptor(-0.5f);
  result.set_length(kEpisodeLength);
  result.set_last_chunk(true);
  return result;
}

// `floats` float32 values as the bytes of a transitions field.
std::string Bytes(int64_t floats, float value = 0.25f) {
  const std::vector<float> v(floats, value);
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// One fake worker as the scheduler sees it: its sink and the episodes it was sent and has not
// answered yet, oldest first.
class TestWorker {
 public:
  struct Slot {
    uint64_t lease_id;
    int slot;
    int64_t episode;  // batch index
  };

  TestWorker(Scheduler* scheduler, std::string id) : scheduler_(scheduler), id_(std::move(id)) {}

  absl::Status Register(int threads) { return scheduler_->RegisterWorker(id_, threads, &sink_); }

  // Moves newly sent episodes to the pending list; returns their batch indices.
  std::vector<int64_t> Fetch() {
    std::vector<int64_t> fresh;
    for (const Assignment& a : sink_.Take()) {
      for (int slot = 0; slot < a.episodes_size(); ++slot) {
        pending_.push_back({a.lease_id(), slot, EpisodeOf(a, slot)});
        fresh.push_back(EpisodeOf(a, slot));
      }
    }
    return fresh;
  }

  // Answers the oldest pending episode with `result` (lease and index filled in).
  absl::Status AnswerOne(EpisodeResult result) {
    if (pending_.empty()) Fetch();
    if (pending_.empty()) return absl::NotFoundError("nothing pending");
    const Slot next = pending_.front();
    pending_.erase(pending_.begin());
    result.set_lease_id(next.lease_id);
    result.set_index(next.slot);
    return scheduler_->OnResult(id_, result);
  }
  absl::Status AnswerOne() { return AnswerOne(HonestResult(0, 0)); }

  // Answers everything pending (and everything sent meanwhile) honestly; returns the count.
  int AnswerAll() {
    int answered = 0;
    while (!Fetch().empty() || !pending_.empty()) {
      EXPECT_THAT(AnswerOne(), gdaqd::testing::IsOk());
      ++answered;
    }
    return answered;
  }

  const std::vector<Slot>& pending() const { return pending_; }
  // Forgets the pending episodes (their leases expired).
  void Forget() { pending_.clear(); }
  // Episodes sent so far and not answered (after a Fetch).
  int64_t outstanding() {
    Fetch();
    return static_cast<int64_t>(pending_.size());
  }
  RecordingSink& sink() { return sink_; }
  const std::string& id() const { return id_; }

 private:
  Scheduler* const scheduler_;
  const std::string id_;
  RecordingSink sink_;
  std::vector<Slot> pending_;
};

// Options with the fake clock and a reaper that never runs on its own.
Scheduler::Options TestOptions(FakeClock* clock) {
  Scheduler::Options options;
  options.reaper_period = absl::Hours(1);
  options.clock = [clock] { return clock->Now(); };
  return options;
}

TEST(SchedulerHardeningTest, SubmitFillsUnsetResultLimitsFromTheTask) {
  FakeClock clock;
  Scheduler scheduler(TestOptions(&clock));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(1)));
  EXPECT_EQ(batch->limits().episode_length, kEpisodeLength);
  EXPECT_THAT(batch->limits().descriptor_high, ::testing::ElementsAre(1.0f, 1.0f));
  EXPECT_EQ(batch->limits().transition_row_floats, kRowFloats);
  EXPECT_LT(batch->limits().min_step_reward, -2.0);
  // Limits the caller set are kept; an unknown task gets none.
  EvalRequest explicit_limits = MakeRequest(1);
  explicit_limits.episode_length = 3;
  GDAQD_ASSERT_OK_AND_ASSIGN(batch, scheduler.Submit(explicit_limits));
  EXPECT_EQ(batch->limits().episode_length, 3);
  EXPECT_TRUE(batch->limits().descriptor_low.empty());
  EvalRequest unknown = MakeRequest(1);
  unknown.env.set_task("no_such_task");
  GDAQD_ASSERT_OK_AND_ASSIGN(batch, scheduler.Submit(unknown));
  EXPECT_EQ(batch->limits().episode_length, 0);
  // Inconsistent limits are refused.
  EvalRequest bad_box = MakeRequest(1);
  bad_box.episode_length = 3;
  bad_box.descriptor_low = {0.0f};
  bad_box.descriptor_high = {1.0f};
  EXPECT_THAT(scheduler.Submit(bad_box),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("descriptor box")));
}

TEST(SchedulerHardeningTest, WaitForWorkersReturnsOnceEnoughAreConnected) {
  FakeClock clock;
  Scheduler scheduler(TestOptions(&clock));
  EXPECT_FALSE(scheduler.WaitForWorkers(1, absl::Milliseconds(10)));
  TestWorker w(&scheduler, "w");
  common::Thread connect("connect", [&] { EXPECT_THAT(w.Register(1), gdaqd::testing::IsOk()); });
  EXPECT_TRUE(scheduler.WaitForWorkers(1, absl::Seconds(10)));
}

TEST(SchedulerHardeningTest, DeclaredThreadsAreCappedAndCounted) {
  FakeClock clock;
  Scheduler::Options options = TestOptions(&clock);
  options.max_worker_threads = 3;
  options.episodes_per_thread = 2;
  options.initial_credit_threads = 100;  // start at the cap to see it
  Scheduler scheduler(options);
  TestWorker w(&scheduler, "w");
  GDAQD_ASSERT_OK(w.Register(std::numeric_limits<int32_t>::max()));
  EXPECT_EQ(scheduler.stats().clamped_workers, 1);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(100)));
  EXPECT_EQ(w.outstanding(), 6);  // 3 threads x 2
}

TEST(SchedulerHardeningTest, CreditStartsSmallAndGrowsWithAcceptedEpisodesUpToTheClaim) {
  FakeClock clock;
  Scheduler::Options options = TestOptions(&clock);
  options.episodes_per_thread = 2;
  Scheduler scheduler(options);
  TestWorker w(&scheduler, "w");
  GDAQD_ASSERT_OK(w.Register(5));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(100, 1)));
  EXPECT_EQ(w.outstanding(), 4);  // min(5, 2) threads x 2
  // Each accepted episode frees its slot and adds one of credit, up to 5 x 2 = 10 in flight.
  std::vector<int64_t> in_flight;
  for (int i = 0; i < 8; ++i) {
    GDAQD_ASSERT_OK(w.AnswerOne());
    in_flight.push_back(w.outstanding());
  }
  EXPECT_THAT(in_flight, ::testing::ElementsAre(5, 6, 7, 8, 9, 10, 10, 10));
}

TEST(SchedulerHardeningTest, BusyWorkerIsRefilledInLeasesOfSeveralEpisodes) {
  FakeClock clock;
  Scheduler::Options options = TestOptions(&clock);
  options.episodes_per_thread = 4;
  options.initial_credit_threads = 8;  // full capacity 32 from the start
  Scheduler scheduler(options);
  TestWorker w(&scheduler, "w");
  GDAQD_ASSERT_OK(w.Register(8));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(200, 32)));
  EXPECT_EQ(w.outstanding(), 32);
  EXPECT_EQ(w.sink().Take().size(), 0u);  // Fetch() took the first lease
  // Under a quarter of its capacity free: nothing new yet, however many answers come.
  for (int i = 0; i < 7; ++i) GDAQD_ASSERT_OK(w.AnswerOne());
  EXPECT_EQ(w.outstanding(), 25);
  // The eighth answer frees 8 slots: one lease of 8 episodes, not eight leases of one.
  GDAQD_ASSERT_OK(w.AnswerOne());
  const std::vector<Assignment> sent = w.sink().Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].episodes_size(), 8);
}

TEST(SchedulerHardeningTest, RefillNeverWaitsForMoreThanIsQueuedOrFitsOneLease) {
  FakeClock clock;
  Scheduler::Options options = TestOptions(&clock);
  options.episodes_per_thread = 4;
  options.initial_credit_threads = 8;
  Scheduler scheduler(options);
  TestWorker w(&scheduler, "w");
  GDAQD_ASSERT_OK(w.Register(8));
  // Leases of at most 2 episodes: the refill threshold is 2, not 8.
  GDAQD_ASSERT_OK_AND_ASSIGN(auto small_leases, scheduler.Submit(MakeRequest(40, 2)));
  EXPECT_EQ(w.outstanding(), 32);
  for (int i = 0; i < 2; ++i) GDAQD_ASSERT_OK(w.AnswerOne());
  EXPECT_EQ(w.outstanding(), 32);
  // The last episodes of the queue go out as soon as there is room for all of them.
  EXPECT_EQ(w.AnswerAll(), 38);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto tail, scheduler.Submit(MakeRequest(33, 32)));
  EXPECT_EQ(w.outstanding(), 32);
  GDAQD_ASSERT_OK(w.AnswerOne());
  EXPECT_EQ(w.outstanding(), 32);  // the 33rd episode did not wait for 8 free slots
}

TEST(SchedulerHardeningTest, RefusedResultsCostCreditAndLeadToQuarantine) {
  FakeClock clock;
  Scheduler::Options options = TestOptions(&clock);
  options.episodes_per_thread = 2;
  Scheduler scheduler(options);
  TestWorker w(&scheduler, "w");
  GDAQD_ASSERT_OK(w.Register(5));
  EvalRequest request = MakeRequest(100, 1);
  request.lease_timeout = absl::Hours(1);  // no expiry while the quarantine runs out
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(request));
  ASSERT_EQ(w.outstanding(), 4);
  EpisodeResult forged = HonestResult(0, 0);
  forged.set_fitness(1e30f);
  EXPECT_THAT(w.AnswerOne(forged), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_EQ(w.outstanding(), 3);  // capacity 4 -> 2: no new episode for the freed slot
  EXPECT_EQ(scheduler.stats().quarantines, 0);
  EXPECT_THAT(w.AnswerOne(forged), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_EQ(w.outstanding(), 2);
  EXPECT_EQ(scheduler.stats().quarantines, 1);  // two strikes in a row
  EXPECT_EQ(scheduler.stats().quarantined_workers, 1);
  // An accepted result earns credit back, but the quarantine runs its course.
  GDAQD_ASSERT_OK(w.AnswerOne());
  EXPECT_EQ(w.outstanding(), 1);
  clock.Advance(options.quarantine_base + absl::Milliseconds(1));
  scheduler.ReapNow();
  EXPECT_EQ(w.outstanding(), 2);  // capacity 1 + 1
  // A worker-reported error is no strike: honest workers report bad parameters that way.
  EpisodeResult failed;
  failed.set_error("non-finite parameters");
  failed.set_last_chunk(true);
  GDAQD_ASSERT_OK(w.AnswerOne(failed));
  EXPECT_EQ(w.outstanding(), 2);
}

TEST(SchedulerHardeningTest, OverClaimingWorkerThatNeverAnswersCannotStarveAnHonestOne) {
  FakeClock clock;
  Scheduler scheduler(TestOptions(&clock));
  TestWorker greedy(&scheduler, "greedy"), honest(&scheduler, "honest");
  GDAQD_ASSERT_OK(greedy.Register(std::numeric_limits<int32_t>::max()));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(100)));
  GDAQD_ASSERT_OK(honest.Register(1));
  EXPECT_EQ(greedy.outstanding(), 8);  // 2 threads' worth of credit, not 2^31 - 1 threads' worth
  EXPECT_EQ(honest.AnswerAll(), 92);
  EXPECT_EQ(batch->remaining(), 8);
  // The greedy worker's lease expires; the honest worker finishes it, the greedy one gets none.
  clock.Advance(kLeaseTimeout + absl::Seconds(1));
  scheduler.ReapNow();
  EXPECT_EQ(honest.AnswerAll(), 8);
  EXPECT_EQ(batch->remaining(), 0);
  EXPECT_EQ(greedy.outstanding(), 8);  // only its first, expired, lease
  EXPECT_EQ(scheduler.stats().requeued_episodes, 8);
  EXPECT_EQ(batch->requeued(), 8);
  EXPECT_EQ(scheduler.stats().expired_leases, 1);
}

TEST(SchedulerHardeningTest, ExpiredEpisodesGoElsewhereAndTheExpirerWaitsUntilItSpeaks) {
  FakeClock clock;
  Scheduler::Options options = TestOptions(&clock);
  options.episodes_per_thread = 2;
  Scheduler scheduler(options);
  TestWorker a(&scheduler, "a"), b(&scheduler, "b");
  GDAQD_ASSERT_OK(a.Register(1));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(8, 2)));
  EXPECT_THAT(a.Fetch(), ::testing::ElementsAre(0, 1));
  clock.Advance(absl::Seconds(5));
  GDAQD_ASSERT_OK(b.Register(1));
  EXPECT_THAT(b.Fetch(), ::testing::ElementsAre(2, 3));
  clock.Advance(absl::Seconds(6));  // only a's lease is past its deadline
  scheduler.ReapNow();
  EXPECT_EQ(scheduler.stats().expired_leases, 1);
  EXPECT_EQ(batch->requeued(), 2);
  // a has free capacity, but 0 and 1 avoid it, and it is on probation while b is healthy.
  EXPECT_THAT(a.Fetch(), ::testing::IsEmpty());
  GDAQD_ASSERT_OK(b.AnswerOne());
  GDAQD_ASSERT_OK(b.AnswerOne());
  EXPECT_THAT(b.Fetch(), ::testing::ElementsAre(0, 1));
  EXPECT_THAT(a.Fetch(), ::testing::IsEmpty());
  GDAQD_ASSERT_OK(b.AnswerOne());
  GDAQD_ASSERT_OK(b.AnswerOne());
  EXPECT_THAT(b.Fetch(), ::testing::ElementsAre(4, 5));
  EXPECT_THAT(a.Fetch(), ::testing::IsEmpty());
  // Any message from a, even a late one, ends its probation: it takes the next episode.
  GDAQD_ASSERT_OK(a.AnswerOne());
  EXPECT_EQ(scheduler.stats().stale_results, 1);
  EXPECT_THAT(a.Fetch(), ::testing::ElementsAre(6));
}

TEST(SchedulerHardeningTest, ExpiredEpisodesFallBackToTheSameWorkerWhenItIsAlone) {
  FakeClock clock;
  Scheduler scheduler(TestOptions(&clock));
  TestWorker a(&scheduler, "a");
  GDAQD_ASSERT_OK(a.Register(2));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(20)));
  EXPECT_THAT(a.Fetch(), ::testing::ElementsAre(0, 1, 2, 3, 4, 5, 6, 7));
  clock.Advance(kLeaseTimeout + absl::Seconds(1));
  scheduler.ReapNow();
  // Its capacity is halved: 4 of its own episodes come back to it.
  EXPECT_THAT(a.Fetch(), ::testing::ElementsAre(0, 1, 2, 3));
}

// Expires every lease granted up to now: advances past the lease timeout and sweeps.
void ExpireLease(FakeClock& clock, Scheduler& scheduler) {
  clock.Advance(kLeaseTimeout + absl::Milliseconds(100));
  scheduler.ReapNow();
}

// Advances to just before `duration` from now (expects no lease for `w`), then just after it
// (expects the episode back).
void ExpectQuarantineOf(absl::Duration duration, FakeClock& clock, Scheduler& scheduler,
                        TestWorker& w) {
  EXPECT_EQ(scheduler.stats().quarantined_workers, 1);
  clock.Advance(duration - absl::Milliseconds(100));
  scheduler.ReapNow();
  EXPECT_THAT(w.Fetch(), ::testing::IsEmpty()) << duration;
  clock.Advance(absl::Milliseconds(200));
  scheduler.ReapNow();
  w.Forget();
  EXPECT_THAT(w.Fetch(), ::testing::ElementsAre(0)) << duration;
  EXPECT_EQ(scheduler.stats().quarantined_workers, 0);
}

TEST(SchedulerHardeningTest, QuarantineAfterTwoExpiriesInARowDoublesAndIsCapped) {
  FakeClock clock;
  Scheduler::Options options = TestOptions(&clock);
  options.quarantine_base = absl::Seconds(10);
  options.quarantine_max = absl::Seconds(25);
  Scheduler scheduler(options);
  TestWorker a(&scheduler, "a");
  GDAQD_ASSERT_OK(a.Register(1));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(1)));
  EXPECT_THAT(a.Fetch(), ::testing::ElementsAre(0));
  ExpireLease(clock, scheduler);  // first expiry: probation only; alone, so it gets it back
  EXPECT_THAT(a.Fetch(), ::testing::ElementsAre(0));
  EXPECT_EQ(scheduler.stats().quarantines, 0);
  ExpireLease(clock, scheduler);
  ExpectQuarantineOf(absl::Seconds(10), clock, scheduler, a);
  ExpireLease(clock, scheduler);
  ExpectQuarantineOf(absl::Seconds(20), clock, scheduler, a);
  ExpireLease(clock, scheduler);
  ExpectQuarantineOf(absl::Seconds(25), clock, scheduler, a);  // 40 s, capped
  EXPECT_EQ(scheduler.stats().quarantines, 3);
  // One accepted episode ends the streak: the next expiry is a first one again.
  GDAQD_ASSERT_OK_AND_ASSIGN(auto second, scheduler.Submit(MakeRequest(1)));
  EXPECT_EQ(a.outstanding(), 1);  // capacity 1 after the halvings: the new batch waits
  GDAQD_ASSERT_OK(a.AnswerOne());
  EXPECT_EQ(batch->remaining(), 0);
  EXPECT_EQ(a.outstanding(), 1);  // the new batch's episode
  ExpireLease(clock, scheduler);
  EXPECT_EQ(scheduler.stats().quarantines, 3);
  EXPECT_EQ(scheduler.stats().quarantined_workers, 0);
}

TEST(SchedulerHardeningTest, QuarantinedWorkerGetsNoLeaseButMayStillDeliver) {
  FakeClock clock;
  Scheduler::Options options = TestOptions(&clock);
  options.quarantine_after_expiries = 1;
  Scheduler scheduler(options);
  TestWorker a(&scheduler, "a");
  GDAQD_ASSERT_OK(a.Register(2));  // credit 8
  GDAQD_ASSERT_OK_AND_ASSIGN(auto first, scheduler.Submit(MakeRequest(2)));
  clock.Advance(absl::Seconds(5));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto second, scheduler.Submit(MakeRequest(2)));
  EXPECT_EQ(a.outstanding(), 4);
  clock.Advance(absl::Seconds(6));  // the first lease expires, the second is still valid
  scheduler.ReapNow();
  EXPECT_EQ(scheduler.stats().quarantines, 1);
  // The first batch's episodes wait although a has free capacity and is the only worker.
  EXPECT_EQ(a.outstanding(), 4);
  a.Fetch();
  std::vector<TestWorker::Slot> second_lease(a.pending().begin() + 2, a.pending().end());
  for (const TestWorker::Slot& slot : second_lease) {
    GDAQD_ASSERT_OK(scheduler.OnResult("a", HonestResult(slot.lease_id, slot.slot)));
  }
  EXPECT_EQ(second->remaining(), 0);
  EXPECT_EQ(first->remaining(), 2);
  EXPECT_THAT(a.Fetch(), ::testing::IsEmpty());
}

TEST(SchedulerHardeningTest, EpisodeByteCapRevokesTheLeaseAndRefusesTheWorker) {
  FakeClock clock;
  Scheduler::Options options = TestOptions(&clock);
  options.chunk_slack_bytes = 100;
  Scheduler scheduler(options);
  TestWorker flood(&scheduler, "flood"), good(&scheduler, "good");
  GDAQD_ASSERT_OK(flood.Register(1));
  EvalRequest request = MakeRequest(1);
  request.record_transitions = true;
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(request));
  EXPECT_EQ(flood.outstanding(), 1);
  const uint64_t lease = flood.pending()[0].lease_id;
  EpisodeResult chunk;
  chunk.set_lease_id(lease);
  chunk.set_transitions(Bytes(kEpisodeBytes / 4));  // honest size: fine
  GDAQD_ASSERT_OK(scheduler.OnResult("flood", chunk));
  chunk.set_chunk(1);
  chunk.set_transitions(Bytes(26));  // 104 bytes more: over 360 + 100
  EXPECT_THAT(scheduler.OnResult("flood", chunk),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("464 transition bytes for one episode exceed its cap 460")));
  SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.rejected_by(ResultCheck::kTooManyBytes), 1);
  EXPECT_EQ(stats.requeued_episodes, 1);
  EXPECT_EQ(stats.leases_in_flight, 0);
  EXPECT_EQ(batch->remaining(), 1);
  // The refused worker gets nothing more (it is alone: the episode waits); its later chunks are
  // stale; another worker finishes the episode.
  EXPECT_THAT(flood.Fetch(), ::testing::IsEmpty());
  chunk.set_chunk(2);
  GDAQD_ASSERT_OK(scheduler.OnResult("flood", chunk));
  EXPECT_EQ(scheduler.stats().stale_results, 1);
  GDAQD_ASSERT_OK(good.Register(1));
  EXPECT_THAT(good.Fetch(), ::testing::ElementsAre(0));
  EpisodeResult honest = HonestResult(0, 0);
  honest.set_transitions(Bytes(kEpisodeLength * kRowFloats));
  GDAQD_ASSERT_OK(good.AnswerOne(honest));
  ASSERT_TRUE(batch->WaitFor(absl::Seconds(1)));
  EXPECT_EQ(batch->TakeOutcomes()[0].transitions.size(), size_t{kEpisodeLength * kRowFloats});
}

TEST(SchedulerHardeningTest, WorkerByteCapCountsEveryUnfinishedEpisode) {
  FakeClock clock;
  Scheduler::Options options = TestOptions(&clock);
  options.chunk_slack_bytes = 1000;
  options.max_worker_staged_bytes = 3 * kEpisodeBytes;
  Scheduler scheduler(options);
  TestWorker w(&scheduler, "w");
  GDAQD_ASSERT_OK(w.Register(1));  // 4 episodes in flight
  EvalRequest request = MakeRequest(4);
  request.record_transitions = true;
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(request));
  ASSERT_EQ(w.outstanding(), 4);
  for (int slot = 0; slot < 3; ++slot) {
    EpisodeResult chunk;
    chunk.set_lease_id(w.pending()[slot].lease_id);
    chunk.set_index(w.pending()[slot].slot);
    chunk.set_transitions(Bytes(kEpisodeBytes / 4));
    GDAQD_ASSERT_OK(scheduler.OnResult("w", chunk));
  }
  EpisodeResult chunk;
  chunk.set_lease_id(w.pending()[3].lease_id);
  chunk.set_index(w.pending()[3].slot);
  chunk.set_transitions(Bytes(1));
  EXPECT_THAT(scheduler.OnResult("w", chunk),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("staged by the worker exceed its cap 1080")));
  EXPECT_EQ(scheduler.stats().requeued_episodes, 4);
}

TEST(SchedulerHardeningTest, StagedBytesAreReleasedAsEpisodesFinish) {
  FakeClock clock;
  Scheduler::Options options = TestOptions(&clock);
  options.chunk_slack_bytes = 0;
  options.max_worker_staged_bytes = 2 * kEpisodeBytes;
  Scheduler scheduler(options);
  TestWorker w(&scheduler, "w");
  GDAQD_ASSERT_OK(w.Register(1));
  EvalRequest request = MakeRequest(30, 1);
  request.record_transitions = true;
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(request));
  for (int i = 0; i < 30; ++i) {
    ASSERT_GT(w.outstanding(), 0) << i;
    const TestWorker::Slot slot = w.pending()[0];
    EpisodeResult first;
    first.set_lease_id(slot.lease_id);
    first.set_index(slot.slot);
    first.set_transitions(Bytes(kEpisodeLength * kRowFloats / 2));
    GDAQD_ASSERT_OK(scheduler.OnResult("w", first));
    EpisodeResult last = HonestResult(0, 0);
    last.set_chunk(1);
    last.set_transitions(Bytes(kEpisodeLength * kRowFloats / 2));  // 45 + 45 = 90 floats
    GDAQD_ASSERT_OK(w.AnswerOne(last)) << i;
  }
  EXPECT_EQ(batch->remaining(), 0);
  EXPECT_EQ(scheduler.stats().malformed_results, 0);
}

TEST(SchedulerHardeningTest, RefusedResultsCompleteAsErrorsCountedByReason) {
  FakeClock clock;
  Scheduler scheduler(TestOptions(&clock));
  TestWorker w(&scheduler, "w");
  GDAQD_ASSERT_OK(w.Register(1));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler.Submit(MakeRequest(4)));
  EpisodeResult out_of_box = HonestResult(0, 0);
  out_of_box.set_behavior_descriptor(0, 1e30f);
  out_of_box.set_behavior_descriptor(1, -1e30f);
  EXPECT_THAT(w.AnswerOne(out_of_box),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("descriptor_out_of_box")));
  EpisodeResult rich = HonestResult(0, 0);
  rich.set_fitness(1e30f);
  EXPECT_THAT(w.AnswerOne(rich),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("fitness_out_of_bounds")));
  EpisodeResult long_episode = HonestResult(0, 0);
  long_episode.set_length(kEpisodeLength + 1);
  EXPECT_THAT(w.AnswerOne(long_episode),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad_length")));
  EpisodeResult failed;
  failed.set_error("cannot run");
  failed.set_last_chunk(true);
  GDAQD_ASSERT_OK(w.AnswerOne(failed));
  ASSERT_TRUE(batch->WaitFor(absl::Seconds(1)));
  const std::vector<EvalOutcome> outcomes = batch->TakeOutcomes();
  EXPECT_THAT(outcomes[0].error,
              HasSubstr("malformed result from worker w (descriptor_out_of_box)"));
  EXPECT_THAT(outcomes[1].error, HasSubstr("fitness_out_of_bounds"));
  EXPECT_THAT(outcomes[2].error, HasSubstr("bad_length"));
  EXPECT_EQ(outcomes[3].error, "worker w: cannot run");
  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.rejected_by(ResultCheck::kDescriptorOutOfBox), 1);
  EXPECT_EQ(stats.rejected_by(ResultCheck::kFitnessOutOfBounds), 1);
  EXPECT_EQ(stats.rejected_by(ResultCheck::kBadLength), 1);
  EXPECT_EQ(stats.rejected_by(ResultCheck::kWorkerError), 1);
  EXPECT_EQ(stats.rejected_by(ResultCheck::kAccepted), 0);
  EXPECT_EQ(stats.malformed_results, 3);
  EXPECT_EQ(stats.episodes_completed, 4);
}

TEST(SchedulerHardeningTest, EvaluateWithStatsReportsOnlyItsOwnRequeues) {
  FakeClock clock;
  Scheduler scheduler(TestOptions(&clock));
  TestWorker w(&scheduler, "w");
  GDAQD_ASSERT_OK(w.Register(1));
  // Another experiment's batch has its lease expire first.
  GDAQD_ASSERT_OK_AND_ASSIGN(auto other, scheduler.Submit(MakeRequest(3)));
  EXPECT_EQ(w.outstanding(), 3);
  ExpireLease(clock, scheduler);
  EXPECT_EQ(scheduler.requeued_episodes(), 3);
  w.Forget();
  EXPECT_EQ(w.AnswerAll(), 3);
  EXPECT_EQ(other->remaining(), 0);

  absl::StatusOr<std::vector<EvalOutcome>> outcomes;
  EvalCallStats stats;
  {
    common::Thread evaluation("evaluate", [&] {
      outcomes = scheduler.EvaluateWithStats(MakeRequest(2), nullptr, &stats);
    });
    ASSERT_EQ(w.sink().WaitAndTake(absl::Seconds(10)).size(), 1u);  // its lease, dropped
    ExpireLease(clock, scheduler);
    std::vector<Assignment> again = w.sink().WaitAndTake(absl::Seconds(10));
    ASSERT_EQ(again.size(), 1u);
    for (int slot = 0; slot < again[0].episodes_size(); ++slot) {
      GDAQD_ASSERT_OK(scheduler.OnResult("w", HonestResult(again[0].lease_id(), slot)));
    }
  }  // joins
  GDAQD_ASSERT_OK(outcomes.status());
  EXPECT_EQ(outcomes->size(), 2u);
  EXPECT_EQ(stats.requeued_episodes, 2);
  EXPECT_EQ(scheduler.requeued_episodes(), 5);
}

}  // namespace
}  // namespace gdaqd::server
