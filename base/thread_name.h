// Names the calling thread, as `top -H`, `ps -L` and perf show it: an operator (or a benchmark)
// can then tell the shards from the writer and the broker connection. Linux keeps 15 bytes;
// longer names are cut. Best effort: a failure changes nothing else.
#pragma once

#include <pthread.h>

#include <string>

namespace dctwin {

inline void NameThisThread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace dctwin
