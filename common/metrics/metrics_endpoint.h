// The /metrics endpoint of a gdaqd process on --metrics_listen HOST:PORT (docs/cluster.md §2):
// a minimal HTTP/1.x server (plain HTTP; the metrics hold no secrets) that renders prometheus-cpp
// collectables with its TextSerializer.
//
// Why not prometheus-cpp's Exposer: Debian's civetweb creates its worker threads with a fixed
// 100 KiB stack, and glibc refuses (EINVAL) a thread whose stack cannot hold the process's static
// TLS plus 16 KiB; gdaqd-server's libraries (OpenBLAS 60 KiB, glog 30 KiB, LibTorch 10 KiB) need
// more, so the Exposer cannot start there ("Cannot create threads").
#ifndef GDAQD_COMMON_METRICS_METRICS_ENDPOINT_H_
#define GDAQD_COMMON_METRICS_METRICS_ENDPOINT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/thread.h"
#include "prometheus/collectable.h"

namespace gdaqd::common {

// Checks a --metrics_listen value: "HOST:PORT" or "[IPv6]:PORT", HOST not empty, PORT decimal in
// [0, 65535] (0 picks a free port). InvalidArgument naming the flag and the value otherwise.
absl::Status ValidateMetricsListen(const std::string& listen);

// Serves GET /metrics with whatever the registered collectables hold at scrape time.
//
// Thread-safe. One serving thread answers one connection at a time: GET /metrics (any query) gets
// 200 with the text format (0.0.4), other paths 404, other methods 405; a client gets 5 s to send
// its request and to take the answer, then it is dropped. The serving thread calls Collect() on
// the collectables concurrently with everything else in the process, so collectables must be
// thread-safe. The destructor stops serving and joins the thread: after it returns, no Collect()
// runs or will run, which is why an owner destroys the endpoint before anything its collectables
// read.
class MetricsEndpoint {
 public:
  // Binds `listen` (see ValidateMetricsListen; the host is resolved with getaddrinfo) and serves
  // `collectables` (weak: one that has expired is skipped). InvalidArgument for a malformed
  // address or a host that does not resolve; Unavailable if it cannot be bound (in use, not a
  // local address); Internal if a socket or the wake-up eventfd cannot be made.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& listen,
      const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables);
  ~MetricsEndpoint();

  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // The bound TCP port (the free one picked when `listen` asked for port 0).
  int port() const { return port_; }

 private:
  MetricsEndpoint(int listen_fd, int wake_fd, int port,
                  std::vector<std::weak_ptr<prometheus::Collectable>> collectables);
  // The serving thread: accepts until the wake-up eventfd is written.
  void Serve();
  // Reads one request from `fd` and writes the answer.
  void Answer(int fd) const;
  // The text format of every live collectable's families.
  std::string Render() const;

  const int listen_fd_;  // owned; closed by the destructor after the thread is joined
  const int wake_fd_;    // eventfd, owned; written by the destructor
  const int port_;
  const std::vector<std::weak_ptr<prometheus::Collectable>> collectables_;
  std::unique_ptr<Thread> thread_;  // last: started once everything above exists
};

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_METRICS_METRICS_ENDPOINT_H_
