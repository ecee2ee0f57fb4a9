#include "common/thread.h"

#include <pthread.h>

#include <utility>

namespace gdaqd::common {

Thread::Thread(std::string name, std::function<void()> fn) : name_(std::move(name)) {
  thread_ = std::thread([this, fn = std::move(fn)] {
    pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
    fn();
  });
}

Thread::~Thread() { Join(); }

void Thread::Join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace gdaqd::common
