// Clang's thread safety analysis (-Wthread-safety), and a mutex it understands.
//
// Members shared between threads say which mutex guards them (GUARDED_BY); functions that must
// be called with a mutex held say so (REQUIRES). The clang build in CI turns a violation into an
// error; other compilers read the macros as nothing.
//
// Waiting on a condition variable: hold a MutexLock and wait on lock.native() in a loop whose
// condition is written in the function itself, so the analysis sees it read under the lock:
//   MutexLock lock(mu_);
//   while (!ready_) cv_.wait(lock.native());
#pragma once

#include <mutex>

#if defined(__clang__)
#define DCTWIN_THREAD_ATTR(x) __attribute__((x))
#else
#define DCTWIN_THREAD_ATTR(x)
#endif

#define CAPABILITY(x) DCTWIN_THREAD_ATTR(capability(x))
#define SCOPED_CAPABILITY DCTWIN_THREAD_ATTR(scoped_lockable)
#define GUARDED_BY(x) DCTWIN_THREAD_ATTR(guarded_by(x))
#define PT_GUARDED_BY(x) DCTWIN_THREAD_ATTR(pt_guarded_by(x))
#define REQUIRES(...) DCTWIN_THREAD_ATTR(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) DCTWIN_THREAD_ATTR(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) DCTWIN_THREAD_ATTR(acquire_capability(__VA_ARGS__))
#define RELEASE(...) DCTWIN_THREAD_ATTR(release_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS DCTWIN_THREAD_ATTR(no_thread_safety_analysis)

namespace dctwin {

class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex for its scope; can let go and take it again (around a slow call or a wait).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() { lock_.unlock(); }
  void Lock() ACQUIRE() { lock_.lock(); }
  // For std::condition_variable::wait*; the mutex is held again when the wait returns.
  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace dctwin
