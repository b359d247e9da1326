// `serve`'s HTTP server under hostile clients on loopback (issue 21 item 4): 200 slowloris
// connections (each sends its head a byte at a time and reconnects when closed), garbage senders
// and clients that never read their answer, all at once; normal scrapes must keep getting 200
// within 1 s, and the server's memory must stay flat. Bounded: ~10 s, loopback addresses only
// (127.0.0.2-4 for the attackers, so the per-peer limit is exercised too). Linux only: it opens
// 200+ sockets with POSIX calls.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "serve/http_client.h"
#include "serve/http_server.h"

namespace poolscope::serve {
namespace {

using namespace std::chrono_literals;

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A non-blocking connection from `from` (a loopback address) to port; -1 when it failed at once.
int connect_from(const char* from, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, from, &local.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0 &&
      errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when the server closed (or reset) the connection.
bool closed_by_server(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP)) return true;
  char buf[512];
  const auto r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || r > 0;
}

TEST(HttpSlowloris, CompleteRequestsAreServedWhileSlowClientsWait) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  auto opened = HttpServer::open(options);
  ASSERT_TRUE(opened) << opened.error().message;
  std::unique_ptr<HttpServer> server = std::move(*opened);
  const std::string address = server->address();
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  const std::string page(64 * 1024, 'm');  // a /metrics-sized page
  std::atomic<bool> stop{false};
  std::thread serving([&] {
    server->run([&](const HttpRequest&) { return http_response(200, "text/plain", page); }, stop);
  });

  std::atomic<bool> attack{true};
  std::atomic<long> slow_connections{0};  // opened by the slowloris thread, in all
  // 200 slowloris connections: a byte of head every 100 ms each, reconnecting when closed.
  std::thread slowloris([&] {
    const std::string head = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    std::vector<int> fds(200, -1);
    std::vector<std::size_t> sent(fds.size(), 0);
    while (attack) {
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (fds[i] >= 0 && closed_by_server(fds[i])) {
          ::close(fds[i]);
          fds[i] = -1;
        }
        if (fds[i] < 0) {
          fds[i] = connect_from("127.0.0.2", port);
          sent[i] = 0;
          if (fds[i] >= 0) ++slow_connections;
          continue;
        }
        const char byte = sent[i] < head.size() ? head[sent[i]] : 'a';
        if (::send(fds[i], &byte, 1, MSG_NOSIGNAL) == 1) ++sent[i];
      }
      std::this_thread::sleep_for(100ms);
    }
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  });
  // Garbage: random bytes, then close, 20 times a second.
  std::thread garbage([&] {
    std::mt19937 random(21);
    while (attack) {
      const int fd = connect_from("127.0.0.3", port);
      if (fd >= 0) {
        std::this_thread::sleep_for(5ms);
        char junk[300];
        for (char& c : junk) c = static_cast<char>(random());
        [[maybe_unused]] auto w = ::send(fd, junk, sizeof junk, MSG_NOSIGNAL);
        ::close(fd);
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  // Never-reading clients: a complete request, then silence, up to 30 held at a time.
  std::thread deaf([&] {
    std::vector<int> fds;
    const std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
    while (attack) {
      const int fd = connect_from("127.0.0.4", port);
      if (fd >= 0) {
        int small = 4096;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        std::this_thread::sleep_for(5ms);
        [[maybe_unused]] auto w = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
        fds.push_back(fd);
      }
      if (fds.size() > 30) {
        ::close(fds.front());
        fds.erase(fds.begin());
      }
      std::this_thread::sleep_for(100ms);
    }
    for (int fd : fds) ::close(fd);
  });

  std::this_thread::sleep_for(1500ms);  // the attack is in full swing
  EXPECT_GE(slow_connections.load(), 200) << "the slowloris clients did not connect";
  const long rss_start = rss_kib();
  const HttpUrl url{"127.0.0.1", std::to_string(port), ""};
  int ok = 0, total = 0;
  std::string failures;
  const auto end = std::chrono::steady_clock::now() + 7s;
  while (std::chrono::steady_clock::now() < end) {
    const auto start = std::chrono::steady_clock::now();
    auto r = http_get(url, "/metrics", GetOptions{.timeout = 1000ms});
    const auto took = std::chrono::steady_clock::now() - start;
    ++total;
    if (r && r->status == 200 && r->body.size() == page.size() && took <= 1s) {
      ++ok;
    } else if (failures.size() < 400) {
      failures += (r ? "status " + std::to_string(r->status) : r.error().message) + "; ";
    }
    std::this_thread::sleep_for(20ms);
  }
  const long rss_end = rss_kib();
  attack = false;
  slowloris.join();
  garbage.join();
  deaf.join();
  stop = true;
  serving.join();

  EXPECT_GE(total, 100);
  EXPECT_GE(ok * 100, total * 99) << ok << " of " << total
                                  << " scrapes got 200 within 1 s: " << failures;
  // The 200 kept the server full all along: evicted (and reconnecting) by the hundreds.
  EXPECT_GT(server->stats().evicted, 200u) << "the slow clients never filled the server";
  std::printf(
      "slowloris: %d of %d scrapes got 200 within 1 s; %ld slow connections opened, %llu "
      "evicted; RSS %ld -> %ld KiB\n",
      ok, total, slow_connections.load(), static_cast<unsigned long long>(server->stats().evicted),
      rss_start, rss_end);
  // Flat: the attack does not make memory grow (slack for the allocator and the client threads).
  // Under ASan freed memory sits in its quarantine, so RSS says nothing there.
#if !defined(POOLSCOPE_SANITIZED)
  EXPECT_LT(rss_end - rss_start, 8 * 1024) << rss_start << " KiB -> " << rss_end << " KiB";
#endif
}

}  // namespace
}  // namespace poolscope::serve
