#include "client/provenance.h"

#include <unistd.h>

#include <array>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace gdaqd::client {
namespace {

std::string CpuModel() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    // x86: "model name\t: ..."; some ARM kernels only have "Model\t\t: ...".
    if (absl::StartsWith(line, "model name") || absl::StartsWith(line, "Model")) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
  }
  return "unknown";
}

std::string JsonString(const std::string& text) {
  return absl::StrCat("\"", JsonEscape(text), "\"");
}

std::string JsonTime(absl::Time time) {
  if (time == absl::InfinitePast()) return "null";
  return JsonString(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone()));
}

}  // namespace

void FillMachineInfo(Provenance* provenance) {
  std::array<char, 256> host = {};
  if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  provenance->host = host.data();
  provenance->cpu_model = CpuModel();
  provenance->cpu_count = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
}

std::string JsonEscape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

std::string ProvenanceJson(const Provenance& p) {
  const bool have_both = p.start_time != absl::InfinitePast() && p.end_time != absl::InfinitePast();
  const std::string wall =
      have_both ? absl::StrFormat("%.3f", absl::ToDoubleSeconds(p.end_time - p.start_time))
                : "null";
  return absl::StrCat(
      "{\n  \"gdaqd_version\": ", JsonString(p.version),
      ",\n  \"git_commit\": ", JsonString(p.commit), ",\n  \"host\": ", JsonString(p.host),
      ",\n  \"cpu_model\": ", JsonString(p.cpu_model), ",\n  \"cpu_count\": ", p.cpu_count,
      ",\n  \"command\": ", JsonString(p.command),
      ",\n  \"coordinator\": ", JsonString(p.coordinator),
      ",\n  \"experiment_id\": ", JsonString(p.experiment_id),
      ",\n  \"final_state\": ", JsonString(p.final_state),
      ",\n  \"start_time\": ", JsonTime(p.start_time), ",\n  \"end_time\": ", JsonTime(p.end_time),
      ",\n  \"wall_seconds\": ", wall, "\n}\n");
}

}  // namespace gdaqd::client
