// RAII owners of MuJoCo's C handles (STYLE.md §7): every mjModel, mjData and mjVFS the worker
// creates lives in one of these. Trivial value types, hence header-only.
#ifndef GDAQD_WORKER_SIM_MUJOCO_HANDLES_H_
#define GDAQD_WORKER_SIM_MUJOCO_HANDLES_H_

#include <mujoco/mujoco.h>

#include <memory>

namespace gdaqd::worker {

struct MjModelDeleter {
  void operator()(mjModel* model) const { mj_deleteModel(model); }
};
struct MjDataDeleter {
  void operator()(mjData* data) const { mj_deleteData(data); }
};
// An mjVFS is ~2 MB of file-name tables: always on the heap. Frees its files, then itself.
struct MjVfsDeleter {
  void operator()(mjVFS* vfs) const {
    mj_deleteVFS(vfs);
    delete vfs;
  }
};

using MjModelPtr = std::unique_ptr<mjModel, MjModelDeleter>;
using MjDataPtr = std::unique_ptr<mjData, MjDataDeleter>;
using MjVfsPtr = std::unique_ptr<mjVFS, MjVfsDeleter>;

// An empty VFS on the heap.
inline MjVfsPtr MakeEmptyVfs() {
  MjVfsPtr vfs(new mjVFS);
  mj_defaultVFS(vfs.get());
  return vfs;
}

}  // namespace gdaqd::worker

#endif  // GDAQD_WORKER_SIM_MUJOCO_HANDLES_H_
