// The fleet path with a real Prometheus (Debian package `prometheus`): promtool accepts the
// shipped rules and the dashboard's queries; Prometheus scrapes `poolscope serve` on loopback, the
// series are there, the shipped leak alert fires for an eventfd leak made by poolscope-leaker, and
// `leaks --prometheus` finds the leak in Prometheus' data. Everything runs on loopback in a temp
// folder, is bounded in time and is ended by pid.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "integration/cli_support.h"
#include "integration/fleet_support.h"
#include "test_paths.h"
#include "test_support.h"

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

// A fleet of hosts backfilled into a real Prometheus (promtool tsdb create-blocks-from
// openmetrics): 2 h at 15 s, 6 caches per host. host-00, host-03, host-07 leak cache_c and
// webx1 leaks cache_f; "web.1" is flat (its dot must not match webx1 in a batch's regex).
std::string fleet_openmetrics(const std::vector<std::string>& hosts, double end) {
  std::string out;
  const char* caches[] = {"cache_a", "cache_b", "cache_c", "cache_d", "cache_e", "cache_f"};
  const int points = 480;  // 2 h at 15 s
  for (const char* metric : {"poolscope_key_outstanding_objects", "poolscope_key_bytes"}) {
    out += fmt::format("# TYPE {} gauge\n", metric);
    const bool bytes = std::string_view(metric) == "poolscope_key_bytes";
    for (std::size_t h = 0; h < hosts.size(); ++h) {
      for (int c = 0; c < 6; ++c) {
        const bool leaks =
            (c == 2 && (h == 0 || h == 3 || h == 7)) || (c == 5 && hosts[h] == "webx1:9100");
        for (int i = 0; i < points; ++i) {
          // Flat series wobble by a few objects; a leak adds 1,000 objects an hour.
          double objects = 10000 + static_cast<double>((i * 7919 + h * 31 + c * 17) % 13);
          if (leaks) objects += 1000.0 * i / 240.0;
          out += fmt::format(
              "{}{{instance=\"{}\",job=\"poolscope\",key=\"{}\",pool=\"unreclaimable\"}} {} "
              "{:.3f}\n",
              metric, hosts[h], caches[c], bytes ? objects * 256 : objects,
              end - (points - 1 - i) * 15.0);
        }
      }
    }
  }
  return out + "# EOF\n";
}

// (host, key) of every leak finding in a `leaks --prometheus --format json` answer.
std::set<std::pair<std::string, std::string>> leak_findings(const nlohmann::json& j) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& host : j["hosts"]) {
    for (const auto& f : host["report"]["findings"]) {
      if (f["verdict"] == "leak") out.emplace(host["instance"], f["key"]);
    }
  }
  return out;
}

TEST(FleetPrometheus, ABackfilledFleetIsReadInBatchesWithTheFindingsOfOneHostAtATime) {
  if (!have_program(kPrometheus) || !have_program(kPromtool)) {
    GTEST_SKIP() << "prometheus/promtool not installed (apt install prometheus)";
  }
  TempDir dir;
  std::vector<std::string> hosts;
  for (int h = 0; h < 10; ++h) hosts.push_back(fmt::format("host-{:02}:9100", h));
  hosts.push_back("web.1:9100");
  hosts.push_back("webx1:9100");
  const double end = static_cast<double>(::time(nullptr)) - 60;
  std::ofstream(dir.path / "fleet.om") << fleet_openmetrics(hosts, end);
  const RunResult blocks =
      run_shell(std::string(kPromtool) + " tsdb create-blocks-from openmetrics " +
                (dir.path / "fleet.om").string() + " " + (dir.path / "data").string());
  ASSERT_EQ(blocks.exit_code, 0) << blocks.out;

  // At most 5,000 samples per query: one host (6 keys x 481 points) fits, two do not.
  const int prom_port = free_loopback_port();
  std::ofstream(dir.path / "prometheus.yml") << "global:\n  scrape_interval: 1m\n";
  LoggedChild prometheus({kPrometheus, "--config.file=" + (dir.path / "prometheus.yml").string(),
                          "--storage.tsdb.path=" + (dir.path / "data").string(),
                          "--web.listen-address=127.0.0.1:" + std::to_string(prom_port),
                          "--query.max-samples=5000", "--log.level=warn"},
                         (dir.path / "prometheus.log").string());
  ASSERT_FALSE(wait_for(prom_port, "count(poolscope_key_bytes)", 60).empty())
      << read_file(dir.path / "prometheus.log");
  const std::string base = "leaks --prometheus http://127.0.0.1:" + std::to_string(prom_port) +
                           " --since 2h --step 15s --format json";

  // In batches of 4 hosts, halved to 1 as Prometheus refuses the bigger ones.
  const RunResult batched = run_poolscope(base + " --hosts-per-query 4");
  ASSERT_EQ(batched.exit_code, 0) << batched.out;
  const auto j = nlohmann::json::parse(batched.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << batched.out;
  ASSERT_EQ(j["hosts"].size(), hosts.size()) << batched.out;
  const auto found = leak_findings(j);
  const std::set<std::pair<std::string, std::string>> truth = {{"host-00:9100", "cache_c"},
                                                               {"host-03:9100", "cache_c"},
                                                               {"host-07:9100", "cache_c"},
                                                               {"webx1:9100", "cache_f"}};
  EXPECT_EQ(found, truth) << batched.out;
  EXPECT_EQ(j["fleet"]["hosts"], hosts.size());
  EXPECT_EQ(j["fleet"]["hosts_with_leak"], 4);
  ASSERT_FALSE(j["fleet"]["keys"].empty());
  EXPECT_EQ(j["fleet"]["keys"][0]["key"], "cache_c");
  EXPECT_EQ(j["fleet"]["keys"][0]["leak_hosts"], 3);

  // One host at a time (--match on its instance) finds the same.
  std::set<std::pair<std::string, std::string>> one_by_one;
  for (const std::string& host : hosts) {
    const RunResult one = run_poolscope(base + " --match '{instance=\"" + host + "\"}'");
    ASSERT_EQ(one.exit_code, 0) << one.out;
    const auto oj = nlohmann::json::parse(one.out, nullptr, false);
    ASSERT_TRUE(oj.is_object() && oj["hosts"].size() == 1) << one.out;
    const auto f = leak_findings(oj);
    one_by_one.insert(f.begin(), f.end());
  }
  EXPECT_EQ(one_by_one, found);

  // Everything in one query per metric (the old way) is what Prometheus refuses.
  const RunResult at_once = run_poolscope(base + " --hosts-per-query 0");
  EXPECT_NE(at_once.exit_code, 0) << at_once.out;
  EXPECT_NE(at_once.out.find("too many samples"), std::string::npos) << at_once.out;

  // CSV streams one header, then each host's rows: the four leaks, with their instance.
  const RunResult csv =
      run_poolscope("leaks --prometheus http://127.0.0.1:" + std::to_string(prom_port) +
                    " --since 2h --step 15s --format csv --hosts-per-query 1");
  EXPECT_EQ(csv.exit_code, 0) << csv.out;
  std::size_t headers = 0, leak_rows = 0, at = 0;
  while (at < csv.out.size()) {
    const std::size_t eol = csv.out.find('\n', at);
    const std::string line = csv.out.substr(at, eol == std::string::npos ? eol : eol - at);
    headers += line.rfind("instance,", 0) == 0;
    leak_rows += line.find(",leak,") != std::string::npos;
    at = eol == std::string::npos ? csv.out.size() : eol + 1;
  }
  EXPECT_EQ(headers, 1u) << csv.out;
  EXPECT_EQ(leak_rows, 4u) << csv.out;

  // A batch size that is not a number is a usage error, before any query.
  const RunResult bad = run_poolscope(base + " --hosts-per-query some");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--hosts-per-query some: give auto or a number"), std::string::npos)
      << bad.out;

  // The text output ends with the fleet view.
  const RunResult text =
      run_poolscope("leaks --prometheus http://127.0.0.1:" + std::to_string(prom_port) +
                    " --since 2h --step 15s");
  EXPECT_EQ(text.exit_code, 0) << text.out;
  EXPECT_NE(text.out.find("== fleet: 12 host(s), 4 with a leak"), std::string::npos) << text.out;
  prometheus.stop();
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
    ASSERT_TRUE(j.is_object() && j["hosts"].is_array() && j["hosts"].size() == 1) << leaks.out;
    EXPECT_EQ(j["hosts"][0]["instance"], "127.0.0.1:" + std::to_string(serve_port));
    for (const auto& f : j["hosts"][0]["report"]["findings"]) {
      found = found || (f["key"] == key && f["verdict"] == "leak");
    }
    // The fleet view agrees: one host, and the key among those leaking on it.
    EXPECT_EQ(j["fleet"]["hosts"], 1) << leaks.out;
    if (found) {
      bool in_fleet = false;
      for (const auto& k : j["fleet"]["keys"]) {
        in_fleet = in_fleet || (k["key"] == key && k["leak_hosts"] == 1);
      }
      EXPECT_TRUE(in_fleet) << leaks.out;
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
