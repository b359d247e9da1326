// `poolscope serve` on the live kernel: /metrics answers in both formats, bad and slow clients
// are refused or timed out without stopping the sampler, and it ends by itself (--duration).
#include <gtest/gtest.h>

#include <regex>

#include "integration/cli_support.h"
#include "integration/fleet_support.h"
#include "test_support.h"
#include "test_paths.h"

namespace poolscope::testing {
namespace {

std::string temp_log(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("poolscope_") + name + "_" + std::to_string(::getpid()) + ".log"))
      .string();
}

double samples_in(const std::string& page) {
  static const std::regex re("\npoolscope_samples_total ([0-9]+)\n");
  std::smatch m;
  return std::regex_search(page, m, re) ? std::stod(m[1]) : -1;
}

std::string wait_for_metrics(int port) {
  for (int i = 0; i < 100; ++i) {
    std::string page = http_get_body(port, "/metrics");
    if (page.find("poolscope_samples_total") != std::string::npos) return page;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "";
}

TEST(FleetServe, MetricsServedWhileBadAndSlowClientsAreRefused) {
  if (!is_root()) GTEST_SKIP() << "needs root to read /proc/slabinfo";
  const int port = free_loopback_port();
  const std::string log = temp_log("serve");
  LoggedChild serve(
      {POOLSCOPE_BINARY, "serve", "--listen", "127.0.0.1:" + std::to_string(port), "--interval",
       "0.2", "--duration", "60", "--top", "5", "--max-connections", "8", "--no-processes"},
      log);
  const std::string page = wait_for_metrics(port);
  ASSERT_FALSE(page.empty()) << read_file(log);
  EXPECT_NE(page.find("# TYPE poolscope_key_bytes gauge\n"), std::string::npos);
  EXPECT_NE(page.find("poolscope_pool_used_bytes{pool=\"unreclaimable\"}"), std::string::npos);
  EXPECT_NE(page.find("poolscope_keys{set=\"exported\"} 5\n"), std::string::npos) << page;
  // OpenMetrics when asked for.
  const std::string om = raw_exchange(
      port, "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n");
  EXPECT_NE(om.find("Content-Type: application/openmetrics-text"), std::string::npos);
  EXPECT_TRUE(om.ends_with("# EOF\n"));

  // Malformed and unsupported requests get their status, not a crash.
  EXPECT_TRUE(raw_exchange(port, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
  EXPECT_TRUE(raw_exchange(port, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
  EXPECT_TRUE(
      raw_exchange(port, std::string("\x16\x03\x01\x00\x05hello", 10)).starts_with("HTTP/1.1 400"));
  EXPECT_TRUE(raw_exchange(port, "GET /metrics HTTP/1.1\r\nX: " + std::string(10000, 'a'))
                  .starts_with("HTTP/1.1 431"));

  // Slow clients: 6 connections that never send a byte hold slots, yet scrapes and sampling go on.
  std::vector<std::thread> idle;
  for (int i = 0; i < 6; ++i) {
    idle.emplace_back([port] { raw_exchange(port, ""); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double before = samples_in(http_get_body(port, "/metrics"));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const std::string during = http_get_body(port, "/metrics");
  EXPECT_GT(samples_in(during), before + 3) << "the sampler stalled while clients were idle";
  // Over the limit of 8 connections (and the 4 incomplete heads one address may hold): a complete
  // request is still served; the oldest idle connection made room for it (issue 21).
  std::vector<std::thread> more;
  for (int i = 0; i < 4; ++i) more.emplace_back([port] { raw_exchange(port, ""); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(raw_exchange(port, "GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200"));
  // The idle ones are evicted (503) or answered 408 after the request timeout, and closed.
  for (auto& t : idle) t.join();
  for (auto& t : more) t.join();
  EXPECT_NE(http_get_body(port, "/metrics").find("poolscope_samples_total"), std::string::npos);

  const int status = serve.stop();
  ASSERT_TRUE(WIFEXITED(status)) << read_file(log);
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_file(log);
  const std::string out = read_file(log);
  EXPECT_NE(out.find("poolscope: serving http://127.0.0.1:"), std::string::npos) << out;
  EXPECT_NE(out.find("refused"), std::string::npos) << out;
  std::filesystem::remove(log);
}

TEST(FleetServe, BadListenAddressIsAUsageError) {
  auto r = run_poolscope("serve --listen 127.0.0.1 --duration 1");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("expected HOST:PORT"), std::string::npos) << r.out;
}

TEST(FleetServe, PortInUseIsAnEnvironmentError) {
  if (!is_root()) GTEST_SKIP() << "needs root to read /proc/slabinfo";
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::listen(fd, 1);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  auto r =
      run_poolscope("serve --duration 1 --listen 127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
  ::close(fd);
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_NE(r.out.find("choose another with --listen"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace poolscope::testing
