#include "server/algorithms/imagined_task.h"

#include <algorithm>
#include <array>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/ant_tasks.h"
#include "common/logging.h"
#include "common/point_maze.h"

namespace gdaqd::server {
namespace {

class PointMazeImagined final : public models::ImaginedTask {
 public:
  explicit PointMazeImagined(const common::TaskSpec& spec) : spec_(spec) {}
  int descriptor_dim() const override { return 2; }
  void Step(absl::Span<const float> obs, absl::Span<const float> /*actions*/,
            absl::Span<const float> next_obs, absl::Span<float> reward,
            absl::Span<uint8_t> terminated) const override {
    DCHECK_EQ(obs.size(), next_obs.size());
    for (size_t b = 0; b < reward.size(); ++b) {
      const std::array<float, 2> pos = {next_obs[2 * b], next_obs[2 * b + 1]};
      reward[b] = common::PointMazeReward(pos);
      terminated[b] = common::PointMazeInGoal(pos) ? 1 : 0;
    }
  }
  void Descriptor(absl::Span<const float> obs, absl::Span<float> out) const override {
    for (size_t i = 0; i < out.size(); ++i) {
      const size_t d = i % 2;
      out[i] = std::clamp(obs[i], spec_.descriptor_low[d], spec_.descriptor_high[d]);
    }
  }

 private:
  const common::TaskSpec spec_;
};

class AntImagined final : public models::ImaginedTask {
 public:
  explicit AntImagined(common::AntTask task) : task_(task) {}
  int descriptor_dim() const override { return 2; }
  void Step(absl::Span<const float> obs, absl::Span<const float> actions,
            absl::Span<const float> next_obs, absl::Span<float> reward,
            absl::Span<uint8_t> terminated) const override {
    constexpr int kObs = common::kAntObsDim;
    constexpr int kAct = common::kAntActionDim;
    for (size_t b = 0; b < reward.size(); ++b) {
      const common::AntState before =
          common::AntStateFromObservation(task_, obs.subspan(b * kObs, kObs));
      const common::AntState after =
          common::AntStateFromObservation(task_, next_obs.subspan(b * kObs, kObs));
      reward[b] = common::AntReward(task_, before, after, actions.subspan(b * kAct, kAct));
      terminated[b] = common::AntTerminated(task_, after) ? 1 : 0;
    }
  }
  void Descriptor(absl::Span<const float> obs, absl::Span<float> out) const override {
    constexpr int kObs = common::kAntObsDim;
    for (size_t b = 0; b < out.size() / 2; ++b) {
      common::AntDescriptor(task_,
                            common::AntStateFromObservation(task_, obs.subspan(b * kObs, kObs)),
                            out.subspan(2 * b, 2));
    }
  }

 private:
  const common::AntTask task_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<models::ImaginedTask>> MakeImaginedTask(
    const common::TaskSpec& spec) {
  if (spec.name == "point_maze") return std::make_unique<PointMazeImagined>(spec);
  if (std::optional<common::AntTask> ant = common::AntTaskFromName(spec.name)) {
    return std::make_unique<AntImagined>(*ant);
  }
  return absl::UnimplementedError(
      absl::StrCat("task '", spec.name, "' has no observation-level reward for imagination"));
}

}  // namespace gdaqd::server
