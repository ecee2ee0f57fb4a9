// Test helpers for /metrics: a plain HTTP GET over a loopback socket and a parser of the
// Prometheus text exposition format (0.0.4: "# TYPE" lines and samples), so tests can check
// metric names, types, labels and values the way Prometheus would read them.
#ifndef GDAQD_TESTS_TESTING_PROMETHEUS_TEXT_H_
#define GDAQD_TESTS_TESTING_PROMETHEUS_TEXT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace gdaqd::testing {

// One sample line: `name{labels} value`.
struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// A parsed exposition. `types` maps each family name to its "# TYPE" (counter, gauge, histogram,
// summary, untyped).
struct PromExposition {
  std::map<std::string, std::string> types;
  std::vector<PromSample> samples;

  // Samples named `name` whose labels include every pair of `labels`.
  std::vector<PromSample> Find(const std::string& name,
                               const std::map<std::string, std::string>& labels = {}) const {
    std::vector<PromSample> out;
    for (const PromSample& sample : samples) {
      if (sample.name != name) continue;
      bool match = true;
      for (const auto& [key, value] : labels) {
        auto it = sample.labels.find(key);
        match = match && it != sample.labels.end() && it->second == value;
      }
      if (match) out.push_back(sample);
    }
    return out;
  }
  // The value of the one sample named `name` with exactly `labels`; NotFound if there is none.
  absl::StatusOr<double> Value(const std::string& name,
                               const std::map<std::string, std::string>& labels = {}) const {
    for (const PromSample& sample : samples) {
      if (sample.name == name && sample.labels == labels) return sample.value;
    }
    return absl::NotFoundError(absl::StrCat("no sample ", name));
  }
};

namespace internal {

// Reads a quoted label value starting after the opening quote; advances `text` past the closing
// quote. Escapes: \\, \", \n.
inline bool ReadQuoted(absl::string_view& text, std::string* out) {
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      text.remove_prefix(i + 1);
      return true;
    }
    if (c == '\\' && i + 1 < text.size()) {
      const char next = text[++i];
      out->push_back(next == 'n' ? '\n' : next);
    } else {
      out->push_back(c);
    }
  }
  return false;
}

inline absl::Status ParseSample(absl::string_view line, PromSample* sample) {
  const absl::Status malformed =
      absl::InvalidArgumentError(absl::StrCat("malformed sample line: ", line));
  size_t end = line.find_first_of("{ ");
  if (end == absl::string_view::npos || end == 0) return malformed;
  sample->name = std::string(line.substr(0, end));
  line.remove_prefix(end);
  if (absl::ConsumePrefix(&line, "{")) {
    while (!absl::ConsumePrefix(&line, "}")) {
      const size_t eq = line.find("=\"");
      if (eq == absl::string_view::npos || eq == 0) return malformed;
      const std::string key(line.substr(0, eq));
      line.remove_prefix(eq + 2);
      std::string value;
      if (!ReadQuoted(line, &value)) return malformed;
      if (!sample->labels.emplace(key, value).second) return malformed;  // duplicate label
      absl::ConsumePrefix(&line, ",");
    }
  }
  line = absl::StripLeadingAsciiWhitespace(line);
  const std::string value(line.substr(0, line.find(' ')));  // a timestamp may follow
  char* parsed_end = nullptr;
  sample->value = std::strtod(value.c_str(), &parsed_end);  // also NaN, +Inf, -Inf
  if (value.empty() || parsed_end != value.c_str() + value.size()) return malformed;
  return absl::OkStatus();
}

}  // namespace internal

// Parses the text format. InvalidArgument for a line that is neither a comment nor a sample, a
// TYPE line without a type, or a family TYPEd twice.
inline absl::StatusOr<PromExposition> ParsePrometheusText(absl::string_view text) {
  PromExposition out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (parts.size() != 2 || !out.types.emplace(parts[0], parts[1]).second) {
        return absl::InvalidArgumentError(absl::StrCat("bad TYPE line: ", line));
      }
      continue;
    }
    if (absl::StartsWith(line, "#")) continue;  // HELP and other comments
    PromSample sample;
    if (absl::Status status = internal::ParseSample(line, &sample); !status.ok()) return status;
    out.samples.push_back(std::move(sample));
  }
  return out;
}

// GET http://127.0.0.1:`port``path` (HTTP/1.0, so the body is not chunked). Returns the body of a
// 200 response; Unavailable if the connection fails, Internal for any other status line.
inline absl::StatusOr<std::string> HttpGet(int port, const std::string& path,
                                           absl::Duration timeout = absl::Seconds(10)) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  absl::Status status = absl::OkStatus();
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    status = absl::UnavailableError(absl::StrCat("cannot connect to 127.0.0.1:", port));
  } else {
    const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      status = absl::UnavailableError("send() failed");
    }
    char buffer[8192];
    ssize_t n = 0;
    while (status.ok() && (n = recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
    if (status.ok() && n < 0) status = absl::DeadlineExceededError("recv() failed or timed out");
  }
  close(fd);
  if (!status.ok()) return status;
  const size_t header_end = response.find("\r\n\r\n");
  if (!absl::StartsWith(response, "HTTP/1.") || header_end == std::string::npos ||
      response.substr(9, 3) != "200") {
    return absl::InternalError(absl::StrCat("GET ", path, ": ", response.substr(0, 200)));
  }
  return response.substr(header_end + 4);
}

}  // namespace gdaqd::testing

#endif  // GDAQD_TESTS_TESTING_PROMETHEUS_TEXT_H_
