#include "server/algorithms/experiment.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config/algorithm_rules.h"
#include "common/config/config.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/algorithms/progress_metrics.h"
#include "server/archive/qd_metrics.h"
#include "server/models/blas_threads.h"
#include "server/scheduler/result_validation.h"

namespace gdaqd::server {

using gdaqd::v1::ExperimentState;

bool IsFinalState(ExperimentState state) {
  return state == gdaqd::v1::SUCCEEDED || state == gdaqd::v1::FAILED ||
         state == gdaqd::v1::CANCELLED;
}

std::string ExperimentId(int64_t number) { return absl::StrCat("exp-", number); }

namespace {

constexpr char kInterrupted[] = "interrupted";

// Environment steps of a told batch: the lengths of its episodes that produced a result.
int64_t EnvSteps(absl::Span<const EvalOutcome> outcomes) {
  int64_t steps = 0;
  for (const EvalOutcome& outcome : outcomes) {
    if (outcome.error.empty()) steps += outcome.length;
  }
  return steps;
}

// A batch's per-episode plan into the request it is evaluated with.
void SetPlan(EpisodePlan plan, EvalRequest* request) {
  request->episode_options = std::move(plan.options);
  request->actor_version = plan.actor_version;
}

bool IsInterruption(const absl::Status& status) {
  return absl::IsAborted(status) && status.message() == kInterrupted;
}

// Appends an algorithm checkpoint to a string without the extra copy of std::ostringstream::str().
class StringSink final : public std::streambuf {
 public:
  explicit StringSink(std::string* out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* data, std::streamsize n) override {
    out_->append(data, static_cast<size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) out_->push_back(static_cast<char>(c));
    return c;
  }

 private:
  std::string* out_;
};

// Reads an algorithm checkpoint from a string without copying it.
class StringSource final : public std::streambuf {
 public:
  explicit StringSource(std::string* bytes) {
    setg(bytes->data(), bytes->data(), bytes->data() + bytes->size());
  }
};

// One iteration's phase durations from two consecutive snapshots (whose learning seconds are
// cumulative metrics; a resumed run may restart them, hence the clamp at 0).
IterationPhases PhasesOf(const gdaqd::v1::ProgressSnapshot& before,
                         const gdaqd::v1::ProgressSnapshot& after, double evaluation_seconds) {
  const auto delta = [&](absl::string_view name) {
    return std::max(0.0,
                    FindMetric(after, name).value_or(0) - FindMetric(before, name).value_or(0));
  };
  return {.evaluation = evaluation_seconds,
          .imagination = delta("imagination_seconds"),
          .training = delta("training_seconds"),
          .gradient = delta("gradient_seconds")};
}

}  // namespace

Experiment::Experiment(int64_t number, gdaqd::v1::ExperimentConfig config, Evaluator* evaluator,
                       ExperimentOptions options)
    : number_(number),
      id_(ExperimentId(number)),
      config_(std::move(config)),
      evaluator_(evaluator),
      options_(options) {
  status_.set_id(id_);
  *status_.mutable_config() = config_;
  status_.set_state(gdaqd::v1::PENDING);
  status_.mutable_progress()->set_max_fitness(-std::numeric_limits<double>::infinity());
  // No learned model has reported yet (0 would read as a real loss).
  const double none = std::numeric_limits<double>::quiet_NaN();
  status_.mutable_progress()->set_model_holdout_loss(none);
  status_.mutable_progress()->set_model_holdout_mse(none);
  status_.mutable_progress()->set_critic_loss(none);
}

absl::StatusOr<std::unique_ptr<Experiment>> Experiment::Create(int64_t number,
                                                               gdaqd::v1::ExperimentConfig config,
                                                               Evaluator* evaluator,
                                                               ExperimentOptions options,
                                                               std::string submitted_by) {
  std::unique_ptr<Experiment> experiment(
      new Experiment(number, std::move(config), evaluator, options));
  {
    absl::MutexLock lock(&experiment->mu_);
    experiment->status_.set_submitted_unix_ms(absl::ToUnixMillis(absl::Now()));
    experiment->status_.set_submitted_by(std::move(submitted_by));
  }
  // Before the id is returned: a crash right after the submit must not lose it.
  absl::Status written = experiment->WriteCheckpoint(/*with_algorithm=*/false, {}, 0);
  if (!written.ok()) return written;
  return experiment;
}

absl::StatusOr<std::unique_ptr<Experiment>> Experiment::Restore(
    int64_t number, const storage::StateDir::LoadedCheckpoint& checkpoint, Evaluator* evaluator,
    ExperimentOptions options) {
  absl::StatusOr<std::string> record_bytes =
      storage::ReadSection(checkpoint.path, checkpoint.sections, storage::kRecordSection);
  if (!record_bytes.ok()) return record_bytes.status();
  gdaqd::v1::ExperimentRecord record;
  if (!record.ParseFromString(*record_bytes) || record.status().id() != ExperimentId(number)) {
    return absl::DataLossError(absl::StrCat(
        checkpoint.path, ": the experiment record does not parse or names another id"));
  }
  // A checkpoint older than env.action_map keeps the PointMaze map it ran with.
  common::UpgradeStoredConfig(record.mutable_status()->mutable_config());
  std::unique_ptr<Experiment> experiment(
      new Experiment(number, record.status().config(), evaluator, options));
  const bool final_state = IsFinalState(record.status().state());
  if (!final_state) {
    absl::StatusOr<std::string> algorithm =
        storage::ReadSection(checkpoint.path, checkpoint.sections, storage::kAlgorithmSection);
    if (algorithm.ok()) {
      experiment->restore_algorithm_ = std::move(algorithm).value();
    } else if (!absl::IsNotFound(algorithm.status())) {
      return algorithm.status();
    } else {
      // Only the submit-time record: the run starts from the beginning.
      record.clear_pending_params();
      record.set_pending_count(0);
    }
    record.mutable_status()->set_restarts(record.status().restarts() + 1);
    const int blas_threads = models::BlasThreads().value_or(0);
    if (record.blas_threads() > 0 && blas_threads > 0 && record.blas_threads() != blas_threads) {
      LOG(WARNING) << "restore_blas_threads_differ id=" << ExperimentId(number)
                   << " checkpointed_with=" << record.blas_threads() << " now=" << blas_threads
                   << " (models it trains will differ in low bits from an uninterrupted run's; "
                      "restart with --blas_threads="
                   << record.blas_threads() << " to continue bit for bit: docs/durability.md)";
    }
  }
  {
    absl::MutexLock lock(&experiment->mu_);
    experiment->status_ = record.status();
    experiment->history_.assign(record.history().begin(), record.history().end());
  }
  record.clear_status();
  record.clear_history();
  experiment->run_ = std::move(record);
  return experiment;
}

Experiment::~Experiment() {
  Interrupt();
  runner_.reset();
}

void Experiment::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (IsFinalState(status_.state())) {
      runner_done_ = true;
      return;
    }
  }
  runner_ = std::make_unique<common::Thread>("experiment", [this] { Run(); });
}

void Experiment::Cancel() {
  // Durable before it takes effect: the caller is told OK, and a crash before the final
  // checkpoint must then restart the experiment cancelled rather than run it on.
  if (options_.state_dir != nullptr && !finished() &&
      !options_.state_dir->CancelRequested(number_)) {
    if (absl::Status marked = options_.state_dir->MarkCancelRequested(number_); !marked.ok()) {
      LOG(ERROR) << "cancel_not_recorded id=" << id_ << " error=" << marked;
    }
  }
  cancel_ = true;
  stop_ = true;
}

void Experiment::Interrupt() {
  interrupt_ = true;
  stop_ = true;
}

void Experiment::Join() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&runner_done_));
}

gdaqd::v1::ExperimentStatus Experiment::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

absl::StatusOr<std::unique_ptr<storage::ExportReader>> Experiment::Export() const {
  {
    // Shared: exports only read the archive, so they run beside each other and beside the
    // final checkpoint's streamed write.
    absl::ReaderMutexLock archive_lock(&archive_mu_);
    gdaqd::v1::ExperimentStatus status;
    std::vector<gdaqd::v1::ProgressSnapshot> history;
    {
      // Copied, so that status queries do not wait while the archive is serialised.
      absl::MutexLock lock(&mu_);
      status = status_;
      history = history_;
    }
    if (algorithm_ != nullptr || options_.state_dir == nullptr || !IsFinalState(status.state())) {
      const ArchiveInterface* archive = algorithm_ != nullptr ? &algorithm_->archive() : nullptr;
      return storage::ExportReader::FromBytes(
          storage::SerializeArchiveExport(status, history, archive, GridShape()));
    }
  }
  // Final and released: the final checkpoint holds the export.
  absl::StatusOr<storage::StateDir::LoadedCheckpoint> checkpoint =
      options_.state_dir->OpenNewestCheckpoint(number_);
  if (!checkpoint.ok()) return checkpoint.status();
  auto it = checkpoint->sections.find(storage::kArchiveExportSection);
  if (it == checkpoint->sections.end()) {
    return absl::DataLossError(absl::StrCat(checkpoint->path, " has no archive export"));
  }
  return storage::ExportReader::FromFile(checkpoint->path, it->second.offset, it->second.length);
}

std::vector<int> Experiment::GridShape() const {
  if (config_.archive().type() == gdaqd::v1::ArchiveConfig::CVT) return {};
  return {config_.archive().cells_per_dim().begin(), config_.archive().cells_per_dim().end()};
}

bool Experiment::finished() const {
  absl::MutexLock lock(&mu_);
  return IsFinalState(status_.state());
}

bool Experiment::WaitFinished(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return IsFinalState(status_.state()); };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

int64_t Experiment::AddListener(std::function<void()> listener) {
  absl::MutexLock lock(&listeners_mu_);
  const int64_t id = next_listener_++;
  listeners_[id] = std::move(listener);
  return id;
}

void Experiment::RemoveListener(int64_t id) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.erase(id);
}

void Experiment::Notify() {
  absl::MutexLock lock(&listeners_mu_);
  for (auto& [id, listener] : listeners_) listener();
}

absl::Status Experiment::WriteCheckpoint(bool with_algorithm, absl::Span<const float> pending,
                                         int64_t pending_count) {
  if (options_.state_dir == nullptr) return absl::OkStatus();
  const absl::Time started = absl::Now();
  absl::Status written = WriteCheckpointFiles(with_algorithm, pending, pending_count);
  if (options_.observer != nullptr) {
    options_.observer->OnCheckpoint(absl::Now() - started, written.ok());
  }
  return written;
}

absl::Status Experiment::WriteCheckpointFiles(bool with_algorithm, absl::Span<const float> pending,
                                              int64_t pending_count) {
  const absl::Time started = absl::Now();
  std::string algorithm_bytes, export_bytes, record_bytes;
  // Without the algorithm's state (at submit and at the end) no algorithm step can change the
  // archive while the file is written (this is the runner thread), so the export is streamed from
  // the archive into the file rather than copied into memory first (44 MB for a PointMaze
  // PGA-ME archive). A running experiment's checkpoint copies it, so that Tell() never waits for
  // the disk.
  const bool stream_export = !with_algorithm;
  uint64_t export_length = 0;
  gdaqd::v1::ExperimentStatus export_status;
  std::vector<gdaqd::v1::ProgressSnapshot> export_history;
  {
    absl::MutexLock archive_lock(&archive_mu_);
    if (with_algorithm && algorithm_ != nullptr) {
      StringSink sink(&algorithm_bytes);
      std::ostream out(&sink);
      GDAQD_RETURN_IF_ERROR(algorithm_->SaveCheckpoint(out));
    }
    const ArchiveInterface* archive = algorithm_ != nullptr ? &algorithm_->archive() : nullptr;
    absl::MutexLock lock(&mu_);
    gdaqd::v1::ExperimentStatus status = status_;
    if (ending_.has_value()) {
      status.set_state(ending_->state);
      status.set_error(ending_->error);
    }
    if (stream_export) {
      export_status = status;
      export_history = history_;
      export_length = storage::ArchiveExportSize(status, history_, archive, GridShape());
    } else {
      export_bytes = storage::SerializeArchiveExport(status, history_, archive, GridShape());
    }
    gdaqd::v1::ExperimentRecord record = run_;
    *record.mutable_status() = std::move(status);
    for (const auto& row : history_) *record.add_history() = row;
    record.set_pending_params(
        std::string(reinterpret_cast<const char*>(pending.data()), pending.size() * sizeof(float)));
    record.set_pending_count(pending_count);
    record.set_blas_threads(models::BlasThreads().value_or(0));
    if (run_start_ != absl::InfinitePast()) {
      record.set_wall_seconds(wall_base_ + absl::ToDoubleSeconds(absl::Now() - run_start_));
    }
    record_bytes = record.SerializeAsString();
  }
  std::vector<storage::Section> sections = {{storage::kRecordSection, record_bytes},
                                            {storage::kArchiveExportSection, export_bytes}};
  if (stream_export) {
    sections.back().length = export_length;
    sections.back().writer = [&](storage::SectionSink sink) {
      // Shared: it only reads, so an ExportArchive need not wait for the disk.
      absl::ReaderMutexLock archive_lock(&archive_mu_);
      const ArchiveInterface* archive = algorithm_ != nullptr ? &algorithm_->archive() : nullptr;
      return storage::WriteArchiveExport(export_status, export_history, archive, GridShape(), sink);
    };
  }
  if (!algorithm_bytes.empty()) sections.push_back({storage::kAlgorithmSection, algorithm_bytes});
  GDAQD_RETURN_IF_ERROR(options_.state_dir->WriteCheckpoint(number_, sections));
  last_checkpoint_ = absl::Now();
  VLOG(1) << "checkpoint id=" << id_ << " iteration=" << run_.iteration()
          << " pending=" << pending_count << " bytes="
          << record_bytes.size() + export_bytes.size() + export_length + algorithm_bytes.size()
          << " seconds=" << absl::ToDoubleSeconds(last_checkpoint_ - started);
  return absl::OkStatus();
}

void Experiment::Run() {
  absl::Status status;
  // One experiment's failure (an allocation that cannot be met, a library that throws) fails
  // that experiment only; the coordinator and the other experiments go on.
  try {
    status = RunLoop();
  } catch (const std::bad_alloc&) {
    status = absl::ResourceExhaustedError("out of memory while running the experiment");
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat("unexpected exception: ", e.what()));
  }
  Finish(status);
}

void Experiment::Finish(const absl::Status& status) {
  if (IsInterruption(status) || (interrupted() && absl::IsCancelled(status) && !cancel_)) {
    // Shutdown: the state stays as it is; the newest checkpoint is where the run resumes.
    LOG(INFO) << "experiment_interrupted id=" << id_ << " iteration=" << run_.iteration();
    {
      absl::MutexLock archive_lock(&archive_mu_);
      algorithm_.reset();
    }
    absl::MutexLock lock(&mu_);
    runner_done_ = true;
    return;
  }
  ExperimentState state = gdaqd::v1::SUCCEEDED;
  if (absl::IsCancelled(status) && cancel_) {
    state = gdaqd::v1::CANCELLED;
  } else if (!status.ok()) {
    state = gdaqd::v1::FAILED;
    LOG(ERROR) << "experiment_failed id=" << id_ << " error=" << status;
  }
  const std::string error = state == gdaqd::v1::FAILED ? status.ToString() : "";
  // The final checkpoint keeps the record and the archive export; the algorithm state is freed.
  // The final state shows only once it is on disk: a crash before then restores the run from its
  // previous checkpoint (a cancelled one ends CANCELLED there, see Cancel()), so no client may
  // have seen it end, nor deleted its directory under the write.
  {
    absl::MutexLock lock(&mu_);
    ending_ = Ending{state, error};
  }
  absl::Status written = WriteCheckpoint(/*with_algorithm=*/false, {}, 0);
  {
    absl::MutexLock lock(&mu_);
    ending_.reset();
    status_.set_state(state);
    status_.set_error(error);
  }
  if (!written.ok()) {
    LOG(ERROR) << "final_checkpoint_failed id=" << id_ << " error=" << written
               << " (the algorithm is kept in memory so the archive stays exportable)";
  } else if (options_.state_dir != nullptr) {
    absl::MutexLock archive_lock(&archive_mu_);
    algorithm_.reset();
  }
  const gdaqd::v1::ExperimentStatus final_status = Status();
  LOG(INFO) << "experiment_done id=" << id_ << " state=" << ExperimentState_Name(state)
            << " evaluations=" << final_status.progress().evaluations()
            << " coverage_pct=" << final_status.progress().coverage_pct()
            << " qd_score_pct=" << final_status.progress().qd_score_pct();
  if (options_.observer != nullptr) options_.observer->OnFinished(id_);
  Notify();
  absl::MutexLock lock(&mu_);
  runner_done_ = true;
}

absl::StatusOr<QdAlgorithm*> Experiment::BuildAlgorithm() {
  absl::StatusOr<std::unique_ptr<QdAlgorithm>> created = MakeAlgorithm(config_, &stop_);
  if (!created.ok()) return created.status();
  if (!restore_algorithm_.empty()) {
    StringSource source(&restore_algorithm_);
    std::istream in(&source);
    absl::Status restored = (*created)->RestoreCheckpoint(in);
    if (!restored.ok()) {
      return absl::DataLossError(
          absl::StrCat("cannot resume from the checkpoint: ", restored.message()));
    }
    std::string().swap(restore_algorithm_);  // free it
  }
  std::vector<MetricSpec> specs = (*created)->metric_specs();
  absl::Status declared = CheckMetrics(specs);
  if (!declared.ok()) {
    return absl::InternalError(absl::StrCat("algorithm metrics: ", declared.message()));
  }
  {
    absl::MutexLock lock(&mu_);
    // A new run (or one checkpointed before named metrics) shows the algorithm's initial values.
    if (status_.progress().metrics().empty()) {
      SetSnapshotMetrics((*created)->metrics(), status_.mutable_progress());
    }
    metric_specs_ = std::move(specs);
  }
  absl::MutexLock lock(&archive_mu_);
  algorithm_ = std::move(created).value();
  return algorithm_.get();
}

absl::StatusOr<std::vector<Metric>> Experiment::ReportedMetrics(
    const QdAlgorithm& algorithm) const {
  std::vector<Metric> values = algorithm.metrics();
  absl::MutexLock lock(&mu_);
  absl::Status reported = CheckMetrics(metric_specs_, &values);
  if (!reported.ok()) {
    return absl::InternalError(absl::StrCat("algorithm metrics: ", reported.message()));
  }
  return values;
}

std::vector<MetricSpec> Experiment::metric_specs() const {
  absl::MutexLock lock(&mu_);
  return metric_specs_;
}

absl::Status Experiment::RunLoop() {
  GDAQD_ASSIGN_OR_RETURN(QdAlgorithm * algorithm, BuildAlgorithm());
  // A cancel recorded before a restart (CancelAfterRestore) ends it here, its archive restored.
  if (cancel_) return absl::CancelledError("cancelled");
  {
    absl::MutexLock lock(&mu_);
    status_.set_state(gdaqd::v1::RUNNING);
  }
  Notify();
  LOG(INFO) << "experiment_start id=" << id_ << " task=" << config_.env().task()
            << " algorithm=" << common::AlgorithmName(config_.algorithm())
            << " budget=" << config_.budget().max_evaluations()
            << " max_env_steps=" << config_.budget().max_env_steps()
            << " params=" << algorithm->layout().num_params()
            << " resumed_at_iteration=" << run_.iteration() << " pending=" << run_.pending_count();

  EvalRequest request;
  request.experiment_id = id_;
  request.env = config_.env();
  request.policy = config_.policy();
  request.record_transitions = algorithm->needs_transitions();
  request.num_params = algorithm->layout().num_params();
  request.descriptor_dim = algorithm->spec().descriptor_dim;
  request.episodes_per_lease = config_.scheduler().episodes_per_lease();
  request.lease_timeout = absl::Seconds(config_.scheduler().lease_timeout_s());
  // Results outside the task's descriptor box or reward bounds are refused at the boundary.
  ApplyTaskLimits(algorithm->spec(), &request);
  last_checkpoint_ = absl::Now();
  wall_base_ = run_.wall_seconds();
  run_start_ = absl::Now();
  while (!BudgetSpent()) GDAQD_RETURN_IF_ERROR(RunIteration(algorithm, &request));
  return absl::OkStatus();
}

bool Experiment::BudgetSpent() const {
  const int64_t max_env_steps = config_.budget().max_env_steps();
  return run_.evaluations() >= config_.budget().max_evaluations() ||
         (max_env_steps > 0 && run_.env_steps() >= max_env_steps);
}

absl::StatusOr<int64_t> Experiment::TakeBatch(QdAlgorithm* algorithm, int64_t iteration,
                                              EvalRequest* request) {
  if (run_.pending_count() > 0) {
    // Resumed between Ask() and Tell(): evaluate exactly the batch that was asked.
    const int64_t count = run_.pending_count();
    request->params.resize(static_cast<size_t>(count * request->num_params));
    if (run_.pending_params().size() != request->params.size() * sizeof(float)) {
      return absl::DataLossError("the checkpoint's pending batch has the wrong size");
    }
    std::memcpy(request->params.data(), run_.pending_params().data(), run_.pending_params().size());
    run_.clear_pending_params();
    run_.set_pending_count(0);
    SetPlan(algorithm->PendingPlan(), request);
    return count;
  }
  if (prefetched_count_ > 0) {  // PIPELINED: asked while the previous batch was evaluated
    request->params.swap(prefetched_);
    prefetched_.clear();
    SetPlan(std::exchange(prefetched_plan_, EpisodePlan()), request);
    return std::exchange(prefetched_count_, 0);
  }
  const int64_t wanted = algorithm->NextBatchSize(iteration == 1 ? config_.initial_population()
                                                                 : config_.emitter().batch_size());
  const int64_t count = std::min(wanted, config_.budget().max_evaluations() - run_.evaluations());
  // No lock: Ask only reads the archive (concurrent const reads with Export are safe) and
  // writes state no reader touches; PGA-ME's policy-gradient children take seconds.
  EpisodePlan plan;
  absl::Status asked = algorithm->AskEpisodes(count, &request->params, &plan);
  if (!asked.ok()) return interrupted() ? absl::AbortedError(kInterrupted) : asked;
  SetPlan(std::move(plan), request);
  return count;
}

gdaqd::v1::ProgressSnapshot Experiment::MakeSnapshot(int64_t iteration, const QdMetrics& metrics,
                                                     absl::Span<const Metric> learning,
                                                     int64_t count, double batch_seconds) const {
  gdaqd::v1::ProgressSnapshot snapshot;
  snapshot.set_iteration(iteration);
  snapshot.set_evaluations(run_.evaluations());
  snapshot.set_qd_score(metrics.qd_score);
  snapshot.set_qd_score_pct(metrics.qd_score_pct);
  snapshot.set_coverage_pct(metrics.coverage_pct);
  snapshot.set_max_fitness(metrics.max_fitness);
  snapshot.set_num_filled(metrics.num_filled);
  snapshot.set_wall_seconds(wall_base_ + absl::ToDoubleSeconds(absl::Now() - run_start_));
  snapshot.set_evaluations_per_s(batch_seconds > 0 ? count / batch_seconds : 0);
  snapshot.set_diverged_episodes(run_.diverged());
  snapshot.set_requeued_episodes(run_.requeued());
  snapshot.set_evaluation_seconds(run_.evaluation_seconds());
  SetSnapshotMetrics(learning, &snapshot);  // and the deprecated fixed fields, for old clients
  return snapshot;
}

absl::StatusOr<std::vector<EvalOutcome>> Experiment::EvaluateAndPrefetch(
    QdAlgorithm* algorithm, const EvalRequest& request, int64_t remaining,
    EvalCallStats* call_stats, double* evaluation_seconds) {
  const int64_t count = static_cast<int64_t>(request.seeds.size());
  const int64_t next =
      std::min<int64_t>(algorithm->NextBatchSize(config_.emitter().batch_size()), remaining);
  // Ask ahead only once the archive holds a told batch (a first Ask would be random again).
  const bool prefetch =
      config_.scheduler().learning_schedule() == gdaqd::v1::SchedulerConfig::PIPELINED &&
      algorithm->supports_prefetch() && run_.iteration() >= 1 && next > 0;
  absl::Status learned, asked;
  absl::StatusOr<std::vector<EvalOutcome>> outcomes;
  {
    std::unique_ptr<common::Thread> learner;
    if (prefetch) {
      // The algorithm is single-thread: while the learner runs, this thread only evaluates.
      learner = std::make_unique<common::Thread>(absl::StrCat("learn-", id_), [&] {
        learned = algorithm->Learn();
        if (learned.ok()) asked = algorithm->AskEpisodes(next, &prefetched_, &prefetched_plan_);
      });
    }
    const absl::Time start = absl::Now();
    outcomes = evaluator_->EvaluateWithStats(request, &stop_, call_stats);
    *evaluation_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  }  // joins the learner
  if (!outcomes.ok()) {
    if (interrupted() && !cancel_) {
      if (!prefetch) {
        // Shutdown while the batch was out: keep the post-Ask state and the batch itself.
        absl::Status written = WriteCheckpoint(/*with_algorithm=*/true, request.params, count);
        if (!written.ok()) LOG(ERROR) << "shutdown_checkpoint_failed id=" << id_ << " " << written;
      }  // else the learner changed the models: resume from the last periodic checkpoint
      return absl::AbortedError(kInterrupted);
    }
    return outcomes.status();
  }
  for (const absl::Status& step : {learned, asked}) {
    if (!step.ok()) return interrupted() ? absl::AbortedError(kInterrupted) : step;
  }
  if (prefetch) prefetched_count_ = next;
  return outcomes;
}

absl::Status Experiment::RunIteration(QdAlgorithm* algorithm, EvalRequest* request) {
  if (cancel_) return absl::CancelledError("cancelled");
  if (interrupted()) {
    // Shutdown at an iteration boundary: the state is consistent, keep it (with the batch a
    // PIPELINED run asked ahead, if any).
    absl::Status written = WriteCheckpoint(/*with_algorithm=*/true, prefetched_, prefetched_count_);
    if (!written.ok()) LOG(ERROR) << "shutdown_checkpoint_failed id=" << id_ << " " << written;
    return absl::AbortedError(kInterrupted);
  }
  const int64_t iteration = run_.iteration() + 1;
  const int64_t budget = config_.budget().max_evaluations();
  absl::StatusOr<int64_t> batch = TakeBatch(algorithm, iteration, request);
  if (!batch.ok()) return batch.status();
  const int64_t count = *batch;
  // Every evaluation starts from the experiment's one fixed initial state (QDax convention).
  request->seeds.assign(static_cast<size_t>(count), config_.env().reset_seed());

  EvalCallStats call_stats;
  double batch_seconds = 0;  // the real evaluation alone, without waiting for a learner
  absl::StatusOr<std::vector<EvalOutcome>> outcomes = EvaluateAndPrefetch(
      algorithm, *request, budget - run_.evaluations() - count, &call_stats, &batch_seconds);
  if (!outcomes.ok()) return outcomes.status();

  QdMetrics metrics;
  {
    absl::MutexLock lock(&archive_mu_);
    absl::StatusOr<TellSummary> summary = algorithm->Tell(request->params, *outcomes);
    if (!summary.ok()) return interrupted() ? absl::AbortedError(kInterrupted) : summary.status();
    run_.set_evaluations(run_.evaluations() + count);
    run_.set_env_steps(run_.env_steps() + EnvSteps(*outcomes));
    run_.set_diverged(run_.diverged() + summary->diverged);
    run_.set_failed(run_.failed() + summary->failed);
    metrics = ComputeQdMetrics(algorithm->archive(), algorithm->qd_offset());
  }
  // Learning outside the archive lock: status and export answer while the models train. A
  // PIPELINED run that asked its next batch ahead learns from this batch while that one is
  // evaluated; otherwise (the paper's schedule, a PIPELINED run's first and last iterations) now,
  // the last iteration included as Algorithm 1 does.
  if (prefetched_count_ == 0) {
    absl::Status learned = algorithm->Learn();
    if (!learned.ok()) return interrupted() ? absl::AbortedError(kInterrupted) : learned;
  }
  GDAQD_ASSIGN_OR_RETURN(const std::vector<Metric> learning, ReportedMetrics(*algorithm));
  run_.set_iteration(iteration);
  run_.set_evaluation_seconds(run_.evaluation_seconds() + batch_seconds);
  run_.set_requeued(run_.requeued() + call_stats.requeued_episodes);  // this experiment's own
  const gdaqd::v1::ProgressSnapshot snapshot =
      MakeSnapshot(iteration, metrics, learning, count, batch_seconds);
  gdaqd::v1::ProgressSnapshot previous;
  {
    absl::MutexLock lock(&mu_);
    previous = std::exchange(*status_.mutable_progress(), snapshot);
    history_.push_back(snapshot);
  }
  if (options_.observer != nullptr) {
    options_.observer->OnIteration(id_, iteration, PhasesOf(previous, snapshot, batch_seconds));
  }
  if (run_.failed() > 0 && run_.failed() == run_.evaluations()) {
    return absl::FailedPreconditionError(
        absl::StrCat("every episode so far failed; first error: ", (*outcomes)[0].error));
  }
  const bool done = BudgetSpent();
  if (!done && absl::Now() - last_checkpoint_ >= options_.checkpoint_interval) {
    absl::Status written = WriteCheckpoint(/*with_algorithm=*/true, prefetched_, prefetched_count_);
    // A full disk must not end a days-long run; the previous checkpoints stay valid.
    if (!written.ok()) LOG(ERROR) << "checkpoint_failed id=" << id_ << " error=" << written;
  }
  LOG_EVERY_N_SEC(INFO, 10) << "progress id=" << id_ << " iteration=" << iteration
                            << " evaluations=" << run_.evaluations()
                            << " coverage_pct=" << snapshot.coverage_pct()
                            << " qd_score_pct=" << snapshot.qd_score_pct();
  Notify();
  return absl::OkStatus();
}

}  // namespace gdaqd::server
