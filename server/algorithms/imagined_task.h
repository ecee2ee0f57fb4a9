// The per-step task functions of every registered task, on observations (models::ImaginedTask),
// built from the same common/ definitions the worker's environments use: what imagination scores
// predicted states with.
#ifndef GDAQD_SERVER_ALGORITHMS_IMAGINED_TASK_H_
#define GDAQD_SERVER_ALGORITHMS_IMAGINED_TASK_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/task.h"
#include "server/models/imagined_task.h"

namespace gdaqd::server {

// For point_maze (obs = position) and the ant tasks (obs[0..1] normalised torso x, y, obs[2]
// torso z; common/ant_tasks.h). Unimplemented for a task without observation-level functions.
absl::StatusOr<std::unique_ptr<models::ImaginedTask>> MakeImaginedTask(
    const common::TaskSpec& spec);

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_IMAGINED_TASK_H_
