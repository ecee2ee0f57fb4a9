#include "common/logging.h"

namespace gdaqd::common {

void InitLogging(const char* argv0, int verbosity) {
  FLAGS_logtostderr = true;
  FLAGS_v = verbosity;
  google::InitGoogleLogging(argv0);
}

}  // namespace gdaqd::common
