// A coordinator's state directory (docs/durability.md §1):
//
//   DIR/LOCK                      flock()ed while a server uses DIR
//   DIR/next_id                   next experiment number, written before a number is handed out
//   DIR/experiments/<number>/checkpoint-<seq>.ckpt   the two newest checkpoints of an experiment
//
// Thread-safe: ReserveNumber() and ListExperiments() may be called from any thread; checkpoint
// operations on one experiment number must come from one thread at a time (its runner, or the
// manager before the runner starts / after it ended). Different numbers may run concurrently.
#ifndef GDAQD_SERVER_STORAGE_STATE_DIR_H_
#define GDAQD_SERVER_STORAGE_STATE_DIR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/storage/checkpoint_file.h"

namespace gdaqd::server::storage {

class StateDir {
 public:
  struct Options {
    // Test hook, called in the middle of every checkpoint write (see checkpoint_file.h).
    MidWriteHook mid_write_hook;
  };

  // Creates DIR and DIR/experiments if missing, takes an exclusive lock on DIR/LOCK, and removes
  // leftover temporary files of writes cut short by a crash. FailedPrecondition if another
  // process holds the lock; errno-derived codes naming the path otherwise.
  static absl::StatusOr<std::unique_ptr<StateDir>> Open(const std::string& dir, Options options);
  static absl::StatusOr<std::unique_ptr<StateDir>> Open(const std::string& dir) {
    return Open(dir, Options());
  }
  ~StateDir();  // releases the lock
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;

  const std::string& path() const { return path_; }

  // Hands out the next experiment number, never one handed out before (deleted ones included):
  // next_id is durably updated before the number is returned. Errno codes on I/O failure.
  absl::StatusOr<int64_t> ReserveNumber() ABSL_LOCKS_EXCLUDED(mu_);

  // Experiment numbers that have a directory, ascending.
  absl::StatusOr<std::vector<int64_t>> ListExperiments() const;

  // Writes the next checkpoint of experiment `number` (creating its directory), then removes all
  // but the two newest. Errno codes naming the file; the previous checkpoints are untouched on
  // error.
  absl::Status WriteCheckpoint(int64_t number, const std::vector<Section>& sections);

  struct LoadedCheckpoint {
    std::string path;
    std::map<uint32_t, SectionLocation> sections;
    int damaged_skipped = 0;  // newer checkpoints that failed verification
  };
  // The newest checkpoint of `number` that verifies. Newer ones that do not are renamed to
  // "<name>.damaged" (kept for inspection, never read again) and logged at ERROR. NotFound if
  // the experiment has no valid checkpoint.
  absl::StatusOr<LoadedCheckpoint> OpenNewestCheckpoint(int64_t number) const;

  // Records durably that experiment `number` was asked to cancel (a marker file in its
  // directory, which must exist), so that a restart before its final checkpoint cancels it
  // instead of running it on. Errno codes naming the file.
  absl::Status MarkCancelRequested(int64_t number);
  // Whether MarkCancelRequested(number) was done.
  bool CancelRequested(int64_t number) const;

  // Removes the experiment's directory and everything in it.
  absl::Status DeleteExperiment(int64_t number);

  std::string ExperimentDir(int64_t number) const;

 private:
  StateDir(std::string path, int lock_fd, Options options, int64_t next_number)
      : path_(std::move(path)),
        lock_fd_(lock_fd),
        options_(std::move(options)),
        next_number_(next_number) {}
  // Checkpoint files of `number` as (seq, path), ascending by seq.
  std::vector<std::pair<int64_t, std::string>> Checkpoints(int64_t number) const;

  const std::string path_;
  const int lock_fd_;
  const Options options_;
  absl::Mutex mu_;
  int64_t next_number_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gdaqd::server::storage

#endif  // GDAQD_SERVER_STORAGE_STATE_DIR_H_
