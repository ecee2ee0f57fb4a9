#include "worker/sim/ant_model.h"

#include <mujoco/mujoco.h>

#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/ant_tasks.h"
#include "common/status_macros.h"
#include "worker/sim/mujoco_handles.h"

namespace gdaqd::worker {
namespace {

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Everything before the walls. Numbers: research/tasks.md §3.1 (Gymnasium ant.xml). Lower legs
// ("ankle" geoms) and the torso get contype 3 so they also hit the walls (conaffinity 2).
constexpr char kAntHead[] = R"(
  <compiler angle="degree" coordinate="local" inertiafromgeom="true"/>
  <option timestep="0.01" integrator="RK4"/>
  <default>
    <joint armature="1" damping="1" limited="true"/>
    <geom contype="1" conaffinity="0" condim="3" density="5.0" friction="1 0.5 0.5"
          margin="0.01" rgba="0.8 0.6 0.4 1"/>
  </default>
  <worldbody>
    <light cutoff="100" diffuse="1 1 1" dir="0 0 -1.3" directional="true" exponent="1"
           pos="0 0 1.3" specular=".1 .1 .1"/>
    <geom name="floor" type="plane" pos="0 0 0" size="40 40 40" conaffinity="1"
          rgba="0.8 0.9 0.8 1"/>
    <body name="torso" pos="0 0 0.75">
      <geom name="torso_geom" type="sphere" pos="0 0 0" size="0.25" contype="3"/>
      <joint name="root" type="free" pos="0 0 0" armature="0" damping="0" limited="false"
             margin="0.01"/>
      <body name="front_left_leg" pos="0 0 0">
        <geom name="aux_1_geom" type="capsule" fromto="0 0 0 0.2 0.2 0" size="0.08"/>
        <body name="aux_1" pos="0.2 0.2 0">
          <joint name="hip_1" type="hinge" pos="0 0 0" axis="0 0 1" range="-30 30"/>
          <geom name="left_leg_geom" type="capsule" fromto="0 0 0 0.2 0.2 0" size="0.08"/>
          <body pos="0.2 0.2 0">
            <joint name="ankle_1" type="hinge" pos="0 0 0" axis="-1 1 0" range="30 70"/>
            <geom name="left_ankle_geom" type="capsule" fromto="0 0 0 0.4 0.4 0" size="0.08"
                  contype="3"/>
          </body>
        </body>
      </body>
      <body name="front_right_leg" pos="0 0 0">
        <geom name="aux_2_geom" type="capsule" fromto="0 0 0 -0.2 0.2 0" size="0.08"/>
        <body name="aux_2" pos="-0.2 0.2 0">
          <joint name="hip_2" type="hinge" pos="0 0 0" axis="0 0 1" range="-30 30"/>
          <geom name="right_leg_geom" type="capsule" fromto="0 0 0 -0.2 0.2 0" size="0.08"/>
          <body pos="-0.2 0.2 0">
            <joint name="ankle_2" type="hinge" pos="0 0 0" axis="1 1 0" range="-70 -30"/>
            <geom name="right_ankle_geom" type="capsule" fromto="0 0 0 -0.4 0.4 0" size="0.08"
                  contype="3"/>
          </body>
        </body>
      </body>
      <body name="back_leg" pos="0 0 0">
        <geom name="aux_3_geom" type="capsule" fromto="0 0 0 -0.2 -0.2 0" size="0.08"/>
        <body name="aux_3" pos="-0.2 -0.2 0">
          <joint name="hip_3" type="hinge" pos="0 0 0" axis="0 0 1" range="-30 30"/>
          <geom name="back_leg_geom" type="capsule" fromto="0 0 0 -0.2 -0.2 0" size="0.08"/>
          <body pos="-0.2 -0.2 0">
            <joint name="ankle_3" type="hinge" pos="0 0 0" axis="-1 1 0" range="-70 -30"/>
            <geom name="third_ankle_geom" type="capsule" fromto="0 0 0 -0.4 -0.4 0" size="0.08"
                  contype="3"/>
          </body>
        </body>
      </body>
      <body name="right_back_leg" pos="0 0 0">
        <geom name="aux_4_geom" type="capsule" fromto="0 0 0 0.2 -0.2 0" size="0.08"/>
        <body name="aux_4" pos="0.2 -0.2 0">
          <joint name="hip_4" type="hinge" pos="0 0 0" axis="0 0 1" range="-30 30"/>
          <geom name="rightback_leg_geom" type="capsule" fromto="0 0 0 0.2 -0.2 0" size="0.08"/>
          <body pos="0.2 -0.2 0">
            <joint name="ankle_4" type="hinge" pos="0 0 0" axis="1 1 0" range="30 70"/>
            <geom name="fourth_ankle_geom" type="capsule" fromto="0 0 0 0.4 -0.4 0" size="0.08"
                  contype="3"/>
          </body>
        </body>
      </body>
    </body>
)";

// After the walls. Gymnasium's actuator order (not the qpos order).
constexpr char kAntTail[] = R"(  </worldbody>
  <actuator>
    <motor joint="hip_4" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
    <motor joint="ankle_4" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
    <motor joint="hip_1" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
    <motor joint="ankle_1" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
    <motor joint="hip_2" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
    <motor joint="ankle_2" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
    <motor joint="hip_3" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
    <motor joint="ankle_3" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
)";

// Name of the model file inside the VFS.
constexpr char kVfsFileName[] = "model.xml";

// mj_loadXML keeps global parser state in some MuJoCo versions: one load at a time.
ABSL_CONST_INIT absl::Mutex load_mu(absl::kConstInit);

// Compiled models by task name. Never destroyed (environments may outlive static destruction).
class ModelCache {
 public:
  static ModelCache& Get() {
    static ModelCache* cache = new ModelCache();
    return *cache;
  }

  absl::StatusOr<std::shared_ptr<const mjModel>> Model(std::string_view task)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    const auto it = models_.find(task);
    if (it != models_.end()) return it->second;
    GDAQD_ASSIGN_OR_RETURN(const std::string xml, AntModelXml(task));
    GDAQD_ASSIGN_OR_RETURN(MjModelPtr model, LoadModelFromXml(xml));
    std::shared_ptr<const mjModel> shared(model.release(), MjModelDeleter());
    models_.emplace(std::string(task), shared);
    return shared;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const mjModel>, std::less<>> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::string> AntModelXml(std::string_view task) {
  const std::optional<common::AntTask> ant = common::AntTaskFromName(task);
  if (!ant.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("no ant model for task '", ToAbsl(task),
                                                   "' (known: ant_trap, ant_maze, ant_omni)"));
  }
  std::string xml = absl::StrCat("<mujoco model=\"gdaqd_", ToAbsl(task), "\">", kAntHead);
  const absl::Span<const common::Obstacle> walls = common::AntWalls(*ant);
  for (size_t i = 0; i < walls.size(); ++i) {
    const common::Obstacle& w = walls[i];
    absl::StrAppend(&xml, "    <geom name=\"wall_", i, "\" type=\"capsule\" size=\"", w.radius,
                    "\" fromto=\"", w.x0, " ", w.y0, " ", common::kAntWallZ, " ", w.x1, " ", w.y1,
                    " ", common::kAntWallZ,
                    "\" contype=\"0\" conaffinity=\"2\" rgba=\"0.45 0.45 0.5 1\"/>\n");
  }
  absl::StrAppend(&xml, kAntTail);
  return xml;
}

absl::StatusOr<MjModelPtr> LoadModelFromXml(std::string_view xml) {
  MjVfsPtr vfs = MakeEmptyVfs();
  if (mj_makeEmptyFileVFS(vfs.get(), kVfsFileName, static_cast<int>(xml.size())) != 0) {
    return absl::InternalError("cannot create the model file in the MuJoCo VFS");
  }
  const int index = mj_findFileVFS(vfs.get(), kVfsFileName);
  if (index < 0) return absl::InternalError("model file missing from the MuJoCo VFS");
  std::memcpy(vfs->filedata[index], xml.data(), xml.size());

  char error[1024] = "";
  mjModel* model = nullptr;
  {
    absl::MutexLock lock(&load_mu);
    model = mj_loadXML(kVfsFileName, vfs.get(), error, sizeof(error));
  }
  if (model == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("MJCF does not compile: ", error));
  }
  return MjModelPtr(model);
}

absl::StatusOr<std::shared_ptr<const mjModel>> SharedAntModel(std::string_view task) {
  return ModelCache::Get().Model(task);
}

}  // namespace gdaqd::worker
