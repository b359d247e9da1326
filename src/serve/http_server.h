// The socket side of `poolscope serve`: a small HTTP/1.1 server, one request per connection.
// One thread polls every connection without blocking; a request head is bounded in size
// (kMaxRequestHead) and time (request_timeout), connections in number; the handler only returns
// a page rendered beforehand, so slow or malformed clients never hold up the sampler.
// Slow clients (slowloris) cannot lock others out: when all slots are taken, a new connection
// evicts the oldest one still sending its head (else the oldest one not reading its answer); a
// peer address holds at most max_heads_per_peer incomplete heads (its oldest is evicted); and
// while more than half the slots are taken a head must arrive within busy_request_timeout.
// A complete request arrives within milliseconds, so it is never the oldest incomplete head.
// Implementation: net/http_server.cpp (POSIX sockets and Winsock through net/sockets.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "serve/http_request.h"

namespace poolscope::serve {

struct ServerOptions {
  std::string listen = "127.0.0.1:9469";            // host:port; [v6]:port; port 0 picks a free one
  std::size_t max_connections = 16;                 // the oldest slow one is evicted past this
  std::chrono::milliseconds request_timeout{5000};  // to receive the head and send the answer
  std::size_t max_heads_per_peer = 4;               // incomplete heads one address may hold
  std::chrono::milliseconds busy_request_timeout{1000};  // the head timeout when half full
};

struct ServerStats {
  std::uint64_t requests = 0;  // answered with a status from the handler
  std::uint64_t refused = 0;   // malformed (4xx/5xx from the parser), evicted, or timed out
  std::uint64_t evicted = 0;   // of refused: slow connections closed to make room
};

// The complete response for a parsed request (status line, headers, body).
using Handler = std::function<std::string(const HttpRequest&)>;

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  static Result<std::unique_ptr<HttpServer>> open(const ServerOptions& options);
  virtual std::string address() const = 0;  // as bound: "127.0.0.1:9469"
  virtual bool loopback() const = 0;
  // Serves until `stop` is set (seen within 200 ms).
  virtual void run(const Handler& handler, const std::atomic<bool>& stop) = 0;
  virtual ServerStats stats() const = 0;
};

}  // namespace poolscope::serve
