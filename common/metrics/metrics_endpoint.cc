#include "common/metrics/metrics_endpoint.h"

#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace gdaqd::common {
namespace {

constexpr int kClientTimeoutSeconds = 5;
constexpr size_t kMaxRequestBytes = 8192;  // the request line and headers; a body is not read

absl::Status Malformed(const std::string& listen, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--metrics_listen '", listen, "' is not HOST:PORT (", why, ")"));
}

// Writes all of `data`; false if the peer went away or timed out.
bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Response(absl::string_view status, absl::string_view content_type,
                     absl::string_view body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

// A listening socket on `host`:`port`; the bound port goes to *bound_port.
absl::StatusOr<int> Listen(const std::string& listen, std::string host, const std::string& port,
                           int* bound_port) {
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int error = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); error != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen '", listen, "': ", gai_strerror(error)));
  }
  absl::Status status = absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen));
  int fd = -1;
  for (addrinfo* address = found; address != nullptr && fd < 0; address = address->ai_next) {
    fd = socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC, address->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, address->ai_addr, address->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      status = absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", listen, ": ", std::strerror(errno)));
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return status;
  sockaddr_storage bound = {};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  *bound_port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return fd;
}

}  // namespace

absl::Status ValidateMetricsListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return Malformed(listen, "no ':'");
  const std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.empty() || host == "[]") return Malformed(listen, "empty host");
  if (host.find(':') != std::string::npos && (host.front() != '[' || host.back() != ']')) {
    return Malformed(listen, "an IPv6 host goes in brackets");
  }
  int number = -1;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(port, &number) || number > 65535) {
    return Malformed(listen, "the port must be a number in [0, 65535]");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& listen,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  if (absl::Status valid = ValidateMetricsListen(listen); !valid.ok()) return valid;
  const size_t colon = listen.rfind(':');
  int port = 0;
  absl::StatusOr<int> listen_fd =
      Listen(listen, listen.substr(0, colon), listen.substr(colon + 1), &port);
  if (!listen_fd.ok()) return listen_fd.status();
  const int wake_fd = eventfd(0, EFD_CLOEXEC);
  if (wake_fd < 0) {
    close(*listen_fd);
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<MetricsEndpoint>(
      new MetricsEndpoint(*listen_fd, wake_fd, port, collectables));
}

MetricsEndpoint::MetricsEndpoint(int listen_fd, int wake_fd, int port,
                                 std::vector<std::weak_ptr<prometheus::Collectable>> collectables)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      collectables_(std::move(collectables)),
      thread_(std::make_unique<Thread>("metrics-http", [this] { Serve(); })) {}

MetricsEndpoint::~MetricsEndpoint() {
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) != sizeof(one)) {
    // Cannot happen for an eventfd below its maximum; the join below would then hang, so say so.
    std::perror("metrics endpoint: eventfd write");
  }
  thread_.reset();  // joins
  close(listen_fd_);
  close(wake_fd_);
}

void MetricsEndpoint::Serve() {
  while (true) {
    pollfd fds[2] = {{.fd = listen_fd_, .events = POLLIN, .revents = 0},
                     {.fd = wake_fd_, .events = POLLIN, .revents = 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;  // the peer gave up already, or out of descriptors for now
    Answer(fd);
    close(fd);
  }
}

void MetricsEndpoint::Answer(int fd) const {
  timeval timeout = {.tv_sec = kClientTimeoutSeconds, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  std::string request;
  char buffer[1024];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed, timed out or failed: answer what arrived, if anything
    request.append(buffer, static_cast<size_t>(n));
  }
  const std::vector<absl::string_view> line =
      absl::StrSplit(absl::string_view(request).substr(0, request.find("\r\n")), ' ');
  if (line.size() != 3 || !absl::StartsWith(line[2], "HTTP/1.")) {
    WriteAll(fd, Response("400 Bad Request", "text/plain", "bad request\n"));
  } else if (line[0] != "GET") {
    WriteAll(fd, Response("405 Method Not Allowed", "text/plain", "only GET\n"));
  } else if (line[1] != "/metrics" && !absl::StartsWith(line[1], "/metrics?")) {
    WriteAll(fd, Response("404 Not Found", "text/plain", "see /metrics\n"));
  } else {
    WriteAll(fd, Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", Render()));
  }
}

std::string MetricsEndpoint::Render() const {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& weak : collectables_) {
    if (std::shared_ptr<prometheus::Collectable> collectable = weak.lock()) {
      for (auto& family : collectable->Collect()) families.push_back(std::move(family));
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace gdaqd::common
