// A unary gRPC call with raw bytes and no generated stub (for services whose protos the tests
// do not compile, e.g. grpc.health.v1), with a deadline. Test-only; header-only.
#ifndef GDAQD_TESTS_TESTING_RAW_CALL_H_
#define GDAQD_TESTS_TESTING_RAW_CALL_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gdaqd::testing {

// Calls `method` ("/package.Service/Method") on `channel` with `request_bytes`; returns the
// status and the response's bytes (empty unless OK).
inline std::pair<grpc::Status, std::string> RawUnaryCall(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
    const std::string& request_bytes, absl::Duration deadline = absl::Seconds(10)) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (status.ok() && response.Dump(&slices).ok()) {
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return {status, bytes};
}

}  // namespace gdaqd::testing

#endif  // GDAQD_TESTS_TESTING_RAW_CALL_H_
