#include "bench/bench_util.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gdaqd::bench {

std::string MachineDescription() {
  std::string cpu = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (absl::StartsWith(line, "model name")) {
      cpu = std::string(absl::StripAsciiWhitespace(line.substr(line.find(':') + 1)));
      break;
    }
  }
  double mem_gib = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    if (absl::StartsWith(line, "MemTotal:")) {
      mem_gib = std::stod(line.substr(9)) / (1024.0 * 1024.0);
      break;
    }
  }
  return absl::StrFormat("%ld cores, %s, %.1f GiB", sysconf(_SC_NPROCESSORS_ONLN), cpu, mem_gib);
}

std::string NowUtc() {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::Now(), absl::UTCTimeZone());
}

std::string Table::ToText() const {
  std::vector<size_t> width(header_.size(), 0);
  auto widen = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  widen(header_);
  for (const auto& row : rows_) widen(row);
  auto format = [&](const std::vector<std::string>& row) {
    std::string line = "|";
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      absl::StrAppend(&line, " ", cell, std::string(width[i] - cell.size(), ' '), " |");
    }
    return line + "\n";
  };
  std::string text = format(header_) + "|";
  for (size_t w : width) absl::StrAppend(&text, std::string(w + 2, '-'), "|");
  text += "\n";
  for (const auto& row : rows_) text += format(row);
  return text;
}

bool Table::WriteCsv(const std::string& path) const {
  std::ofstream out(path);
  out << absl::StrJoin(header_, ",") << "\n";
  for (const auto& row : rows_) out << absl::StrJoin(row, ",") << "\n";
  return static_cast<bool>(out);
}

}  // namespace gdaqd::bench
