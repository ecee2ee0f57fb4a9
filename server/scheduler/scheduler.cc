#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/task.h"

namespace gdaqd::server {
namespace {

using gdaqd::v1::CoordinatorMessage;
using gdaqd::v1::EpisodeResult;

// The outcome of an accepted result; its transitions are the staged chunks.
EvalOutcome AcceptedOutcome(const EpisodeResult& result, std::vector<float> transitions) {
  EvalOutcome outcome;
  outcome.fitness = result.fitness();
  outcome.descriptor.assign(result.behavior_descriptor().begin(),
                            result.behavior_descriptor().end());
  outcome.length = result.length();
  outcome.terminated = result.terminated();
  outcome.diverged = result.diverged();
  outcome.transitions = std::move(transitions);
  return outcome;
}

// The error outcome of a refused result (or of a worker-reported error).
EvalOutcome ErrorOutcome(const std::string& worker_id, const ResultVerdict& verdict) {
  EvalOutcome outcome;
  if (verdict.check == ResultCheck::kWorkerError) {
    outcome.error = absl::StrCat("worker ", worker_id, ": ", verdict.message);
  } else {
    outcome.error = absl::StrCat("malformed result from worker ", worker_id, " (",
                                 ResultCheckName(verdict.check), "): ", verdict.message);
  }
  return outcome;
}

// Copies one episode's options and the batch's actor version into its wire Episode; unset
// options leave the fields unset (a default episode's bytes are unchanged).
void SetEpisodeOptions(const common::EpisodeOptions& options, uint64_t actor_version,
                       gdaqd::v1::Episode* episode) {
  if (options.skill.has_value()) episode->set_skill(*options.skill);
  if (options.noise_seed.has_value()) episode->set_noise_seed(*options.noise_seed);
  if (options.exploration_std != 0) episode->set_exploration_std(options.exploration_std);
  if (actor_version != 0) episode->set_actor_version(actor_version);
}

}  // namespace

Scheduler::Scheduler(Options options) : options_(std::move(options)) {
  reaper_ = std::make_unique<common::Thread>("lease-reaper", [this] { ReaperLoop(); });
}

Scheduler::~Scheduler() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  reaper_.reset();  // joins
  absl::MutexLock lock(&mu_);
  for (const auto& weak : batches_) {
    if (auto batch = weak.lock()) batch->Cancel();
  }
}

absl::StatusOr<std::shared_ptr<EvalBatch>> Scheduler::Submit(EvalRequest request) {
  if (request.episode_length == 0) {
    // Callers that do not set the limits still get the task's (unknown tasks: no limits).
    absl::StatusOr<common::TaskSpec> spec =
        common::GetTaskSpec(request.env.task(), request.env.episode_length());
    if (spec.ok()) ApplyTaskLimits(*spec, &request);
  }
  if (absl::Status status = ValidateEvalRequest(request); !status.ok()) return status;
  return Enqueue(std::make_shared<EvalBatch>(std::move(request)));
}

absl::StatusOr<std::shared_ptr<EvalBatch>> Scheduler::Enqueue(std::shared_ptr<EvalBatch> batch) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("scheduler is shutting down");
  for (int64_t i = 0; i < batch->request().num_episodes(); ++i) queue_.push_back({batch, i, {}});
  stats_.queued_episodes = static_cast<int64_t>(queue_.size());
  // Forget batches that are gone, so that the list stays as long as the live ones.
  std::erase_if(batches_, [](const std::weak_ptr<EvalBatch>& weak) { return weak.expired(); });
  batches_.push_back(batch);
  PumpLocked();
  return batch;
}

void Scheduler::Cancel(const std::shared_ptr<EvalBatch>& batch) {
  batch->Cancel();
  absl::MutexLock lock(&mu_);
  std::erase_if(queue_, [&](const QueuedEpisode& q) { return q.batch == batch; });
  stats_.queued_episodes = static_cast<int64_t>(queue_.size());
}

absl::StatusOr<std::vector<EvalOutcome>> Scheduler::Evaluate(const EvalRequest& request,
                                                             const CancelFlag* cancel) {
  EvalCallStats stats;
  return EvaluateWithStats(request, cancel, &stats);
}

absl::StatusOr<std::vector<EvalOutcome>> Scheduler::EvaluateWithStats(const EvalRequest& request,
                                                                      const CancelFlag* cancel,
                                                                      EvalCallStats* stats) {
  *stats = EvalCallStats();
  absl::StatusOr<std::shared_ptr<EvalBatch>> batch;
  if (request.episode_length == 0) {
    batch = Submit(request);  // Submit() sets the task's limits on its own copy
  } else if (absl::Status status = ValidateEvalRequest(request); !status.ok()) {
    return status;
  } else {
    // This call blocks until the batch is complete or cancelled, so the batch may borrow the
    // request (its parameters are the bulk of it) instead of copying it.
    batch = Enqueue(std::make_shared<EvalBatch>(&request));
  }
  if (!batch.ok()) return batch.status();
  // The cancel flag is an atomic owned by the caller, so poll it at a coarse period; completion
  // itself wakes the wait immediately.
  bool complete = false;
  while (!(complete = (*batch)->WaitFor(absl::Milliseconds(100)))) {
    if ((cancel != nullptr && cancel->load()) || (*batch)->cancelled()) {
      (*batch)->Cancel();
      break;
    }
  }
  Retire(**batch);
  stats->requeued_episodes = (*batch)->requeued();
  if (!complete) return absl::CancelledError("evaluation cancelled");
  return (*batch)->TakeOutcomes();
}

void Scheduler::Retire(EvalBatch& batch) {
  absl::MutexLock lock(&mu_);
  // A complete batch has no episode left to lease, but entries of it may still sit in the
  // queue (a cancelled batch's always may): drop them, then the request they would read.
  std::erase_if(queue_, [&](const QueuedEpisode& q) { return q.batch.get() == &batch; });
  stats_.queued_episodes = static_cast<int64_t>(queue_.size());
  batch.ForgetRequest();
}

int64_t Scheduler::requeued_episodes() const {
  absl::MutexLock lock(&mu_);
  return stats_.requeued_episodes;
}

absl::Status Scheduler::RegisterWorker(const std::string& worker_id, int threads,
                                       WorkerSink* sink) {
  if (threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker ", worker_id, ": threads must be >= 1, got ", threads));
  }
  absl::MutexLock lock(&mu_);
  if (workers_.contains(worker_id)) {
    return absl::AlreadyExistsError(absl::StrCat("worker ", worker_id, " is already connected"));
  }
  const int max_threads = std::max(1, options_.max_worker_threads);
  if (threads > max_threads) {
    LOG(WARNING) << "worker_threads_clamped id=" << worker_id << " declared=" << threads
                 << " max=" << max_threads;
    ++stats_.clamped_workers;
    threads = max_threads;
  }
  const int64_t per_thread = std::max(1, options_.episodes_per_thread);
  Worker worker;
  worker.sink = sink;
  worker.threads = threads;
  worker.max_capacity = threads * per_thread;
  worker.capacity =
      std::max<int64_t>(1, std::min(threads, options_.initial_credit_threads) * per_thread);
  workers_.emplace(worker_id, std::move(worker));
  stats_.connected_workers = static_cast<int64_t>(workers_.size());
  LOG(INFO) << "worker_connected id=" << worker_id << " threads=" << threads
            << " workers=" << workers_.size();
  PumpLocked();
  return absl::OkStatus();
}

void Scheduler::UnregisterWorker(const std::string& worker_id) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return;
  const std::vector<uint64_t> leases = it->second.leases;
  for (uint64_t lease_id : leases) RequeueLeaseLocked(lease_id);
  workers_.erase(worker_id);
  stats_.connected_workers = static_cast<int64_t>(workers_.size());
  LOG(INFO) << "worker_disconnected id=" << worker_id << " requeued_leases=" << leases.size()
            << " workers=" << workers_.size();
  PumpLocked();
}

void Scheduler::RequeueLeaseLocked(uint64_t lease_id) {
  auto it = leases_.find(lease_id);
  if (it == leases_.end()) return;
  Lease& lease = it->second;
  const bool cancelled = lease.batch->cancelled();
  int64_t requeued = 0, staged_bytes = 0;
  for (int slot = static_cast<int>(lease.indices.size()) - 1; slot >= 0; --slot) {
    if (lease.finished[slot]) continue;
    staged_bytes += static_cast<int64_t>(lease.staging[slot].size() * sizeof(float));
    const int64_t index = lease.indices[slot];
    if (!cancelled && !lease.batch->is_done(index)) {
      queue_.push_front({lease.batch, index, lease.worker_id});
      ++requeued;
    }
  }
  stats_.requeued_episodes += requeued;
  if (requeued > 0) lease.batch->AddRequeued(requeued);
  auto worker = workers_.find(lease.worker_id);
  if (worker != workers_.end()) {
    worker->second.in_flight -= lease.unfinished;
    worker->second.staged_bytes -= staged_bytes;
    std::erase(worker->second.leases, lease_id);
  }
  leases_.erase(it);
  stats_.queued_episodes = static_cast<int64_t>(queue_.size());
  stats_.leases_in_flight = static_cast<int64_t>(leases_.size());
}

Scheduler::Pick Scheduler::PickWorkerLocked(const std::string& avoid, int64_t batch_limit,
                                            absl::Time now) {
  Pick healthy, fallback;
  int64_t healthy_free = 0, fallback_free = 0;
  bool healthy_connected = false;
  for (auto& [id, worker] : workers_) {
    if (worker.refused || worker.quarantined_until > now) continue;
    // Below its refill threshold a worker counts as busy (no free capacity) for this lease.
    const int64_t refill = std::clamp<int64_t>(
        static_cast<int64_t>(options_.lease_refill_fraction * static_cast<double>(worker.capacity)),
        1, batch_limit);
    const int64_t open = worker.capacity - worker.in_flight;
    const int64_t free = open >= refill ? open : 0;
    if (!worker.probation && id != avoid) {
      healthy_connected = true;
      if (free > healthy_free) {
        healthy = {&worker, &id, false};
        healthy_free = free;
      }
    } else if (free > fallback_free) {
      fallback = {&worker, &id, true};
      fallback_free = free;
    }
  }
  if (healthy.worker != nullptr) return healthy;
  // A busy healthy worker will free capacity soon; the episode waits for it.
  if (healthy_connected) return {};
  return fallback;
}

bool Scheduler::LeaseFrontLocked(const Pick& pick, absl::Time now) {
  std::shared_ptr<EvalBatch> batch = queue_.front().batch;
  const EvalRequest& request = batch->request();
  const int64_t episode_bytes = request.num_params * static_cast<int64_t>(sizeof(float));
  const int64_t by_size = std::max<int64_t>(1, options_.max_assignment_bytes / episode_bytes);
  const int64_t free = pick.worker->capacity - pick.worker->in_flight;
  const int64_t limit = std::min({free, static_cast<int64_t>(request.episodes_per_lease), by_size});

  auto message = std::make_shared<CoordinatorMessage>();
  gdaqd::v1::Assignment* assignment = message->mutable_assignment();
  Lease lease;
  lease.id = next_lease_id_++;
  lease.worker_id = *pick.id;
  lease.batch = batch;
  lease.deadline = now + request.lease_timeout;
  lease.actor_version = request.actor_version;
  while (!queue_.empty() && static_cast<int64_t>(lease.indices.size()) < limit &&
         queue_.front().batch == batch) {
    // An episode that should avoid this worker ends the lease unless the worker is the fallback.
    if (!pick.fallback && queue_.front().avoid_worker == *pick.id) break;
    const int64_t index = queue_.front().index;
    queue_.pop_front();
    if (batch->is_done(index)) continue;
    gdaqd::v1::Episode* episode = assignment->add_episodes();
    episode->set_index(static_cast<int32_t>(lease.indices.size()));
    episode->set_seed(request.seeds[index]);
    const common::EpisodeOptions options = EpisodeOptionsAt(request, index);
    SetEpisodeOptions(options, request.actor_version, episode);
    lease.skills.push_back(options.skill);
    // assign() copies once; set_params(const char*, size) builds a temporary string first.
    episode->mutable_params()->assign(
        reinterpret_cast<const char*>(&request.params[index * request.num_params]),
        static_cast<size_t>(episode_bytes));
    lease.indices.push_back(index);
  }
  if (lease.indices.empty()) return false;
  const int n = static_cast<int>(lease.indices.size());
  lease.finished.assign(n, false);
  lease.staging.resize(n);
  lease.next_chunk.assign(n, 0);
  lease.unfinished = n;
  assignment->set_lease_id(lease.id);
  assignment->set_deadline_unix_ms(absl::ToUnixMillis(lease.deadline));
  *assignment->mutable_env() = request.env;
  *assignment->mutable_policy() = request.policy;
  assignment->set_record_transitions(request.record_transitions);

  pick.worker->in_flight += n;
  pick.worker->leases.push_back(lease.id);
  const uint64_t lease_id = lease.id;
  leases_.emplace(lease_id, std::move(lease));
  VLOG(1) << "lease id=" << lease_id << " worker=" << *pick.id << " episodes=" << n;
  pick.worker->sink->Send(std::move(message));
  return true;
}

void Scheduler::PumpLocked() {
  const absl::Time now = Now();
  while (!queue_.empty() && !stopping_) {
    // Drop work nobody waits for any more.
    const QueuedEpisode& front = queue_.front();
    if (front.batch->cancelled() || front.batch->is_done(front.index)) {
      queue_.pop_front();
      continue;
    }
    // A lease never needs more free slots than the batch allows per lease or than are queued.
    const EvalRequest& request = front.batch->request();
    const int64_t by_size = options_.max_assignment_bytes /
                            std::max<int64_t>(1, request.num_params * int64_t{sizeof(float)});
    const int64_t batch_limit =
        std::max<int64_t>(1, std::min({static_cast<int64_t>(request.episodes_per_lease), by_size,
                                       static_cast<int64_t>(queue_.size())}));
    const Pick pick = PickWorkerLocked(front.avoid_worker, batch_limit, now);
    if (pick.worker == nullptr) break;
    LeaseFrontLocked(pick, now);
  }
  stats_.queued_episodes = static_cast<int64_t>(queue_.size());
  stats_.leases_in_flight = static_cast<int64_t>(leases_.size());
}

void Scheduler::FinishSlotLocked(Lease& lease, int slot) {
  const int64_t staged_bytes = static_cast<int64_t>(lease.staging[slot].size() * sizeof(float));
  lease.finished[slot] = true;
  lease.staging[slot] = {};
  --lease.unfinished;
  auto worker = workers_.find(lease.worker_id);
  if (worker != workers_.end()) {
    --worker->second.in_flight;
    worker->second.staged_bytes -= staged_bytes;
  }
  if (lease.unfinished == 0) {
    if (worker != workers_.end()) std::erase(worker->second.leases, lease.id);
    leases_.erase(lease.id);  // `lease` is gone after this line
  }
}

void Scheduler::CountRejectedLocked(ResultCheck check) {
  ++stats_.rejected[static_cast<int>(check)];
  if (check != ResultCheck::kWorkerError) ++stats_.malformed_results;
}

absl::Status Scheduler::StageChunkLocked(Worker& worker, Lease& lease, int slot,
                                         const std::string& bytes) {
  std::vector<float>& staging = lease.staging[slot];
  const int64_t staged = static_cast<int64_t>(staging.size() * sizeof(float));
  const int64_t incoming = static_cast<int64_t>(bytes.size());
  const int64_t honest = lease.batch->max_episode_transition_bytes();
  const int64_t episode_cap = honest < 0 ? -1 : honest + options_.chunk_slack_bytes;
  std::string exceeded;
  if (episode_cap >= 0 && staged + incoming > episode_cap) {
    exceeded =
        absl::StrCat(staged + incoming, " transition bytes for one episode exceed its cap ",
                     episode_cap, " (", honest, " for ", lease.batch->limits().episode_length,
                     " steps + ", options_.chunk_slack_bytes, " slack)");
  } else if (worker.staged_bytes + incoming > options_.max_worker_staged_bytes) {
    exceeded = absl::StrCat(worker.staged_bytes + incoming,
                            " transition bytes staged by the worker exceed its cap ",
                            options_.max_worker_staged_bytes);
  }
  if (!exceeded.empty()) {
    const uint64_t lease_id = lease.id;
    const std::string worker_id = lease.worker_id;
    CountRejectedLocked(ResultCheck::kTooManyBytes);
    worker.refused = true;
    RequeueLeaseLocked(lease_id);  // `lease` is gone after this line
    PumpLocked();
    return absl::ResourceExhaustedError(
        absl::StrCat("worker ", worker_id, " lease ", lease_id, ": ", exceeded));
  }
  if (incoming > 0) {
    staging.resize(staging.size() + bytes.size() / sizeof(float));
    std::memcpy(reinterpret_cast<char*>(staging.data()) + staged, bytes.data(), bytes.size());
    worker.staged_bytes += incoming;
  }
  return absl::OkStatus();
}

void Scheduler::CompleteSlotLocked(Lease& lease, int slot, EvalOutcome outcome) {
  if (lease.batch->Complete(lease.indices[slot], std::move(outcome))) {
    ++stats_.episodes_completed;
  } else {
    ++stats_.stale_results;
  }
  FinishSlotLocked(lease, slot);  // `lease` may be gone after this line
  PumpLocked();
}

absl::Status Scheduler::OnResult(const std::string& worker_id, const EpisodeResult& result) {
  absl::MutexLock lock(&mu_);
  auto worker_it = workers_.find(worker_id);
  if (worker_it == workers_.end()) {
    return absl::FailedPreconditionError(absl::StrCat("unknown worker ", worker_id));
  }
  Worker& worker = worker_it->second;
  if (worker.probation) {
    worker.probation = false;  // any message shows it is alive: it may take work again
    PumpLocked();
  }
  auto it = leases_.find(result.lease_id());
  if (it == leases_.end() || it->second.worker_id != worker_id) {
    ++stats_.stale_results;  // expired and re-queued, or cancelled
    return absl::OkStatus();
  }
  Lease& lease = it->second;
  const int slot = result.index();
  if (slot < 0 || slot >= static_cast<int>(lease.indices.size())) {
    CountRejectedLocked(ResultCheck::kBadIndex);
    PenalizeLocked(worker_id, Now(), /*silent=*/false);
    return absl::InvalidArgumentError(absl::StrCat("worker ", worker_id, " lease ", lease.id,
                                                   ": episode index ", slot, " out of range [0, ",
                                                   lease.indices.size(), ")"));
  }
  if (lease.finished[slot]) {
    ++stats_.stale_results;
    return absl::OkStatus();
  }
  const std::string& bytes = result.transitions();
  ResultVerdict verdict;
  if (result.chunk() != lease.next_chunk[slot]) {
    verdict = {
        ResultCheck::kChunkOrder,
        absl::StrCat("chunk ", result.chunk(), " arrived, expected ", lease.next_chunk[slot])};
  } else if (bytes.size() % sizeof(float) != 0) {
    verdict = {ResultCheck::kChunkOrder,
               absl::StrCat("transitions have ", bytes.size(), " bytes, not a multiple of 4")};
  } else {
    if (absl::Status staged = StageChunkLocked(worker, lease, slot, bytes); !staged.ok()) {
      return staged;  // the lease was revoked
    }
    ++lease.next_chunk[slot];
    if (!result.last_chunk()) return absl::OkStatus();
    verdict = CheckResultEcho(result, lease.actor_version, lease.skills[slot]);
    if (verdict.accepted()) {
      verdict = ValidateEpisodeResult(lease.batch->limits(), result, lease.staging[slot]);
    }
  }
  return FinishEpisodeLocked(worker_id, worker, lease, slot, result, verdict);
}

absl::Status Scheduler::FinishEpisodeLocked(const std::string& worker_id, Worker& worker,
                                            Lease& lease, int slot, const EpisodeResult& result,
                                            const ResultVerdict& verdict) {
  if (verdict.accepted()) {
    // Measured throughput: one more episode of credit, and the strike streak is over.
    worker.capacity = std::min(worker.capacity + 1, worker.max_capacity);
    worker.strikes = 0;
    std::vector<float> transitions = std::move(lease.staging[slot]);
    worker.staged_bytes -= static_cast<int64_t>(transitions.size() * sizeof(float));
    CompleteSlotLocked(lease, slot, AcceptedOutcome(result, std::move(transitions)));
    return absl::OkStatus();
  }
  CountRejectedLocked(verdict.check);
  const bool refused = verdict.check != ResultCheck::kWorkerError;
  if (refused) PenalizeLocked(worker_id, Now(), /*silent=*/false);  // before it gets more work
  CompleteSlotLocked(lease, slot, ErrorOutcome(worker_id, verdict));
  if (!refused) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "worker ", worker_id, " (", ResultCheckName(verdict.check), "): ", verdict.message));
}

SchedulerStats Scheduler::stats() const {
  absl::MutexLock lock(&mu_);
  SchedulerStats stats = stats_;
  const absl::Time now = Now();
  stats.quarantined_workers = std::count_if(workers_.begin(), workers_.end(), [&](const auto& w) {
    return w.second.quarantined_until > now;
  });
  return stats;
}

bool Scheduler::WaitForWorkers(int64_t count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto connected = [this, count]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return static_cast<int64_t>(workers_.size()) >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&connected), timeout);
}

void Scheduler::PenalizeLocked(const std::string& worker_id, absl::Time now, bool silent) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return;
  Worker& worker = it->second;
  worker.capacity = std::max<int64_t>(1, worker.capacity / 2);
  if (silent) worker.probation = true;
  ++worker.strikes;
  const int beyond = worker.strikes - std::max(1, options_.quarantine_after_expiries);
  if (beyond < 0) return;
  // quarantine_base x 2^beyond, at most quarantine_max (the shift is capped to stay defined).
  const absl::Duration backoff =
      std::min(options_.quarantine_base * static_cast<double>(int64_t{1} << std::min(beyond, 30)),
               options_.quarantine_max);
  worker.quarantined_until = now + backoff;
  ++stats_.quarantines;
  LOG(WARNING) << "worker_quarantined id=" << worker_id << " strikes=" << worker.strikes
               << " seconds=" << absl::ToDoubleSeconds(backoff);
}

void Scheduler::ReapLocked(absl::Time now) {
  std::vector<uint64_t> expired;
  for (const auto& [id, lease] : leases_) {
    if (lease.deadline < now) expired.push_back(id);
  }
  // Leases a worker got at the same time expire in the same sweep: one event, one penalty.
  std::vector<std::string> penalized;
  for (uint64_t id : expired) {
    const std::string worker_id = leases_.at(id).worker_id;
    LOG(WARNING) << "lease_expired id=" << id << " worker=" << worker_id;
    ++stats_.expired_leases;
    RequeueLeaseLocked(id);
    if (std::find(penalized.begin(), penalized.end(), worker_id) == penalized.end()) {
      penalized.push_back(worker_id);
    }
  }
  for (const std::string& worker_id : penalized) PenalizeLocked(worker_id, now, /*silent=*/true);
  // Re-queued episodes and workers whose quarantine ended.
  if (!queue_.empty()) PumpLocked();
}

void Scheduler::ReapNow() {
  absl::MutexLock lock(&mu_);
  ReapLocked(Now());
}

void Scheduler::ReaperLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.reaper_period);
    if (stopping_) break;
    ReapLocked(Now());
  }
}

}  // namespace gdaqd::server
