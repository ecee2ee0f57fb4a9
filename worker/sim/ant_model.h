// The MuJoCo model of the ant tasks: our own MJCF, written from the published facts of
// Gymnasium's ant.xml (research/tasks.md §3.1), plus the task's walls as world capsules
// (common::AntWalls()). The XML is built in code, so there is no file to find at run time.
//
// Robot: torso sphere r 0.25 at (0, 0, 0.75) on a free joint; four legs of capsules r 0.08
// (hip link 0.2828 m, upper leg 0.2828 m, lower leg ("ankle") 0.5657 m); hips ±30°, ankles
// 30…70° or −70…−30°; joint armature 1, damping 1; density 5 (total mass 0.911 kg); 8 motors,
// gear 150, ctrlrange [−1, 1], in Gymnasium's actuator order (common/ant_tasks.h). Options:
// timestep 0.01 s, RK4.
//
// Collisions: the ant's parts never touch each other (conaffinity 0). Floor: conaffinity 1.
// Walls: contype 0, conaffinity 2. Torso and the four lower legs: contype 3 (floor and walls);
// the other leg capsules: contype 1 (floor only). So walls add no collision work for the
// upper legs, mirroring Brax's collide_include (torso + lower legs).
#ifndef GDAQD_WORKER_SIM_ANT_MODEL_H_
#define GDAQD_WORKER_SIM_ANT_MODEL_H_

#include <mujoco/mujoco.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "worker/sim/mujoco_handles.h"

namespace gdaqd::worker {

// The complete MJCF text of `task` ("ant_trap", "ant_maze" or "ant_omni"): robot, floor and the
// task's walls. Returns InvalidArgument for any other name.
absl::StatusOr<std::string> AntModelXml(std::string_view task);

// Compiles MJCF text through an in-memory VFS. Returns InvalidArgument with mj_loadXML's error
// message if it does not compile. Thread-safe (loads are serialised).
absl::StatusOr<MjModelPtr> LoadModelFromXml(std::string_view xml);

// The model of `task`, compiled once per process and task and shared, read-only, by every
// environment and thread (MuJoCo allows concurrent mj_step on one const mjModel with one mjData
// per thread). Lives until the process exits. Errors as AntModelXml() and LoadModelFromXml();
// a failed load is retried on the next call. Thread-safe.
absl::StatusOr<std::shared_ptr<const mjModel>> SharedAntModel(std::string_view task);

}  // namespace gdaqd::worker

#endif  // GDAQD_WORKER_SIM_ANT_MODEL_H_
