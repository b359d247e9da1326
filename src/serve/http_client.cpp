#include "serve/http_client.h"

#include <fmt/format.h>

#include <optional>

#include "parse/text.h"
#include "serve/http_request.h"

namespace poolscope::serve {

Result<HttpUrl> parse_http_url(std::string_view url) {
  auto fail = [&](std::string_view why) {
    return make_error(ErrorCode::kUsage,
                      fmt::format("--prometheus \"{}\": {}; expected http://HOST:PORT, e.g. "
                                  "http://127.0.0.1:9090",
                                  url, why));
  };
  if (url.starts_with("https://")) {
    return fail("https is not supported; Prometheus on this machine is reached over http");
  }
  if (!url.starts_with("http://")) return fail("the URL must start with http://");
  std::string_view rest = url.substr(7);
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (prefix.ends_with('/')) prefix.remove_suffix(1);
  if (authority.find('@') != std::string_view::npos) return fail("credentials are not supported");
  HttpUrl out;
  if (authority.find(':') == std::string_view::npos ||
      (authority.starts_with('[') && authority.ends_with(']'))) {
    out.port = "80";
    out.host = std::string(authority);
    if (out.host.starts_with('[')) out.host = out.host.substr(1, out.host.size() - 2);
  } else {
    auto hp = split_host_port(authority);
    if (!hp) return fail("the host and port are malformed");
    out.host = hp->first;
    out.port = hp->second;
  }
  if (out.host.empty()) return fail("no host");
  for (char c : prefix) {
    if (c == '?' || c == '#' || static_cast<unsigned char>(c) <= 32) {
      return fail("the URL may only have a path prefix, no query");
    }
  }
  out.prefix = std::string(prefix);
  return out;
}

Result<HttpResponse> parse_http_response(std::string_view raw) {
  auto fail = [](std::string_view why) {
    return make_error(ErrorCode::kInput,
                      fmt::format("malformed HTTP response from Prometheus: {}; is the URL that "
                                  "of a Prometheus server?",
                                  why));
  };
  std::size_t head_end = raw.find("\r\n\r\n");
  std::size_t sep = 4;
  if (head_end == std::string_view::npos) {
    head_end = raw.find("\n\n");
    sep = 2;
  }
  if (head_end == std::string_view::npos) return fail("no end of headers");
  const std::string_view head = raw.substr(0, head_end);
  std::string_view body = raw.substr(head_end + sep);
  std::size_t pos = 0;
  auto next_line = [&]() {
    const std::size_t nl = head.find('\n', pos);
    std::string_view line =
        head.substr(pos, nl == std::string_view::npos ? head.size() - pos : nl - pos);
    pos = nl == std::string_view::npos ? head.size() : nl + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    return line;
  };
  const std::string_view status_line = next_line();
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ') {
    return fail("no HTTP/1.x status line");
  }
  const auto status = parse::parse_u64(status_line.substr(9, 3));
  if (!status || *status < 100 || *status > 599) return fail("bad status code");
  HttpResponse r;
  r.status = static_cast<int>(*status);
  bool chunked = false;
  std::optional<std::uint64_t> length;
  while (pos < head.size()) {
    const std::string_view line = next_line();
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = parse::trim(line.substr(colon + 1));
    if (parse::equals_ignore_case(name, "content-type")) {
      r.content_type = std::string(value);
    } else if (parse::equals_ignore_case(name, "content-length")) {
      length = parse::parse_u64(value);
      if (!length) return fail("bad Content-Length");
    } else if (parse::equals_ignore_case(name, "transfer-encoding")) {
      chunked = parse::equals_ignore_case(value, "chunked");
    }
  }
  if (chunked) {
    std::string decoded;
    while (true) {
      const std::size_t nl = body.find("\r\n");
      if (nl == std::string_view::npos) return fail("truncated chunk");
      std::string_view size_text = body.substr(0, nl);
      size_text = size_text.substr(0, size_text.find(';'));
      std::uint64_t size = 0;
      if (size_text.empty() || size_text.size() > 15) return fail("bad chunk size");
      for (char c : size_text) {
        const int d = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : -1;
        if (d < 0) return fail("bad chunk size");
        size = size * 16 + static_cast<std::uint64_t>(d);
      }
      body.remove_prefix(nl + 2);
      if (size == 0) break;
      if (size > body.size()) return fail("truncated chunk");
      decoded.append(body.substr(0, size));
      body.remove_prefix(size);
      if (!body.starts_with("\r\n")) return fail("chunk not followed by CRLF");
      body.remove_prefix(2);
    }
    r.body = std::move(decoded);
  } else if (length) {
    if (*length > body.size()) return fail("body shorter than its Content-Length");
    r.body = std::string(body.substr(0, *length));
  } else {
    r.body = std::string(body);
  }
  return r;
}

std::string url_encode(std::string_view value) {
  std::string out;
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace poolscope::serve
