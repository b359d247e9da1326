// The leak detector on the live kernel: poolscope-leaker makes eventfds leak, churn, plateau, or
// walks files, while `record`, `watch` or `diagnose` samples this machine; the leaking cache and
// the leaker's pid must be named, and the non-leak workloads must not be called leaks.
//
// The eventfd context (struct eventfd_ctx, 48 bytes on x86-64) has no cache of its own on this
// 6.18 kernel: it comes from kmalloc-64 (measured: +1,875 kmalloc-64 objects for 2,000 eventfds).
// A kernel that gives it a cache of its own, merged or not, shows it in the snapshot's aliases.
//
// These tests run alone (RUN_SERIAL in tests/CMakeLists.txt): a leak in one would be a
// leak in the other's recording. Each one is bounded (12..27 s) and the leaker ends by itself.
// They were 25..60 s (CI's release stage spent 5 min in them): the leaks are now faster and the
// windows shorter, with about as many objects (1,500 eventfds), which is what SLUB's lag asks.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "integration/leaker_support.h"
#include "integration/store_support.h"
#include "test_support.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using testing::Child;
using testing::dump_findings;
using testing::Leaker;
using testing::leaker_args;
using testing::names_pid;
using testing::TempDir;

#define REQUIRE_LIVE_DETECTION()                                                           \
  do {                                                                                     \
    SKIP_WHEN_SANITIZED();                                                                 \
    if (::geteuid() != 0) {                                                                \
      GTEST_SKIP() << "needs root: /proc/slabinfo and other processes' fds are root-only"; \
    }                                                                                      \
    REQUIRE_LIVE_SLABINFO();                                                               \
  } while (0)

// Records `seconds` at 0.5 s while the leaker runs from the 2nd second to the end (it holds what
// it leaked past the end), then returns `leaks --format json` of the recording.
json record_and_analyze(const TempDir& dir, const std::vector<std::string>& leaker, int seconds,
                        std::uint64_t* leaker_pid) {
  const std::string db = dir.file("live.db");
  Child recorder({"record", "--interval", "0.5", "--process-interval", "0.5s", "--duration",
                  std::to_string(seconds) + "s", "--out", db});
  std::this_thread::sleep_for(2s);
  Leaker run(leaker, dir.file("leaker.log"));
  *leaker_pid = run.pid();
  EXPECT_EQ(recorder.wait_for(std::chrono::seconds(seconds + 60)), 0) << recorder.err();
  Child leaks({"leaks", db, "--format", "json"});
  EXPECT_EQ(leaks.wait_for(60s), 0) << leaks.err();
  return json::parse(leaks.out(), nullptr, false);
}

// The cache that holds eventfd contexts: kmalloc-64, or a cache whose aliases name eventfd.
bool holds_eventfd_ctx(const json& finding) {
  const std::string key = finding.value("key", "");
  if (key == "kmalloc-64") return true;
  if (key.find("eventfd") != std::string::npos) return true;
  for (const auto& alias : finding.value("aliases", json::array())) {
    if (alias.get<std::string>().find("eventfd") != std::string::npos) return true;
  }
  return false;
}

// The caches an eventfd's kernel objects live in: its context, its struct file, the LSM blob.
bool holds_eventfd_objects(const json& finding) {
  const std::string key = finding.value("key", "");
  return holds_eventfd_ctx(finding) || key == "filp" || key == "lsm_file_cache";
}

const json* find_leak(const json& findings, bool (*match)(const json&)) {
  for (const auto& f : findings) {
    if (f.value("verdict", "") == "leak" && match(f)) return &f;
  }
  return nullptr;
}

// The leak must be found, with the leaker's pid first and its eventfds as the evidence, in a cache
// that holds the eventfd's kernel objects, and its rate must be near the leaker's.
//
// Which of them shows it first is up to the allocator: kmalloc-64 (the eventfd_ctx itself) was a
// leak in 11 of 14 runs here, filp and lsm_file_cache in all. SLUB counts the objects of per-CPU
// partial slabs (up to 120 per CPU for kmalloc-64) as in use, so a general cache that every
// subsystem shares can hide a few hundred new objects for a while, more so while other tests run.
// Whether kmalloc-64 was among them is printed, not asserted, so the test cannot be flaky.
void expect_eventfd_leak(const json& report, std::uint64_t pid, double rate_per_s) {
  ASSERT_TRUE(report.is_object()) << "leaks printed no JSON";
  const json* f = find_leak(report["findings"], holds_eventfd_objects);
  ASSERT_NE(f, nullptr) << "no leak in the eventfd's caches; findings:\n" << dump_findings(report);
  std::printf("eventfd leak found in %s; eventfd_ctx's cache (kmalloc-64) %s\n",
              f->value("key", "").c_str(),
              find_leak(report["findings"], holds_eventfd_ctx) ? "a leak too"
                                                               : "not (yet) a leak: SLUB lag");
  ASSERT_FALSE(f->at("processes").empty()) << f->dump(2);
  const json& culprit = f->at("processes")[0];
  EXPECT_EQ(culprit.value("pid", std::uint64_t{0}), pid) << f->dump(2);
  EXPECT_NE(culprit.value("evidence", "").find("eventfds in"), std::string::npos) << f->dump(2);
  // Over 30 s the count lags the leak (see above): the rate is bounded to 1/4..2x here; over
  // 2 minutes it came within 4% (README).
  const double rate = f->value("rate_objects_per_hour", 0.0) / 3600;
  EXPECT_GT(rate, rate_per_s / 4) << f->dump(2);
  EXPECT_LT(rate, rate_per_s * 2) << f->dump(2);
  EXPECT_GE(f->value("confidence", 0.0), 0.999);
  EXPECT_TRUE(f->contains("exhaustion_eta_seconds"));
}

// Non-leak workloads: no leak may be pinned on the workload's pid, and the caches it exercised are
// not leaks unless another process (not ours) is named for them.
void expect_no_leak_from(const json& report, std::uint64_t pid,
                         const std::vector<std::string>& caches) {
  ASSERT_TRUE(report.is_object()) << "leaks printed no JSON";
  for (const auto& f : report["findings"]) {
    if (f.value("verdict", "") != "leak") continue;
    EXPECT_FALSE(names_pid(f, pid)) << "a leak pinned on the non-leaking workload:\n" << f.dump(2);
    const std::string key = f.value("key", "");
    if (std::find(caches.begin(), caches.end(), key) != caches.end()) {
      EXPECT_FALSE(f.value("processes", json::array()).empty())
          << key << " called a leak under a non-leaking workload:\n"
          << dump_findings(report);
    }
  }
}

const std::vector<std::string> kEventfdCaches = {"kmalloc-64", "filp", "lsm_file_cache"};

TEST(DetectLive, EventfdLeakAt100PerSecondWithNoiseIsFoundWithItsPid) {
  REQUIRE_LIVE_DETECTION();
  TempDir dir;
  std::uint64_t pid = 0;
  // Up to 40 extra eventfds opened and closed every 50 ms on top of the leak. A leak must be some
  // 1,500 objects for kmalloc-64 to show it every time on this loaded machine: at 20-30/s over
  // 30 s it was a leak in filp and lsm_file_cache every time but in kmalloc-64 only 3 runs of 5
  // (SLUB's count lags). 100/s for 15 s is as many objects in half the time.
  const json report =
      record_and_analyze(dir, leaker_args("eventfd", "leak", 100, 15, 40), 17, &pid);
  expect_eventfd_leak(report, pid, 100);
}

TEST(DetectLive, WatchPrintsTheEventfdLeakAt50PerSecondWithinSeconds) {
  REQUIRE_LIVE_DETECTION();
  TempDir dir;
  Child watch({"watch", "--interval", "0.5", "--duration", "20s", "--analyze-every", "2",
               "--format", "jsonl"});
  std::this_thread::sleep_for(2s);
  const auto started = std::chrono::steady_clock::now();
  Leaker leaker(leaker_args("eventfd", "leak", 50, 18), dir.file("leaker.log"));
  // The first line on stdout that is the eventfd cache's leak: how long it took.
  std::optional<double> detected_after;
  json finding;
  std::size_t scanned = 0;
  while (watch.pump(100ms)) {
    const std::string& out = watch.out();
    std::size_t nl;
    while ((nl = out.find('\n', scanned)) != std::string::npos) {
      json j = json::parse(out.substr(scanned, nl - scanned), nullptr, false);
      scanned = nl + 1;
      if (!detected_after && j.is_object() && j.value("verdict", "") == "leak" &&
          holds_eventfd_objects(j)) {
        detected_after =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        finding = j;
      }
    }
  }
  EXPECT_EQ(watch.wait_for(60s), 0) << watch.err();
  ASSERT_TRUE(detected_after) << "watch printed no eventfd leak:\n" << watch.out();
  std::printf("watch: the 50/s eventfd leak was printed %.1f s after it began (in %s)\n",
              *detected_after, finding.value("key", "").c_str());
  EXPECT_LT(*detected_after, 18.0);  // seen: 6.5 to 15.5 s on this loaded machine
  EXPECT_TRUE(names_pid(finding, leaker.pid())) << finding.dump(2);
}

TEST(DetectLive, DiagnoseNamesTheLeakAndWritesItsFolder) {
  REQUIRE_LIVE_DETECTION();
  TempDir dir;
  const std::string out = dir.file("diag");
  // 60 eventfds a second for 25 s, and on through diagnose's 10 s trace of kmalloc-64.
  Child diagnose({"diagnose", "--duration", "25s", "--interval", "0.5", "--out", out});
  std::this_thread::sleep_for(2s);
  Leaker leaker(leaker_args("eventfd", "leak", 60, 40, 10), dir.file("leaker.log"));
  ASSERT_EQ(diagnose.wait_for(120s), 0) << diagnose.err();
  EXPECT_NE(diagnose.out().find("Next steps:"), std::string::npos) << diagnose.out();
  EXPECT_NE(diagnose.out().find("(pid " + std::to_string(leaker.pid()) + ")"), std::string::npos)
      << diagnose.out();
  EXPECT_TRUE(std::filesystem::exists(out + "/recording.db"));
  std::ifstream in(out + "/findings.json");
  const json report = json::parse(in, nullptr, false);
  expect_eventfd_leak(report, leaker.pid(), 60);
  // When eventfd_ctx's cache (kmalloc-64: a generic cache, no owner) is a leak, diagnose traces it
  // for 10 s and names the call site: do_eventfd, allocating for the leaker.
  if (find_leak(report["findings"],
                [](const json& f) { return f.value("key", "") == "kmalloc-64"; })) {
    const std::string& text = diagnose.out();
    const std::size_t traced = text.find("Confirming the call site: tracing kmalloc-64");
    ASSERT_NE(traced, std::string::npos) << text;
    const std::string trace = text.substr(traced);
    EXPECT_NE(trace.find("do_eventfd"), std::string::npos) << trace;
    EXPECT_NE(trace.find(std::to_string(leaker.pid()) + " poolscope-leake"), std::string::npos)
        << trace;
  } else {
    std::printf("kmalloc-64 was not (yet) a leak (SLUB lag): diagnose had nothing to trace\n");
  }
}

TEST(DetectLive, ChurnOnlyIsNoLeak) {
  REQUIRE_LIVE_DETECTION();
  TempDir dir;
  std::uint64_t pid = 0;
  // 200 eventfds a second, all closed every 400: a sawtooth of 2 s.
  const json report =
      record_and_analyze(dir, leaker_args("eventfd", "churn", 200, 13, 20, 400), 15, &pid);
  expect_no_leak_from(report, pid, kEventfdCaches);
}

TEST(DetectLive, GrowthThatLevelsOffIsNoLeak) {
  REQUIRE_LIVE_DETECTION();
  TempDir dir;
  std::uint64_t pid = 0;
  // 600 eventfds in the first 3 s, then held for the rest of the 16 s.
  const json report =
      record_and_analyze(dir, leaker_args("eventfd", "plateau", 200, 14, 0, 600), 16, &pid);
  expect_no_leak_from(report, pid, kEventfdCaches);
}

TEST(DetectLive, FileWalkGrowsReclaimableCachesOnly) {
  REQUIRE_LIVE_DETECTION();
  TempDir dir;
  std::filesystem::create_directories(dir.file("walk"));
  std::uint64_t pid = 0;
  // 200 new files a second: dentries and inodes pile up until memory pressure reclaims them.
  const json report = record_and_analyze(
      dir, leaker_args("eventfd", "files", 300, 11, 0, 1000, dir.file("walk")), 13, &pid);
  expect_no_leak_from(report, pid,
                      {"dentry", "ext4_inode_cache", "lsm_inode_cache", "inode_cache"});
  bool dentry = false;
  for (const auto& f : report.value("reclaimable_growth", json::array())) {
    dentry = dentry || f.value("key", "") == "dentry";
  }
  EXPECT_TRUE(dentry) << "the file walk's dentry growth is not said:\n" << report.dump(2);
}

// --- Incidents (issue 17) ------------------------------------------------------------------------

// The incident that names the pid (0 when none does), and how many incidents name it.
std::pair<std::uint64_t, int> incident_of(const json& report, std::uint64_t pid) {
  // An incident lists each member's first culprit: a key shared by two leakers (filp) names both
  // in its finding, but each leaker only in its own incident.
  std::uint64_t id = 0;
  int named = 0;
  for (const json& in : report.value("incidents", json::array())) {
    if (names_pid(in, pid)) {
      ++named;
      id = in.value("id", std::uint64_t{0});
    }
  }
  return {id, named};
}

std::string dump_incidents(const json& report) {
  std::string out;
  for (const json& in : report.value("incidents", json::array())) out += in.dump() + "\n";
  return out;
}

// One eventfd leak grows filp, kmalloc-64 and lsm_file_cache: one incident, the leaker named once.
// (~20 s.)
TEST(DetectLive, AnEventfdLeakIsOneIncidentNamingTheLeakerOnce) {
  REQUIRE_LIVE_DETECTION();
  TempDir dir;
  std::uint64_t pid = 0;
  const json report = record_and_analyze(dir, leaker_args("eventfd", "leak", 100, 15), 17, &pid);
  ASSERT_TRUE(report.is_object());
  const auto [id, named] = incident_of(report, pid);
  ASSERT_NE(id, 0u) << "no finding names the leaker:\n" << dump_findings(report);
  EXPECT_EQ(named, 1) << dump_incidents(report);
  // Every finding naming the leaker first is in that one incident.
  int members = 0;
  for (const json& f : report["findings"]) {
    if (!f["processes"].empty() && f["processes"][0].value("pid", std::uint64_t{0}) == pid) {
      EXPECT_EQ(f.value("incident", std::uint64_t{0}), id) << f.dump();
      ++members;
    }
  }
  std::printf("eventfd leak: one incident of %d key(s) naming the leaker\n", members);
  EXPECT_GE(members, 2) << dump_findings(report);
}

// Two leakers at different rates, at the same time: two incidents, each naming its own leaker.
// (~27 s.)
TEST(DetectLive, TwoLeakersAreTwoIncidents) {
  REQUIRE_LIVE_DETECTION();
  TempDir dir;
  const std::string db = dir.file("live.db");
  Child recorder({"record", "--interval", "0.5", "--process-interval", "0.5s", "--duration", "25s",
                  "--out", db});
  std::this_thread::sleep_for(2s);
  Leaker eventfds(leaker_args("eventfd", "leak", 60, 23), dir.file("a.log"));
  Leaker timerfds(leaker_args("timerfd", "leak", 20, 23), dir.file("b.log"));
  ASSERT_EQ(recorder.wait_for(120s), 0) << recorder.err();
  Child leaks({"leaks", db, "--format", "json"});
  ASSERT_EQ(leaks.wait_for(60s), 0) << leaks.err();
  const json report = json::parse(leaks.out(), nullptr, false);
  ASSERT_TRUE(report.is_object()) << leaks.out();
  const auto [a, a_named] = incident_of(report, eventfds.pid());
  const auto [b, b_named] = incident_of(report, timerfds.pid());
  ASSERT_NE(a, 0u) << dump_findings(report);
  ASSERT_NE(b, 0u) << "the timerfd leaker is named nowhere:\n" << dump_findings(report);
  EXPECT_NE(a, b) << dump_incidents(report);
  EXPECT_EQ(a_named, 1) << dump_incidents(report);
  EXPECT_EQ(b_named, 1) << dump_incidents(report);
}

// pidfds of exited children keep their struct pid: `pid` grows while the threads do not. A census
// finding naming the process that holds the pidfds. (~20 s.)
TEST(DetectLive, PidfdsOfExitedChildrenAreACensusFindingNamingTheHolder) {
  REQUIRE_LIVE_DETECTION();
  TempDir dir;
  std::uint64_t pid = 0;
  const json report = record_and_analyze(dir, leaker_args("pidfd", "leak", 120, 15), 17, &pid);
  ASSERT_TRUE(report.is_object());
  const json* found = nullptr;
  for (const json& f : report["findings"]) {
    bool is_pid = f.value("key", "") == "pid";
    for (const auto& alias : f.value("aliases", json::array())) is_pid = is_pid || alias == "pid";
    if (is_pid && names_pid(f, pid)) found = &f;
  }
  ASSERT_NE(found, nullptr) << "no finding on the pid cache naming the leaker:\n"
                            << dump_findings(report);
  ASSERT_TRUE(found->contains("census")) << found->dump(2);
  EXPECT_EQ((*found)["census"]["owner_kind"], "threads");
  EXPECT_GT((*found)["census"]["gap_rate_per_hour"].get<double>(), 0) << found->dump(2);
  EXPECT_EQ((*found)["processes"][0]["metric"], "pidfd") << found->dump(2);
}

}  // namespace
}  // namespace poolscope
