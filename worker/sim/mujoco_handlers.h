// The process-wide MuJoCo error and warning handlers (STYLE.md §6). MuJoCo reports through two
// global C function pointers, so each binary installs them once at start-up (through
// RegisterMujocoTasks()) before it loads any model.
#ifndef GDAQD_WORKER_SIM_MUJOCO_HANDLERS_H_
#define GDAQD_WORKER_SIM_MUJOCO_HANDLERS_H_

#include <cstdint>
#include <string>

namespace gdaqd::worker {

// Installs the handlers: mju_user_error logs the message and aborts (MuJoCo requires that it
// not return; its errors are programming errors such as a stack overflow), mju_user_warning
// counts every warning and logs at most one line per 10 s. Rollouts learn about divergence from
// their own mjData's warning counters, not from this handler. Idempotent; thread-safe.
void InstallMujocoHandlers();

// Warnings reported by MuJoCo through the handler since start-up (tests use the difference
// around a block of code). Thread-safe.
int64_t MujocoWarningCount();

// The text of the most recent warning, "" if none. Thread-safe.
std::string LastMujocoWarning();

}  // namespace gdaqd::worker

#endif  // GDAQD_WORKER_SIM_MUJOCO_HANDLERS_H_
