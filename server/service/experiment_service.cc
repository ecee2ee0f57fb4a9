#include "server/service/experiment_service.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
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

// Streams the export one message at a time from its reader (flow control comes from waiting for
// each write), so a stalled reader holds one message, not the archive. Counts itself in
// `open_streams` while alive.
class ExportReactor final : public grpc::ServerWriteReactor<ExportArchiveResponse> {
 public:
  ExportReactor(std::unique_ptr<storage::ExportReader> reader, int32_t connected_workers,
                std::atomic<int>* open_streams)
      : reader_(std::move(reader)),
        connected_workers_(connected_workers),
        open_streams_(open_streams) {
    WriteNext(/*first=*/true);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    WriteNext(/*first=*/false);
  }

  void OnDone() override {
    --*open_streams_;
    delete this;
  }

 private:
  void WriteNext(bool first) {
    absl::StatusOr<bool> more = reader_->Next(&message_);
    if (!more.ok()) {
      LOG(ERROR) << "export_failed error=" << more.status();
      Finish(common::ToGrpcStatus(more.status()));
      return;
    }
    if (!*more) {
      Finish(grpc::Status::OK);
      return;
    }
    if (first && message_.has_header()) {
      message_.mutable_header()->mutable_status()->set_connected_workers(connected_workers_);
    }
    StartWrite(&message_);
  }

  std::unique_ptr<storage::ExportReader> reader_;
  const int32_t connected_workers_;
  std::atomic<int>* const open_streams_;
  ExportArchiveResponse message_;  // the message being written
};

// A server-streaming reactor that fails at once (gRPC owns reactors through OnDone).
template <typename Message>
class ErrorReactor final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit ErrorReactor(const absl::Status& status) { this->Finish(common::ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

absl::StatusOr<Principal> ExperimentServiceImpl::Authorize(grpc::CallbackServerContext* context,
                                                           absl::string_view rpc,
                                                           RoleSet roles) const {
  if (authorizer_ == nullptr) return Principal{};
  return authorizer_->Authorize(*context, rpc, roles);
}

absl::StatusOr<std::shared_ptr<Experiment>> ExperimentServiceImpl::GetManaged(
    const Principal& principal, const std::string& id, absl::string_view rpc) const {
  absl::StatusOr<std::shared_ptr<Experiment>> experiment = manager_->Get(id);
  if (!experiment.ok()) return experiment.status();
  const std::string owner = (*experiment)->Status().submitted_by();
  if (!principal.may_manage(owner)) {
    return absl::PermissionDeniedError(absl::StrCat("token '", principal.name, "' has role ",
                                                    RoleName(principal.role), "; ", rpc, " of ", id,
                                                    ", submitted by '", owner, "', needs admin"));
  }
  return experiment;
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::SubmitExperiment(
    grpc::CallbackServerContext* context, const gdaqd::v1::SubmitExperimentRequest* request,
    gdaqd::v1::SubmitExperimentResponse* response) {
  absl::StatusOr<Principal> caller = Authorize(context, "SubmitExperiment", kSubmitRoles);
  if (!caller.ok()) return Reply(context, caller.status());
  absl::StatusOr<std::string> id = manager_->Submit(request->config(), caller->name);
  if (id.ok()) response->set_id(*id);
  return Reply(context, id.status());
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::GetExperiment(
    grpc::CallbackServerContext* context, const gdaqd::v1::GetExperimentRequest* request,
    ExperimentStatus* response) {
  absl::StatusOr<Principal> caller = Authorize(context, "GetExperiment", kReadRoles);
  if (!caller.ok()) return Reply(context, caller.status());
  absl::StatusOr<std::shared_ptr<Experiment>> experiment = manager_->Get(request->id());
  if (experiment.ok()) *response = FullStatus(**experiment, *scheduler_);
  return Reply(context, experiment.status());
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::ListExperiments(
    grpc::CallbackServerContext* context, const gdaqd::v1::ListExperimentsRequest* request,
    gdaqd::v1::ListExperimentsResponse* response) {
  absl::StatusOr<Principal> caller = Authorize(context, "ListExperiments", kReadRoles);
  if (!caller.ok()) return Reply(context, caller.status());
  absl::StatusOr<ExperimentPage> page =
      manager_->ListPage(request->page_size(), request->page_token());
  if (page.ok()) {
    for (const auto& experiment : page->experiments) {
      *response->add_experiments() = FullStatus(*experiment, *scheduler_);
    }
    response->set_next_page_token(page->next_page_token);
  }
  return Reply(context, page.status());
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::DeleteExperiment(
    grpc::CallbackServerContext* context, const gdaqd::v1::DeleteExperimentRequest* request,
    gdaqd::v1::DeleteExperimentResponse* /*response*/) {
  absl::StatusOr<Principal> caller = Authorize(context, "DeleteExperiment", kManageRoles);
  if (!caller.ok()) return Reply(context, caller.status());
  if (caller->role != Role::kAdmin) {
    absl::StatusOr<std::shared_ptr<Experiment>> experiment =
        GetManaged(*caller, request->id(), "DeleteExperiment");
    if (!experiment.ok()) return Reply(context, experiment.status());
  }
  return Reply(context, manager_->Delete(request->id()));
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::CancelExperiment(
    grpc::CallbackServerContext* context, const gdaqd::v1::CancelExperimentRequest* request,
    gdaqd::v1::CancelExperimentResponse* response) {
  absl::StatusOr<Principal> caller = Authorize(context, "CancelExperiment", kManageRoles);
  if (!caller.ok()) return Reply(context, caller.status());
  absl::StatusOr<std::shared_ptr<Experiment>> experiment =
      GetManaged(*caller, request->id(), "CancelExperiment");
  if (experiment.ok()) {
    (*experiment)->Cancel();
    *response->mutable_status() = FullStatus(**experiment, *scheduler_);
  }
  return Reply(context, experiment.status());
}

grpc::ServerWriteReactor<ExperimentStatus>* ExperimentServiceImpl::WatchExperiment(
    grpc::CallbackServerContext* context, const gdaqd::v1::WatchExperimentRequest* request) {
  absl::StatusOr<Principal> caller = Authorize(context, "WatchExperiment", kReadRoles);
  if (!caller.ok()) return new ErrorReactor<ExperimentStatus>(caller.status());
  absl::StatusOr<std::shared_ptr<Experiment>> experiment = manager_->Get(request->id());
  if (!experiment.ok()) return new ErrorReactor<ExperimentStatus>(experiment.status());
  return new WatchReactor(std::move(experiment).value(), scheduler_);
}

grpc::ServerWriteReactor<ExportArchiveResponse>* ExperimentServiceImpl::ExportArchive(
    grpc::CallbackServerContext* context, const gdaqd::v1::ExportArchiveRequest* request) {
  absl::StatusOr<Principal> caller = Authorize(context, "ExportArchive", kReadRoles);
  if (!caller.ok()) return new ErrorReactor<ExportArchiveResponse>(caller.status());
  absl::StatusOr<std::shared_ptr<Experiment>> experiment = manager_->Get(request->id());
  if (!experiment.ok()) return new ErrorReactor<ExportArchiveResponse>(experiment.status());
  if (++export_streams_ > max_export_streams_) {
    --export_streams_;
    return new ErrorReactor<ExportArchiveResponse>(absl::ResourceExhaustedError(
        absl::StrCat("more than ", max_export_streams_,
                     " archive exports are open at once; retry when one has finished")));
  }
  absl::StatusOr<std::unique_ptr<storage::ExportReader>> reader = (*experiment)->Export();
  if (!reader.ok()) {
    --export_streams_;
    return new ErrorReactor<ExportArchiveResponse>(reader.status());
  }
  return new ExportReactor(std::move(reader).value(),
                           static_cast<int32_t>(scheduler_->stats().connected_workers),
                           &export_streams_);
}

}  // namespace gdaqd::server
