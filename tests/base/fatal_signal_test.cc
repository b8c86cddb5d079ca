#include "base/fatal_signal.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>

#include <thread>

namespace dctwin {
namespace {

#ifndef DCTWIN_UNDER_SANITIZER
// The handler writes which signal hit which thread, and a stack, then the process dies of that
// signal as it would have without it.
TEST(FatalSignalTest, ACrashWritesItsSignalThreadAndStackThenDiesOfTheSameSignal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        WriteStackOnFatalSignal();
        std::thread crashing([] {
          prctl(PR_SET_NAME, "dctwin-crasher", 0, 0, 0);
          raise(SIGSEGV);
        });
        crashing.join();
      },
      ::testing::KilledBySignal(SIGSEGV), "fatal signal SEGV in thread dctwin-crasher; its stack.*\n.*0x");
}

TEST(FatalSignalTest, AnAbortIsWrittenToo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        WriteStackOnFatalSignal();
        std::abort();
      },
      ::testing::KilledBySignal(SIGABRT), "fatal signal ABRT in thread");
}
#endif

}  // namespace
}  // namespace dctwin
