#include "server/service/experiment_service.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/logging.h"

namespace gdaqd::server {
namespace {

using gdaqd::v1::ExperimentStatus;
using gdaqd::v1::ExportArchiveResponse;

// Status as users see it: the experiment's own status plus the coordinator's worker count.
ExperimentStatus FullStatus(const Experiment& experiment, const Scheduler& scheduler) {
  ExperimentStatus status = experiment.Status();
  status.set_connected_workers(static_cast<int32_t>(scheduler.stats().connected_workers));
  return status;
}

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(common::ToGrpcStatus(status));
  return reactor;
}

// Streams the experiment's status now and after every change, coalescing updates that arrive
// while a write is in flight (a slow client sees the latest state, not a backlog). Ends after the
// final state is written.
class WatchReactor final : public grpc::ServerWriteReactor<ExperimentStatus> {
 public:
  WatchReactor(std::shared_ptr<Experiment> experiment, const Scheduler* scheduler)
      : experiment_(std::move(experiment)), scheduler_(scheduler) {
    listener_ = experiment_->AddListener([this] { OnUpdate(); });
    OnUpdate();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
    } else if (IsFinalState(current_.state())) {
      FinishLocked(grpc::Status::OK);
    } else if (dirty_) {
      WriteLatestLocked();
    }
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (!writing_) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    cancelled_ = true;
  }

  void OnDone() override {
    experiment_->RemoveListener(listener_);  // no callback runs after this returns
    delete this;
  }

 private:
  void OnUpdate() {
    absl::MutexLock lock(&mu_);
    dirty_ = true;
    if (!writing_ && !finished_ && !cancelled_) WriteLatestLocked();
  }

  void WriteLatestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    current_ = FullStatus(*experiment_, *scheduler_);
    dirty_ = false;
    writing_ = true;
    StartWrite(&current_);
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  const std::shared_ptr<Experiment> experiment_;
  const Scheduler* const scheduler_;
  int64_t listener_ = 0;
  absl::Mutex mu_;
  ExperimentStatus current_ ABSL_GUARDED_BY(mu_);  // the message being written
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// Streams one header and then every elite of a consistent snapshot of the archive, one write
// at a time (flow control comes from waiting for each write).
class ExportReactor final : public grpc::ServerWriteReactor<ExportArchiveResponse> {
 public:
  ExportReactor(ExperimentExport snapshot, const Scheduler* scheduler)
      : snapshot_(std::move(snapshot)) {
    snapshot_.status.set_connected_workers(
        static_cast<int32_t>(scheduler->stats().connected_workers));
    BuildHeader();
    StartWrite(&message_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    if (next_ >= cells_.size()) {
      Finish(grpc::Status::OK);
      return;
    }
    BuildElite(cells_[next_++]);
    StartWrite(&message_);
  }

  void OnDone() override { delete this; }

 private:
  void BuildHeader() {
    gdaqd::v1::ArchiveHeader* header = message_.mutable_header();
    *header->mutable_status() = snapshot_.status;
    for (const auto& row : snapshot_.history) *header->add_history() = row;
    const ArchiveInterface* archive = snapshot_.archive.get();
    if (archive == nullptr) return;  // not started yet: no elites
    cells_ = archive->filled_cells();
    header->set_descriptor_dim(archive->descriptor_dim());
    header->set_num_cells(archive->num_cells());
    header->set_num_params(archive->num_params());
    header->set_num_elites(static_cast<int64_t>(cells_.size()));
    for (float v : archive->descriptor_low()) header->add_descriptor_low(v);
    for (float v : archive->descriptor_high()) header->add_descriptor_high(v);
    for (int n : snapshot_.cells_per_dim) header->add_cells_per_dim(n);
  }

  void BuildElite(int64_t cell) {
    message_.Clear();
    gdaqd::v1::Elite* elite = message_.mutable_elite();
    std::optional<EliteView> view = snapshot_.archive->elite(cell);
    elite->set_cell(cell);
    elite->set_fitness(view->fitness);
    for (float v : view->descriptor) elite->add_behavior_descriptor(v);
    for (float v : snapshot_.archive->centroid(cell)) elite->add_centroid(v);
    elite->set_params(reinterpret_cast<const char*>(view->params.data()),
                      view->params.size() * sizeof(float));
  }

  ExperimentExport snapshot_;
  std::vector<int64_t> cells_;
  size_t next_ = 0;
  ExportArchiveResponse message_;  // the message being written
};

}  // namespace

grpc::ServerUnaryReactor* ExperimentServiceImpl::SubmitExperiment(
    grpc::CallbackServerContext* context, const gdaqd::v1::SubmitExperimentRequest* request,
    gdaqd::v1::SubmitExperimentResponse* response) {
  absl::StatusOr<std::string> id = manager_->Submit(request->config());
  if (id.ok()) response->set_id(*id);
  return Reply(context, id.status());
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::GetExperiment(
    grpc::CallbackServerContext* context, const gdaqd::v1::GetExperimentRequest* request,
    ExperimentStatus* response) {
  absl::StatusOr<std::shared_ptr<Experiment>> experiment = manager_->Get(request->id());
  if (experiment.ok()) *response = FullStatus(**experiment, *scheduler_);
  return Reply(context, experiment.status());
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::ListExperiments(
    grpc::CallbackServerContext* context, const gdaqd::v1::ListExperimentsRequest* /*request*/,
    gdaqd::v1::ListExperimentsResponse* response) {
  for (const auto& experiment : manager_->List()) {
    *response->add_experiments() = FullStatus(*experiment, *scheduler_);
  }
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::CancelExperiment(
    grpc::CallbackServerContext* context, const gdaqd::v1::CancelExperimentRequest* request,
    gdaqd::v1::CancelExperimentResponse* response) {
  absl::StatusOr<std::shared_ptr<Experiment>> experiment = manager_->Get(request->id());
  if (experiment.ok()) {
    (*experiment)->Cancel();
    *response->mutable_status() = FullStatus(**experiment, *scheduler_);
  }
  return Reply(context, experiment.status());
}

grpc::ServerWriteReactor<ExperimentStatus>* ExperimentServiceImpl::WatchExperiment(
    grpc::CallbackServerContext* /*context*/, const gdaqd::v1::WatchExperimentRequest* request) {
  absl::StatusOr<std::shared_ptr<Experiment>> experiment = manager_->Get(request->id());
  if (!experiment.ok()) {
    // gRPC owns reactors through OnDone; this one finishes at once and deletes itself.
    class ErrorReactor final : public grpc::ServerWriteReactor<ExperimentStatus> {
     public:
      explicit ErrorReactor(const absl::Status& status) { Finish(common::ToGrpcStatus(status)); }
      void OnDone() override { delete this; }
    };
    return new ErrorReactor(experiment.status());
  }
  return new WatchReactor(std::move(experiment).value(), scheduler_);
}

grpc::ServerWriteReactor<ExportArchiveResponse>* ExperimentServiceImpl::ExportArchive(
    grpc::CallbackServerContext* /*context*/, const gdaqd::v1::ExportArchiveRequest* request) {
  absl::StatusOr<std::shared_ptr<Experiment>> experiment = manager_->Get(request->id());
  if (!experiment.ok()) {
    class ErrorReactor final : public grpc::ServerWriteReactor<ExportArchiveResponse> {
     public:
      explicit ErrorReactor(const absl::Status& status) { Finish(common::ToGrpcStatus(status)); }
      void OnDone() override { delete this; }
    };
    return new ErrorReactor(experiment.status());
  }
  return new ExportReactor((*experiment)->Export(), scheduler_);
}

}  // namespace gdaqd::server
