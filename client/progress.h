// The one-line progress display of `gdaqd run` and `gdaqd watch`.
#ifndef GDAQD_CLIENT_PROGRESS_H_
#define GDAQD_CLIENT_PROGRESS_H_

#include <cstdio>
#include <string>

#include "gdaqd/v1/coordinator.pb.h"

namespace gdaqd::client {

// "[########------------]  40% it 400 | evals 40,000/100,000 | QD 31.2% | cov 52.1% |
//  max -12.34 | 8,200 ev/s | 2 workers"
std::string FormatProgress(const gdaqd::v1::ExperimentStatus& status, int bar_width);

// Redraws one line in place on a terminal; elsewhere (logs, CI) prints a new line at most
// every 10 % of the budget or 30 s, and always the final state. Single-thread.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::FILE* out);
  void Update(const gdaqd::v1::ExperimentStatus& status);
  // Ends the line after the last update.
  void Finish();

 private:
  std::FILE* out_;
  bool tty_;
  int last_decile_ = -1;
  double last_print_s_ = -1e9;
  bool dirty_ = false;
};

// Thousands separators: 12345 -> "12,345".
std::string WithThousands(int64_t value);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_PROGRESS_H_
