// The MuJoCo ant tasks (ant_trap, ant_maze, ant_omni) as pure functions of the ant's state, so
// that the worker (real MuJoCo states) and the coordinator (states predicted by a dynamics model)
// compute rewards, terminations, descriptors and observations with the same code. Nothing here
// depends on MuJoCo; the simulator lives in worker/sim/ (mujoco_env.h, ant_model.h).
//
// Sources: research/tasks.md §2 (QDax TrapWrapper/MazeWrapper geometry and rewards), §3
// (Gymnasium Ant-v4 model and observation), DESIGN.md §4 (the table these functions implement).
//
// Units: positions in metres in the world frame (x forward, z up), angles in radians,
// velocities in m/s and rad/s, one control step = kAntControlDt seconds.
#ifndef GDAQD_COMMON_ANT_TASKS_H_
#define GDAQD_COMMON_ANT_TASKS_H_

#include <optional>
#include <string_view>

#include "absl/types/span.h"
#include "common/task.h"

namespace gdaqd::common {

// The three ant tasks. They share the robot and differ in walls, reward, termination, descriptor
// box, observation normalisation and default episode length.
enum class AntTask { kTrap, kMaze, kOmni };

inline constexpr char kAntTrapName[] = "ant_trap";
inline constexpr char kAntMazeName[] = "ant_maze";
inline constexpr char kAntOmniName[] = "ant_omni";

// MuJoCo sizes of the ant (Gymnasium ant.xml): qpos = torso position (3), torso orientation
// quaternion (w, x, y, z) (4), 8 joint angles; qvel = torso linear velocity (3, world frame),
// torso angular velocity (3, body frame), 8 joint velocities. Joint order in qpos/qvel:
// hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3, hip_4, ankle_4.
inline constexpr int kAntNq = 15;
inline constexpr int kAntNv = 14;
// Actions are the 8 motor controls in actuator order (Gymnasium's, not the qpos order):
// hip_4, ankle_4, hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3. Each is clipped to [-1, 1]
// (the actuators' ctrlrange); the torque is 150 (gear) times the clipped control, in N·m.
inline constexpr int kAntActionDim = 8;
// Observation: [normalised x, normalised y] ++ qpos[2:15] ++ qvel[0:14] (Gymnasium Ant-v4's 27-D
// observation with the torso's xy prepended, as in QDax's XYPositionWrapper).
inline constexpr int kAntObsDim = 2 + (kAntNq - 2) + kAntNv;  // 29
inline constexpr int kAntDescriptorDim = 2;

// Physics timing: MuJoCo steps of kAntTimestep seconds (RK4), kAntFrameSkip per control step.
inline constexpr double kAntTimestep = 0.01;  // seconds
inline constexpr int kAntFrameSkip = 5;
inline constexpr double kAntControlDt = 0.05;  // seconds, kAntTimestep * kAntFrameSkip

// Default episode lengths (control steps): research/tasks.md §2.7.
inline constexpr int kAntTrapDefaultEpisodeLength = 250;
inline constexpr int kAntMazeDefaultEpisodeLength = 500;
inline constexpr int kAntOmniDefaultEpisodeLength = 250;

// Per-step QD-score offsets (QDax): DESIGN.md §4.
inline constexpr double kAntTrapRewardOffset = 3.38;
inline constexpr double kAntMazeRewardOffset = 40.32;
inline constexpr double kAntOmniRewardOffset = 3.0;

// ant_maze's goal, metres.
inline constexpr double kAntMazeGoalX = 35.0;
inline constexpr double kAntMazeGoalY = 0.0;

// Walls are vertical capsules: segment (x0, y0)-(x1, y1) at height kAntWallZ, radius
// kAntWallRadius, so they stand on the floor and are 1 m high.
inline constexpr double kAntWallZ = 0.5;       // metres
inline constexpr float kAntWallRadius = 0.5f;  // metres

// The task's name ("ant_trap", ...).
std::string_view AntTaskName(AntTask task);
// The task called `name`, or nullopt if `name` is not an ant task.
std::optional<AntTask> AntTaskFromName(std::string_view name);

// The walls of `task` (research/tasks.md §2.3 for the trap, §2.4 for the maze; none for
// ant_omni), in metres. The MJCF model (worker/sim/ant_model.h) builds its wall geoms from this
// same list, so the pictures and the physics cannot disagree.
absl::Span<const Obstacle> AntWalls(AntTask task);

// The specs: obs 29, action 8, descriptor 2 (final torso xy, clipped to the box), the task's
// box, reward offset and walls. Precondition (CHECKed): episode_length >= 1.
//   ant_trap: box [0, 30] x [-8, 8], offset 3.38, the 3 walls of the U-trap.
//   ant_maze: box [-5, 40]^2, offset 40.32, the 7 maze walls.
//   ant_omni: box [-30, 30]^2, offset 3.0, no walls.
TaskSpec AntTrapSpec(int episode_length);
TaskSpec AntMazeSpec(int episode_length);
TaskSpec AntOmniSpec(int episode_length);
TaskSpec AntSpec(AntTask task, int episode_length);
// The default episode length of `task` (250, 500, 250).
int AntDefaultEpisodeLength(AntTask task);

// What rewards, terminations and descriptors read of a state: the torso's (root body's)
// position, metres, world frame (MuJoCo qpos[0..2]; the torso's centre, not the floor contact).
struct AntState {
  double x = 0;
  double y = 0;
  double z = 0;
};

// The torso position of a MuJoCo ant state. Precondition (DCHECKed): qpos.size() == kAntNq.
AntState AntStateFromQpos(absl::Span<const double> qpos);

// The torso position encoded in an observation of `task` (inverts the xy normalisation; z is
// obs[2]), e.g. for states predicted by a dynamics model. Precondition (DCHECKed):
// obs.size() == kAntObsDim.
AntState AntStateFromObservation(AntTask task, absl::Span<const float> obs);

// Writes the observation of the state (qpos, qvel): obs[0..1] = normalised torso (x, y),
// obs[2..14] = qpos[2..14], obs[15..28] = qvel. Normalisation (so the arena maps to about
// [-1, 1]): ant_trap ((x - 15) / 15, y / 8); ant_maze ((x - 17.5) / 22.5, (y - 17.5) / 22.5);
// ant_omni (x / 30, y / 30). Preconditions (DCHECKed): qpos.size() == kAntNq,
// qvel.size() == kAntNv, obs.size() == kAntObsDim.
void AntObservation(AntTask task, absl::Span<const double> qpos, absl::Span<const double> qvel,
                    absl::Span<float> obs);

// An action component clipped to the actuators' ctrlrange [-1, 1]; NaN stays NaN.
float ClipAntControl(float action);

// The reward of one control step from `before` to `after` under the raw policy `action`
// ([kAntActionDim], clipped with ClipAntControl() before use), computed in double:
//   ant_trap: (after.x - before.x) / kAntControlDt + 1 - 0.5 * sum(clip(a)^2)
//   ant_maze: -|(after.x, after.y) - (35, 0)|_2
//   ant_omni: 1 - 0.5 * sum(clip(a)^2)
// No contact-cost term (as Gymnasium Ant-v4 with use_contact_forces=False). Precondition
// (DCHECKed): action.size() == kAntActionDim. Non-finite inputs give non-finite rewards.
float AntReward(AntTask task, const AntState& before, const AntState& after,
                absl::Span<const float> action);

// Whether `state` ends the episode: ant_trap and ant_omni when torso z is outside
// [0.2, 1.0] (the ant fell over or jumped), ant_maze when outside [0.2, 5.0]. A NaN z
// terminates.
bool AntTerminated(AntTask task, const AntState& state);

// Writes the descriptor of `state`: the torso (x, y) rounded to float and clipped to the task's
// box (edges included); NaN stays NaN. Precondition (DCHECKed): out.size() == 2.
void AntDescriptor(AntTask task, const AntState& state, absl::Span<float> out);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_ANT_TASKS_H_
