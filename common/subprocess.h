// Child processes for the embedded local mode (`gdaqd run` starts a coordinator and workers)
// and for integration tests that need real separate processes (kill a worker mid-batch).
#ifndef GDAQD_COMMON_SUBPROCESS_H_
#define GDAQD_COMMON_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gdaqd::common {

// One child process. The child runs in its own process group (a Ctrl-C in the terminal reaches
// only the parent, which then shuts children down in order) and gets SIGTERM if the parent dies,
// so no orphan is ever left behind. Thread-compatible.
class Subprocess {
 public:
  struct Options {
    // Where the child's stderr (and stdout unless captured) goes; empty = inherit.
    std::string log_path;
    // If true, the child's stdout is a pipe read with ReadLine().
    bool capture_stdout = false;
  };

  // Starts argv[0] (a path) with the given arguments. Internal error if fork/exec fails; a
  // missing binary is reported as NotFound before forking.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Spawn(const std::vector<std::string>& argv,
                                                           const Options& options);
  ~Subprocess();  // SIGKILLs and reaps the child if it is still running

  pid_t pid() const { return pid_; }
  // Sends `signal_number` to the child (no-op once reaped).
  void Signal(int signal_number);
  // Reads one line (without the newline) from the captured stdout. DeadlineExceeded after
  // `timeout`, OutOfRange at end of file, FailedPrecondition if stdout is not captured.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);
  // Waits for the child to exit. Returns its exit code, or 128 + signal if it was killed.
  // DeadlineExceeded after `timeout` (the child keeps running).
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // SIGTERM, then SIGKILL after `grace`; returns the exit status as Wait does.
  int Stop(absl::Duration grace);
  bool running() const { return !reaped_; }

 private:
  Subprocess() = default;

  pid_t pid_ = -1;
  int pidfd_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;  // captured stdout not yet returned by ReadLine
  bool reaped_ = false;
  int exit_status_ = 0;
};

// Directory of the running executable (from /proc/self/exe); empty on failure.
std::string ExecutableDir();

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_SUBPROCESS_H_
