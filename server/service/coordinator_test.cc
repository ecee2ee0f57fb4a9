// The coordinator's standard services over real gRPC on 127.0.0.1: grpc.health.v1 answers
// SERVING once the state directory is restored, and server reflection lists our services.
#include "server/service/coordinator.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/raw_call.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(10);

// A unary call with raw bytes over plaintext to `address`.
std::pair<grpc::Status, std::string> RawCall(const std::string& address, const std::string& method,
                                             const std::string& request_bytes) {
  return ::gdaqd::testing::RawUnaryCall(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()), method, request_bytes,
      kDeadline);
}

TEST(CoordinatorTest, HealthIsServingAfterRestore) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/coordinator_health_", getpid());
  std::filesystem::remove_all(dir);
  CoordinatorOptions options;
  options.listen_address = "127.0.0.1:0";
  options.state_dir = dir;
  GDAQD_ASSERT_OK_AND_ASSIGN(auto coordinator, Coordinator::Start(options));
  // HealthCheckRequest{service: ""} is the empty message; HealthCheckResponse{status: SERVING}
  // is field 1 varint 1.
  auto [status, response] =
      RawCall(absl::StrCat("127.0.0.1:", coordinator->port()), "/grpc.health.v1.Health/Check", "");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response, std::string("\x08\x01", 2));
  // A second coordinator on the same state directory is refused, naming the directory.
  absl::Status second = Coordinator::Start(options).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(second)) << second;
  EXPECT_THAT(std::string(second.message()), ::testing::HasSubstr(dir));
  coordinator->Shutdown();
}

TEST(IsLoopbackAddressTest, OnlyLocalAddressesAreLoopback) {
  for (const char* address : {"127.0.0.1:50051", "127.1.2.3:0", "localhost:50051", "LOCALHOST:1",
                              "[::1]:50051", "unix:/tmp/gdaqd.sock"}) {
    EXPECT_TRUE(IsLoopbackAddress(address)) << address;
  }
  for (const char* address : {"0.0.0.0:50051", "[::]:50051", ":50051", "10.0.0.5:50051",
                              "coordinator.example:50051", "[2001:db8::1]:1", "128.0.0.1:1"}) {
    EXPECT_FALSE(IsLoopbackAddress(address)) << address;
  }
}

TEST(CoordinatorTest, RefusesAnInsecureNonLoopbackListenBeforeTouchingAnything) {
  CoordinatorOptions options;
  options.listen_address = "0.0.0.0:0";
  EXPECT_THAT(Coordinator::Start(options),
              gdaqd::testing::StatusIs(
                  absl::StatusCode::kFailedPrecondition,
                  "refusing to serve 0.0.0.0:0 without TLS and tokens; add --tls_cert/--tls_key "
                  "and --tokens_file, or pass --allow_insecure on a trusted network"));
}

// --metrics_listen: /metrics is served while the coordinator runs and stops with Shutdown().
TEST(CoordinatorTest, ServesMetricsWhenAskedAndStopsWithShutdown) {
  CoordinatorOptions options;
  options.listen_address = "127.0.0.1:0";
  GDAQD_ASSERT_OK_AND_ASSIGN(auto plain, Coordinator::Start(options));
  EXPECT_EQ(plain->metrics_port(), 0);
  plain->Shutdown();

  options.metrics_listen = "127.0.0.1";  // no port
  EXPECT_THAT(Coordinator::Start(options).status(),
              ::gdaqd::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                         ::testing::HasSubstr("metrics_listen")));
  options.metrics_listen = "127.0.0.1:0";
  GDAQD_ASSERT_OK_AND_ASSIGN(auto coordinator, Coordinator::Start(options));
  const int port = coordinator->metrics_port();
  ASSERT_GT(port, 0);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string body, ::gdaqd::testing::HttpGet(port, "/metrics"));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto parsed, ::gdaqd::testing::ParsePrometheusText(body));
  EXPECT_THAT(parsed.Value("gdaqd_workers_connected"), ::gdaqd::testing::IsOkAndHolds(0.0));
  EXPECT_THAT(parsed.Value("gdaqd_experiments", {{"state", "running"}}),
              ::gdaqd::testing::IsOkAndHolds(0.0));
  coordinator->Shutdown();
  EXPECT_EQ(coordinator->metrics_port(), 0);
  EXPECT_THAT(::gdaqd::testing::HttpGet(port, "/metrics").status(),
              ::gdaqd::testing::StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
}

}  // namespace
}  // namespace gdaqd::server
