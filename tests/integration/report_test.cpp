// `poolscope report` end to end: real imported Windows data (the Drsd poolmon pair, the PDH
// counter logs and httperr.log), options and errors, and the page in headless Chromium (renders,
// charts in the DOM, a screenshot that is not blank, no console errors).
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <regex>

#include "integration/store_support.h"
#include "store/recording.h"
#include "test_support.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;
using testing::Child;

struct Ran {
  int code;
  std::string out, err;
};

Ran run(const std::vector<std::string>& args) {
  Child c(args);
  const int code = c.wait_for(120s);
  return {code, c.out(), c.err()};
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

TEST(ReportCli, DrsdPoolmonPairIsASuspectWithBothSamplesDrawn) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/03_msdocs_example4_drsd_printer_leak_before.txt");
  testing::TempDir dir;
  const std::string db = dir.file("drsd.db");
  auto imported =
      run({"import", "--into", db,
           testing::shared_data("poolmon/03_msdocs_example4_drsd_printer_leak_before.txt"),
           testing::shared_data("poolmon/04_msdocs_example4_drsd_printer_leak_after.txt"), "--at",
           "2025-11-12T10:00:00Z", "--at", "2025-11-12T10:05:00Z"});
  ASSERT_EQ(imported.code, 0) << imported.err;
  auto report = run({"report", db});
  ASSERT_EQ(report.code, 0) << report.err;
  // Next to the recording by default.
  const std::string html_path = dir.file("drsd.html");
  EXPECT_NE(report.out.find("poolscope: wrote " + html_path), std::string::npos) << report.out;
  // Two samples that rise are a suspect (confidence 1 - 1/2! = 0.5), not a leak: more evidence
  // never weakens a verdict (issue 17; docs/detection.md).
  EXPECT_NE(report.out.find("0 leak(s), 1 suspect(s) in 2 sample(s) over 5m00s"), std::string::npos)
      << report.out;
  const std::string html = testing::read_file(html_path);
  EXPECT_NE(html.find("<div class=\"verdict suspect\"><strong>No leak yet: 1 suspect."),
            std::string::npos);
  EXPECT_NE(html.find("<b>Drsd</b>"), std::string::npos);
  // Two samples: each drawn as a dot; poolmon gives no limit, and the forecast says so.
  EXPECT_NE(html.find("aria-label=\"Drsd outstanding objects\""), std::string::npos);
  EXPECT_GE(count(html, "<circle class=\"dot c0\""), 2u);
  EXPECT_NE(html.find("no paged pool limit in this data"), std::string::npos);
  // Windows next steps for the tag.
  EXPECT_NE(html.find("-PoolTag Drsd"), std::string::npos);
  EXPECT_NE(html.find("verifier /flags 0x8"), std::string::npos);
  EXPECT_NE(html.find("pass --drivers DIR"), std::string::npos);
}

TEST(ReportCli, PoolCountersAndConnectionsRefusedShareTheTimeAxis) {
  testing::TempDir dir;
  const std::string db = dir.file("web.db");
  auto imported = run({"import", "--into", db, testing::test_data("store/pool_counters.csv"),
                       testing::test_data("store/httperr_refused.log")});
  ASSERT_EQ(imported.code, 0) << imported.err;
  const std::string out = dir.file("out/web report.html");
  std::filesystem::create_directories(dir.file("out"));
  auto report = run({"report", db, "-o", out});
  ASSERT_EQ(report.code, 0) << report.err;
  EXPECT_NE(report.out.find("3 event(s), 2 counter(s)"), std::string::npos) << report.out;
  const std::string html = testing::read_file(out);
  EXPECT_NE(html.find("No pool samples in this recording"), std::string::npos);
  // The nonpaged pool counter is charted with the three refusals marked on it.
  EXPECT_NE(html.find("aria-label=\"\\\\WEB-07\\Memory\\Pool Nonpaged Bytes\""), std::string::npos);
  EXPECT_GE(count(html, "<g class=\"marker alarm\">"), 1u);
  EXPECT_NE(html.find("<section id=\"events\">"), std::string::npos);
  EXPECT_NE(html.find("2_Connections_Refused"), std::string::npos);
}

TEST(ReportCli, RealPerfmonLogsAndHttperrStayBoundedAndReadable) {
  POOLSCOPE_REQUIRE_SHARED("perfcounters/pdh_csv_waflia_ru_cp1251_DataCollector01.csv");
  testing::TempDir dir;
  const std::string db = dir.file("real.db");
  auto imported =
      run({"import", "--into", db,
           testing::shared_data("perfcounters/httperr1_koytze_learn_python.log"),
           testing::shared_data("perfcounters/pdh_csv_waflia_ru_cp1251_DataCollector01.csv"),
           testing::shared_data("perfcounters/pdh_csv_memeData_DataCollector02.csv")});
  ASSERT_EQ(imported.code, 0) << imported.err;
  auto report = run({"report", db, "-o", dir.file("real.html")});
  ASSERT_EQ(report.code, 0) << report.err;
  EXPECT_NE(report.out.find("1018 event(s), 1112 counter(s)"), std::string::npos) << report.out;
  const std::string html = testing::read_file(dir.file("real.html"));
  // 1112 counters: 12 drawn, the rest counted; the events table is cut at 100 rows.
  EXPECT_NE(html.find("1100 more counter(s) not drawn"), std::string::npos);
  EXPECT_NE(html.find("Timer_ConnectionIdle</td><td class=\"n\">544</td>"), std::string::npos);
  EXPECT_NE(html.find("Events (the first 100)"), std::string::npos);
  // No Connections_Refused in this log (a negative control): no red marks.
  EXPECT_EQ(html.find("marker alarm"), std::string::npos);
  EXPECT_LT(html.size(), 2'000'000u);
}

TEST(ReportCli, ErrorsAndExitCodes) {
  testing::TempDir dir;
  auto missing = run({"report", dir.file("nope.db")});
  EXPECT_EQ(missing.code, 2) << missing.err;
  EXPECT_NE(missing.err.find("nope.db"), std::string::npos) << missing.err;
  // A text file is not a recording.
  std::ofstream(dir.file("text.db")) << "hello\n";
  auto text = run({"report", dir.file("text.db")});
  EXPECT_EQ(text.code, 2) << text.err;
  // A recording with nothing in it.
  { auto rec = store::Recording::open_write(dir.file("empty.db")); }
  auto empty = run({"report", dir.file("empty.db")});
  EXPECT_EQ(empty.code, 2) << empty.err;
  EXPECT_NE(empty.err.find("nothing to report"), std::string::npos) << empty.err;
  // An output folder that does not exist.
  auto imported = run(
      {"import", "--into", dir.file("web.db"), testing::test_data("store/httperr_refused.log")});
  ASSERT_EQ(imported.code, 0) << imported.err;
  auto unwritable = run({"report", dir.file("web.db"), "-o", dir.file("no/such/dir/r.html")});
  EXPECT_EQ(unwritable.code, 3) << unwritable.err;
  EXPECT_NE(unwritable.err.find("cannot write"), std::string::npos) << unwritable.err;
  auto usage = run({"report"});
  EXPECT_EQ(usage.code, 2);
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium

constexpr const char* kChromium = "/usr/bin/chromium";

// Runs chromium headless with a private profile, bounded in time; stdout and stderr together.
Ran chromium(const testing::TempDir& dir, const std::vector<std::string>& args) {
  std::string cmd = std::string("timeout -k 5 90 ") + kChromium +
                    " --headless --no-sandbox --disable-gpu --disable-background-networking "
                    "--disable-component-update --no-first-run --enable-logging=stderr --v=0 "
                    "--user-data-dir='" +
                    dir.file("profile") + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  Ran r{-1, "", ""};
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A recording with a leak of 18 objects/s in filp, the eventfds of the process that causes it,
// a flat cache and refused connections on the same timeline: every part of the page.
void write_leak_recording(const std::string& path) {
  auto rec = store::Recording::open_write(path);
  ASSERT_TRUE(rec) << rec.error().message;
  const std::int64_t t0 = 1'795'251'600;  // 2026-11-21T09:00:00Z
  for (int i = 0; i < 600; ++i) {
    Snapshot s;
    s.host = "web-07";
    s.source = "live:linux";
    s.format = "slabinfo";
    s.wall_time = std::chrono::system_clock::time_point(std::chrono::seconds(t0 + i));
    s.monotonic_ns = static_cast<std::int64_t>(i) * 1'000'000'000;
    const std::uint64_t filp = 1444 + 18 * static_cast<std::uint64_t>(i) + (i * 7919) % 40;
    Entry leak;
    leak.key = slab_cache("filp");
    leak.pool = PoolKind::kUnreclaimable;
    leak.counters.outstanding = filp;
    leak.counters.bytes = (filp + 15) / 16 * 4096;
    leak.object_size = 256;
    Entry flat;
    flat.key = slab_cache("dentry");
    flat.pool = PoolKind::kReclaimable;
    flat.counters.outstanding = 50000 + (i * 31) % 200;
    flat.counters.bytes = 50000 * 192;
    flat.object_size = 192;
    s.entries = {leak, flat};
    s.totals = {PoolTotal{PoolKind::kUnreclaimable, *leak.counters.bytes + 30'000'000, 80'000'000,
                          std::nullopt, ""}};
    ProcessSample ps;
    ps.time = s.wall_time;
    ps.monotonic_ns = s.monotonic_ns;
    ProcessFacts p{.pid = 8332, .start_time = 1, .name = "leaker"};
    FdCounts fds;
    fds.eventfd = 18 * static_cast<std::uint64_t>(i);
    fds.file = 4;
    p.fds = fds;
    p.fd_total = fds.eventfd + 4;
    ps.processes = {p};
    ASSERT_TRUE(rec->append(s, &ps));
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        rec->add_event((t0 + 400 + 30 * i) * 1'000'000'000LL, "httperr",
                       R"({"reason":"2_Connections_Refused","status":503,"pool_pressure":true,)"
                       R"("refused_connections":2,"file":"httperr1.log","line":)" +
                           std::to_string(5 + i) + "}"));
  }
}

TEST(ReportChromium, PageRendersWithChartsNoConsoleErrorsAndAVisibleScreenshot) {
  if (!std::filesystem::exists(kChromium)) {
    GTEST_SKIP() << "chromium is not installed (apt install chromium; scripts/setup.sh does)";
  }
  testing::TempDir dir;
  const std::string db = dir.file("leak.db");
  write_leak_recording(db);
  const std::string html = dir.file("leak.html");
  auto report = run({"report", db, "-o", html});
  ASSERT_EQ(report.code, 0) << report.err;
  ASSERT_NE(report.out.find("1 leak(s)"), std::string::npos) << report.out;

  // The DOM after parsing: the charts are there, with their series, trend, forecast and marks.
  auto dom = chromium(dir, {"--dump-dom", "file://" + html});
  ASSERT_EQ(dom.code, 0) << dom.out.substr(0, 4000);
  EXPECT_GE(count(dom.out, "<svg class=\"chart\""), 3u);
  EXPECT_NE(dom.out.find("aria-label=\"filp outstanding objects\""), std::string::npos);
  EXPECT_NE(dom.out.find("aria-label=\"leaker (pid 8332) eventfd\""), std::string::npos);
  EXPECT_NE(dom.out.find("<polyline class=\"trend\""), std::string::npos);
  EXPECT_NE(dom.out.find("<polyline class=\"forecast\""), std::string::npos);
  EXPECT_NE(dom.out.find("<g class=\"marker alarm\">"), std::string::npos);
  EXPECT_NE(dom.out.find("<line class=\"limit\""), std::string::npos);
  // No console errors, no blocked loads (the page's CSP would log any).
  for (const char* bad : {"Uncaught", "ERROR:CONSOLE", "Refused to", "Failed to load"}) {
    EXPECT_EQ(dom.out.find(bad), std::string::npos) << bad << "\n" << dom.out.substr(0, 4000);
  }

  // The screenshot is not blank: much larger than the same browser's shot of an empty page.
  const std::string shot = dir.file("leak.png"), blank_shot = dir.file("blank.png");
  std::ofstream(dir.file("blank.html")) << "<!DOCTYPE html><html><body></body></html>\n";
  auto painted =
      chromium(dir, {"--window-size=1100,1500", "--screenshot=" + shot, "file://" + html});
  ASSERT_EQ(painted.code, 0) << painted.out.substr(0, 4000);
  auto blank = chromium(dir, {"--window-size=1100,1500", "--screenshot=" + blank_shot,
                              "file://" + dir.file("blank.html")});
  ASSERT_EQ(blank.code, 0) << blank.out.substr(0, 4000);
  ASSERT_TRUE(std::filesystem::exists(shot));
  const auto size = std::filesystem::file_size(shot);
  const auto blank_size = std::filesystem::file_size(blank_shot);
  EXPECT_GT(size, 40'000u);
  EXPECT_GT(size, 10 * blank_size) << size << " vs blank " << blank_size;
  if (const char* keep = std::getenv("POOLSCOPE_KEEP_SCREENSHOT")) {
    std::filesystem::copy_file(shot, keep, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(html, std::string(keep) + ".html",
                               std::filesystem::copy_options::overwrite_existing);
  }
}

}  // namespace
}  // namespace poolscope
