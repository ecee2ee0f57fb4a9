#include "common/ant_tasks.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string_view>

#include "absl/types/span.h"
#include "common/logging.h"
#include "common/task.h"

namespace gdaqd::common {
namespace {

// Everything that differs between the tasks, in one row per task.
struct AntTaskParams {
  const char* name;
  int default_episode_length;
  double reward_offset;
  std::array<float, 2> box_low;  // descriptor box, metres
  std::array<float, 2> box_high;
  // Observation normalisation: obs[i] = (pos[i] - centre[i]) / scale[i], i in {x, y}.
  std::array<double, 2> obs_centre;
  std::array<double, 2> obs_scale;
  double max_z;  // terminates when torso z > max_z (or < kMinZ)
};

// Brax ant's healthy_z_range lower end, also Gymnasium's.
constexpr double kMinZ = 0.2;

// Bound on the torso's horizontal speed, m/s, from which the reward bounds of ant_trap (its
// forward-velocity term) and ant_maze (how far the torso can get from the goal) follow. Policies
// trained in Brax and MuJoCo run the ant at well under 10 m/s: its eight 150 N·m motors cannot
// push it faster. 100 m/s is ten times that, so only a simulation blow-up that stayed finite
// could exceed it, and such a result is better refused than inserted.
constexpr double kMaxTorsoSpeed = 100.0;
// Largest control cost 0.5 * sum(clip(a)^2) over kAntActionDim controls in [-1, 1].
constexpr double kMaxControlCost = 0.5 * kAntActionDim;
// The torso starts at the origin (qpos0), 35 m from ant_maze's goal.
constexpr double kMazeStartDistance = 35.0;

constexpr AntTaskParams kTrapParams = {.name = kAntTrapName,
                                       .default_episode_length = kAntTrapDefaultEpisodeLength,
                                       .reward_offset = kAntTrapRewardOffset,
                                       .box_low = {0.0f, -8.0f},
                                       .box_high = {30.0f, 8.0f},
                                       .obs_centre = {15.0, 0.0},
                                       .obs_scale = {15.0, 8.0},
                                       .max_z = 1.0};
// Maze: z <= 5 rather than 1 "to stop the ant suiciding by jumping" (QDax MazeWrapper).
constexpr AntTaskParams kMazeParams = {.name = kAntMazeName,
                                       .default_episode_length = kAntMazeDefaultEpisodeLength,
                                       .reward_offset = kAntMazeRewardOffset,
                                       .box_low = {-5.0f, -5.0f},
                                       .box_high = {40.0f, 40.0f},
                                       .obs_centre = {17.5, 17.5},
                                       .obs_scale = {22.5, 22.5},
                                       .max_z = 5.0};
constexpr AntTaskParams kOmniParams = {.name = kAntOmniName,
                                       .default_episode_length = kAntOmniDefaultEpisodeLength,
                                       .reward_offset = kAntOmniRewardOffset,
                                       .box_low = {-30.0f, -30.0f},
                                       .box_high = {30.0f, 30.0f},
                                       .obs_centre = {0.0, 0.0},
                                       .obs_scale = {30.0, 30.0},
                                       .max_z = 1.0};

const AntTaskParams& Params(AntTask task) {
  switch (task) {
    case AntTask::kTrap:
      return kTrapParams;
    case AntTask::kMaze:
      return kMazeParams;
    case AntTask::kOmni:
      return kOmniParams;
  }
  LOG(FATAL) << "invalid AntTask " << static_cast<int>(task);
}

// U-trap open toward the ant (research/tasks.md §2.3): the closing wall, then the side walls.
constexpr Obstacle kTrapWalls[] = {
    {12.0f, -2.0f, 12.0f, 2.0f, kAntWallRadius},
    {7.0f, 3.0f, 12.0f, 3.0f, kAntWallRadius},
    {7.0f, -3.0f, 12.0f, -3.0f, kAntWallRadius},
};

// Maze (research/tasks.md §2.4): four borders, the wall between start and goal, the pocket's lid,
// the wall hanging from the top border.
constexpr Obstacle kMazeWalls[] = {
    {-5.0f, -5.0f, 40.0f, -5.0f, kAntWallRadius},    // bottom border
    {-5.0f, 40.0f, 40.0f, 40.0f, kAntWallRadius},    // top border
    {-5.0f, -4.0f, -5.0f, 39.0f, kAntWallRadius},    // left border
    {40.0f, -4.0f, 40.0f, 39.0f, kAntWallRadius},    // right border
    {20.0f, -4.0f, 20.0f, 19.0f, kAntWallRadius},    // separates start from goal
    {11.0f, 7.5f, 19.0f, 7.5f, kAntWallRadius},      // pocket lid
    {10.0f, 20.75f, 10.0f, 39.25f, kAntWallRadius},  // from the top border
};

}  // namespace

std::string_view AntTaskName(AntTask task) { return Params(task).name; }

std::optional<AntTask> AntTaskFromName(std::string_view name) {
  for (AntTask task : {AntTask::kTrap, AntTask::kMaze, AntTask::kOmni}) {
    if (name == Params(task).name) return task;
  }
  return std::nullopt;
}

absl::Span<const Obstacle> AntWalls(AntTask task) {
  switch (task) {
    case AntTask::kTrap:
      return kTrapWalls;
    case AntTask::kMaze:
      return kMazeWalls;
    case AntTask::kOmni:
      return {};
  }
  LOG(FATAL) << "invalid AntTask " << static_cast<int>(task);
}

TaskSpec AntSpec(AntTask task, int episode_length) {
  CHECK_GE(episode_length, 1);
  const AntTaskParams& params = Params(task);
  TaskSpec spec;
  spec.name = params.name;
  spec.obs_dim = kAntObsDim;
  spec.action_dim = kAntActionDim;
  spec.descriptor_dim = kAntDescriptorDim;
  spec.episode_length = episode_length;
  spec.descriptor_low.assign(params.box_low.begin(), params.box_low.end());
  spec.descriptor_high.assign(params.box_high.begin(), params.box_high.end());
  spec.reward_offset = params.reward_offset;
  // Bounds of AntReward(); see kMaxTorsoSpeed. The velocity term (x' - x) / dt is at most the
  // speed; the torso is never farther from the maze's goal than where it started plus the
  // distance it can cover in the whole episode.
  switch (task) {
    case AntTask::kTrap:
      spec.min_step_reward = -kMaxTorsoSpeed + 1.0 - kMaxControlCost;
      spec.max_step_reward = kMaxTorsoSpeed + 1.0;
      break;
    case AntTask::kMaze:
      spec.min_step_reward =
          -(kMazeStartDistance + kMaxTorsoSpeed * kAntControlDt * episode_length);
      spec.max_step_reward = 0.0;
      break;
    case AntTask::kOmni:
      spec.min_step_reward = 1.0 - kMaxControlCost;
      spec.max_step_reward = 1.0;
      break;
  }
  const absl::Span<const Obstacle> walls = AntWalls(task);
  spec.obstacles.assign(walls.begin(), walls.end());
  return spec;
}

TaskSpec AntTrapSpec(int episode_length) { return AntSpec(AntTask::kTrap, episode_length); }
TaskSpec AntMazeSpec(int episode_length) { return AntSpec(AntTask::kMaze, episode_length); }
TaskSpec AntOmniSpec(int episode_length) { return AntSpec(AntTask::kOmni, episode_length); }

int AntDefaultEpisodeLength(AntTask task) { return Params(task).default_episode_length; }

AntState AntStateFromQpos(absl::Span<const double> qpos) {
  DCHECK_EQ(qpos.size(), static_cast<size_t>(kAntNq));
  return {qpos[0], qpos[1], qpos[2]};
}

AntState AntStateFromObservation(AntTask task, absl::Span<const float> obs) {
  DCHECK_EQ(obs.size(), static_cast<size_t>(kAntObsDim));
  const AntTaskParams& params = Params(task);
  return {obs[0] * params.obs_scale[0] + params.obs_centre[0],
          obs[1] * params.obs_scale[1] + params.obs_centre[1], obs[2]};
}

void AntObservation(AntTask task, absl::Span<const double> qpos, absl::Span<const double> qvel,
                    absl::Span<float> obs) {
  DCHECK_EQ(qpos.size(), static_cast<size_t>(kAntNq));
  DCHECK_EQ(qvel.size(), static_cast<size_t>(kAntNv));
  DCHECK_EQ(obs.size(), static_cast<size_t>(kAntObsDim));
  const AntTaskParams& params = Params(task);
  obs[0] = static_cast<float>((qpos[0] - params.obs_centre[0]) / params.obs_scale[0]);
  obs[1] = static_cast<float>((qpos[1] - params.obs_centre[1]) / params.obs_scale[1]);
  float* out = obs.data() + 2;
  for (int i = 2; i < kAntNq; ++i) *out++ = static_cast<float>(qpos[i]);
  for (int i = 0; i < kAntNv; ++i) *out++ = static_cast<float>(qvel[i]);
}

float ClipAntControl(float action) { return std::clamp(action, -1.0f, 1.0f); }

float AntReward(AntTask task, const AntState& before, const AntState& after,
                absl::Span<const float> action) {
  DCHECK_EQ(action.size(), static_cast<size_t>(kAntActionDim));
  if (task == AntTask::kMaze) {
    return static_cast<float>(-std::hypot(after.x - kAntMazeGoalX, after.y - kAntMazeGoalY));
  }
  double control_cost = 0;
  for (float a : action) {
    const double clipped = ClipAntControl(a);
    control_cost += clipped * clipped;
  }
  control_cost *= 0.5;
  // Brax/Gymnasium's healthy reward: 1 per step while the episode runs.
  double reward = 1.0 - control_cost;
  if (task == AntTask::kTrap) reward += (after.x - before.x) / kAntControlDt;
  return static_cast<float>(reward);
}

bool AntTerminated(AntTask task, const AntState& state) {
  // Written so that NaN compares false and terminates.
  return !(state.z >= kMinZ && state.z <= Params(task).max_z);
}

void AntDescriptor(AntTask task, const AntState& state, absl::Span<float> out) {
  DCHECK_EQ(out.size(), static_cast<size_t>(kAntDescriptorDim));
  const AntTaskParams& params = Params(task);
  // Round first, then clip with the float bounds, so the result lies in the spec's box exactly.
  // std::clamp keeps NaN.
  out[0] = std::clamp(static_cast<float>(state.x), params.box_low[0], params.box_high[0]);
  out[1] = std::clamp(static_cast<float>(state.y), params.box_low[1], params.box_high[1]);
}

}  // namespace gdaqd::common
