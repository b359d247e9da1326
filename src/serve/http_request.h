// The request side of poolscope's small HTTP/1.1 server (`serve`): parses what a client sent so
// far into a request line and the headers it needs, with hard size limits. Portable, no I/O;
// fuzzed (fuzz/http_request.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "core/result.h"

namespace poolscope::serve {

// A request head larger than this is refused (431) whatever it holds.
inline constexpr std::size_t kMaxRequestHead = 8192;

enum class ParseState {
  kIncomplete,  // no end of headers yet: read more (while under kMaxRequestHead)
  kComplete,    // request parsed; `consumed` bytes were its head
  kBad,         // malformed or refused: answer `status` and close
};

struct HttpRequest {
  ParseState state = ParseState::kIncomplete;
  int status = 0;      // for kBad: 400, 405, 414, 431, 501, 505
  std::string error;   // for kBad: what was wrong, for the response body
  std::string method;  // "GET" or "HEAD"
  std::string path;    // target without the query ("/metrics")
  std::string query;   // after '?', undecoded
  std::string accept;  // the Accept header, "" when absent
  std::size_t consumed = 0;
};

// Parses the head of one request (the server answers one request per connection and closes it) from
// the start of `data` (the bytes received so far). A body is not expected (GET/HEAD only); a
// request announcing one is refused.
HttpRequest parse_http_request(std::string_view data);

// True if the Accept header asks for OpenMetrics text (application/openmetrics-text), as
// Prometheus sends it when it prefers that format.
bool wants_openmetrics(std::string_view accept);

// A complete response: status line, Content-Type/Length, Connection: close, the body (omitted for
// HEAD, the length kept).
std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool head_only = false);
std::string_view http_status_text(int status);

// "127.0.0.1:9469" -> {"127.0.0.1", "9469"}; "[::1]:80" -> {"::1", "80"}; ":9469" -> {"", "9469"}
// (every interface). Portable; the error says what form is expected.
Result<std::pair<std::string, std::string>> split_host_port(std::string_view listen);

}  // namespace poolscope::serve
