// Plugs the MuJoCo ant tasks into the task registry of common/task.h. Programs that simulate ants
// (gdaqd-worker, the gdaqd CLI for replays, benchmarks, tests) call RegisterMujocoTasks() once at
// start-up; programs that do not link MuJoCo (the coordinator) still know the ant tasks' specs,
// and MakeEnvironment() there returns FailedPrecondition.
#ifndef GDAQD_WORKER_SIM_MUJOCO_TASKS_H_
#define GDAQD_WORKER_SIM_MUJOCO_TASKS_H_

namespace gdaqd::worker {

// Installs the MuJoCo error/warning handlers (mujoco_handlers.h) and registers the factories of
// ant_trap, ant_maze and ant_omni (MujocoAntEnvironment on the task's shared model). Models are
// compiled lazily, by the first environment of each task. Idempotent; thread-safe.
void RegisterMujocoTasks();

}  // namespace gdaqd::worker

#endif  // GDAQD_WORKER_SIM_MUJOCO_TASKS_H_
