#include "serve/net/sockets.h"

#include <fmt/format.h>

#include <cstring>

namespace poolscope::serve::net {

#ifdef _WIN32

Result<void> startup() {
  static const int status = [] {
    WSADATA data{};
    return ::WSAStartup(MAKEWORD(2, 2), &data);
  }();
  if (status != 0) {
    return make_error(ErrorCode::kEnvironment,
                      fmt::format("Winsock 2.2 is not available (WSAStartup: {})", status), status);
  }
  return {};
}

Socket open_stream(int family, int protocol) {
  Socket s = ::socket(family, SOCK_STREAM, protocol);
  if (s == INVALID_SOCKET) return s;
  u_long one = 1;
  if (::ioctlsocket(s, FIONBIO, &one) != 0) {
    ::closesocket(s);
    return INVALID_SOCKET;
  }
  return s;
}

Socket accept_one(Socket listener) {
  Socket s = ::accept(listener, nullptr, nullptr);
  if (s == INVALID_SOCKET) return s;
  u_long one = 1;
  ::ioctlsocket(s, FIONBIO, &one);
  return s;
}

void close_socket(Socket s) {
  ::closesocket(s);
}

int poll_sockets(PollFd* fds, std::size_t count, int timeout_ms) {
  return ::WSAPoll(fds, static_cast<ULONG>(count), timeout_ms);
}

int last_error() {
  return ::WSAGetLastError();
}
bool would_block(int error) {
  return error == WSAEWOULDBLOCK;
}
bool interrupted(int error) {
  return error == WSAEINTR;
}
bool in_progress(int error) {
  return error == WSAEWOULDBLOCK || error == WSAEINPROGRESS;
}
int timed_out_error() {
  return WSAETIMEDOUT;
}
int refused_error() {
  return WSAECONNREFUSED;
}

std::string error_text(int error) {
  char text[256] = {};
  const DWORD n =
      ::FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                       static_cast<DWORD>(error), 0, text, sizeof text, nullptr);
  std::string s(text, n);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == '.')) s.pop_back();
  if (s.empty()) s = "Winsock error";
  return fmt::format("{} (WSA error {})", s, error);
}

int pending_error(Socket s) {
  int error = 0;
  int len = sizeof error;
  ::getsockopt(s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&error), &len);
  return error;
}

#else

Result<void> startup() {
  return {};
}

Socket open_stream(int family, int protocol) {
  return ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
}

Socket accept_one(Socket listener) {
  return ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void close_socket(Socket s) {
  ::close(s);
}

int poll_sockets(PollFd* fds, std::size_t count, int timeout_ms) {
  return ::poll(fds, count, timeout_ms);
}

int last_error() {
  return errno;
}
bool would_block(int error) {
  return error == EAGAIN || error == EWOULDBLOCK;
}
bool interrupted(int error) {
  return error == EINTR;
}
bool in_progress(int error) {
  return error == EINPROGRESS;
}
int timed_out_error() {
  return ETIMEDOUT;
}
int refused_error() {
  return ECONNREFUSED;
}
std::string error_text(int error) {
  return std::strerror(error);
}

int pending_error(Socket s) {
  int error = 0;
  socklen_t len = sizeof error;
  ::getsockopt(s, SOL_SOCKET, SO_ERROR, &error, &len);
  return error;
}

#endif

bool is_loopback(const sockaddr* address) {
  if (address->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(address);
    return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
  }
  if (address->sa_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr) >> 24) == 127;
  }
  return false;
}

std::string address_text(const sockaddr_storage& address) {
  char host[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    return fmt::format("[{}]:{}", host, ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&address);
  ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
  return fmt::format("{}:{}", host, ntohs(a->sin_port));
}

}  // namespace poolscope::serve::net
