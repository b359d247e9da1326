// The client side of poolscope's HTTP: GET of a Prometheus API on loopback (poolscope makes no
// network traffic beyond this machine; a remote Prometheus is reached through an SSH tunnel).
// The URL and response parsers are portable and fuzzed (fuzz/prometheus_client.cpp); the socket
// code is net/http_client.cpp (POSIX sockets and Winsock through net/sockets.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.h"

namespace poolscope::serve {

struct HttpUrl {
  std::string host;    // "127.0.0.1", "::1", "localhost"
  std::string port;    // "9090"
  std::string prefix;  // path before /api/v1 ("" or "/prometheus"), no trailing slash
};

// "http://127.0.0.1:9090", "http://localhost:9090/prom/", "http://[::1]:9090". https is refused.
Result<HttpUrl> parse_http_url(std::string_view url);

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

// An HTTP/1.0 or 1.1 response read to the end of the connection: status line, headers, then the
// body (Content-Length honoured when given; chunked transfer decoded).
Result<HttpResponse> parse_http_response(std::string_view raw);

// Percent-encoding of a query parameter value.
std::string url_encode(std::string_view value);

struct GetOptions {
  std::chrono::milliseconds timeout{30000};  // whole exchange
  std::size_t max_bytes = 256u << 20;        // response size bound
};

// GET prefix + target from url (an HTTP/1.0 request, read until the server closes). Refuses an
// address that is not loopback. Platform code.
Result<HttpResponse> http_get(const HttpUrl& url, std::string_view target,
                              const GetOptions& options = {});

}  // namespace poolscope::serve
