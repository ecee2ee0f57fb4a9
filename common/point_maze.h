// PointMaze (QDax qdax/environments/pointmaze.py): a kinematic 2-D point in [-1, 1]^2 with two
// horizontal walls, rewarded for approaching a goal it reaches only by a detour. The action map
// is a choice (PointMazeActionMap): QDax v0.1.0's, the paper's and the default, or QDax v0.2.0's.
// The exact rules are in research/tasks.md §1; PointMazeStep() implements §1.2.
#ifndef GDAQD_COMMON_POINT_MAZE_H_
#define GDAQD_COMMON_POINT_MAZE_H_

#include <array>
#include <cstdint>

#include "absl/types/span.h"
#include "common/task.h"

namespace gdaqd::common {

inline constexpr char kPointMazeName[] = "point_maze";
inline constexpr int kPointMazeDefaultEpisodeLength = 250;
// Per-step QD-score offset: the distance from (1, -1) to the goal, the largest possible.
inline constexpr double kPointMazeRewardOffset = 2.3431;
// Goal centre; the goal zone is the closed square of side 0.1 around it.
inline constexpr float kPointMazeGoalX = -0.5f;
inline constexpr float kPointMazeGoalY = 0.8f;

// The point_maze spec: obs (x, y), action 2-D, descriptor (x, y) in [-1, 1]^2, the two walls as
// capsules of radius 0.005. Precondition (CHECKed): episode_length >= 1.
TaskSpec PointMazeSpec(int episode_length);

// One step of the dynamics from `pos` (x, y) under a raw policy action, in this order:
// map each action component to a displacement with `map` (kClip01: clip to [-0.1, 0.1];
// kClip1Divide10: clip to [-1, 1], then divide by 10); propose pos + displacement; apply the lower
// wall rules, then the upper wall rules on the y they produced (x is never corrected, the point
// slides along walls); clip x and y to [-1, 1]. A move with no y change never touches a wall (the
// crossing-point division is skipped). Returns the new position. NaN inputs give NaN outputs
// under either map.
std::array<float, 2> PointMazeStep(std::array<float, 2> pos, std::array<float, 2> raw_action,
                                   PointMazeActionMap map);

// -|pos - goal|_2, the reward of a step that ends at `pos`.
float PointMazeReward(std::array<float, 2> pos);

// Whether `pos` is in the goal zone |x + 0.5| <= 0.05 and |y - 0.8| <= 0.05, edges included
// (edges computed as in QDax: float(-0.5 -+ 0.05), float(0.8 -+ 0.05)).
bool PointMazeInGoal(std::array<float, 2> pos);

// The PointMaze environment. Observation = descriptor = (x, y); reward and termination from the
// position after the step. Single-thread (see Environment).
class PointMaze final : public Environment {
 public:
  // Steps with `action_map`. Precondition (CHECKed): episode_length >= 1. Use
  // MakeEnvironment() for validated input.
  PointMaze(int episode_length, PointMazeActionMap action_map);

  const TaskSpec& spec() const override { return spec_; }

  // Start position from std::mt19937_64(seed): first draw x0 ~ U(-0.1, 0.1), second draw
  // y0 ~ U(-1, -0.7), each from the top 24 bits of one 64-bit draw (u in [0, 1):
  // x0 = (2u - 1) / 10, y0 = -1 + 0.3u). Same seed, same start.
  void Reset(uint64_t seed, absl::Span<float> obs) override;

  // Resets to an arbitrary position (tests, visualisations). No validation: positions outside
  // the arena are clipped by the next step.
  void ResetToPosition(std::array<float, 2> pos, absl::Span<float> obs);

  // PointMazeStep() with action_map() from the current position. terminated when the new position
  // is in the goal zone; diverged when it is not finite (only possible with a NaN action).
  StepResult Step(absl::Span<const float> action, absl::Span<float> next_obs) override;

  // (x, y) clipped to [-1, 1]^2.
  void Descriptor(absl::Span<float> out) const override;

  std::array<float, 2> position() const { return pos_; }
  PointMazeActionMap action_map() const { return action_map_; }

 private:
  TaskSpec spec_;
  PointMazeActionMap action_map_;
  std::array<float, 2> pos_ = {0.0f, 0.0f};  // (x, y), current position
};

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_POINT_MAZE_H_
