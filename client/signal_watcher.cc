#include "client/signal_watcher.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>

namespace gdaqd::client {
namespace {

sigset_t Signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);  // the destructor's wake-up call
  return set;
}

}  // namespace

SignalWatcher::SignalWatcher() {
  sigset_t set = Signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::make_unique<common::Thread>("signals", [this] { Loop(); });
}

SignalWatcher::~SignalWatcher() {
  stopping_ = true;
  kill(getpid(), SIGUSR1);  // process-directed; only the sigwait() in Loop() can take it
  thread_.reset();
}

void SignalWatcher::set_on_signal(std::function<void()> on_signal, std::string message) {
  absl::MutexLock lock(&mu_);
  on_signal_ = std::move(on_signal);
  message_ = std::move(message);
}

void SignalWatcher::Loop() {
  const sigset_t set = Signals();
  while (true) {
    int signal_number = 0;
    sigwait(&set, &signal_number);
    if (stopping_) return;
    if (signal_number == SIGUSR1) continue;
    if (interrupted_.exchange(true)) {
      std::fprintf(stderr, "\ninterrupted again: exiting now\n");
      _exit(kInterruptedExitCode);
    }
    absl::MutexLock lock(&mu_);
    if (!on_signal_) _exit(kInterruptedExitCode);
    std::fprintf(stderr, "\ninterrupted: %s (again to exit now)\n", message_.c_str());
    on_signal_();
  }
}

}  // namespace gdaqd::client
