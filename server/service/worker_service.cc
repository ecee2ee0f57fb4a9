#include "server/service/worker_service.h"

#include <grpcpp/alarm.h>

#include <atomic>
#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/logging.h"

namespace gdaqd::server {
namespace {

using gdaqd::v1::CoordinatorMessage;
using gdaqd::v1::WorkerMessage;

// One worker's stream. Reads run one at a time on gRPC's threads; writes are queued because the
// scheduler may send an assignment at any moment and only one write may be outstanding.
//
// Lifetime: two references, gRPC's (released in OnDone) and the hello alarm's (released when its
// callback runs, after firing or being cancelled); the last one deletes the reactor.
class ConnectReactor final : public grpc::ServerBidiReactor<WorkerMessage, CoordinatorMessage>,
                             public WorkerSink {
 public:
  ConnectReactor(Scheduler* scheduler, std::string peer, absl::Duration hello_deadline)
      : scheduler_(scheduler), peer_(std::move(peer)), hello_deadline_(hello_deadline) {
    hello_alarm_.Set(absl::ToChronoTime(absl::Now() + hello_deadline),
                     [this](bool fired) { OnHelloDeadline(fired); });
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
      {
        absl::MutexLock lock(&mu_);
        if (hello_state_ == HelloState::kTimedOut) return;  // the stream is being ended
        hello_state_ = HelloState::kReceived;
      }
      hello_alarm_.Cancel();
      if (!HandleHello()) return;
    } else if (incoming_.has_result()) {
      absl::Status status = scheduler_->OnResult(worker_id_, incoming_.result());
      if (absl::IsResourceExhausted(status)) {
        LOG(WARNING) << "worker_refused id=" << worker_id_ << " peer=" << peer_ << " " << status;
        EndStream(common::ToGrpcStatus(status));
        return;
      }
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
    hello_alarm_.Cancel();  // its callback still runs (not fired) and drops its reference
    Unref();
  }

 private:
  enum class HelloState { kWaiting, kReceived, kTimedOut };

  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // The hello alarm's callback: `fired` is false when it was cancelled.
  void OnHelloDeadline(bool fired) {
    bool timed_out = false;
    if (fired) {
      absl::MutexLock lock(&mu_);
      if (hello_state_ == HelloState::kWaiting) {
        hello_state_ = HelloState::kTimedOut;
        timed_out = true;
      }
    }
    if (timed_out) {
      LOG(WARNING) << "hello_timeout peer=" << peer_;
      EndStream(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                             absl::StrCat("no hello within ", absl::FormatDuration(hello_deadline_),
                                          " of opening the stream")));
    }
    Unref();
  }

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
  const absl::Duration hello_deadline_;
  std::atomic<int> refs_{2};  // gRPC's and the hello alarm's
  grpc::Alarm hello_alarm_;
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
  HelloState hello_state_ ABSL_GUARDED_BY(mu_) = HelloState::kWaiting;
};

// A stream refused before its first message (gRPC owns reactors through OnDone).
class RefusedStream final : public grpc::ServerBidiReactor<WorkerMessage, CoordinatorMessage> {
 public:
  explicit RefusedStream(const absl::Status& status) { Finish(common::ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerBidiReactor<WorkerMessage, CoordinatorMessage>* WorkerServiceImpl::Connect(
    grpc::CallbackServerContext* context) {
  if (authorizer_ != nullptr) {
    if (absl::Status status = authorizer_->CheckClientCertificate(*context); !status.ok()) {
      return new RefusedStream(status);
    }
    absl::StatusOr<Principal> caller = authorizer_->Authorize(*context, "Connect", kConnectRoles);
    if (!caller.ok()) return new RefusedStream(caller.status());
  }
  return new ConnectReactor(scheduler_, context->peer(), options_.hello_deadline);
}

}  // namespace gdaqd::server
