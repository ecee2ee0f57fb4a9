#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace gdaqd::server {
namespace {

using gdaqd::v1::CoordinatorMessage;
using gdaqd::v1::EpisodeResult;

bool AllFinite(const google::protobuf::RepeatedField<float>& values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
}

// Validates the final chunk of a result and turns it into an outcome. A malformed result becomes
// an error outcome, so that the episode still completes exactly once.
EvalOutcome ToOutcome(const std::string& worker_id, const EvalRequest& request,
                      const EpisodeResult& result, std::vector<float> transitions,
                      std::string* malformed) {
  EvalOutcome outcome;
  if (!result.error().empty()) {
    outcome.error = absl::StrCat("worker ", worker_id, ": ", result.error());
    return outcome;
  }
  if (result.behavior_descriptor_size() != request.descriptor_dim) {
    *malformed = absl::StrCat("descriptor has ", result.behavior_descriptor_size(),
                              " values, task has ", request.descriptor_dim);
  } else if (!result.diverged() &&
             (!std::isfinite(result.fitness()) || !AllFinite(result.behavior_descriptor()))) {
    *malformed = "non-finite fitness or descriptor on an episode not flagged diverged";
  } else if (result.length() < 0) {
    *malformed = absl::StrCat("negative length ", result.length());
  }
  if (!malformed->empty()) {
    outcome.error = absl::StrCat("malformed result from worker ", worker_id, ": ", *malformed);
    return outcome;
  }
  outcome.fitness = result.fitness();
  outcome.descriptor.assign(result.behavior_descriptor().begin(),
                            result.behavior_descriptor().end());
  outcome.length = result.length();
  outcome.terminated = result.terminated();
  outcome.diverged = result.diverged();
  outcome.transitions = std::move(transitions);
  return outcome;
}

}  // namespace

Scheduler::Scheduler(Options options) : options_(options) {
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
  if (absl::Status status = ValidateEvalRequest(request); !status.ok()) return status;
  auto batch = std::make_shared<EvalBatch>(std::move(request));
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("scheduler is shutting down");
  for (int64_t i = 0; i < batch->request().num_episodes(); ++i) queue_.push_back({batch, i});
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
  absl::StatusOr<std::shared_ptr<EvalBatch>> batch = Submit(request);
  if (!batch.ok()) return batch.status();
  // The cancel flag is an atomic owned by the caller, so poll it at a coarse period; completion
  // itself wakes the wait immediately.
  while (!(*batch)->WaitFor(absl::Milliseconds(100))) {
    if ((cancel != nullptr && cancel->load()) || (*batch)->cancelled()) {
      Cancel(*batch);
      return absl::CancelledError("evaluation cancelled");
    }
  }
  return (*batch)->TakeOutcomes();
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
  workers_[worker_id] = Worker{sink, threads, 0, {}};
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
  for (int slot = static_cast<int>(lease.indices.size()) - 1; slot >= 0; --slot) {
    if (lease.finished[slot]) continue;
    const int64_t index = lease.indices[slot];
    if (!cancelled && !lease.batch->is_done(index)) {
      queue_.push_front({lease.batch, index});
      ++stats_.requeued_episodes;
    }
  }
  auto worker = workers_.find(lease.worker_id);
  if (worker != workers_.end()) {
    worker->second.in_flight -= lease.unfinished;
    std::erase(worker->second.leases, lease_id);
  }
  leases_.erase(it);
  stats_.queued_episodes = static_cast<int64_t>(queue_.size());
  stats_.leases_in_flight = static_cast<int64_t>(leases_.size());
}

void Scheduler::PumpLocked() {
  while (!queue_.empty() && !stopping_) {
    // Drop work nobody waits for any more.
    const QueuedEpisode& front = queue_.front();
    if (front.batch->cancelled() || front.batch->is_done(front.index)) {
      queue_.pop_front();
      continue;
    }
    // The worker with the most free capacity gets the next lease.
    Worker* best = nullptr;
    std::string best_id;
    int64_t best_free = 0;
    for (auto& [id, worker] : workers_) {
      const int64_t free =
          static_cast<int64_t>(worker.threads) * options_.episodes_per_thread - worker.in_flight;
      if (free > best_free) {
        best = &worker;
        best_id = id;
        best_free = free;
      }
    }
    if (best == nullptr) break;

    std::shared_ptr<EvalBatch> batch = front.batch;
    const EvalRequest& request = batch->request();
    const int64_t episode_bytes = request.num_params * static_cast<int64_t>(sizeof(float));
    const int64_t by_size = std::max<int64_t>(1, options_.max_assignment_bytes / episode_bytes);
    const int64_t limit =
        std::min({best_free, static_cast<int64_t>(request.episodes_per_lease), by_size});

    auto message = std::make_shared<CoordinatorMessage>();
    gdaqd::v1::Assignment* assignment = message->mutable_assignment();
    Lease lease;
    lease.id = next_lease_id_++;
    lease.worker_id = best_id;
    lease.batch = batch;
    lease.deadline = absl::Now() + request.lease_timeout;
    while (!queue_.empty() && static_cast<int64_t>(lease.indices.size()) < limit &&
           queue_.front().batch == batch) {
      const int64_t index = queue_.front().index;
      queue_.pop_front();
      if (batch->is_done(index)) continue;
      gdaqd::v1::Episode* episode = assignment->add_episodes();
      episode->set_index(static_cast<int32_t>(lease.indices.size()));
      episode->set_seed(request.seeds[index]);
      episode->set_params(
          reinterpret_cast<const char*>(&request.params[index * request.num_params]),
          episode_bytes);
      lease.indices.push_back(index);
    }
    if (lease.indices.empty()) continue;
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

    best->in_flight += n;
    best->leases.push_back(lease.id);
    const uint64_t lease_id = lease.id;
    leases_.emplace(lease_id, std::move(lease));
    VLOG(1) << "lease id=" << lease_id << " worker=" << best_id << " episodes=" << n;
    best->sink->Send(std::move(message));
  }
  stats_.queued_episodes = static_cast<int64_t>(queue_.size());
  stats_.leases_in_flight = static_cast<int64_t>(leases_.size());
}

void Scheduler::FinishSlotLocked(Lease& lease, int slot) {
  lease.finished[slot] = true;
  lease.staging[slot] = {};
  --lease.unfinished;
  auto worker = workers_.find(lease.worker_id);
  if (worker != workers_.end()) --worker->second.in_flight;
  if (lease.unfinished == 0) {
    if (worker != workers_.end()) std::erase(worker->second.leases, lease.id);
    leases_.erase(lease.id);  // `lease` is gone after this line
  }
}

absl::Status Scheduler::OnResult(const std::string& worker_id, const EpisodeResult& result) {
  absl::MutexLock lock(&mu_);
  if (!workers_.contains(worker_id)) {
    return absl::FailedPreconditionError(absl::StrCat("unknown worker ", worker_id));
  }
  auto it = leases_.find(result.lease_id());
  if (it == leases_.end() || it->second.worker_id != worker_id) {
    ++stats_.stale_results;  // expired and re-queued, or cancelled
    return absl::OkStatus();
  }
  Lease& lease = it->second;
  const int slot = result.index();
  if (slot < 0 || slot >= static_cast<int>(lease.indices.size())) {
    ++stats_.malformed_results;
    return absl::InvalidArgumentError(absl::StrCat("worker ", worker_id, " lease ", lease.id,
                                                   ": episode index ", slot, " out of range [0, ",
                                                   lease.indices.size(), ")"));
  }
  if (lease.finished[slot]) {
    ++stats_.stale_results;
    return absl::OkStatus();
  }
  const int64_t index = lease.indices[slot];
  std::shared_ptr<EvalBatch> batch = lease.batch;

  std::string malformed;
  const std::string& bytes = result.transitions();
  if (result.chunk() != lease.next_chunk[slot]) {
    malformed =
        absl::StrCat("chunk ", result.chunk(), " arrived, expected ", lease.next_chunk[slot]);
  } else if (bytes.size() % sizeof(float) != 0) {
    malformed = absl::StrCat("transitions have ", bytes.size(), " bytes, not a multiple of 4");
  } else if (!bytes.empty()) {
    std::vector<float>& staging = lease.staging[slot];
    const size_t old_size = staging.size();
    staging.resize(old_size + bytes.size() / sizeof(float));
    std::memcpy(staging.data() + old_size, bytes.data(), bytes.size());
  }
  ++lease.next_chunk[slot];
  if (malformed.empty() && !result.last_chunk()) return absl::OkStatus();

  EvalOutcome outcome;
  if (malformed.empty()) {
    outcome =
        ToOutcome(worker_id, batch->request(), result, std::move(lease.staging[slot]), &malformed);
  } else {
    outcome.error = absl::StrCat("malformed result from worker ", worker_id, ": ", malformed);
  }
  if (batch->Complete(index, std::move(outcome))) {
    ++stats_.episodes_completed;
  } else {
    ++stats_.stale_results;
  }
  FinishSlotLocked(lease, slot);
  PumpLocked();
  if (!malformed.empty()) {
    ++stats_.malformed_results;
    return absl::InvalidArgumentError(absl::StrCat("worker ", worker_id, ": ", malformed));
  }
  return absl::OkStatus();
}

SchedulerStats Scheduler::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Scheduler::ReaperLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.reaper_period);
    if (stopping_) break;
    const absl::Time now = absl::Now();
    std::vector<uint64_t> expired;
    for (const auto& [id, lease] : leases_) {
      if (lease.deadline < now) expired.push_back(id);
    }
    for (uint64_t id : expired) {
      LOG(WARNING) << "lease_expired id=" << id << " worker=" << leases_.at(id).worker_id;
      RequeueLeaseLocked(id);
    }
    // Cancelled batches may have left leases behind; their results will be stale anyway.
    if (!expired.empty()) PumpLocked();
  }
}

}  // namespace gdaqd::server
