// The /metrics page against golden files (tests/data/serve/), the cardinality bound and label
// escaping. POOLSCOPE_UPDATE_GOLDEN=1 rewrites the golden files (review the diff).
#include "serve/metrics.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "test_support.h"

namespace poolscope::serve {
namespace {

Entry tag_entry(const char* tag, PoolKind pool, std::uint64_t allocs, std::uint64_t frees,
                std::uint64_t bytes, std::string owner = "") {
  Entry e;
  e.key = tag_from_text(tag);
  e.pool = pool;
  e.counters.allocs = allocs;
  e.counters.frees = frees;
  e.counters.outstanding = allocs - frees;
  e.counters.bytes = bytes;
  e.owner = std::move(owner);
  return e;
}

Snapshot windows_snapshot() {
  Snapshot s;
  s.wall_time = std::chrono::system_clock::time_point(std::chrono::seconds(1'790'000'000));
  s.host = "web01";
  s.source = "live:windows";
  s.counter_width = CounterWidth::k32;
  s.entries.push_back(tag_entry("MmSt", PoolKind::kPaged, 900000, 880000, 50'000'000));
  s.entries.push_back(tag_entry("Even", PoolKind::kNonPaged, 4'000'000, 3'000'000, 40'000'000,
                                "eventfd.sys \"Events\""));
  s.entries.push_back(tag_entry("Drsd", PoolKind::kPaged, 560, 539, 17472, "win32k.sys"));
  Entry session = tag_entry("Gla5", PoolKind::kSession, 10, 5, 640);
  session.session_id = 1;
  s.entries.push_back(session);
  s.totals.push_back({.pool = PoolKind::kPaged,
                      .used_bytes = 300'000'000,
                      .limit_bytes = 2'000'000'000,
                      .failures = std::nullopt,
                      .limit_note = ""});
  s.totals.push_back({.pool = PoolKind::kNonPaged,
                      .used_bytes = 200'000'000,
                      .limit_bytes = 1'000'000'000,
                      .failures = 3,
                      .limit_note = ""});
  s.memory_total_bytes = 8'000'000'000;
  s.memory_available_bytes = 3'000'000'000;
  return s;
}

detect::Report report_with_drsd_leak() {
  detect::Report r;
  detect::Finding f;
  f.key = tag_from_text("Drsd");
  f.pool = PoolKind::kPaged;
  f.owner = "win32k.sys";
  f.verdict = detect::Verdict::kLeak;
  f.rate_objects_per_hour = 120;
  f.rate_bytes_per_hour = 120 * 832;
  f.onset_wall_ns = 1'789'990'000'000'000'000;
  f.confidence = 0.9995;
  f.exhaustion_eta_seconds = 86400.5;
  r.findings.push_back(f);
  detect::Finding g = f;
  g.key = tag_from_text("MmSt");
  g.owner = "";
  g.verdict = detect::Verdict::kSuspect;
  g.confidence = 0.93;
  g.rate_bytes_per_hour = std::nullopt;
  g.exhaustion_eta_seconds = std::nullopt;
  r.findings.push_back(g);
  r.samples = 120;
  r.seconds = 3600;
  return r;
}

void expect_golden(const std::string& name, const std::string& actual) {
  const auto path = testing::test_data("serve/" + name);
  if (std::getenv("POOLSCOPE_UPDATE_GOLDEN")) {
    std::ofstream(path, std::ios::binary) << actual;
  }
  EXPECT_EQ(actual, testing::read_file(path))
      << "golden file " << path << " (POOLSCOPE_UPDATE_GOLDEN=1 rewrites it)";
}

TEST(Metrics, PrometheusTextMatchesGolden) {
  const Snapshot s = windows_snapshot();
  const detect::Report r = report_with_drsd_leak();
  const MetricsInput in{
      .snapshot = &s, .report = &r, .samples = 120, .sample_seconds = 0.004, .version = "0.1.0"};
  expect_golden("windows.prom", render_metrics(in, {.top = 2}));
}

TEST(Metrics, OpenMetricsTextMatchesGolden) {
  const Snapshot s = windows_snapshot();
  const detect::Report r = report_with_drsd_leak();
  const MetricsInput in{
      .snapshot = &s, .report = &r, .samples = 120, .sample_seconds = 0.004, .version = "0.1.0"};
  const std::string page = render_metrics(in, {.top = 2, .openmetrics = true});
  expect_golden("windows.om.txt", page);
  EXPECT_TRUE(page.ends_with("# EOF\n"));
  EXPECT_NE(page.find("# TYPE poolscope_key_allocs counter\n"), std::string::npos);
  EXPECT_NE(page.find("\npoolscope_key_allocs_total{"), std::string::npos);
}

TEST(Metrics, TopBoundsKeysButKeepsEveryKeyWithAFinding) {
  const Snapshot s = windows_snapshot();
  const detect::Report r = report_with_drsd_leak();
  const MetricsInput in{.snapshot = &s, .report = &r, .samples = 1};
  const std::string page = render_metrics(in, {.top = 1});
  // MmSt is the largest; Drsd (4th by bytes... 3rd) has a finding; Even and Gla5 are left out.
  EXPECT_NE(page.find("poolscope_key_bytes{key=\"MmSt\""), std::string::npos);
  EXPECT_NE(page.find("poolscope_key_bytes{key=\"Drsd\""), std::string::npos);
  EXPECT_EQ(page.find("poolscope_key_bytes{key=\"Even\""), std::string::npos);
  EXPECT_EQ(page.find("key=\"Gla5\""), std::string::npos);
  EXPECT_NE(page.find("poolscope_keys{set=\"all\"} 4\n"), std::string::npos);
  EXPECT_NE(page.find("poolscope_keys{set=\"exported\"} 2\n"), std::string::npos);
  // --exclude removes a key even from the top.
  const std::string excluded = render_metrics(in, {.top = 1, .exclude = {"MmSt"}});
  EXPECT_EQ(excluded.find("poolscope_key_bytes{key=\"MmSt\""), std::string::npos);
  EXPECT_NE(excluded.find("poolscope_key_bytes{key=\"Even\""), std::string::npos);
}

TEST(Metrics, LinuxHasNoAllocCountersAndNoFindingsBeforeTheDetectorRan) {
  Snapshot s;
  s.source = "live:linux";
  Entry e;
  e.key = slab_cache("kmalloc-64");
  e.pool = PoolKind::kUnreclaimable;
  e.counters.outstanding = 100;
  e.counters.bytes = 8192;
  s.entries.push_back(e);
  const MetricsInput in{.snapshot = &s};
  const std::string page = render_metrics(in, {});
  EXPECT_NE(
      page.find(
          "poolscope_key_outstanding_objects{key=\"kmalloc-64\",pool=\"unreclaimable\"} 100\n"),
      std::string::npos);
  EXPECT_EQ(page.find("poolscope_key_allocs"), std::string::npos);
  EXPECT_EQ(page.find("poolscope_finding"), std::string::npos);
  EXPECT_EQ(page.find("poolscope_pool_used_bytes"), std::string::npos);
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_label_value("\x01x\xff"), "?x?");
  EXPECT_EQ(escape_label_value(display_key(tag_from_ulong(0x0141'4243))), "CBA\\\\x01");
}

}  // namespace
}  // namespace poolscope::serve
