// The sd_notify protocol as systemd would see it, without systemd: the test listens on its own
// NOTIFY_SOCKET and reads what the gateway sends.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind " + path);
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  // Datagrams received until one contains `what`, or the timeout.
  bool WaitFor(const std::string& what, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      timeval tv{0, 100000};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      const std::string msg(buf, static_cast<size_t>(n));
      all += msg + "|";
      if (msg.find(what) != std::string::npos) return true;
    }
    return false;
  }
  std::string all;

 private:
  std::string path_;
  int fd_ = -1;
};

TEST_F(GatewayTest, NotifiesReadyWatchdogAndStopping) {
  NotifySocket sock(dir_.File("notify.sock"));
  const std::string path = dir_.Write("dctwin.toml", kFastConfig);
  gateway_ = std::make_unique<GatewayProcess>(
      dir_, std::vector<std::string>{"--config", path, "--broker", broker_.uri(), "--state", dir_.File("state.db"),
                                     "--gateway-id", "gw-test"});
  gateway_->SetEnv("NOTIFY_SOCKET", dir_.File("notify.sock"));
  gateway_->SetEnv("WATCHDOG_USEC", "600000");  // 0.6 s
  gateway_->Start();
  ASSERT_TRUE(sock.WaitFor("READY=1", 15s)) << sock.all << gateway_->Log();
  EXPECT_NE(sock.all.find("STATUS=connected"), std::string::npos) << sock.all;
  // READY only once the broker accepted the subscriptions: the online status is out by now.
  EXPECT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/gateway/gw-test/status"; }, 5s));
  ASSERT_TRUE(sock.WaitFor("WATCHDOG=1", 5s)) << sock.all;
  ASSERT_TRUE(sock.WaitFor("WATCHDOG=1", 5s)) << sock.all;  // and again: it keeps feeding it
  kill(gateway_->pid(), SIGTERM);
  ASSERT_TRUE(sock.WaitFor("STOPPING=1", 15s)) << sock.all;
  EXPECT_EQ(gateway_->Terminate(), 0);
}

}  // namespace
}  // namespace dctwin::testing
