#include "common/metrics/metrics_endpoint.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"

namespace gdaqd::common {
namespace {

absl::Status Malformed(const std::string& listen, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--metrics_listen '", listen, "' is not HOST:PORT (", why, ")"));
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

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, int port)
    : exposer_(std::move(exposer)), port_(port) {}

MetricsEndpoint::~MetricsEndpoint() = default;  // ~Exposer stops civetweb and joins its threads

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& listen,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  if (absl::Status valid = ValidateMetricsListen(listen); !valid.ok()) return valid;
  std::unique_ptr<prometheus::Exposer> exposer;
  std::vector<int> ports;
  // civetweb reports a failed bind by throwing (CivetException); our code throws nothing.
  try {
    exposer = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/2);
    for (const auto& collectable : collectables) exposer->RegisterCollectable(collectable);
    ports = exposer->GetListeningPorts();
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, " (address in use?): ", e.what()));
  }
  if (ports.empty() || ports[0] <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen));
  }
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(std::move(exposer), ports[0]));
}

}  // namespace gdaqd::common
