#include "serve/http_server.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/forward_error.h"
#include "serve/net/sockets.h"

namespace poolscope::serve {

namespace {

constexpr int kListenBacklog = 1024;  // the kernel caps it (net.core.somaxconn, 4096 by default)

struct Connection {
  net::Socket fd = net::kNoSocket;
  std::string in;
  std::string out;
  std::size_t sent = 0;
  bool answering = false;
  std::chrono::steady_clock::time_point accepted;
  std::chrono::steady_clock::time_point deadline;
  std::string peer;  // the peer's address bytes (no port): the per-peer limit's key
};

// The address of the peer without its port, as raw bytes; empty when unknown.
std::string peer_key(net::Socket fd) {
  sockaddr_storage address{};
  socklen_t len = sizeof address;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &len) != 0) return {};
  if (address.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
    return std::string(reinterpret_cast<const char*>(&in->sin_addr), sizeof in->sin_addr);
  }
  if (address.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
    return std::string(reinterpret_cast<const char*>(&in6->sin6_addr), sizeof in6->sin6_addr);
  }
  return {};
}

class SocketServer final : public HttpServer {
 public:
  SocketServer(net::Socket fd, sockaddr_storage bound, ServerOptions options)
      : fd_(fd), bound_(bound), options_(std::move(options)) {}
  ~SocketServer() override {
    for (Connection& c : connections_) net::close_socket(c.fd);
    net::close_socket(fd_);
  }
  std::string address() const override { return net::address_text(bound_); }
  bool loopback() const override {
    return net::is_loopback(reinterpret_cast<const sockaddr*>(&bound_));
  }
  ServerStats stats() const override { return stats_; }

  void run(const Handler& handler, const std::atomic<bool>& stop) override {
    std::vector<net::PollFd> fds;
    while (!stop.load()) {
      fds.clear();
      fds.push_back({fd_, POLLIN, 0});
      for (const Connection& c : connections_) {
        fds.push_back({c.fd, static_cast<short>(c.answering ? POLLOUT : POLLIN), 0});
      }
      const int n = net::poll_sockets(fds.data(), fds.size(), 200);
      if (n < 0 && !net::interrupted(net::last_error())) break;
      const auto now = std::chrono::steady_clock::now();
      // Connections first (fds[1..] match connections_ as they were before accepting).
      for (std::size_t i = connections_.size(); i-- > 0;) {
        Connection& c = connections_[i];
        const short revents = n > 0 ? fds[i + 1].revents : 0;
        bool done = false;
        if (revents & (POLLERR | POLLNVAL)) {
          done = true;
        } else if (!c.answering && (revents & (POLLIN | POLLHUP))) {
          done = read_request(c, handler, now);
        } else if (c.answering && (revents & (POLLOUT | POLLHUP))) {
          done = write_answer(c);
        }
        // Under pressure a head gets less time: slow clients must not fill the slots.
        const bool busy = connections_.size() > options_.max_connections / 2;
        if (!done && !c.answering && busy &&
            now >= c.accepted + std::min(options_.busy_request_timeout, options_.request_timeout)) {
          c.deadline = now;
        }
        if (!done && now >= c.deadline) {
          if (!c.answering) {
            ++stats_.refused;
            c.out =
                http_response(408, "text/plain; charset=utf-8", "request not received in time\n");
            c.sent = 0;
            // One non-blocking attempt; a client that does not read is dropped.
            write_answer(c);
          }
          done = true;
        }
        if (done) {
          net::close_socket(c.fd);
          connections_.erase(connections_.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
      if (n > 0 && (fds[0].revents & POLLIN)) accept_all(now);
    }
  }

 private:
  void accept_all(std::chrono::steady_clock::time_point now) {
    while (true) {
      const net::Socket fd = net::accept_one(fd_);
      if (fd == net::kNoSocket) return;  // EAGAIN, or an error the next poll retries
      Connection c;
      c.fd = fd;
      c.accepted = now;
      c.deadline = now + options_.request_timeout;
      c.peer = peer_key(fd);
      // One address holding many incomplete heads: its oldest makes room.
      std::size_t heads = 0, oldest_head = connections_.size();
      for (std::size_t i = 0; i < connections_.size(); ++i) {
        const Connection& other = connections_[i];
        if (other.answering || other.peer != c.peer) continue;
        if (heads++ == 0) oldest_head = i;
      }
      if (heads >= std::max<std::size_t>(options_.max_heads_per_peer, 1)) evict(oldest_head);
      if (connections_.size() >= std::max<std::size_t>(options_.max_connections, 1)) {
        evict(oldest_slow());
      }
      connections_.push_back(std::move(c));
    }
  }

  // The oldest connection still sending its head; else the oldest one whose answer is not read.
  // connections_ is in accept order.
  std::size_t oldest_slow() const {
    for (std::size_t i = 0; i < connections_.size(); ++i) {
      if (!connections_[i].answering) return i;
    }
    return 0;
  }

  // Closes a slow connection to make room, with a 503 it may or may not read.
  void evict(std::size_t i) {
    if (i >= connections_.size()) return;
    Connection& c = connections_[i];
    ++stats_.refused;
    ++stats_.evicted;
    if (!c.answering) {
      const std::string busy = http_response(503, "text/plain; charset=utf-8",
                                             "too many connections: the slowest was closed\n");
      [[maybe_unused]] auto w =
          ::send(c.fd, busy.data(), static_cast<int>(busy.size()), net::kSendFlags);
    }
    net::close_socket(c.fd);
    connections_.erase(connections_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  // True when the connection is finished (closed by the peer, or answered in one go).
  bool read_request(Connection& c, const Handler& handler, std::chrono::steady_clock::time_point) {
    char buf[4096];
    while (true) {
      const auto r = ::recv(c.fd, buf, sizeof buf, 0);
      if (r == 0) return true;
      if (r < 0) {
        const int e = net::last_error();
        if (net::would_block(e)) break;
        if (net::interrupted(e)) continue;
        return true;
      }
      const std::size_t room = kMaxRequestHead + 1 - std::min(c.in.size(), kMaxRequestHead + 1);
      c.in.append(buf, std::min(static_cast<std::size_t>(r), room));
      if (c.in.size() > kMaxRequestHead) break;
    }
    const HttpRequest req = parse_http_request(c.in);
    if (req.state == ParseState::kIncomplete) return false;
    c.in.clear();
    c.in.shrink_to_fit();
    if (req.state == ParseState::kBad) {
      ++stats_.refused;
      c.out = http_response(req.status, "text/plain; charset=utf-8", req.error + "\n");
    } else {
      ++stats_.requests;
      c.out = handler(req);
    }
    c.answering = true;
    c.sent = 0;
    return write_answer(c);
  }

  // True when all is sent or the peer is gone.
  bool write_answer(Connection& c) {
    while (c.sent < c.out.size()) {
      const auto w = ::send(c.fd, c.out.data() + c.sent, static_cast<int>(c.out.size() - c.sent),
                            net::kSendFlags);
      if (w < 0) {
        const int e = net::last_error();
        if (net::would_block(e)) return false;
        if (net::interrupted(e)) continue;
        return true;
      }
      c.sent += static_cast<std::size_t>(w);
    }
    ::shutdown(c.fd, net::kShutWrite);
    return true;
  }

  net::Socket fd_;
  sockaddr_storage bound_;
  ServerOptions options_;
  std::vector<Connection> connections_;
  ServerStats stats_;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::open(const ServerOptions& options) {
  if (auto up = net::startup(); !up) return forward_error(up);
  auto hp = split_host_port(options.listen);
  if (!hp) return forward_error(hp);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int gai = ::getaddrinfo(hp->first.empty() ? nullptr : hp->first.c_str(), hp->second.c_str(),
                                &hints, &found);
  if (gai != 0) {
    return make_error(ErrorCode::kUsage,
                      fmt::format("--listen {}: {}; give an address of this machine and a port, "
                                  "e.g. 127.0.0.1:9469",
                                  options.listen, ::gai_strerror(gai)));
  }
  net::Socket fd = net::kNoSocket;
  int err = 0;
  for (addrinfo* ai = found; ai && fd == net::kNoSocket; ai = ai->ai_next) {
    fd = net::open_stream(ai->ai_family, ai->ai_protocol);
    if (fd == net::kNoSocket) {
      err = net::last_error();
      continue;
    }
#ifndef _WIN32
    // On Windows SO_REUSEADDR would let a second server take the port: its default already
    // allows a restart while old connections linger.
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#endif
    // A deep backlog: while slow clients are being evicted and reconnect, a scraper's connection
    // must still find room in the queue (a full queue drops it: a 1 s SYN retry).
    if (::bind(fd, ai->ai_addr, static_cast<int>(ai->ai_addrlen)) != 0 ||
        ::listen(fd, kListenBacklog) != 0) {
      err = net::last_error();
      net::close_socket(fd);
      fd = net::kNoSocket;
    }
  }
  ::freeaddrinfo(found);
  if (fd == net::kNoSocket) {
    return make_error(ErrorCode::kEnvironment,
                      fmt::format("cannot listen on {}: {}; is another program (or poolscope "
                                  "serve) using the port? choose another with --listen",
                                  options.listen, net::error_text(err)),
                      err);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  return std::make_unique<SocketServer>(fd, bound, options);
}

}  // namespace poolscope::serve
