// TcpCut: a loopback TCP forwarder that a test can cut and mend, for fault injection between two
// real programs (a mosquitto bridge and the broker it bridges to). Cut() closes every forwarded
// connection and stops listening, so a reconnect is refused as if the link were gone; Mend()
// listens again on the same port. One thread; stops with the object.
#pragma once

#include <atomic>
#include <thread>
#include <vector>

namespace dctwin::testing {

class TcpCut {
 public:
  explicit TcpCut(int target_port);
  ~TcpCut();
  int port() const { return port_; }
  void Cut();
  void Mend();
  // Connections accepted so far (a reconnect after Mend() counts).
  int accepted() const { return accepted_.load(); }

 private:
  bool Listen();
  void Run();
  void CloseAll();
  // Asks the thread for a state and waits until it is there.
  void Want(bool cut);

  const int target_port_;
  int port_ = 0;
  // Owned by the thread: Cut() and Mend() ask for a state through want_cut_ and wait for is_cut_.
  int listen_fd_ = -1;
  std::vector<std::pair<int, int>> pairs_;  // (accepted, upstream)
  std::atomic<bool> want_cut_{false};
  std::atomic<bool> is_cut_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace dctwin::testing
