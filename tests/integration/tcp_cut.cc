#include "tests/integration/tcp_cut.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>

#include "tests/integration/harness.h"

namespace dctwin::testing {

namespace {
sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}
}  // namespace

TcpCut::TcpCut(int target_port, MqttFilter filter)
    : target_port_(target_port), port_(FreeLoopbackPort()), filter_(std::move(filter)) {
  if (!Listen()) throw std::runtime_error("TcpCut: cannot listen on 127.0.0.1:" + std::to_string(port_));
  thread_ = std::thread([this] { Run(); });
}

TcpCut::~TcpCut() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  CloseAll();
}

bool TcpCut::Listen() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in a = Loopback(port_);
  if (bind(listen_fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || listen(listen_fd_, 16) != 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    return false;
  }
  return true;
}

void TcpCut::CloseAll() {
  for (const Pair& p : pairs_) {
    close(p.in);
    close(p.up);
  }
  pairs_.clear();
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
}

void TcpCut::Want(bool cut) {
  want_cut_ = cut;
  if (!WaitUntil([&] { return is_cut_.load() == cut; }, 10s)) {
    throw std::runtime_error(std::string("TcpCut: could not ") + (cut ? "cut" : "mend") + " the link");
  }
}

void TcpCut::Cut() { Want(true); }
void TcpCut::Mend() { Want(false); }

namespace {
// Blocking writes: loopback buffers are large and the peers keep reading. MSG_NOSIGNAL: a peer
// that closed is a closed pair, not a SIGPIPE for the test.
bool SendAll(int fd, const char* data, size_t n) {
  for (size_t off = 0; off < n;) {
    const ssize_t w = send(fd, data + off, n - off, MSG_NOSIGNAL);
    if (w <= 0) return false;
    off += static_cast<size_t>(w);
  }
  return true;
}

// The length of the whole MQTT packet at the start of `s` (fixed header, remaining length as a
// variable byte integer, body), 0 while it has not all arrived, -1 when it is malformed.
long PacketLength(const std::string& s) {
  size_t remaining = 0;
  for (size_t k = 1, shift = 0; k <= 4; ++k, shift += 7) {
    if (k >= s.size()) return 0;
    const auto byte = static_cast<unsigned char>(s[k]);
    remaining |= static_cast<size_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      const size_t whole = k + 1 + remaining;
      return s.size() >= whole ? static_cast<long>(whole) : 0;
    }
  }
  return -1;
}
}  // namespace

bool TcpCut::Forward(Pair& p, int side, const char* data, size_t n) {
  const int to = side == 0 ? p.up : p.in;
  if (!filter_) return SendAll(to, data, n);
  std::string& unframed = p.unframed[side];
  unframed.append(data, n);
  for (long whole; (whole = PacketLength(unframed)) != 0;) {
    if (whole < 0) return false;
    std::string packet = unframed.substr(0, static_cast<size_t>(whole));
    unframed.erase(0, static_cast<size_t>(whole));
    if (filter_(side == 0, packet) && !SendAll(to, packet.data(), packet.size())) return false;
  }
  return true;
}

void TcpCut::Run() {
  char buf[16384];
  while (!stop_) {
    if (want_cut_ != is_cut_) {
      if (want_cut_) {
        CloseAll();
        is_cut_ = true;
      } else if (Listen()) {  // the port may take a moment to be free again
        is_cut_ = false;
      }
    }
    std::vector<pollfd> fds;
    if (listen_fd_ >= 0) fds.push_back(pollfd{listen_fd_, POLLIN, 0});
    for (const Pair& p : pairs_) {
      fds.push_back(pollfd{p.in, POLLIN, 0});
      fds.push_back(pollfd{p.up, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), 20) <= 0) continue;
    const size_t polled = pairs_.size();  // a pair accepted below was not polled this round
    size_t i = 0;
    if (listen_fd_ >= 0 && (fds[i++].revents & POLLIN)) {
      const int in = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (in >= 0) {
        const int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const sockaddr_in a = Loopback(target_port_);
        if (connect(up, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) {
          pairs_.push_back(Pair{in, up, {}});
          ++accepted_;
        } else {
          close(in);
          close(up);
        }
      }
    }
    // Forwards what arrived; a pair with a closed or failed side is closed whole.
    std::vector<Pair> keep;
    for (size_t p = polled; p < pairs_.size(); ++p) keep.push_back(std::move(pairs_[p]));
    for (size_t p = 0; p < polled; ++p, i += 2) {
      Pair& pair = pairs_[p];
      bool open = true;
      for (int side = 0; side < 2 && open; ++side) {
        if (!(fds[i + side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = recv(side == 0 ? pair.in : pair.up, buf, sizeof buf, 0);
        open = n > 0 && Forward(pair, side, buf, static_cast<size_t>(n));
      }
      if (open) {
        keep.push_back(std::move(pair));
      } else {
        close(pair.in);
        close(pair.up);
      }
    }
    pairs_.swap(keep);
  }
}

}  // namespace dctwin::testing
