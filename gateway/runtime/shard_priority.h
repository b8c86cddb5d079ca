// ShardPriority: a shard whose mailbox is half full runs at a lower CPU priority until it is back
// to an eighth. On a machine whose cores are all busy, one hot shard (a storm on one rack, a
// hostile host) otherwise takes its fair share from the threads every alert goes through:
// the MQTT receive thread, the other shards, the writer. Lowered, it yields to them: a quiet
// shard's alert waits less, and the hot shard sheds more of its reports (bench-scale.sh figure 5).
//
// "Lower" is the thread's nice value plus kLowered (Linux sets it per thread). Raising it back
// needs CAP_SYS_NICE or an RLIMIT_NICE that allows the old value (the systemd unit sets
// LimitNICE=+0, and lets setpriority through its system call filter). A change the system
// refuses is said once in the log and in `refused`, and not tried again: the shard stays where
// it is.
//
// Threads: Note() and Start() on the shard's own thread; the counters from any.
#pragma once

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace dctwin {

class ShardPriority {
 public:
  static constexpr int kLowered = 10;

  // On the shard's thread, before its first message.
  void Start(size_t shard) {
    shard_ = shard;
    tid_ = static_cast<id_t>(syscall(SYS_gettid));
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, tid_);
    base_ = errno == 0 ? nice : 0;
  }

  // Before each take, with the external messages waiting and the mailbox's capacity.
  void Note(size_t waiting, size_t capacity) {
    if (refused()) return;
    const bool low = lowered_.load(std::memory_order_relaxed);
    if (!low && waiting >= capacity / 2 && waiting > 0) {
      if (setpriority(PRIO_PROCESS, tid_, base_ + kLowered) != 0) return Refused("lowered");
      lowered_.store(true, std::memory_order_relaxed);
      lowerings_.fetch_add(1, std::memory_order_relaxed);
    } else if (low && waiting <= capacity / 8) {  // "<=": a mailbox of under 8 empties to 0
      if (setpriority(PRIO_PROCESS, tid_, base_) != 0) return Refused("raised back");
      lowered_.store(false, std::memory_order_relaxed);
    }
  }

  bool lowered() const { return lowered_.load(std::memory_order_relaxed); }
  uint64_t lowerings() const { return lowerings_.load(std::memory_order_relaxed); }
  bool refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  // A change the system refused (errno says why): said once, and not tried again.
  void Refused(const char* what) {
    const int error = errno;
    refused_.store(true, std::memory_order_relaxed);
    spdlog::warn("shard {}: its priority cannot be {} ({}); it stays at nice {} (the systemd unit allows it with "
                 "LimitNICE=+0 and SystemCallFilter=setpriority, as shipped)",
                 shard_, what, std::strerror(error), getpriority(PRIO_PROCESS, tid_));
  }

  size_t shard_ = 0;
  id_t tid_ = 0;
  int base_ = 0;
  std::atomic<bool> lowered_{false};
  std::atomic<uint64_t> lowerings_{0};
  std::atomic<bool> refused_{false};
};

}  // namespace dctwin
