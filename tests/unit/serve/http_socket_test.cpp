// The socket code of `serve` and `leaks --prometheus` (src/serve/net), on loopback: the same tests
// run on Linux and, in the mingw build, under Wine (Winsock).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "serve/http_client.h"
#include "serve/http_server.h"

namespace poolscope::serve {
namespace {

// A server on a free loopback port, answering from a thread until destroyed.
class RunningServer {
 public:
  explicit RunningServer(ServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    auto s = HttpServer::open(options);
    if (!s) {
      error_ = s.error().message;
      return;
    }
    server_ = std::move(*s);
    thread_ = std::thread([this] {
      server_->run(
          [](const HttpRequest& req) {
            return http_response(200, "text/plain; charset=utf-8",
                                 req.method + " " + req.path + " ?" + req.query + "\n");
          },
          stop_);
    });
  }
  ~RunningServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::string& error() const { return error_; }
  HttpServer& server() { return *server_; }
  HttpUrl url() const {
    const std::string address = server_->address();
    const auto colon = address.rfind(':');
    return HttpUrl{address.substr(0, colon), address.substr(colon + 1), ""};
  }

 private:
  std::unique_ptr<HttpServer> server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::string error_;
};

TEST(HttpSockets, ServesAndFetchesOnLoopback) {
  RunningServer running;
  ASSERT_TRUE(running.error().empty()) << running.error();
  EXPECT_TRUE(running.server().loopback());
  EXPECT_EQ(running.server().address().rfind("127.0.0.1:", 0), 0u) << running.server().address();
  EXPECT_NE(running.server().address(), "127.0.0.1:0");
  for (int i = 0; i < 3; ++i) {
    auto r = http_get(running.url(), "/metrics?x=" + std::to_string(i));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->content_type, "text/plain; charset=utf-8");
    EXPECT_EQ(r->body, "GET /metrics ?x=" + std::to_string(i) + "\n");
  }
  EXPECT_EQ(running.server().stats().requests, 3u);
  EXPECT_EQ(running.server().stats().refused, 0u);
}

TEST(HttpSockets, MalformedRequestIsRefusedAndTheServerGoesOn) {
  RunningServer running;
  ASSERT_TRUE(running.error().empty()) << running.error();
  auto bad = http_get(running.url(), "/a b");  // a space in the target: not HTTP
  ASSERT_TRUE(bad) << bad.error().message;
  EXPECT_EQ(bad->status, 400) << bad->body;
  auto good = http_get(running.url(), "/metrics");
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(good->status, 200);
  EXPECT_EQ(running.server().stats().refused, 1u);
  EXPECT_EQ(running.server().stats().requests, 1u);
}

TEST(HttpSockets, BusyPortIsAnEnvironmentError) {
  RunningServer running;
  ASSERT_TRUE(running.error().empty()) << running.error();
  auto second = HttpServer::open({.listen = running.server().address()});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kEnvironment);
  EXPECT_NE(second.error().message.find("choose another with --listen"), std::string::npos)
      << second.error().message;
}

TEST(HttpSockets, NothingListeningIsAnEnvironmentError) {
  HttpUrl url;
  {
    RunningServer running;  // take a free port, then close it
    ASSERT_TRUE(running.error().empty()) << running.error();
    url = running.url();
  }
  auto r = http_get(url, "/api/v1/query?query=up", {.timeout = std::chrono::seconds(5)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kEnvironment);
  EXPECT_NE(r.error().message.find("is Prometheus running there?"), std::string::npos)
      << r.error().message;
}

TEST(HttpSockets, BadListenAddressIsAUsageError) {
  auto s = HttpServer::open({.listen = "no-such-host.invalid:9469"});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("--listen"), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace poolscope::serve
