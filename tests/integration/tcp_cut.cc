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

TcpCut::TcpCut(int target_port) : target_port_(target_port), port_(FreeLoopbackPort()) {
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
  for (auto [a, b] : pairs_) {
    close(a);
    close(b);
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
    for (auto [a, b] : pairs_) {
      fds.push_back(pollfd{a, POLLIN, 0});
      fds.push_back(pollfd{b, POLLIN, 0});
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
          pairs_.emplace_back(in, up);
          ++accepted_;
        } else {
          close(in);
          close(up);
        }
      }
    }
    // Forwards what arrived; a pair with a closed or failed side is closed whole. (Blocking
    // writes: loopback buffers are large and the peers are brokers that keep reading.)
    std::vector<std::pair<int, int>> keep;
    for (size_t p = polled; p < pairs_.size(); ++p) keep.push_back(pairs_[p]);
    for (size_t p = 0; p < polled; ++p, i += 2) {
      auto [a, b] = pairs_[p];
      bool open = true;
      for (int side = 0; side < 2 && open; ++side) {
        if (!(fds[i + side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const int from = side == 0 ? a : b, to = side == 0 ? b : a;
        const ssize_t n = recv(from, buf, sizeof buf, 0);
        if (n <= 0) {
          open = false;
          break;
        }
        for (ssize_t off = 0; off < n && open;) {
          // MSG_NOSIGNAL: a peer that closed is a closed pair, not a SIGPIPE for the test.
          const ssize_t w = send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
          if (w <= 0) open = false;
          off += w;
        }
      }
      if (open) {
        keep.emplace_back(a, b);
      } else {
        close(a);
        close(b);
      }
    }
    pairs_.swap(keep);
  }
}

}  // namespace dctwin::testing
