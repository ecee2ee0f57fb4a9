// Ctrl-C handling of the gdaqd CLI: SIGINT and SIGTERM are taken by one thread with sigwait(),
// so no code runs in a signal handler.
#ifndef GDAQD_CLIENT_SIGNAL_WATCHER_H_
#define GDAQD_CLIENT_SIGNAL_WATCHER_H_

#include <atomic>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/thread.h"

namespace gdaqd::client {

// Exit status after an interruption (128 + SIGINT), as shells report a Ctrl-C.
inline constexpr int kInterruptedExitCode = 130;

// Blocks SIGINT, SIGTERM and SIGUSR1 in the calling thread (and so in every thread started
// after it: construct it before any other thread) and waits for them on its own thread. On the
// first SIGINT/SIGTERM it runs the callback set with set_on_signal() on that thread; with none
// set it exits the process with kInterruptedExitCode at once. A second signal always exits at
// once with kInterruptedExitCode. Thread-safe.
class SignalWatcher {
 public:
  SignalWatcher();
  ~SignalWatcher();  // stops the waiting thread; the signals stay blocked
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // Replaces the callback (empty: exit at once). `message` is printed on stderr before it runs.
  void set_on_signal(std::function<void()> on_signal, std::string message) ABSL_LOCKS_EXCLUDED(mu_);
  // True once a SIGINT/SIGTERM has arrived.
  bool interrupted() const { return interrupted_.load(); }

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  std::function<void()> on_signal_ ABSL_GUARDED_BY(mu_);
  std::string message_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stopping_{false};
  std::atomic<bool> interrupted_{false};
  std::unique_ptr<common::Thread> thread_;
};

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_SIGNAL_WATCHER_H_
