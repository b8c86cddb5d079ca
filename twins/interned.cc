#include "twins/interned.h"

#include <unordered_set>

#include "base/thread_annotations.h"

namespace dctwin {

namespace {

// Node-based: a string's address stays put while others are added. Never destroyed, so that a
// twin destroyed late at exit never points into a pool that is gone.
struct Pool {
  Mutex mu;
  std::unordered_set<std::string> strings GUARDED_BY(mu);
};

const std::string* Intern(std::string_view s) {
  static Pool* const pool = new Pool;
  MutexLock lock(pool->mu);
  return &*pool->strings.emplace(s).first;
}

}  // namespace

Interned::Interned() {
  static const std::string* const empty = Intern({});
  s_ = empty;
}

Interned::Interned(std::string_view s) : s_(Intern(s)) {}

}  // namespace dctwin
