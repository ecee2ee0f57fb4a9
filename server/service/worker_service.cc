#include "server/service/worker_service.h"

#include <atomic>
#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/logging.h"

namespace gdaqd::server {
namespace {

using gdaqd::v1::CoordinatorMessage;
using gdaqd::v1::WorkerMessage;

// One worker's stream. Reads run one at a time on gRPC's threads; writes are queued because the
// scheduler may send an assignment at any moment and only one write may be outstanding.
class ConnectReactor final : public grpc::ServerBidiReactor<WorkerMessage, CoordinatorMessage>,
                             public WorkerSink {
 public:
  ConnectReactor(Scheduler* scheduler, std::string peer)
      : scheduler_(scheduler), peer_(std::move(peer)) {
    StartRead(&incoming_);
  }

  void Send(std::shared_ptr<const CoordinatorMessage> message) override {
    absl::MutexLock lock(&mu_);
    if (finishing_) return;
    outgoing_.push_back(std::move(message));
    if (!writing_) {
      writing_ = true;
      StartWrite(outgoing_.front().get());
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      EndStream(grpc::Status::OK);
      return;
    }
    if (!registered_) {
      if (!HandleHello()) return;
    } else if (incoming_.has_result()) {
      absl::Status status = scheduler_->OnResult(worker_id_, incoming_.result());
      if (!status.ok()) {
        LOG_EVERY_N_SEC(WARNING, 5) << "bad_result " << status;
      }
    }
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    outgoing_.pop_front();
    if (!ok) {
      // The stream is broken; the pending read fails too and ends the stream.
      outgoing_.clear();
      writing_ = false;
    } else if (!outgoing_.empty()) {
      StartWrite(outgoing_.front().get());
      return;
    } else {
      writing_ = false;
    }
    if (finishing_ && !finished_) {
      finished_ = true;
      Finish(finish_status_);
    }
  }

  void OnCancel() override { EndStream(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }

  void OnDone() override {
    Unregister();
    delete this;
  }

 private:
  // Returns false (and ends the stream) if the first message is not an acceptable hello.
  bool HandleHello() {
    if (!incoming_.has_hello()) {
      EndStream(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                             "the first message on Connect must be a hello"));
      return false;
    }
    const gdaqd::v1::WorkerHello& hello = incoming_.hello();
    if (hello.version() != GDAQD_VERSION) {
      EndStream(
          grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                       absl::StrCat("worker version '", hello.version(),
                                    "' differs from coordinator version '", GDAQD_VERSION, "'")));
      return false;
    }
    if (hello.worker_id().empty()) {
      EndStream(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello.worker_id is empty"));
      return false;
    }
    absl::Status status = scheduler_->RegisterWorker(hello.worker_id(), hello.threads(), this);
    if (!status.ok()) {
      EndStream(common::ToGrpcStatus(status));
      return false;
    }
    worker_id_ = hello.worker_id();
    registered_ = true;
    VLOG(1) << "hello worker=" << worker_id_ << " peer=" << peer_;
    return true;
  }

  // Unregisters first (without holding mu_: the scheduler calls Send() under its own lock), then
  // finishes once no write is outstanding.
  void EndStream(grpc::Status status) {
    Unregister();
    absl::MutexLock lock(&mu_);
    if (finishing_) return;
    finishing_ = true;
    finish_status_ = std::move(status);
    if (!writing_ && !finished_) {
      finished_ = true;
      Finish(finish_status_);
    }
  }

  void Unregister() {
    if (registered_ && !unregistered_.exchange(true)) scheduler_->UnregisterWorker(worker_id_);
  }

  Scheduler* const scheduler_;
  const std::string peer_;
  // Touched only by the read path (one read at a time), then read-only.
  WorkerMessage incoming_;
  std::string worker_id_;
  std::atomic<bool> registered_{false};
  std::atomic<bool> unregistered_{false};

  absl::Mutex mu_;
  std::deque<std::shared_ptr<const CoordinatorMessage>> outgoing_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerBidiReactor<WorkerMessage, CoordinatorMessage>* WorkerServiceImpl::Connect(
    grpc::CallbackServerContext* context) {
  return new ConnectReactor(scheduler_, context->peer());
}

}  // namespace gdaqd::server
