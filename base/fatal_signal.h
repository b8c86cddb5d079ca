// WriteStackOnFatalSignal: a crash leaves its stack in the log.
//
// When a thread of the process gets SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT, the handler
// writes one line naming the signal and the thread, then the thread's stack (return addresses,
// with the names of exported functions), to standard error: to the journal under systemd, to the
// test harness's log in the tests. Then the signal's default action runs as before: the process
// dies with the same signal and a core file where the system keeps them.
//
// Only async-signal-safe calls run in the handler: write(2), backtrace_symbols_fd(3) and
// backtrace(3), whose first call (which loads libgcc_s and allocates) is made here at
// installation. Under AddressSanitizer or ThreadSanitizer nothing is installed: the sanitizer's
// own report is better.
#pragma once

#include <execinfo.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>

namespace dctwin {

namespace fatal_signal_detail {

inline void WriteText(const char* text) {
  size_t left = std::strlen(text);
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, text, left);
    if (n <= 0) return;
    text += n;
    left -= static_cast<size_t>(n);
  }
}

inline void OnFatalSignal(int sig) {
  char thread[17] = {};
  prctl(PR_GET_NAME, thread, 0, 0, 0);  // not listed as async-signal-safe, but a plain system call
  WriteText("dctwin: fatal signal ");
  WriteText(sigabbrev_np(sig) != nullptr ? sigabbrev_np(sig) : "?");
  WriteText(" in thread ");
  WriteText(thread);
  WriteText("; its stack (addr2line -f -C -e <binary> <function+offset> names the lines):\n");
  void* frames[64];
  const int depth = backtrace(frames, 64);
  backtrace_symbols_fd(frames, depth, STDERR_FILENO);
  // SA_RESETHAND put the default action back: the signal, raised again, ends the process.
  raise(sig);
}

}  // namespace fatal_signal_detail

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DCTWIN_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DCTWIN_UNDER_SANITIZER 1
#endif
#endif

inline void WriteStackOnFatalSignal() {
#ifndef DCTWIN_UNDER_SANITIZER
  void* warm[1];
  backtrace(warm, 1);  // loads the unwinder now, not in the handler
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = fatal_signal_detail::OnFatalSignal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(sig, &action, nullptr);
#endif
}

}  // namespace dctwin
