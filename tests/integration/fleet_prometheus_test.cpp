// The fleet path with a real Prometheus (Debian package `prometheus`): promtool accepts the
// shipped rules and the dashboard's queries; Prometheus scrapes `poolscope serve` on loopback, the
// series are there, the shipped leak alert fires for an eventfd leak made by poolscope-leaker, and
// `leaks --prometheus` finds the leak in Prometheus' data. Everything runs on loopback in a temp
// folder, is bounded in time and is ended by pid.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "integration/cli_support.h"
#include "integration/fleet_support.h"
#include "test_support.h"
#include "test_paths.h"

namespace poolscope::testing {
namespace {

namespace fs = std::filesystem;

const char* kPromtool = "/usr/bin/promtool";
const char* kPrometheus = "/usr/bin/prometheus";

fs::path source_path(const std::string& relative) {
  return fs::path(POOLSCOPE_SOURCE_DIR) / relative;
}

RunResult run_shell(const std::string& cmd) {
  RunResult r;
  FILE* pipe = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("poolscope_fleet_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

TEST(FleetPrometheus, PromtoolAcceptsTheShippedRulesDashboardAndMetrics) {
  if (!have_program(kPromtool)) {
    GTEST_SKIP() << "promtool not installed (apt install prometheus)";
  }
  const std::string rules = source_path("packaging/prometheus/poolscope-rules.yml").string();
  RunResult r = run_shell(std::string(kPromtool) + " check rules " + rules);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("SUCCESS: 7 rules found"), std::string::npos) << r.out;

  // Every query of the Grafana dashboard parses (its variables replaced by values).
  TempDir dir;
  const auto dashboard =
      nlohmann::json::parse(read_file(source_path("packaging/grafana/poolscope-dashboard.json")));
  std::ofstream out(dir.path / "dashboard-rules.yml");
  out << "groups:\n  - name: dashboard\n    rules:\n";
  int queries = 0;
  for (const auto& panel : dashboard.at("panels")) {
    for (const auto& target : panel.at("targets")) {
      std::string expr = target.at("expr").get<std::string>();
      expr = std::regex_replace(expr, std::regex("\\$instance"), ".*");
      expr = std::regex_replace(expr, std::regex("\\$top"), "10");
      out << "      - record: dashboard:query" << queries++ << "\n        expr: '"
          << std::regex_replace(expr, std::regex("'"), "''") << "'\n";
    }
  }
  out.close();
  EXPECT_GE(queries, 8);
  r = run_shell(std::string(kPromtool) + " check rules " +
                (dir.path / "dashboard-rules.yml").string());
  EXPECT_EQ(r.exit_code, 0) << r.out;

  // The exposition format of the golden pages passes promtool's parser and linter.
  r = run_shell(std::string(kPromtool) + " check metrics < " +
                (fs::path(POOLSCOPE_TEST_DATA) / "serve/windows.prom").string());
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

// The body of a Prometheus API call, parsed; null when it did not answer.
nlohmann::json api(int port, const std::string& path) {
  const std::string body = http_get_body(port, path);
  auto j = nlohmann::json::parse(body, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

nlohmann::json query(int port, const std::string& promql) {
  auto j = api(port, "/api/v1/query?query=" + url_encode(promql));
  if (j.is_null() || j.value("status", "") != "success") return nlohmann::json::array();
  return j["data"]["result"];
}

nlohmann::json wait_for(int port, const std::string& promql, int seconds) {
  for (int i = 0; i < seconds; ++i) {
    auto r = query(port, promql);
    if (!r.empty()) return r;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return nlohmann::json::array();
}

TEST(FleetPrometheus, ScrapedSeriesAndTheShippedLeakAlertFireForALiveLeak) {
  if (!is_root()) GTEST_SKIP() << "needs root to read /proc/slabinfo";
  if (!have_program(kPrometheus)) {
    GTEST_SKIP() << "prometheus not installed (apt install prometheus)";
  }
  TempDir dir;
  const int serve_port = free_loopback_port();
  const int prom_port = free_loopback_port();
  ASSERT_NE(serve_port, prom_port);

  // The shipped rules with a short `for:` (the expressions are the shipped ones, unchanged).
  std::string rules = read_file(source_path("packaging/prometheus/poolscope-rules.yml"));
  const std::string shipped_for = "for: 15m  # TUNE";
  const auto at = rules.find(shipped_for);
  ASSERT_NE(at, std::string::npos) << "the leak alert's `for:` changed; update this test";
  rules.replace(at, shipped_for.size(), "for: 6s");
  std::ofstream(dir.path / "rules.yml") << rules;
  std::ofstream(dir.path / "prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "rule_files:\n  - " << (dir.path / "rules.yml").string() << "\n"
      << "scrape_configs:\n  - job_name: poolscope\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << serve_port << "']\n";

  // The leak first, so the detector sees it from its first samples; every child ends by itself.
  LoggedChild leaker({POOLSCOPE_LEAKER, "--kind", "eventfd", "--mode", "leak", "--rate", "100",
                      "--duration", "150"},
                     (dir.path / "leaker.log").string());
  LoggedChild serve({POOLSCOPE_BINARY, "serve", "--listen",
                     "127.0.0.1:" + std::to_string(serve_port), "--interval", "0.5",
                     "--analyze-every", "4", "--top", "10", "--duration", "170", "--no-processes"},
                    (dir.path / "serve.log").string());
  LoggedChild prometheus({kPrometheus, "--config.file=" + (dir.path / "prometheus.yml").string(),
                          "--storage.tsdb.path=" + (dir.path / "data").string(),
                          "--web.listen-address=127.0.0.1:" + std::to_string(prom_port),
                          "--storage.tsdb.retention.time=1h", "--log.level=warn"},
                         (dir.path / "prometheus.log").string());

  const auto logs = [&] {
    return "serve: " + read_file(dir.path / "serve.log") +
           "\nprometheus: " + read_file(dir.path / "prometheus.log");
  };
  // The series are scraped.
  auto bytes = wait_for(prom_port, "poolscope_key_bytes{job=\"poolscope\"}", 60);
  ASSERT_FALSE(bytes.empty()) << logs();
  // Cardinality: the top 10 keys, plus keys with a finding outside them.
  EXPECT_GE(bytes.size(), 10u) << bytes.dump();
  EXPECT_LE(bytes.size(), 10u + query(prom_port, "poolscope_finding").size()) << bytes.dump();
  EXPECT_FALSE(query(prom_port, "poolscope_pool_used_bytes{pool=\"unreclaimable\"}").empty());
  EXPECT_FALSE(query(prom_port, "poolscope_samples_total > 0").empty());
  EXPECT_FALSE(query(prom_port, "poolscope_info{source=\"live:linux\"}").empty());

  // The shipped alert fires for the leak.
  auto firing = wait_for(
      prom_port, "ALERTS{alertname=\"PoolscopeKernelPoolLeak\",alertstate=\"firing\"}", 150);
  ASSERT_FALSE(firing.empty()) << "no leak alert; findings: "
                               << query(prom_port, "poolscope_finding").dump() << "\n"
                               << logs();
  const std::string key = firing[0]["metric"].value("key", "");
  std::printf("leak alert firing for key %s (pool %s)\n", key.c_str(),
              firing[0]["metric"].value("pool", "").c_str());
  EXPECT_EQ(firing[0]["metric"].value("verdict", ""), "leak");
  EXPECT_EQ(firing[0]["metric"].value("severity", ""), "warning");

  // `leaks --prometheus` finds the same key leaking in Prometheus' data. Prometheus scrapes every
  // second while serve samples twice as often, so its history may need a few more seconds for the
  // same confidence: retried for up to 60 s.
  RunResult leaks;
  bool found = false;
  for (int attempt = 0; attempt < 12 && !found; ++attempt) {
    if (attempt) std::this_thread::sleep_for(std::chrono::seconds(5));
    leaks = run_poolscope("leaks --prometheus http://127.0.0.1:" + std::to_string(prom_port) +
                          " --match '{job=\"poolscope\"}' --since 10m --step 1s --format json");
    ASSERT_EQ(leaks.exit_code, 0) << leaks.out;
    const auto j = nlohmann::json::parse(leaks.out, nullptr, false);
    ASSERT_TRUE(j.is_array() && j.size() == 1) << leaks.out;
    EXPECT_EQ(j[0]["instance"], "127.0.0.1:" + std::to_string(serve_port));
    for (const auto& f : j[0]["report"]["findings"]) {
      found = found || (f["key"] == key && f["verdict"] == "leak");
    }
  }
  EXPECT_TRUE(found) << leaks.out;
  const RunResult none =
      run_poolscope("leaks --prometheus http://127.0.0.1:" + std::to_string(prom_port) +
                    " --match '{job=\"nope\"}' --since 10m --step 1s");
  EXPECT_EQ(none.exit_code, 2) << none.out;
  EXPECT_NE(none.out.find("has no poolscope series"), std::string::npos) << none.out;

  prometheus.stop();
  serve.stop();
  leaker.stop();
}

}  // namespace
}  // namespace poolscope::testing
