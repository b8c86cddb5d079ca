// TcpCut: a loopback TCP forwarder that a test can cut and mend, for fault injection between two
// real programs (a mosquitto bridge and the broker it bridges to). Cut() closes every forwarded
// connection and stops listening, so a reconnect is refused as if the link were gone; Mend()
// listens again on the same port. One thread; stops with the object. With an MQTT filter it is
// also a broker that misbehaves: each MQTT packet that crosses is framed and passed to the filter,
// which may change it or drop it.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace dctwin::testing {

class TcpCut {
 public:
  // `to_broker`: the packet comes from the client that connected to port(). Returns false to drop
  // the packet. Called on the forwarding thread.
  using MqttFilter = std::function<bool(bool to_broker, std::string& packet)>;
  explicit TcpCut(int target_port, MqttFilter filter = nullptr);
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
  struct Pair {
    int in, up;
    std::string unframed[2];  // with a filter: bytes of a packet not yet whole, per direction
  };
  // Forwards `n` bytes that arrived on one side of `p`; false when the pair is to be closed.
  bool Forward(Pair& p, int side, const char* data, size_t n);
  // Asks the thread for a state and waits until it is there.
  void Want(bool cut);

  const int target_port_;
  int port_ = 0;
  // Owned by the thread: Cut() and Mend() ask for a state through want_cut_ and wait for is_cut_.
  int listen_fd_ = -1;
  std::vector<Pair> pairs_;
  const MqttFilter filter_;
  std::atomic<bool> want_cut_{false};
  std::atomic<bool> is_cut_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace dctwin::testing
