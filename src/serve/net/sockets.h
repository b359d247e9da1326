// The few socket calls `serve` and `leaks --prometheus` make, with one spelling for POSIX sockets
// and Winsock 2, so http_server.cpp and http_client.cpp are the same code on Linux and Windows.
// Platform code: system calls only.
#pragma once

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#endif

#include <cstddef>
#include <string>

#include "core/result.h"

namespace poolscope::serve::net {

#ifdef _WIN32
using Socket = SOCKET;
inline const Socket kNoSocket = INVALID_SOCKET;
using PollFd = WSAPOLLFD;
constexpr int kSendFlags = 0;  // sockets are non-blocking; Windows raises no SIGPIPE
constexpr int kShutWrite = SD_SEND;
#else
using Socket = int;
constexpr Socket kNoSocket = -1;
using PollFd = pollfd;
constexpr int kSendFlags = MSG_NOSIGNAL | MSG_DONTWAIT;
constexpr int kShutWrite = SHUT_WR;
#endif

// Winsock needs WSAStartup once per process; a no-op on POSIX.
Result<void> startup();

// A TCP socket of the family, non-blocking and (POSIX) close-on-exec; kNoSocket on error.
Socket open_stream(int family, int protocol);
// accept() of a non-blocking, close-on-exec socket; kNoSocket when none is waiting.
Socket accept_one(Socket listener);
void close_socket(Socket s);
int poll_sockets(PollFd* fds, std::size_t count, int timeout_ms);

// The error of the last failed call, and how to read it.
int last_error();
bool would_block(int error);  // EAGAIN / WSAEWOULDBLOCK: try again after poll
bool interrupted(int error);  // EINTR / WSAEINTR
bool in_progress(int error);  // a non-blocking connect() that goes on in the background
int timed_out_error();        // ETIMEDOUT / WSAETIMEDOUT
int refused_error();          // ECONNREFUSED / WSAECONNREFUSED
std::string error_text(int error);

// SO_ERROR after a background connect(): 0 when connected.
int pending_error(Socket s);

bool is_loopback(const sockaddr* address);
// "127.0.0.1:9469", "[::1]:9469"
std::string address_text(const sockaddr_storage& address);

}  // namespace poolscope::serve::net
