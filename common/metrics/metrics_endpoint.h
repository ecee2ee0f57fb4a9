// The /metrics endpoint of a gdaqd process: prometheus-cpp's exposer (civetweb, plain HTTP; the
// metrics hold no secrets) on --metrics_listen HOST:PORT (docs/cluster.md §2).
#ifndef GDAQD_COMMON_METRICS_METRICS_ENDPOINT_H_
#define GDAQD_COMMON_METRICS_METRICS_ENDPOINT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/collectable.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace gdaqd::common {

// Checks a --metrics_listen value: "HOST:PORT" or "[IPv6]:PORT", HOST not empty, PORT decimal in
// [0, 65535] (0 picks a free port). InvalidArgument naming the flag and the value otherwise.
absl::Status ValidateMetricsListen(const std::string& listen);

// Serves GET /metrics with whatever the registered collectables hold at scrape time.
//
// Thread-safe. The exposer's HTTP threads (2) call Collect() on the collectables concurrently
// with everything else in the process, so collectables must be thread-safe. The destructor stops
// the HTTP server and joins its threads: after it returns, no Collect() runs or will run, which
// is why an owner destroys the endpoint before anything its collectables read.
class MetricsEndpoint {
 public:
  // Binds `listen` (see ValidateMetricsListen) and serves `collectables` (weak: one that has
  // expired is skipped). InvalidArgument for a malformed address; Unavailable if it cannot be
  // bound (in use, not a local address).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& listen,
      const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables);
  ~MetricsEndpoint();

  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // The bound TCP port (the free one picked when `listen` asked for port 0).
  int port() const { return port_; }

 private:
  MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, int port);

  std::unique_ptr<prometheus::Exposer> exposer_;
  const int port_;
};

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_METRICS_METRICS_ENDPOINT_H_
