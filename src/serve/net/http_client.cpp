#include "serve/http_client.h"

#include <fmt/format.h>

#include <cstring>

#include "core/forward_error.h"
#include "serve/net/sockets.h"

namespace poolscope::serve {

namespace {

// Waits for `events` on fd until the deadline; false on timeout or error.
bool wait_for(net::Socket fd, short events, std::chrono::steady_clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    net::PollFd p{fd, events, 0};
    const int n = net::poll_sockets(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && !net::interrupted(net::last_error())) return false;
  }
}

}  // namespace

Result<HttpResponse> http_get(const HttpUrl& url, std::string_view target,
                              const GetOptions& options) {
  if (auto up = net::startup(); !up) return forward_error(up);
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
  net::Socket fd = net::kNoSocket;
  int err = net::refused_error();
  bool remote = false;
  for (addrinfo* ai = found; ai && fd == net::kNoSocket; ai = ai->ai_next) {
    if (!net::is_loopback(ai->ai_addr)) {
      remote = true;
      continue;
    }
    fd = net::open_stream(ai->ai_family, ai->ai_protocol);
    if (fd == net::kNoSocket) {
      err = net::last_error();
      continue;
    }
    if (::connect(fd, ai->ai_addr, static_cast<int>(ai->ai_addrlen)) != 0) {
      int so_error = net::last_error();
      if (net::in_progress(so_error)) {
        so_error =
            wait_for(fd, POLLOUT, deadline) ? net::pending_error(fd) : net::timed_out_error();
      }
      if (so_error != 0) {
        err = so_error;
        net::close_socket(fd);
        fd = net::kNoSocket;
      }
    }
  }
  ::freeaddrinfo(found);
  if (fd == net::kNoSocket) {
    if (remote) {
      return make_error(ErrorCode::kUsage,
                        fmt::format("{} is not on this machine: poolscope only talks to loopback; "
                                    "tunnel to the Prometheus server (ssh -L 9090:HOST:9090 ...) "
                                    "and use http://127.0.0.1:9090",
                                    where));
    }
    return make_error(ErrorCode::kEnvironment,
                      fmt::format("cannot connect to {}: {}; is Prometheus running there?", where,
                                  net::error_text(err)),
                      err);
  }
  const std::string request = fmt::format(
      "GET {}{} HTTP/1.0\r\nHost: {}:{}\r\nAccept: application/json\r\nUser-Agent: "
      "poolscope\r\n\r\n",
      url.prefix, target, url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host,
      url.port);
  auto timed_out = [&] {
    net::close_socket(fd);
    return make_error(ErrorCode::kEnvironment, fmt::format("{} did not answer within {} s", where,
                                                           options.timeout.count() / 1000));
  };
  std::size_t sent = 0;
  while (sent < request.size()) {
    const auto w =
        ::send(fd, request.data() + sent, static_cast<int>(request.size() - sent), net::kSendFlags);
    const int e = w < 0 ? net::last_error() : 0;
    if (w > 0) {
      sent += static_cast<std::size_t>(w);
    } else if (w < 0 && (net::would_block(e) || net::interrupted(e))) {
      if (!wait_for(fd, POLLOUT, deadline)) return timed_out();
    } else {
      net::close_socket(fd);
      return make_error(ErrorCode::kEnvironment,
                        fmt::format("sending to {}: {}", where, net::error_text(e)), e);
    }
  }
  std::string raw;
  char buf[65536];
  while (true) {
    const auto r = ::recv(fd, buf, sizeof buf, 0);
    const int e = r < 0 ? net::last_error() : 0;
    if (r == 0) break;
    if (r > 0) {
      raw.append(buf, static_cast<std::size_t>(r));
      if (raw.size() > options.max_bytes) {
        net::close_socket(fd);
        return make_error(ErrorCode::kInput,
                          fmt::format("the answer of {} is larger than {} MiB; narrow the query "
                                      "(--match, --since) or raise --step",
                                      where, options.max_bytes >> 20));
      }
    } else if (net::would_block(e) || net::interrupted(e)) {
      if (!wait_for(fd, POLLIN, deadline)) return timed_out();
    } else {
      net::close_socket(fd);
      return make_error(ErrorCode::kEnvironment,
                        fmt::format("reading from {}: {}", where, net::error_text(e)), e);
    }
  }
  net::close_socket(fd);
  return parse_http_response(raw);
}

}  // namespace poolscope::serve
