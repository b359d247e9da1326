#include "serve/http_request.h"

#include <fmt/format.h>

#include <algorithm>

#include "parse/text.h"

namespace poolscope::serve {

namespace {

HttpRequest bad(int status, std::string error) {
  HttpRequest r;
  r.state = ParseState::kBad;
  r.status = status;
  r.error = std::move(error);
  return r;
}

bool is_token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 32 || u >= 127) return false;
  return std::string_view("()<>@,;:\\\"/[]?={}").find(c) == std::string_view::npos;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (parse::equals_ignore_case(hay.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

}  // namespace

HttpRequest parse_http_request(std::string_view data) {
  // Tolerate empty lines before the request line (RFC 9112 2.2).
  std::size_t start = 0;
  while (start + 1 < data.size() && data[start] == '\r' && data[start + 1] == '\n') start += 2;
  if (start < data.size() && data[start] == '\n') ++start;
  const std::size_t end = data.find("\r\n\r\n", start);
  const std::size_t end_lf = data.find("\n\n", start);
  std::size_t head_end = std::string_view::npos, sep = 0;
  if (end != std::string_view::npos && (end_lf == std::string_view::npos || end < end_lf)) {
    head_end = end;
    sep = 4;
  } else if (end_lf != std::string_view::npos) {
    head_end = end_lf;
    sep = 2;
  }
  if (head_end == std::string_view::npos) {
    if (data.size() >= kMaxRequestHead) {
      return bad(431, fmt::format("request head larger than {} bytes", kMaxRequestHead));
    }
    // A request line that is clearly not HTTP can be refused before it completes.
    const std::string_view line = data.substr(start, data.find('\n', start) - start);
    for (char c : line.substr(0, std::min<std::size_t>(line.size(), 8))) {
      if (c == ' ') break;
      if (!is_token_char(c) && c != '\r') return bad(400, "malformed request line");
    }
    return {};
  }
  if (head_end + sep > kMaxRequestHead) {
    return bad(431, fmt::format("request head larger than {} bytes", kMaxRequestHead));
  }
  HttpRequest r;
  r.consumed = head_end + sep;
  std::string_view head = data.substr(start, head_end - start);
  std::size_t pos = 0;
  auto next_line = [&]() -> std::string_view {
    std::size_t nl = head.find('\n', pos);
    std::string_view line =
        head.substr(pos, nl == std::string_view::npos ? head.size() - pos : nl - pos);
    pos = nl == std::string_view::npos ? head.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };
  const std::string_view request_line = next_line();
  const std::size_t sp1 = request_line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      request_line.find(' ', sp2 + 1) != std::string_view::npos) {
    return bad(400, "malformed request line: expected METHOD TARGET HTTP/1.x");
  }
  const std::string_view method = request_line.substr(0, sp1);
  const std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = request_line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) {
    return bad(400, "malformed method");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.starts_with("HTTP/")) return bad(505, "only HTTP/1.0 and HTTP/1.1 are served");
    return bad(400, "malformed HTTP version");
  }
  if (target.empty() || target.front() != '/') {
    return bad(400, "the request target must be a path starting with /");
  }
  if (target.size() > 2048) return bad(414, "request target longer than 2048 bytes");
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127) return bad(400, "invalid character in the request target");
  }
  if (method != "GET" && method != "HEAD") {
    return bad(405, "only GET and HEAD are served");
  }
  r.method = std::string(method);
  const std::size_t q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
  while (pos < head.size()) {
    const std::string_view line = next_line();
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') {
      return bad(400, "obsolete header line folding is not accepted");
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return bad(400, "malformed header line");
    const std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) {
      return bad(400, "malformed header name");
    }
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (parse::equals_ignore_case(name, "accept")) {
      if (!r.accept.empty()) r.accept += ", ";
      r.accept += std::string(value);
    } else if (parse::equals_ignore_case(name, "content-length")) {
      if (value != "0") return bad(400, "a request body is not accepted");
    } else if (parse::equals_ignore_case(name, "transfer-encoding")) {
      return bad(501, "a request body is not accepted");
    }
  }
  r.state = ParseState::kComplete;
  return r;
}

bool wants_openmetrics(std::string_view accept) {
  return icontains(accept, "application/openmetrics-text");
}

std::string_view http_status_text(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool head_only) {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n", status,
      http_status_text(status), content_type, body.size());
  if (status == 405) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (!head_only) out += body;
  return out;
}

Result<std::pair<std::string, std::string>> split_host_port(std::string_view listen) {
  auto fail = [&] {
    return make_error(ErrorCode::kUsage,
                      fmt::format("--listen \"{}\": expected HOST:PORT, e.g. 127.0.0.1:9469, "
                                  "[::1]:9469 or :9469 for every interface",
                                  listen));
  };
  std::string_view host, port;
  if (listen.starts_with('[')) {
    const std::size_t close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return fail();
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const std::size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) return fail();
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return fail();  // bare IPv6 needs brackets
  }
  const auto p = parse::parse_u64(port);
  if (!p || *p > 65535) return fail();
  return std::pair<std::string, std::string>(std::string(host), std::string(port));
}

}  // namespace poolscope::serve
