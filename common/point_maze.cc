#include "common/point_maze.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>

#include "absl/types/span.h"
#include "common/logging.h"
#include "common/task.h"

namespace gdaqd::common {
namespace {

// QDax derives its thresholds from Python doubles and compares them with float32 positions, so
// each threshold below is the float nearest to QDax's double expression
// (x_min = y_min = -1, x_max = y_max = 1, wallwidth = 2 * 0.75, wallheight = 0.01).
constexpr float kArenaMin = -1.0f;
constexpr float kArenaMax = 1.0f;
constexpr float kClip01Bound = 0.1f;   // QDax v0.1.0: clip(action, -0.1, 0.1)
constexpr float kActionScale = 10.0f;  // QDax >= v0.2.0: clip(action, -1, 1) / scale_action_space
constexpr float kWallHeight = 0.01f;   // wall thickness in y (pictures only)
constexpr float kLowerWallY = -0.5f;   // lower_wall_height_offset: the wall's bottom face
constexpr float kLowerWallTop = static_cast<float>(-0.5 + 0.01);
constexpr float kLowerWallXMin = static_cast<float>(1.0 - 1.5);  // x_max - wallwidth
constexpr float kUpperWallY = 0.2f;  // upper_wall_height_offset: the wall's bottom face
constexpr float kUpperWallTop = static_cast<float>(0.2 + 0.01);
constexpr float kUpperWallXMax = static_cast<float>(-1.0 + 1.5);  // x_min + wallwidth
// Goal zone: centre (x_min + 0.5, y_max - 0.2), side zone_width = 0.1.
constexpr float kGoalXLow = static_cast<float>((-1.0 + 0.5) - 0.1 / 2);
constexpr float kGoalXHigh = static_cast<float>((-1.0 + 0.5) + 0.1 / 2);
constexpr float kGoalYLow = static_cast<float>((1.0 - 0.2) - 0.1 / 2);
constexpr float kGoalYHigh = static_cast<float>((1.0 - 0.2) + 0.1 / 2);
// Start: x0 ~ U(-1, 1) / 10, y0 ~ U(-1, -0.7).
constexpr float kStartYLow = -1.0f;
constexpr float kStartYSpan = 0.3f;

// x at which the segment (x_old, y_old) -> (x, y) crosses the line y = wall_y, with QDax's
// float32 operation order. Precondition: y != y_old (callers guard the division).
float CrossingX(float wall_y, float x_old, float y_old, float x, float y) {
  return (wall_y - y_old) / (y - y_old) * (x - x_old) + x_old;
}

// std::clamp keeps NaN, as jnp.clip does.
float Clip(float v, float lo, float hi) { return std::clamp(v, lo, hi); }

// One action component's displacement under `map`, with QDax's float32 operations.
float MapAction(float a, PointMazeActionMap map) {
  switch (map) {
    case PointMazeActionMap::kClip01:
      return Clip(a, -kClip01Bound, kClip01Bound);
    case PointMazeActionMap::kClip1Divide10:
      return Clip(a, -1.0f, 1.0f) / kActionScale;
  }
  LOG(FATAL) << "invalid PointMazeActionMap " << static_cast<int>(map);
}

// Uniform float in [0, 1) from the top 24 bits of one 64-bit draw (portable across
// standard libraries, unlike std::uniform_real_distribution).
float Uniform01(std::mt19937_64& rng) { return static_cast<float>(rng() >> 40) * 0x1.0p-24f; }

}  // namespace

TaskSpec PointMazeSpec(int episode_length) {
  CHECK_GE(episode_length, 1);
  TaskSpec spec;
  spec.name = kPointMazeName;
  spec.obs_dim = 2;
  spec.action_dim = 2;
  spec.descriptor_dim = 2;
  spec.episode_length = episode_length;
  spec.descriptor_low = {kArenaMin, kArenaMin};
  spec.descriptor_high = {kArenaMax, kArenaMax};
  spec.reward_offset = kPointMazeRewardOffset;
  // The reward is -|pos - goal| with pos clipped to [-1, 1]^2; the farthest point, (1, -1), is
  // 2.34307 from the goal, which kPointMazeRewardOffset (2.3431) rounds up.
  spec.min_step_reward = -kPointMazeRewardOffset;
  spec.max_step_reward = 0.0;
  // Each wall is the rectangle [x_lo, x_hi] x [y, y + 0.01]: a capsule of radius 0.005 on the
  // mid-line, its segment shortened by the radius at both ends.
  constexpr float kRadius = kWallHeight / 2;
  const float lower_mid = kLowerWallY + kRadius;
  const float upper_mid = kUpperWallY + kRadius;
  spec.obstacles = {
      {kLowerWallXMin + kRadius, lower_mid, kArenaMax - kRadius, lower_mid, kRadius},
      {kArenaMin + kRadius, upper_mid, kUpperWallXMax - kRadius, upper_mid, kRadius},
  };
  return spec;
}

std::array<float, 2> PointMazeStep(std::array<float, 2> pos, std::array<float, 2> raw_action,
                                   PointMazeActionMap map) {
  // 1. Action -> displacement.
  const float dx = MapAction(raw_action[0], map);
  const float dy = MapAction(raw_action[1], map);
  // 2. Proposed position.
  const float x_old = pos[0];
  const float y_old = pos[1];
  const float x = x_old + dx;
  float y = y_old + dy;

  // 3. Lower wall (attached to the right border). Both rules test contact where the segment
  // crosses y = -0.5. With y == y_old no rule can fire, so the division is skipped.
  {
    const float y_in = y;
    const bool contact =
        y_in != y_old && CrossingX(kLowerWallY, x_old, y_old, x, y_in) >= kLowerWallXMin;
    if (y_old <= kLowerWallY && y_in > kLowerWallY && contact) y = kLowerWallY;  // from below
    if (y_in < kLowerWallTop && y_old >= kLowerWallTop && y_old < kUpperWallY && contact) {
      y = kLowerWallTop;  // from above
    }
  }
  // 4. Upper wall (attached to the left border), on the y produced by step 3; contact where the
  // segment crosses y = 0.2.
  {
    const float y_in = y;
    const bool contact =
        y_in != y_old && CrossingX(kUpperWallY, x_old, y_old, x, y_in) <= kUpperWallXMax;
    if (y_old >= kUpperWallTop && y_in < kUpperWallTop && contact) y = kUpperWallTop;  // from above
    if (y_in > kUpperWallY && y_old <= kUpperWallY && y_old > kLowerWallY && contact) {
      y = kUpperWallY;  // from below
    }
  }
  // 5. x is never corrected by walls; clip both to the arena.
  return {Clip(x, kArenaMin, kArenaMax), Clip(y, kArenaMin, kArenaMax)};
}

float PointMazeReward(std::array<float, 2> pos) {
  const float dx = pos[0] - kPointMazeGoalX;
  const float dy = pos[1] - kPointMazeGoalY;
  return -std::sqrt(dx * dx + dy * dy);
}

bool PointMazeInGoal(std::array<float, 2> pos) {
  return kGoalXLow <= pos[0] && pos[0] <= kGoalXHigh && kGoalYLow <= pos[1] && pos[1] <= kGoalYHigh;
}

PointMaze::PointMaze(int episode_length, PointMazeActionMap action_map)
    : spec_(PointMazeSpec(episode_length)), action_map_(action_map) {}

void PointMaze::Reset(uint64_t seed, absl::Span<float> obs) {
  std::mt19937_64 rng(seed);
  const float x0 = (2.0f * Uniform01(rng) - 1.0f) / 10.0f;
  const float y0 = kStartYLow + kStartYSpan * Uniform01(rng);
  ResetToPosition({x0, y0}, obs);
}

void PointMaze::ResetToPosition(std::array<float, 2> pos, absl::Span<float> obs) {
  DCHECK_EQ(obs.size(), 2u);
  pos_ = pos;
  obs[0] = pos_[0];
  obs[1] = pos_[1];
}

StepResult PointMaze::Step(absl::Span<const float> action, absl::Span<float> next_obs) {
  DCHECK_EQ(action.size(), 2u);
  DCHECK_EQ(next_obs.size(), 2u);
  pos_ = PointMazeStep(pos_, {action[0], action[1]}, action_map_);
  next_obs[0] = pos_[0];
  next_obs[1] = pos_[1];
  StepResult result;
  result.reward = PointMazeReward(pos_);
  result.terminated = PointMazeInGoal(pos_);
  result.diverged = !std::isfinite(pos_[0]) || !std::isfinite(pos_[1]);
  return result;
}

void PointMaze::Descriptor(absl::Span<float> out) const {
  DCHECK_EQ(out.size(), 2u);
  out[0] = Clip(pos_[0], kArenaMin, kArenaMax);
  out[1] = Clip(pos_[1], kArenaMin, kArenaMax);
}

}  // namespace gdaqd::common
