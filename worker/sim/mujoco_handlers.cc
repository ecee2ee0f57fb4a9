#include "worker/sim/mujoco_handlers.h"

#include <mujoco/mujoco.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/base/call_once.h"
#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"

namespace gdaqd::worker {
namespace {

std::atomic<int64_t> warning_count{0};
ABSL_CONST_INIT absl::Mutex last_warning_mu(absl::kConstInit);
// Heap-allocated and never freed: MuJoCo may warn during static destruction.
std::string* last_warning ABSL_GUARDED_BY(last_warning_mu) = nullptr;

void OnMujocoError(const char* message) {
  LOG(FATAL) << "MuJoCo error: " << message;  // aborts
}

void OnMujocoWarning(const char* message) {
  const int64_t count = ++warning_count;
  {
    absl::MutexLock lock(&last_warning_mu);
    if (last_warning == nullptr) last_warning = new std::string();
    *last_warning = message;
  }
  LOG_EVERY_N_SEC(WARNING, 10) << "MuJoCo warning count=" << count << ": " << message;
}

}  // namespace

void InstallMujocoHandlers() {
  static absl::once_flag once;
  absl::call_once(once, [] {
    mju_user_error = OnMujocoError;
    mju_user_warning = OnMujocoWarning;
  });
}

int64_t MujocoWarningCount() { return warning_count.load(); }

std::string LastMujocoWarning() {
  absl::MutexLock lock(&last_warning_mu);
  return last_warning == nullptr ? std::string() : *last_warning;
}

}  // namespace gdaqd::worker
