#include "serve/http_client.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace poolscope::serve {

namespace {

bool is_loopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET6) {
    return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
  }
  if (sa->sa_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr) >> 24) == 127;
  }
  return false;
}

// Waits for `events` on fd until the deadline; false on timeout or error.
bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

}  // namespace

Result<HttpResponse> http_get(const HttpUrl& url, std::string_view target,
                              const GetOptions& options) {
  const std::string where = fmt::format("http://{}:{}", url.host, url.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int gai = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found);
  if (gai != 0) {
    return make_error(ErrorCode::kUsage, fmt::format("{}: {}", where, ::gai_strerror(gai)));
  }
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  int fd = -1;
  int err = ECONNREFUSED;
  bool remote = false;
  for (addrinfo* ai = found; ai && fd < 0; ai = ai->ai_next) {
    if (!is_loopback(ai->ai_addr)) {
      remote = true;
      continue;
    }
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      int so_error = errno;
      if (so_error == EINPROGRESS && wait_for(fd, POLLOUT, deadline)) {
        socklen_t len = sizeof so_error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      } else if (so_error == EINPROGRESS) {
        so_error = ETIMEDOUT;
      }
      if (so_error != 0) {
        err = so_error;
        ::close(fd);
        fd = -1;
      }
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    if (remote) {
      return make_error(ErrorCode::kUsage,
                        fmt::format("{} is not on this machine: poolscope only talks to loopback; "
                                    "tunnel to the Prometheus server (ssh -L 9090:HOST:9090 ...) "
                                    "and use http://127.0.0.1:9090",
                                    where));
    }
    return make_error(ErrorCode::kEnvironment,
                      fmt::format("cannot connect to {}: {}; is Prometheus running there?", where,
                                  std::strerror(err)),
                      err);
  }
  const std::string request = fmt::format(
      "GET {}{} HTTP/1.0\r\nHost: {}:{}\r\nAccept: application/json\r\nUser-Agent: "
      "poolscope\r\n\r\n",
      url.prefix, target, url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host,
      url.port);
  auto timed_out = [&] {
    ::close(fd);
    return make_error(ErrorCode::kEnvironment, fmt::format("{} did not answer within {} s", where,
                                                           options.timeout.count() / 1000));
  };
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t w = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (w > 0) {
      sent += static_cast<std::size_t>(w);
    } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd, POLLOUT, deadline)) return timed_out();
    } else {
      const int e = errno;
      ::close(fd);
      return make_error(ErrorCode::kEnvironment,
                        fmt::format("sending to {}: {}", where, std::strerror(e)), e);
    }
  }
  std::string raw;
  char buf[65536];
  while (true) {
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r == 0) break;
    if (r > 0) {
      raw.append(buf, static_cast<std::size_t>(r));
      if (raw.size() > options.max_bytes) {
        ::close(fd);
        return make_error(ErrorCode::kInput,
                          fmt::format("the answer of {} is larger than {} MiB; narrow the query "
                                      "(--match, --since) or raise --step",
                                      where, options.max_bytes >> 20));
      }
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd, POLLIN, deadline)) return timed_out();
    } else {
      const int e = errno;
      ::close(fd);
      return make_error(ErrorCode::kEnvironment,
                        fmt::format("reading from {}: {}", where, std::strerror(e)), e);
    }
  }
  ::close(fd);
  return parse_http_response(raw);
}

}  // namespace poolscope::serve
