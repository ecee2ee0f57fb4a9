// What every benchmark prints around its table: the machine, the date, and a CSV beside it.
#ifndef GDAQD_BENCH_BENCH_UTIL_H_
#define GDAQD_BENCH_BENCH_UTIL_H_

#include <string>
#include <vector>

namespace gdaqd::bench {

// "2 cores, AMD EPYC 7B13, 23.5 GiB" from /proc.
std::string MachineDescription();
// UTC date and time, "2026-11-25 13:40 UTC".
std::string NowUtc();

// A table printed with aligned columns and written as CSV.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  // Markdown-style table (pastes into notes and docs as is).
  std::string ToText() const;
  // Writes header + rows as CSV; returns false on I/O error.
  bool WriteCsv(const std::string& path) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace gdaqd::bench

#endif  // GDAQD_BENCH_BENCH_UTIL_H_
