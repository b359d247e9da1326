// The HTML report page: sections and charts for a leak with its culprit, hostile names from every
// input escaped, and the recordings that have little in them (none, one sample, no limit).
#include "report/page.h"

#include <gtest/gtest.h>

#include "detect/detector.h"
#include "report/next_steps.h"

namespace poolscope::report {
namespace {

using detect::History;

constexpr std::int64_t kT0 = 1'790'000'000;

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

Snapshot sample(int i, const PoolKey& key, std::uint64_t outstanding, PoolKind pool,
                std::optional<std::uint64_t> limit) {
  Snapshot s;
  s.wall_time = std::chrono::system_clock::time_point(std::chrono::seconds(kT0 + i));
  s.source = "live:linux";
  Entry e;
  e.key = key;
  e.pool = pool;
  e.counters.outstanding = outstanding;
  e.counters.bytes = outstanding * 256;
  e.object_size = 256;
  s.entries.push_back(e);
  Entry flat;
  flat.key = slab_cache("dentry");
  flat.pool = PoolKind::kReclaimable;
  flat.counters.outstanding = 5000 + i % 3;
  flat.counters.bytes = 5000 * 192;
  s.entries.push_back(flat);
  s.totals.push_back(PoolTotal{pool, outstanding * 256 + 40'000'000, limit, std::nullopt, ""});
  return s;
}

// filp-like growth of 18 objects a second for 120 s, with a process whose eventfds grow with it.
History leak_history(const PoolKey& key, const std::string& process_name,
                     std::optional<std::uint64_t> limit = std::nullopt) {
  History h;
  for (int i = 0; i < 120; ++i) {
    ProcessSample ps;
    ProcessFacts leaker{.pid = 8332, .start_time = 1, .name = process_name};
    FdCounts fds;
    fds.eventfd = 18 * static_cast<std::uint64_t>(i);
    leaker.fds = fds;
    leaker.fd_total = fds.eventfd;
    // What holds a pool tag's objects (the culprit link table): handles, for the Windows case.
    leaker.handle_count = fds.eventfd;
    ps.processes = {leaker};
    h.add_snapshot(
        sample(i, key, 1444 + 18 * static_cast<std::uint64_t>(i), PoolKind::kUnreclaimable, limit),
        &ps, i);
  }
  return h;
}

ReportInput input_named(const std::string& file) {
  ReportInput in;
  in.file = file;
  in.version = "test";
  return in;
}

TEST(ReportPage, ALeakWithItsCulpritHasEverySection) {
  const History h = leak_history(slab_cache("filp"), "leaker");
  const detect::Report r = detect::analyze(h);
  ASSERT_FALSE(r.findings.empty());
  ReportInput in = input_named("pools.db");
  in.owners.push_back({"filp", {"owner: vmlinux"}});
  const std::string html = render_report(h, r, in);
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_TRUE(html.ends_with("</html>\n"));
  for (const char* id : {"verdict", "pools", "growers", "findings", "owners", "next"}) {
    EXPECT_NE(html.find(std::string("<section id=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_NE(html.find("<div class=\"verdict leak\"><strong>Leak: 1 incident"), std::string::npos);
  // The finding's chart: series, fitted trend, forecast; and the culprit's eventfd curve.
  EXPECT_NE(html.find("aria-label=\"filp outstanding objects\""), std::string::npos);
  EXPECT_EQ(count(html, "<polyline class=\"trend\""), 1u);
  EXPECT_EQ(count(html, "<polyline class=\"forecast\""), 1u);
  EXPECT_NE(html.find("aria-label=\"leaker (pid 8332) eventfd\""), std::string::npos);
  EXPECT_NE(html.find("owner: vmlinux"), std::string::npos);
  EXPECT_NE(html.find("poolscope trace --cache filp"), std::string::npos);
  // Self-contained: no script, nothing fetched.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
  EXPECT_EQ(html.find("nan"), std::string::npos);
}

TEST(ReportPage, HostileNamesFromEveryInputAreEscaped) {
  // A pool tag with markup bytes, a process name and a file name that try to break out.
  const PoolKey tag = tag_from_text("<a&\"");
  const History h = leak_history(tag, "<script>x</script>");
  const detect::Report r = detect::analyze(h);
  ASSERT_FALSE(r.findings.empty());
  ASSERT_FALSE(r.findings[0].processes.empty());
  ReportInput in = input_named("\"><img src=x onerror=alert(1)>.db");
  in.host = "<iframe>";
  in.events.push_back(
      {static_cast<double>(kT0 + 60), "httperr<b>", "</td><script>alert(2)</script>", true});
  in.counters.push_back({"\\\\<svg onload=x>\\Memory\\Pool Nonpaged Bytes",
                         "memory_pool_nonpaged_bytes",
                         {raw_point(kT0, 1e8), raw_point(kT0 + 100, 2e8)}});
  in.owners.push_back({display_key(tag), {"pooltag.txt:1 <a&\" - <evil>.sys - \"quoted\""}});
  const std::string html = render_report(h, r, in);
  for (const char* raw :
       {"<script", "<img", "<iframe", "httperr<b>", "<svg onload", "<evil>", "<a&"}) {
    EXPECT_EQ(html.find(raw), std::string::npos) << raw;
  }
  EXPECT_NE(html.find("&lt;script&gt;x&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;a&amp;&quot;"), std::string::npos);
  EXPECT_NE(html.find("&quot;&gt;&lt;img src=x"), std::string::npos);
  // The Windows guidance names the tag, escaped too.
  EXPECT_NE(html.find("-PoolTag &lt;a&amp;&quot;"), std::string::npos);
}

TEST(ReportPage, AnEmptyRecordingStillRenders) {
  const History h;
  const detect::Report r = detect::analyze(h);
  const std::string html = render_report(h, r, input_named("empty.db"));
  EXPECT_NE(html.find("No pool samples in this recording"), std::string::npos);
  EXPECT_NE(html.find("This recording has no pool totals"), std::string::npos);
  EXPECT_EQ(html.find("nan"), std::string::npos);
  EXPECT_TRUE(html.ends_with("</html>\n"));
}

TEST(ReportPage, OneSampleGivesNoVerdictOnlyConsumers) {
  History h;
  h.add_snapshot(sample(0, slab_cache("filp"), 1444, PoolKind::kUnreclaimable, std::nullopt),
                 nullptr, 0);
  const detect::Report r = detect::analyze(h);
  EXPECT_TRUE(r.findings.empty());
  const std::string html = render_report(h, r, input_named("one.db"));
  EXPECT_NE(html.find("<div class=\"verdict ok\"><strong>No leak found"), std::string::npos);
  EXPECT_NE(html.find("No key grew between its first and last sample"), std::string::npos);
  EXPECT_NE(html.find("<section id=\"consumers\">"), std::string::npos);
  // The pool chart is one dot, with no limit known.
  EXPECT_NE(html.find("<circle class=\"dot"), std::string::npos);
  EXPECT_NE(html.find("no limit in this data"), std::string::npos);
  EXPECT_EQ(html.find("nan"), std::string::npos);
  EXPECT_EQ(html.find("inf"), std::string::npos);
}

TEST(ReportPage, ALimitNearTheUseIsDrawnAndAFarOneIsSaid) {
  const History near = leak_history(slab_cache("filp"), "leaker", 50'000'000);
  const std::string a = render_report(near, detect::analyze(near), input_named("a.db"));
  EXPECT_NE(a.find("<line class=\"limit\""), std::string::npos);
  const History far = leak_history(slab_cache("filp"), "leaker", 25'000'000'000ULL);
  const std::string b = render_report(far, detect::analyze(far), input_named("b.db"));
  EXPECT_EQ(b.find("<line class=\"limit\""), std::string::npos);
  EXPECT_NE(b.find("is off the scale"), std::string::npos);
}

TEST(ReportPage, EventsAreMarkedOnTheTimeAxisAndListed) {
  const History h = leak_history(slab_cache("filp"), "leaker");
  ReportInput in = input_named("web.db");
  for (int i = 0; i < 3; ++i) {
    in.events.push_back({static_cast<double>(kT0 + 30 + i * 20), "httperr",
                         "2_Connections_Refused (503, 2 refused connection(s))", true});
  }
  const std::string html = render_report(h, detect::analyze(h), in);
  EXPECT_NE(html.find("<section id=\"events\">"), std::string::npos);
  // On the pool chart, the finding's chart and the culprit's chart.
  EXPECT_GE(count(html, "<g class=\"marker alarm\">"), 9u);
  EXPECT_NE(html.find("httperr: 2_Connections_Refused</td><td class=\"n\">3</td>"),
            std::string::npos);
}

TEST(ReportEvents, HttperrDetailIsSummarised) {
  store::Event ev;
  ev.wall_ns = (kT0 + 5) * 1'000'000'000LL;
  ev.kind = "httperr";
  ev.detail = R"({"reason":"2_Connections_Refused","status":503,"url":"-","pool_pressure":true,)"
              R"("refused_connections":2,"file":"httperr1.log","line":7})";
  const ReportEvent out = summarize_event(ev);
  EXPECT_TRUE(out.pool_pressure);
  EXPECT_EQ(out.t, kT0 + 5);
  EXPECT_EQ(out.summary, "2_Connections_Refused (503, 2 refused connection(s), httperr1.log:7)");
  ev.detail = "not json <b>";
  EXPECT_EQ(summarize_event(ev).summary, "not json <b>");  // escaped when rendered
}

TEST(ReportNextSteps, LinuxAndWindowsGuidance) {
  const History linux_h = leak_history(slab_cache("filp"), "leaker");
  const auto linux_g = guidance(detect::analyze(linux_h), "pools.db");
  ASSERT_EQ(linux_g.size(), 1u);
  EXPECT_EQ(linux_g[0].heading, "Linux slab cache filp");
  EXPECT_NE(linux_g[0].fix[0].find("ls -l /proc/8332/fd"), std::string::npos);
  const History win = leak_history(tag_from_text("Even"), "svchost.exe");
  const auto win_g = guidance(detect::analyze(win), "pools.db");
  ASSERT_EQ(win_g.size(), 1u);
  std::string all;
  for (const auto& s : win_g[0].confirm) all += s;
  EXPECT_NE(all.find("verifier /flags 0x8"), std::string::npos);
  EXPECT_NE(all.find("xperf -on PROC_THREAD+LOADER+POOL"), std::string::npos);
  EXPECT_NE(all.find("-PoolTag Even"), std::string::npos);
  const auto steps = next_steps(detect::Report{}, "pools.db");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_TRUE(steps[0].starts_with("No key kept growing"));
}

}  // namespace
}  // namespace poolscope::report
