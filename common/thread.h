// Named threads that are always joined (STYLE.md §8): no detached threads anywhere.
#ifndef GDAQD_COMMON_THREAD_H_
#define GDAQD_COMMON_THREAD_H_

#include <functional>
#include <string>
#include <thread>

namespace gdaqd::common {

// Owns one std::thread running `fn`; the destructor joins it. The thread's OS name is set (first
// 15 characters) so that `top -H` and gdb show what each thread is. Thread-compatible.
class Thread {
 public:
  Thread(std::string name, std::function<void()> fn);
  ~Thread();  // joins
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;

  const std::string& name() const { return name_; }
  // Joins now; idempotent.
  void Join();

 private:
  std::string name_;
  std::thread thread_;
};

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_THREAD_H_
