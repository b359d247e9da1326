// The HTTP request parser of `poolscope serve`: complete and partial requests, limits, refusals.
#include "serve/http_request.h"

#include <gtest/gtest.h>

namespace poolscope::serve {
namespace {

TEST(HttpRequest, ParsesAPrometheusScrape) {
  const std::string req =
      "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9469\r\nUser-Agent: Prometheus/2.42.0\r\n"
      "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
      "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
      "Accept-Encoding: gzip\r\n\r\n";
  const HttpRequest r = parse_http_request(req);
  ASSERT_EQ(r.state, ParseState::kComplete);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/metrics");
  EXPECT_EQ(r.query, "x=1");
  EXPECT_EQ(r.consumed, req.size());
  EXPECT_TRUE(wants_openmetrics(r.accept));
  EXPECT_FALSE(wants_openmetrics("text/plain;version=0.0.4"));
}

TEST(HttpRequest, IncompleteUntilTheBlankLine) {
  const std::string req = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
  for (std::size_t n = 0; n < req.size(); ++n) {
    EXPECT_EQ(parse_http_request(req.substr(0, n)).state, ParseState::kIncomplete) << n;
  }
  EXPECT_EQ(parse_http_request(req).state, ParseState::kComplete);
  // Bare LF line ends (netcat, old clients) are accepted.
  EXPECT_EQ(parse_http_request("HEAD / HTTP/1.1\nHost: x\n\n").state, ParseState::kComplete);
}

TEST(HttpRequest, RefusesWhatItDoesNotServe) {
  auto status = [](std::string_view text) {
    const HttpRequest r = parse_http_request(text);
    EXPECT_EQ(r.state, ParseState::kBad) << text;
    EXPECT_FALSE(r.error.empty());
    return r.status;
  };
  EXPECT_EQ(status("POST /metrics HTTP/1.1\r\n\r\n"), 405);
  EXPECT_EQ(status("GET /metrics HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(status("GET /metrics SPDY\r\n\r\n"), 400);
  EXPECT_EQ(status("GET metrics HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET  /metrics HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
  EXPECT_EQ(status("GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(status("GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), 400);
  EXPECT_EQ(status("GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
  EXPECT_EQ(status("GET /" + std::string(3000, 'a') + " HTTP/1.1\r\n\r\n"), 414);
  // Binary garbage is refused at once, without waiting for a blank line.
  EXPECT_EQ(status(std::string("\x16\x03\x01\x02\x00", 5)), 400);
}

TEST(HttpRequest, HeadSizeIsBounded) {
  std::string endless = "GET /metrics HTTP/1.1\r\nX: " + std::string(kMaxRequestHead, 'a');
  EXPECT_EQ(parse_http_request(endless).status, 431);
  EXPECT_EQ(parse_http_request(endless + "\r\n\r\n").status, 431);
}

TEST(HttpRequest, ResponsesCarryLengthAndClose) {
  const std::string r = http_response(200, "text/plain", "abc");
  EXPECT_EQ(r,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Connection: close\r\n\r\nabc");
  const std::string head = http_response(200, "text/plain", "abc", true);
  EXPECT_TRUE(head.ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"));
  EXPECT_NE(http_response(405, "text/plain", "").find("Allow: GET, HEAD\r\n"), std::string::npos);
}

TEST(HttpRequest, ListenAddresses) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(split_host_port("127.0.0.1:9469").value(), P("127.0.0.1", "9469"));
  EXPECT_EQ(split_host_port("[::1]:80").value(), P("::1", "80"));
  EXPECT_EQ(split_host_port(":9469").value(), P("", "9469"));
  EXPECT_EQ(split_host_port("localhost:0").value(), P("localhost", "0"));
  EXPECT_FALSE(split_host_port("127.0.0.1"));
  EXPECT_FALSE(split_host_port("::1:80"));
  EXPECT_FALSE(split_host_port("host:99999"));
  EXPECT_FALSE(split_host_port("host:x"));
  EXPECT_EQ(split_host_port("nope").error().code, ErrorCode::kUsage);
}

}  // namespace
}  // namespace poolscope::serve
