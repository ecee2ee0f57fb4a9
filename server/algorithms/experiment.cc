#include "server/algorithms/experiment.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "server/archive/qd_metrics.h"

namespace gdaqd::server {

bool IsFinalState(gdaqd::v1::ExperimentState state) {
  return state == gdaqd::v1::SUCCEEDED || state == gdaqd::v1::FAILED ||
         state == gdaqd::v1::CANCELLED;
}

using gdaqd::v1::ExperimentState;

Experiment::Experiment(std::string id, gdaqd::v1::ExperimentConfig config, Evaluator* evaluator)
    : id_(std::move(id)), config_(std::move(config)), evaluator_(evaluator) {
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

Experiment::~Experiment() {
  cancel_ = true;
  runner_.reset();
}

void Experiment::Start() {
  runner_ = std::make_unique<common::Thread>("experiment", [this] { Run(); });
}

void Experiment::Cancel() { cancel_ = true; }

gdaqd::v1::ExperimentStatus Experiment::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

ExperimentExport Experiment::Export() const {
  absl::MutexLock archive_lock(&archive_mu_);
  absl::MutexLock lock(&mu_);
  ExperimentExport out;
  out.status = status_;
  out.history = history_;
  if (algorithm_ != nullptr) {
    out.archive = algorithm_->archive().Clone();
    if (config_.archive().type() != gdaqd::v1::ArchiveConfig::CVT) {
      out.cells_per_dim.assign(config_.archive().cells_per_dim().begin(),
                               config_.archive().cells_per_dim().end());
    }
  }
  return out;
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

void Experiment::SetState(ExperimentState state, std::string error) {
  {
    absl::MutexLock lock(&mu_);
    status_.set_state(state);
    status_.set_error(std::move(error));
  }
  Notify();
}

void Experiment::Run() {
  absl::Status status = RunLoop();
  if (status.ok()) {
    SetState(gdaqd::v1::SUCCEEDED, "");
  } else if (absl::IsCancelled(status)) {
    SetState(gdaqd::v1::CANCELLED, "");
  } else {
    LOG(ERROR) << "experiment_failed id=" << id_ << " error=" << status;
    SetState(gdaqd::v1::FAILED, status.ToString());
  }
  const gdaqd::v1::ExperimentStatus final_status = Status();
  LOG(INFO) << "experiment_done id=" << id_
            << " state=" << gdaqd::v1::ExperimentState_Name(final_status.state())
            << " evaluations=" << final_status.progress().evaluations()
            << " coverage_pct=" << final_status.progress().coverage_pct()
            << " qd_score_pct=" << final_status.progress().qd_score_pct();
}

absl::Status Experiment::RunLoop() {
  absl::StatusOr<std::unique_ptr<QdAlgorithm>> created = MakeAlgorithm(config_);
  if (!created.ok()) return created.status();
  QdAlgorithm* algorithm = created->get();
  {
    absl::MutexLock lock(&archive_mu_);
    algorithm_ = std::move(created).value();
  }
  {
    absl::MutexLock lock(&mu_);
    status_.set_state(gdaqd::v1::RUNNING);
  }
  Notify();
  LOG(INFO) << "experiment_start id=" << id_ << " task=" << config_.env().task()
            << " algorithm=" << gdaqd::v1::Algorithm_Name(config_.algorithm())
            << " budget=" << config_.budget().max_evaluations()
            << " params=" << algorithm->layout().num_params();

  const absl::Time start = absl::Now();
  const int64_t budget = config_.budget().max_evaluations();
  int64_t evaluations = 0, diverged = 0, failed = 0;
  double evaluation_seconds = 0;
  int64_t requeued_at_start = evaluator_->requeued_episodes();
  EvalRequest request;
  request.experiment_id = id_;
  request.env = config_.env();
  request.policy = config_.policy();
  request.record_transitions = algorithm->needs_transitions();
  request.num_params = algorithm->layout().num_params();
  request.descriptor_dim = algorithm->spec().descriptor_dim;
  request.episodes_per_lease = config_.scheduler().episodes_per_lease();
  request.lease_timeout = absl::Seconds(config_.scheduler().lease_timeout_s());

  for (int64_t iteration = 1; evaluations < budget; ++iteration) {
    if (cancel_) return absl::CancelledError("cancelled");
    const int64_t wanted =
        iteration == 1 ? config_.initial_population() : config_.emitter().batch_size();
    const int64_t count = std::min(wanted, budget - evaluations);
    // No lock: Ask only reads the archive (concurrent const reads with Export are safe) and
    // writes state no reader touches; PGA-ME's policy-gradient children take seconds.
    absl::Status asked = algorithm->Ask(count, &request.params);
    if (!asked.ok()) return asked;
    // Every evaluation starts from the experiment's one fixed initial state (QDax convention).
    request.seeds.assign(count, config_.env().reset_seed());

    const absl::Time batch_start = absl::Now();
    absl::StatusOr<std::vector<EvalOutcome>> outcomes = evaluator_->Evaluate(request, &cancel_);
    if (!outcomes.ok()) return outcomes.status();
    const double batch_seconds = absl::ToDoubleSeconds(absl::Now() - batch_start);
    evaluation_seconds += batch_seconds;

    QdMetrics metrics;
    LearningStats learning;
    {
      absl::MutexLock lock(&archive_mu_);
      absl::StatusOr<TellSummary> summary = algorithm->Tell(request.params, *outcomes);
      if (!summary.ok()) return summary.status();
      evaluations += count;
      diverged += summary->diverged;
      failed += summary->failed;
      metrics = ComputeQdMetrics(algorithm->archive(), algorithm->qd_offset());
      learning = algorithm->learning_stats();
    }
    gdaqd::v1::ProgressSnapshot snapshot;
    {
      absl::MutexLock lock(&mu_);
      snapshot.set_iteration(iteration);
      snapshot.set_evaluations(evaluations);
      snapshot.set_qd_score(metrics.qd_score);
      snapshot.set_qd_score_pct(metrics.qd_score_pct);
      snapshot.set_coverage_pct(metrics.coverage_pct);
      snapshot.set_max_fitness(metrics.max_fitness);
      snapshot.set_num_filled(metrics.num_filled);
      snapshot.set_wall_seconds(absl::ToDoubleSeconds(absl::Now() - start));
      snapshot.set_evaluations_per_s(batch_seconds > 0 ? count / batch_seconds : 0);
      snapshot.set_diverged_episodes(diverged);
      snapshot.set_requeued_episodes(evaluator_->requeued_episodes() - requeued_at_start);
      snapshot.set_imagined_evaluations(learning.imagined_evaluations);
      snapshot.set_model_holdout_loss(learning.model_holdout_loss);
      snapshot.set_model_holdout_mse(learning.model_holdout_mse);
      snapshot.set_critic_loss(learning.critic_loss);
      snapshot.set_model_train_calls(learning.model_train_calls);
      snapshot.set_evaluation_seconds(evaluation_seconds);
      snapshot.set_imagination_seconds(learning.imagination_seconds);
      snapshot.set_training_seconds(learning.training_seconds);
      snapshot.set_gradient_seconds(learning.gradient_seconds);
      *status_.mutable_progress() = snapshot;
      history_.push_back(snapshot);
    }
    if (failed > 0 && failed == evaluations) {
      return absl::FailedPreconditionError(
          absl::StrCat("every episode so far failed; first error: ", (*outcomes)[0].error));
    }
    LOG_EVERY_N_SEC(INFO, 10) << "progress id=" << id_ << " iteration=" << iteration
                              << " evaluations=" << evaluations
                              << " coverage_pct=" << snapshot.coverage_pct()
                              << " qd_score_pct=" << snapshot.qd_score_pct();
    Notify();
  }
  return absl::OkStatus();
}

}  // namespace gdaqd::server
