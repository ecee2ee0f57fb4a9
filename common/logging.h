// Logging for every gdaqd binary and library (STYLE.md §11). Debian's abseil has no absl/log,
// so this wraps glog 0.6; the macro names (LOG, VLOG, CHECK, LOG_EVERY_N_SEC) match absl/log's so
// that switching later is a one-header change.
#ifndef GDAQD_COMMON_LOGGING_H_
#define GDAQD_COMMON_LOGGING_H_

#include <glog/logging.h>

// glog's LOG_EVERY_T declares statics, so it must stand in its own block: write
// `if (x) { LOG_EVERY_N_SEC(...) << ...; }`, never an unbraced `if`.
#ifndef LOG_EVERY_N_SEC
#define LOG_EVERY_N_SEC(severity, seconds) LOG_EVERY_T(severity, seconds)
#endif

namespace gdaqd::common {

// Initialises glog for a binary: logs go to stderr, `verbosity` sets VLOG level. Call once from
// main() before any other thread starts.
void InitLogging(const char* argv0, int verbosity);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_LOGGING_H_
