// Incidents (keys growing together are one leak, with a source), the culprit link table, the
// census, zero frees, one-snapshot evidence and the few-samples rule at its boundary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>

#include "detect/detector.h"
#include "detect/links.h"
#include "detect/output.h"

namespace poolscope::detect {
namespace {

struct KeyValue {
  PoolKey key;
  PoolKind pool;
  std::uint64_t outstanding;
  std::optional<std::uint64_t> allocs, frees;
  std::uint64_t size = 64;
  std::string owner;
};

Snapshot snapshot(double t, const std::vector<KeyValue>& keys) {
  Snapshot s;
  s.wall_time = std::chrono::system_clock::time_point(
      std::chrono::seconds(1'790'000'000) +
      std::chrono::milliseconds(static_cast<long long>(t * 1000)));
  s.memory_available_bytes = 4'000'000'000;
  for (const KeyValue& k : keys) {
    Entry e;
    e.key = k.key;
    e.pool = k.pool;
    e.counters.outstanding = k.outstanding;
    e.counters.allocs = k.allocs;
    e.counters.frees = k.frees;
    e.counters.bytes = k.outstanding * k.size;
    e.object_size = k.size;
    e.owner = k.owner;
    s.entries.push_back(e);
  }
  return s;
}

// A small deterministic generator: bursty increments and noise.
struct Lcg {
  std::uint64_t x;
  double next() {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(x >> 11) / 9007199254740992.0;
  }
};

ProcessFacts fd_process(std::uint64_t pid, const char* name, std::uint64_t eventfd,
                        std::uint64_t timerfd, std::uint64_t pidfd = 0) {
  ProcessFacts p{.pid = pid, .start_time = 1, .name = name};
  FdCounts fds;
  fds.eventfd = eventfd;
  fds.timerfd = timerfd;
  fds.pidfd = pidfd;
  fds.file = 3;
  p.fds = fds;
  p.fd_total = eventfd + timerfd + pidfd + 3;
  return p;
}

const Finding& finding(const Report& r, std::string_view key) {
  for (const Finding& f : r.findings)
    if (display_key(f.key) == key) return f;
  ADD_FAILURE() << "no finding for " << key << "\n" << report_text(r);
  static Finding none;
  return none;
}

TEST(Incidents, AnEventfdLeakIsOneIncidentAndTheLeakerIsNamedOnce) {
  History h;
  Lcg noise{7};
  for (int i = 0; i < 300; ++i) {
    const auto n = static_cast<std::uint64_t>(i) * 2;
    auto jitter = [&] { return static_cast<std::uint64_t>(noise.next() * 6); };
    ProcessSample ps;
    ps.processes = {fd_process(4242, "leaker", n, 0), fd_process(77, "idle", 2, 0)};
    h.add_snapshot(
        snapshot(i, {{slab_cache("filp"), PoolKind::kUnreclaimable, 9000 + n + jitter()},
                     {slab_cache("kmalloc-64"), PoolKind::kUnreclaimable, 30000 + n + jitter()},
                     {slab_cache("lsm_file_cache"), PoolKind::kUnreclaimable, 5000 + n + jitter()},
                     {slab_cache("vm_area_struct"), PoolKind::kUnreclaimable, 8000}}),
        &ps, i);
  }
  const Report r = analyze(h);
  ASSERT_EQ(r.findings.size(), 3u) << report_text(r);
  ASSERT_EQ(r.incidents.size(), 1u) << report_text(r);
  const Incident& in = r.incidents[0];
  EXPECT_EQ(in.members.size(), 3u);
  ASSERT_EQ(in.processes.size(), 1u);
  EXPECT_EQ(in.processes[0].pid, 4242u);
  for (const IncidentMember& m : in.members) EXPECT_NEAR(m.ratio, 1.0, 0.1);
  for (const Finding& f : r.findings) EXPECT_EQ(f.incident, 1u);
  // The text says the process once, and leads with the incident.
  const std::string text = report_text(r);
  EXPECT_EQ(text.find("process: "), text.rfind("process: ")) << text;
  EXPECT_LT(text.find("incident 1: leak in 3 keys"), text.find("Keys (INC")) << text;
  const auto j = report_json(r);
  ASSERT_EQ(j["incidents"].size(), 1u);
  EXPECT_EQ(j["incidents"][0]["members"].size(), 3u);
  EXPECT_EQ(j["findings"][0]["incident"], 1);
  EXPECT_FALSE(j["incidents"][0]["next_steps"].empty());
}

TEST(Incidents, TwoLeakersAtDifferentRatesAreTwoIncidents) {
  // eventfd at 3/s (kmalloc-64) and timerfd at 1/s (kmalloc-256); both grow filp and
  // lsm_file_cache (4/s): filp goes with the larger leaker, the timerfd's cache stays apart.
  History h;
  for (int i = 0; i < 300; ++i) {
    const auto e = static_cast<std::uint64_t>(i) * 3, t = static_cast<std::uint64_t>(i);
    ProcessSample ps;
    ps.processes = {fd_process(100, "eventfd-leak", e, 0), fd_process(200, "timerfd-leak", 0, t)};
    h.add_snapshot(
        snapshot(i, {{slab_cache("filp"), PoolKind::kUnreclaimable, 9000 + e + t},
                     {slab_cache("kmalloc-64"), PoolKind::kUnreclaimable, 30000 + e},
                     {slab_cache("kmalloc-256"), PoolKind::kUnreclaimable, 20000 + t, {}, {}, 256},
                     {slab_cache("lsm_file_cache"), PoolKind::kUnreclaimable, 5000 + e + t}}),
        &ps, i);
  }
  const Report r = analyze(h);
  ASSERT_EQ(r.findings.size(), 4u) << report_text(r);
  ASSERT_EQ(r.incidents.size(), 2u) << report_text(r);
  EXPECT_EQ(finding(r, "kmalloc-64").incident, finding(r, "filp").incident);
  EXPECT_NE(finding(r, "kmalloc-64").incident, finding(r, "kmalloc-256").incident);
  const Incident& timer = r.incidents[finding(r, "kmalloc-256").incident - 1];
  ASSERT_FALSE(timer.processes.empty());
  EXPECT_EQ(timer.processes[0].pid, 200u);
}

TEST(Incidents, TheWcscFamilyIsOneIncidentWithTheNeverFreeingSource) {
  // microsoft/WSL#40804: eight tags in lockstep, IoFE two per WCsc, WCsc never frees.
  struct Tag {
    const char* name;
    double ratio;
    PoolKind pool;
    std::uint64_t base;
    const char* owner;
  };
  const std::vector<Tag> tags = {
      {"WCsc", 1.0, PoolKind::kNonPaged, 874, ""},
      {"NtfC", 1.00007, PoolKind::kNonPaged, 40000, "ntfs.sys"},
      {"FOCX", 1.0002, PoolKind::kNonPaged, 12000, "fltmgr.sys"},
      {"FMfc", 1.0002, PoolKind::kPaged, 9000, "fltmgr.sys"},
      {"IoNm", 1.0015, PoolKind::kPaged, 30000, "nt!io"},
      {"File", 1.022, PoolKind::kNonPaged, 60000, "nt!io"},
      {"IoFE", 1.999, PoolKind::kPaged, 20000, "nt!io"},
  };
  History h;
  Lcg burst{3}, noise{11};
  double wcsc = 0;
  std::uint64_t churn = 0;
  for (int i = 0; i < 240; ++i) {
    // Bursty growth: file activity comes and goes; 503,677 over the run in all.
    const double step = burst.next() < 0.3 ? 0 : burst.next() * 4200;
    wcsc += step;
    churn += 1000;
    std::vector<KeyValue> keys;
    for (const Tag& t : tags) {
      const auto held = static_cast<std::uint64_t>(t.base + wcsc * t.ratio + noise.next() * 20);
      const bool never_frees = std::string_view(t.name) == "WCsc";
      const std::uint64_t frees = never_frees ? 0 : 1'000'000 + churn;
      keys.push_back({tag_from_text(t.name), t.pool, held, held + frees, frees, 160, t.owner});
    }
    keys.push_back({tag_from_text("Flat"), PoolKind::kNonPaged, 5000, 9000, 4000, 64, ""});
    h.add_snapshot(snapshot(i * 1767.0, keys), nullptr, i * 1767.0);  // 4.91 days
  }
  const Report r = analyze(h);
  ASSERT_EQ(r.findings.size(), tags.size()) << report_text(r);
  ASSERT_EQ(r.incidents.size(), 1u) << report_text(r);
  const Incident& in = r.incidents[0];
  EXPECT_EQ(display_key(r.findings[in.source].key), "WCsc");
  EXPECT_NE(in.source_reason.find("never frees"), std::string::npos) << in.source_reason;
  EXPECT_TRUE(r.findings[in.source].zero_frees);
  for (const IncidentMember& m : in.members) {
    if (display_key(r.findings[m.finding].key) == "IoFE") {
      EXPECT_NEAR(m.ratio, 2.0, 0.1);
    }
  }
  EXPECT_NE(in.explanation.find("IoFE: 2.0"), std::string::npos) << in.explanation;
  const std::vector<std::string> zero = r.zero_frees;
  EXPECT_EQ(zero, std::vector<std::string>{"WCsc"});
}

TEST(Incidents, UnrelatedLeaksInBurstsAtTheSameTimeStaySeparate) {
  History h;
  Lcg a{1}, b{2};
  double x = 0, y = 0;
  for (int i = 0; i < 240; ++i) {
    x += a.next() < 0.5 ? 0 : a.next() * 40;
    y += b.next() < 0.5 ? 0 : b.next() * 40;
    h.add_snapshot(
        snapshot(
            i * 60.0,
            {{tag_from_text("Aaaa"), PoolKind::kNonPaged, 1000 + static_cast<std::uint64_t>(x)},
             {tag_from_text("Bbbb"), PoolKind::kNonPaged, 1000 + static_cast<std::uint64_t>(y)}}),
        nullptr, i * 60.0);
  }
  const Report r = analyze(h);
  ASSERT_EQ(r.findings.size(), 2u) << report_text(r);
  EXPECT_EQ(r.incidents.size(), 2u) << report_text(r);
}

TEST(Culprits, NoProcessIsNamedWithoutAPlausibleLink) {
  // Seen: maple_node growth pinned on an eventfd leaker; tw_sock_TCP on a socketpair leaker.
  History h;
  for (int i = 0; i < 300; ++i) {
    const auto n = static_cast<std::uint64_t>(i) * 2;
    ProcessSample ps;
    ProcessFacts p = fd_process(4242, "leaker", n, 0);
    p.fds->socket = n;
    ps.processes = {p};
    h.add_snapshot(snapshot(i, {{slab_cache("maple_node"), PoolKind::kUnreclaimable, 9000 + n},
                                {slab_cache("tw_sock_TCP"), PoolKind::kUnreclaimable, 100 + n},
                                {slab_cache("kmalloc-64"), PoolKind::kUnreclaimable, 30000 + n}}),
                   &ps, i);
  }
  const Report r = analyze(h);
  ASSERT_EQ(r.findings.size(), 3u) << report_text(r);
  EXPECT_TRUE(finding(r, "maple_node").processes.empty());
  EXPECT_TRUE(finding(r, "tw_sock_TCP").processes.empty());
  ASSERT_FALSE(finding(r, "kmalloc-64").processes.empty());
  EXPECT_NE(finding(r, "maple_node").explanation.find("no recorded process fact can hold"),
            std::string::npos);
  EXPECT_TRUE(plausible_link(slab_cache("filp"), "eventfd"));
  EXPECT_TRUE(plausible_link(slab_cache("pid"), "pidfd"));
  EXPECT_FALSE(plausible_link(slab_cache("pid"), "eventfd"));
  EXPECT_TRUE(plausible_link(tag_from_text("Even"), "handles"));
  EXPECT_TRUE(plausible_link(tag_from_text("Even"), "paged pool quota bytes"));
}

TEST(Census, ProcessObjectsOutlivingTheirProcessesAreAFinding) {
  // Windows-Dev-Performance#137: Proc 2,655 -> 39,511 outstanding against ~284 live processes.
  History h;
  for (int i = 0; i <= 100; ++i) {
    ProcessSample ps;
    for (std::uint64_t p = 0; p < 284; ++p) {
      ProcessFacts f{.pid = 4 + 4 * p, .start_time = 1, .name = "p"};
      f.handle_count = 100;
      ps.processes.push_back(f);
    }
    const auto proc = static_cast<std::uint64_t>(2655 + (39511 - 2655) * i / 100);
    h.add_snapshot(snapshot(i * 651.0, {{tag_from_text("Proc"), PoolKind::kNonPaged, proc}}), &ps,
                   i * 651.0);
  }
  const Report r = analyze(h);
  ASSERT_EQ(r.findings.size(), 1u) << report_text(r);
  const Finding& f = r.findings[0];
  ASSERT_TRUE(f.census);
  EXPECT_EQ(f.census->owner_kind, "processes");
  EXPECT_EQ(f.census->gap, 39511 - 284);
  ASSERT_TRUE(f.census->gap_rate_per_hour);
  EXPECT_GT(*f.census->gap_rate_per_hour, 1500);
  EXPECT_NE(f.explanation.find("39,227 process objects outlive their processes"), std::string::npos)
      << f.explanation;
  const auto j = report_json(r);
  EXPECT_EQ(j["findings"][0]["census"]["gap"], 39227);
}

TEST(Census, ALargeGapInOneSnapshotIsASuspect) {
  History h;
  ProcessSample ps;
  for (std::uint64_t p = 0; p < 284; ++p) {
    ps.processes.push_back(ProcessFacts{.pid = 4 + 4 * p, .start_time = 1, .name = "p"});
  }
  h.add_snapshot(snapshot(0, {{tag_from_text("Proc"), PoolKind::kNonPaged, 39511}}), &ps, 0);
  Report r = analyze(h);
  ASSERT_EQ(r.findings.size(), 1u) << report_text(r);
  EXPECT_EQ(r.findings[0].verdict, Verdict::kSuspect);
  ASSERT_TRUE(r.findings[0].census);
  EXPECT_FALSE(r.findings[0].census->gap_rate_per_hour);
  // After the driver update: 312 against 285 is normal.
  History after;
  ps.processes.push_back(ProcessFacts{.pid = 9999, .start_time = 1, .name = "p"});
  after.add_snapshot(snapshot(0, {{tag_from_text("Proc"), PoolKind::kNonPaged, 312}}), &ps, 0);
  EXPECT_TRUE(analyze(after).findings.empty());
}

TEST(OneSnapshot, ALockstepPairOfHugeCountsIsASuspectIncident) {
  // windbg/poolused_01: amda 5,768,754 allocations (1.8 GB), IoWI 5,769,999 (646 MB).
  History h;
  h.add_snapshot(snapshot(0, {{tag_from_text("amda"),
                               PoolKind::kNonPaged,
                               5768754,
                               {},
                               {},
                               336,
                               "UNKNOWN pooltag 'amda', please update pooltag.txt"},
                              {tag_from_text("IoWI"),
                               PoolKind::kNonPaged,
                               5769999,
                               {},
                               {},
                               112,
                               "Io work items , Binary: nt!io"},
                              {tag_from_text("EtwB"),
                               PoolKind::kNonPaged,
                               1428,
                               {},
                               {},
                               178000,
                               "Etw Buffer , Binary: nt!etw"}}),
                 nullptr, 0);
  const Report r = analyze(h);
  ASSERT_EQ(r.findings.size(), 2u) << report_text(r);
  ASSERT_EQ(r.incidents.size(), 1u) << report_text(r);
  EXPECT_EQ(display_key(r.findings[r.incidents[0].source].key), "amda");
  EXPECT_NE(r.incidents[0].source_reason.find("not the kernel itself"), std::string::npos);
  EXPECT_EQ(report_text(r).find("No leak found"), std::string::npos);
  EXPECT_NE(r.findings[0].explanation.find("lockstep pair"), std::string::npos);
}

// Issue 17 item 7: in one dump, a tag far above the other tags pooltag.txt gives its binary is a
// suspect; the kernel's own components (nt!..., hal) are not compared, and a tag without peers
// in the snapshot is not either.
TEST(OneSnapshot, ATagFarAboveItsPooltagPeersIsASuspect) {
  const std::uint64_t mib = 1024 * 1024;
  History h;
  h.add_snapshot(
      snapshot(0, {{tag_from_text("TcpA"),
                    PoolKind::kNonPaged,
                    1024,
                    {},
                    {},
                    mib,
                    "TCP endpoints , Binary: tcpip.sys"},
                   {tag_from_text("TcpB"),
                    PoolKind::kNonPaged,
                    10,
                    {},
                    {},
                    mib,
                    "TCP buffers , Binary: tcpip.sys"},
                   {tag_from_text("TcpC"),
                    PoolKind::kNonPaged,
                    4,
                    {},
                    {},
                    mib,
                    "TCP misc , Binary: tcpip.sys"},
                   {tag_from_text("MmSt"),
                    PoolKind::kPaged,
                    2048,
                    {},
                    {},
                    mib,
                    "Mm section object prototype ptes , Binary: nt!mm"},
                   {tag_from_text("MmCa"),
                    PoolKind::kPaged,
                    1,
                    {},
                    {},
                    mib,
                    "Mm control areas , Binary: nt!mm"},
                   {tag_from_text("Solo"),
                    PoolKind::kNonPaged,
                    900,
                    {},
                    {},
                    mib,
                    "Alone , Binary: solo.sys"},
                   {tag_from_text("Big1"), PoolKind::kPaged, 4096, {}, {}, mib, "other"},
                   {tag_from_text("Big2"), PoolKind::kNonPaged, 2000, {}, {}, mib, "other"},
                   {tag_from_text("Big3"), PoolKind::kNonPaged, 2000, {}, {}, mib, "other"}}),
      nullptr, 0);
  const Report r = analyze(h);
  std::vector<std::string> suspects;
  for (const Finding& f : r.findings) suspects.push_back(display_key(f.key));
  EXPECT_NE(std::find(suspects.begin(), suspects.end(), "TcpA"), suspects.end()) << report_text(r);
  EXPECT_EQ(std::find(suspects.begin(), suspects.end(), "MmSt"), suspects.end()) << report_text(r);
  EXPECT_EQ(std::find(suspects.begin(), suspects.end(), "Solo"), suspects.end()) << report_text(r);
  for (const Finding& f : r.findings) {
    if (display_key(f.key) != "TcpA") continue;
    EXPECT_EQ(f.verdict, Verdict::kSuspect);
    EXPECT_NE(f.explanation.find("TcpA holds 1.0 GiB, 102x the largest of the 2 other tag(s) "
                                 "pooltag.txt gives tcpip.sys (TcpB: 10.0 MiB)"),
              std::string::npos)
        << f.explanation;
  }
  // Within 20x of its largest peer: nothing said of it.
  History near;
  near.add_snapshot(
      snapshot(
          0,
          {{tag_from_text("TcpA"), PoolKind::kNonPaged, 1024, {}, {}, mib, "x , Binary: tcpip.sys"},
           {tag_from_text("TcpB"), PoolKind::kNonPaged, 100, {}, {}, mib, "y , Binary: tcpip.sys"},
           {tag_from_text("Big2"), PoolKind::kNonPaged, 2000, {}, {}, mib, "other"},
           {tag_from_text("Big3"), PoolKind::kNonPaged, 2000, {}, {}, mib, "other"}}),
      nullptr, 0);
  const Report rn = analyze(near);
  for (const Finding& f : rn.findings) EXPECT_NE(display_key(f.key), "TcpA") << report_text(rn);
}

TEST(FewSamples, MoreEvidenceNeverWeakensTheVerdict) {
  // Perfectly linear growth, screens an hour apart: 2 screens gave "leak 0.500", 5 "leak
  // 0.938", 6 "suspect 0.996".
  Verdict previous = Verdict::kNone;
  double previous_confidence = 0;
  for (int n = 2; n <= 12; ++n) {
    std::vector<double> t, y;
    for (int i = 0; i < n; ++i) {
      t.push_back(i * 3600.0);
      y.push_back(1000 + 100.0 * i);
    }
    const TrendResult tr = assess_trend(t, y);
    EXPECT_GE(static_cast<int>(tr.verdict), static_cast<int>(previous)) << n << " points";
    EXPECT_GE(tr.confidence, previous_confidence) << n << " points";
    // The verdict agrees with the confidence thresholds at every size.
    if (tr.verdict == Verdict::kLeak) {
      EXPECT_GE(tr.confidence, 0.999) << n;
    }
    previous = tr.verdict;
    previous_confidence = tr.confidence;
  }
  EXPECT_EQ(previous, Verdict::kLeak);
  std::vector<double> t2{0, 3600}, y2{1000, 1200};
  EXPECT_EQ(assess_trend(t2, y2).verdict, Verdict::kSuspect);
}

// A process leaking 2 eventfds a second for 300 s, filp growing with it, and the system's
// allocated file handles (file-nr) from open_files_base up, fs.file-max file_max.
History fd_leaker_history(std::uint64_t fd_limit, std::uint64_t open_files_base,
                          std::uint64_t file_max) {
  History h;
  for (int i = 0; i < 300; ++i) {
    const auto n = static_cast<std::uint64_t>(i) * 2;
    ProcessSample ps;
    ps.processes = {fd_process(4242, "leaker", n, 0)};
    ps.processes[0].fd_limit = fd_limit;
    ps.open_files = open_files_base + n;
    ps.open_files_max = file_max;
    h.add_snapshot(snapshot(i, {{slab_cache("filp"), PoolKind::kUnreclaimable, 9000 + n}}), &ps, i);
  }
  return h;
}

// Issue 17 item 5: with a soft RLIMIT_NOFILE of 1,024 the leaker hits EMFILE in minutes, long
// before memory runs out: said, with when.
TEST(Culprits, AnFdLeakerHitsItsOpenFileLimitBeforeMemory) {
  const Report r = analyze(fd_leaker_history(1024, 2000, 1'000'000));
  const Finding& f = finding(r, "filp");
  ASSERT_FALSE(f.processes.empty()) << report_text(r);
  ASSERT_TRUE(f.processes[0].fd_limit_eta_seconds);
  // 1,024 - (598 + 3) fds at 2 a second.
  EXPECT_NEAR(*f.processes[0].fd_limit_eta_seconds, (1024 - 601) / 2.0, 5);
  ASSERT_TRUE(f.fd_wall_eta_seconds);
  EXPECT_NE(f.fd_wall_note.find("RLIMIT_NOFILE"), std::string::npos) << f.fd_wall_note;
  EXPECT_NE(f.explanation.find("its open-file limit"), std::string::npos) << f.explanation;
  const auto j = report_json(r);
  EXPECT_EQ(j["findings"][0]["processes"][0]["fd_limit"], 1024);
  EXPECT_TRUE(j["findings"][0].contains("fd_wall_eta_seconds"));
  // The census pair filp / allocated file handles (file-nr) is fed by the same sample.
  ASSERT_TRUE(f.census);
  EXPECT_EQ(f.census->owner_kind, "open files");
  EXPECT_EQ(f.census->gap, (9000.0 + 598) - (2000 + 598));
}

// fs.file-max comes first when the process has room left but the system does not.
TEST(Culprits, TheSystemsFileMaxIsTheWallWhenItComesFirst) {
  const Report r = analyze(fd_leaker_history(1'048'576, 9000, 10'000));
  const Finding& f = finding(r, "filp");
  ASSERT_TRUE(f.fd_wall_eta_seconds);
  EXPECT_NEAR(*f.fd_wall_eta_seconds, (10000 - 9598) / 2.0, 5);
  EXPECT_NE(f.fd_wall_note.find("fs.file-max"), std::string::npos) << f.fd_wall_note;
}

}  // namespace
}  // namespace poolscope::detect
