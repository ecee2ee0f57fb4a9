#include "worker/sim/mujoco_tasks.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "common/ant_tasks.h"
#include "common/status_macros.h"
#include "common/task.h"
#include "worker/sim/mujoco_env.h"
#include "worker/sim/mujoco_handlers.h"

namespace gdaqd::worker {
namespace {

absl::StatusOr<std::unique_ptr<common::Environment>> MakeAntEnvironment(
    const common::TaskSpec& spec) {
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<MujocoAntEnvironment> env,
                         MujocoAntEnvironment::Create(spec));
  return std::unique_ptr<common::Environment>(std::move(env));
}

}  // namespace

void RegisterMujocoTasks() {
  InstallMujocoHandlers();
  for (const char* task : {common::kAntTrapName, common::kAntMazeName, common::kAntOmniName}) {
    common::RegisterEnvironmentFactory(task, MakeAntEnvironment);
  }
}

}  // namespace gdaqd::worker
