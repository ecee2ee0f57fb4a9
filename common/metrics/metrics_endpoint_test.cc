#include "common/metrics/metrics_endpoint.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::common {
namespace {

using ::gdaqd::testing::HttpGet;
using ::gdaqd::testing::ParsePrometheusText;
using ::gdaqd::testing::PromExposition;
using ::gdaqd::testing::StatusIs;

TEST(MetricsEndpointTest, ServesTheRegisteredCollectablesOnAFreePort) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::Counter& counter = prometheus::BuildCounter()
                                     .Name("gdaqd_test_things_total")
                                     .Help("things")
                                     .Register(*registry)
                                     .Add({{"kind", "a"}});
  counter.Increment(3);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<MetricsEndpoint> endpoint,
                             MetricsEndpoint::Start("127.0.0.1:0", {registry}));
  ASSERT_GT(endpoint->port(), 0);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string body, HttpGet(endpoint->port(), "/metrics"));
  GDAQD_ASSERT_OK_AND_ASSIGN(PromExposition parsed, ParsePrometheusText(body));
  EXPECT_EQ(parsed.types["gdaqd_test_things_total"], "counter");
  EXPECT_THAT(parsed.Value("gdaqd_test_things_total", {{"kind", "a"}}),
              ::gdaqd::testing::IsOkAndHolds(3.0));
  // Values are read at scrape time.
  counter.Increment();
  GDAQD_ASSERT_OK_AND_ASSIGN(body, HttpGet(endpoint->port(), "/metrics"));
  GDAQD_ASSERT_OK_AND_ASSIGN(parsed, ParsePrometheusText(body));
  EXPECT_THAT(parsed.Value("gdaqd_test_things_total", {{"kind", "a"}}),
              ::gdaqd::testing::IsOkAndHolds(4.0));
}

TEST(MetricsEndpointTest, AnswersOtherPathsWith404) {
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<MetricsEndpoint> endpoint,
                             MetricsEndpoint::Start("127.0.0.1:0", {}));
  EXPECT_THAT(HttpGet(endpoint->port(), "/"),
              StatusIs(absl::StatusCode::kInternal, ::testing::HasSubstr("404")));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string body, HttpGet(endpoint->port(), "/metrics?x=1"));
  EXPECT_EQ(body, "");  // nothing registered
}

TEST(MetricsEndpointTest, StopsServingWhenDestroyed) {
  auto registry = std::make_shared<prometheus::Registry>();
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<MetricsEndpoint> endpoint,
                             MetricsEndpoint::Start("127.0.0.1:0", {registry}));
  const int port = endpoint->port();
  GDAQD_EXPECT_OK(HttpGet(port, "/metrics").status());
  endpoint.reset();
  EXPECT_THAT(HttpGet(port, "/metrics").status(),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
}

TEST(MetricsEndpointTest, RefusesAPortInUse) {
  auto registry = std::make_shared<prometheus::Registry>();
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<MetricsEndpoint> first,
                             MetricsEndpoint::Start("127.0.0.1:0", {registry}));
  EXPECT_THAT(MetricsEndpoint::Start(absl::StrCat("127.0.0.1:", first->port()), {registry}),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::HasSubstr("in use")));
}

TEST(MetricsEndpointTest, ValidatesTheAddress) {
  for (const char* good : {"127.0.0.1:0", "0.0.0.0:9100", "localhost:65535", "[::1]:0"}) {
    GDAQD_EXPECT_OK(ValidateMetricsListen(good)) << good;
  }
  for (const char* bad : {"", "127.0.0.1", ":9100", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "127.0.0.1:9x", "::1:0", "[]:0"}) {
    EXPECT_THAT(ValidateMetricsListen(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("HOST:PORT")))
        << bad;
  }
  EXPECT_THAT(MetricsEndpoint::Start("nonsense", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

}  // namespace
}  // namespace gdaqd::common
