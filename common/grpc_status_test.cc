#include "common/grpc_status.h"

#include <string>

#include "gtest/gtest.h"

namespace gdaqd::common {
namespace {

TEST(GrpcStatusTest, OkMapsToOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(GrpcStatusTest, EveryCanonicalCodeRoundTrips) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status status(static_cast<absl::StatusCode>(code), "message");
    grpc::Status wire = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(wire.error_code()), code);
    EXPECT_EQ(FromGrpcStatus(wire), status);
  }
}

TEST(GrpcStatusTest, LongMessageIsTruncated) {
  grpc::Status wire = ToGrpcStatus(absl::InvalidArgumentError(std::string(5000, 'x')));
  EXPECT_EQ(wire.error_message().size(), kMaxStatusMessageBytes);
  EXPECT_EQ(wire.error_message().substr(kMaxStatusMessageBytes - 3), "...");
}

TEST(GrpcStatusTest, StreamRemovedBecomesUnavailable) {
  absl::Status status = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNKNOWN, "Stream removed"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
}

TEST(GrpcStatusTest, OtherUnknownStaysUnknown) {
  absl::Status status = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNKNOWN, "boom"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
}

}  // namespace
}  // namespace gdaqd::common
