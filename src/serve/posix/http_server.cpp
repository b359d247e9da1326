#include "serve/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace poolscope::serve {

namespace {

struct Connection {
  int fd = -1;
  std::string in;
  std::string out;
  std::size_t sent = 0;
  bool answering = false;
  std::chrono::steady_clock::time_point deadline;
};

bool set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL, 0);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

std::string sockaddr_text(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    return fmt::format("[{}]:{}", host, ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
  return fmt::format("{}:{}", host, ntohs(a->sin_port));
}

bool is_loopback(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
}

class PosixServer final : public HttpServer {
 public:
  PosixServer(int fd, sockaddr_storage bound, ServerOptions options)
      : fd_(fd), bound_(bound), options_(std::move(options)) {}
  ~PosixServer() override {
    for (Connection& c : connections_) ::close(c.fd);
    ::close(fd_);
  }
  std::string address() const override { return sockaddr_text(bound_); }
  bool loopback() const override { return is_loopback(bound_); }
  ServerStats stats() const override { return stats_; }

  void run(const Handler& handler, const std::atomic<bool>& stop) override {
    std::vector<pollfd> fds;
    while (!stop.load()) {
      fds.clear();
      fds.push_back({fd_, POLLIN, 0});
      for (const Connection& c : connections_) {
        fds.push_back({c.fd, static_cast<short>(c.answering ? POLLOUT : POLLIN), 0});
      }
      const int n = ::poll(fds.data(), fds.size(), 200);
      if (n < 0 && errno != EINTR) break;
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
          ::close(c.fd);
          connections_.erase(connections_.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
      if (n > 0 && (fds[0].revents & POLLIN)) accept_all(now);
    }
  }

 private:
  void accept_all(std::chrono::steady_clock::time_point now) {
    while (true) {
      const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or an error the next poll retries
      if (connections_.size() >= options_.max_connections) {
        ++stats_.refused;
        const std::string busy =
            http_response(503, "text/plain; charset=utf-8", "too many connections\n");
        [[maybe_unused]] ssize_t w = ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL);
        ::close(fd);
        continue;
      }
      Connection c;
      c.fd = fd;
      c.deadline = now + options_.request_timeout;
      connections_.push_back(std::move(c));
    }
  }

  // True when the connection is finished (closed by the peer, or answered in one go).
  bool read_request(Connection& c, const Handler& handler, std::chrono::steady_clock::time_point) {
    char buf[4096];
    while (true) {
      const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
      if (r == 0) return true;
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
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
      const ssize_t w =
          ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        if (errno == EINTR) continue;
        return true;
      }
      c.sent += static_cast<std::size_t>(w);
    }
    ::shutdown(c.fd, SHUT_WR);
    return true;
  }

  int fd_;
  sockaddr_storage bound_;
  ServerOptions options_;
  std::vector<Connection> connections_;
  ServerStats stats_;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::open(const ServerOptions& options) {
  auto hp = split_host_port(options.listen);
  if (!hp) return std::unexpected(hp.error());
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
  int fd = -1;
  int err = 0;
  for (addrinfo* ai = found; ai && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 64) != 0 ||
        !set_nonblocking(fd)) {
      err = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    return make_error(ErrorCode::kEnvironment,
                      fmt::format("cannot listen on {}: {}; is another program (or poolscope "
                                  "serve) using the port? choose another with --listen",
                                  options.listen, std::strerror(err)),
                      err);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  return std::make_unique<PosixServer>(fd, bound, options);
}

}  // namespace poolscope::serve
