// `poolscope record` as a process: one recorder per file, clean ends on SIGINT/SIGTERM, the
// schedule, retention, --no-processes, the owners in the keys table, and exit 3 for a user who may
// not read the pools.
#include <pwd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/store_support.h"
#include "store/recording.h"
#include "test_paths.h"
#include "test_support.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;
using testing::Child;
using testing::sql_value;

void wait_for_commits(Child& rec, std::size_t n) {
  const auto end = std::chrono::steady_clock::now() + 30s;
  while (testing::count_lines(rec.out(), "committed ") < n &&
         std::chrono::steady_clock::now() < end && rec.pump(50ms)) {
  }
  ASSERT_GE(testing::count_lines(rec.out(), "committed "), n) << rec.err();
}

TEST(StoreRecord, ASecondRecorderIsRefusedNamingThePidAndSigtermEndsCleanly) {
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  const std::string db = dir.file("one.db");
  Child first({"record", "--out", db, "--interval", "0.05", "--print-commits"});
  wait_for_commits(first, 2);
  Child second({"record", "--out", db, "--interval", "0.05"});
  EXPECT_EQ(second.wait_for(30s), 3);
  EXPECT_NE(second.err().find(db + " is already being written by `poolscope record` (pid " +
                              std::to_string(first.pid()) + " on host "),
            std::string::npos)
      << second.err();
  Child importer(
      {"import", "--into", db, std::string(POOLSCOPE_TEST_DATA) + "/store/slabinfo_a.txt"});
  EXPECT_EQ(importer.wait_for(30s), 3) << importer.err();
  // The first one is undisturbed and ends cleanly on SIGTERM.
  wait_for_commits(first, 4);
  ::kill(first.pid(), SIGTERM);
  EXPECT_EQ(first.wait_for(30s), 0) << first.err();
  EXPECT_FALSE(std::filesystem::exists(db + "-wal"));  // checkpointed and removed on close
  const auto committed = testing::count_lines(first.out(), "committed ");
  EXPECT_NE(first.err().find("poolscope: recorded " + std::to_string(committed) +
                             " sample(s) (seq 1.." + std::to_string(committed) + ") of "),
            std::string::npos)
      << first.err();
  EXPECT_NE(first.err().find(" keys into " + db + " ("), std::string::npos) << first.err();
  EXPECT_EQ(sql_value(db, "SELECT count(*) FROM samples"), std::to_string(committed));
  EXPECT_EQ(sql_value(db, "SELECT count(*) FROM recorder"), "0");
}

TEST(StoreRecord, SigintEndsCleanlyAndTheNextRecorderContinues) {
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  const std::string db = dir.file("int.db");
  {
    Child rec({"record", "--out", db, "--interval", "0.05", "--print-commits"});
    wait_for_commits(rec, 3);
    ::kill(rec.pid(), SIGINT);
    EXPECT_EQ(rec.wait_for(30s), 0) << rec.err();
  }
  const std::string after_first = sql_value(db, "SELECT max(seq) FROM samples");
  Child again({"record", "--out", db, "--interval", "0.05", "--duration", "0.3s"});
  EXPECT_EQ(again.wait_for(30s), 0) << again.err();
  EXPECT_EQ(again.err().find("took over"), std::string::npos);  // nothing stale to take over
  EXPECT_EQ(sql_value(db, "SELECT min(seq) FROM samples WHERE seq > " + after_first),
            std::to_string(std::stoll(after_first) + 1));
  EXPECT_EQ(sql_value(db, "SELECT count(*) = max(seq) FROM samples"), "1");
}

TEST(StoreRecord, DurationAndIntervalGiveASteadySchedule) {
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  const std::string db = dir.file("steady.db");
  Child rec({"record", "--out", db, "--interval", "0.1", "--duration", "1s"});
  EXPECT_EQ(rec.wait_for(30s), 0) << rec.err();
  // Ticks at 0, 0.1, ..., 0.9 s: ten samples unless the machine was too busy for some (then
  // they are counted as skipped, not run late).
  const int samples = std::stoi(sql_value(db, "SELECT count(*) FROM samples"));
  const bool skipped = rec.err().find("skipped") != std::string::npos;
  if (!skipped) {
    EXPECT_EQ(samples, 10) << rec.err();
  }
  EXPECT_GE(samples, 5);
  // Each sample starts on its tick: offsets from the second sample (the first one also scans
  // /sys/kernel/slab) are near multiples of 100 ms, without drift.
  auto offsets = testing::sql_rows(db,
                                   "SELECT (mono_ns - (SELECT mono_ns FROM samples WHERE seq = 2)) "
                                   "/ 1000000 FROM samples WHERE seq >= 2");
  for (const auto& ms : offsets) {
    const auto off = std::stoll(ms) % 100;
    EXPECT_LT(std::min(off, 100 - off), 40) << ms;
  }
}

TEST(StoreRecord, RetentionDeletesOldSamplesButKeepsTheChainReadable) {
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  const std::string db = dir.file("ret.db");
  // Process facts with every sample, so their old ones are deleted too.
  Child rec({"record", "--out", db, "--interval", "0.05", "--duration", "3s", "--retention", "1s",
             "--keyframe-interval", "5", "--process-interval", "0.05"});
  EXPECT_EQ(rec.wait_for(60s), 0) << rec.err();
  EXPECT_NE(rec.err().find("old sample(s) deleted"), std::string::npos) << rec.err();
  const auto first = std::stoll(sql_value(db, "SELECT min(seq) FROM samples"));
  const auto last = std::stoll(sql_value(db, "SELECT max(seq) FROM samples"));
  EXPECT_GT(first, 1);
  EXPECT_EQ(sql_value(db, "SELECT keyframe FROM samples WHERE seq = " + std::to_string(first)),
            "1");
  // What is left spans about the retention (plus at most one keyframe interval).
  const auto span_ms = std::stoll(sql_value(db,
                                            "SELECT (max(wall_ns) - min(wall_ns)) / 1000000 "
                                            "FROM samples"));
  EXPECT_LE(span_ms, 1000 + 6 * 50 + 200);
  auto recording = store::Recording::open_read(db);
  ASSERT_TRUE(recording.has_value());
  auto cursor = recording->cursor(store::CursorOptions{.processes = true});
  std::int64_t n = 0;
  while (true) {
    auto more = cursor->next();
    ASSERT_TRUE(more.has_value()) << more.error().message;
    if (!*more) break;
    ++n;
  }
  EXPECT_EQ(n, last - first + 1);
  EXPECT_EQ(
      sql_value(db, "SELECT min(seq) >= " + std::to_string(first - 5) + " FROM process_samples"),
      "1");
}

// Recordings from before sample format 2 (and process format 4) keep no socket pool totals and
// no system counts: tests/data/store/linux_tcp_leak_format1.db is one, written by poolscope
// e4f1fc8 while `poolscope-leaker --kind tcp-data --rate 50` ran (16 samples at 0.5 s; VACUUMed
// to 512-byte pages, the blobs as written). It still reads whole, and `leaks` forecasts its
// socket leak against MemAvailable, saying that the data has no tcp_mem limit.
TEST(StoreRecord, RecordingFromBeforeSocketLimitsWereKeptStillReads) {
  testing::TempDir dir;
  const std::string db = dir.file("old.db");
  std::filesystem::copy_file(testing::test_data("store/linux_tcp_leak_format1.db"), db);
  Child leaks({"leaks", db, "--format", "json"});
  ASSERT_EQ(leaks.wait_for(30s), 0) << leaks.err();
  EXPECT_EQ(leaks.err().find("could not be decoded"), std::string::npos) << leaks.err();
  const auto report = nlohmann::json::parse(leaks.out(), nullptr, false);
  ASSERT_TRUE(report.is_object()) << leaks.out();
  const nlohmann::json* tcp = nullptr;
  for (const auto& f : report["findings"]) {
    if (f.value("key", "") == "sock:TCP") tcp = &f;
  }
  ASSERT_NE(tcp, nullptr) << leaks.out();
  EXPECT_EQ(tcp->value("verdict", ""), "leak");
  EXPECT_NE(tcp->value("exhaustion_note", "").find("no net.ipv4.tcp_mem limit in this data"),
            std::string::npos)
      << tcp->dump(2);
  EXPECT_FALSE(tcp->contains("pressure_eta_seconds")) << tcp->dump(2);
  ASSERT_FALSE(tcp->value("processes", nlohmann::json::array()).empty()) << tcp->dump(2);
  EXPECT_EQ((*tcp)["processes"][0].value("pid", 0), 14527) << tcp->dump(2);
  Child procs({"export", db, "--kind", "process"});
  ASSERT_EQ(procs.wait_for(30s), 0) << procs.err();
  EXPECT_NE(procs.out().find("\"pid\":14527"), std::string::npos);
}

TEST(StoreRecord, NoProcessesRecordsPoolsOnly) {
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  const std::string db = dir.file("np.db");
  Child rec({"record", "--out", db, "--interval", "0.05", "--duration", "0.2s", "--no-processes"});
  EXPECT_EQ(rec.wait_for(30s), 0) << rec.err();
  EXPECT_NE(sql_value(db, "SELECT count(*) FROM samples"), "0");
  EXPECT_EQ(sql_value(db, "SELECT count(*) FROM process_samples"), "0");
  // --process-interval equal to --interval: facts with every sample.
  Child with({"record", "--out", dir.file("p.db"), "--interval", "0.05", "--duration", "0.2s",
              "--process-interval", "0.05"});
  EXPECT_EQ(with.wait_for(30s), 0) << with.err();
  EXPECT_EQ(sql_value(dir.file("p.db"),
                      "SELECT count(*) = (SELECT count(*) FROM samples) FROM "
                      "process_samples"),
            "1");
}

// The OWNER of each key goes into the keys table (once, again only when it changes), so a copy
// of the recording analysed on another machine still names the owners; --no-owner leaves it empty.
TEST(StoreRecord, KeysCarryTheirOwner) {
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  const std::string db = dir.file("owners.db");
  Child rec({"record", "--out", db, "--interval", "0.05", "--duration", "0.2s", "--no-processes"});
  EXPECT_EQ(rec.wait_for(30s), 0) << rec.err();
  EXPECT_EQ(sql_value(db, "SELECT owner FROM keys WHERE CAST(name AS TEXT) = 'kmalloc-64'"),
            "kmalloc (generic)");
  EXPECT_NE(sql_value(db, "SELECT count(*) FROM keys WHERE owner != ''"), "0");
  const std::string plain = dir.file("plain.db");
  Child none({"record", "--out", plain, "--interval", "0.05", "--duration", "0.2s",
              "--no-processes", "--no-owner"});
  EXPECT_EQ(none.wait_for(30s), 0) << none.err();
  EXPECT_NE(sql_value(plain, "SELECT count(*) FROM keys"), "0");
  EXPECT_EQ(sql_value(plain, "SELECT count(*) FROM keys WHERE owner != ''"), "0");
}

// The default (auto) takes the process facts at the first sample and then as often as 0.01% of
// a core allows: at 20 Hz that is far less than every sample, and the summary says what a
// collection cost.
TEST(StoreRecord, AutomaticProcessIntervalKeepsTheFactsWithinTheirCpuShare) {
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  const std::string db = dir.file("auto.db");
  Child rec({"record", "--out", db, "--interval", "0.05", "--duration", "1s"});
  EXPECT_EQ(rec.wait_for(30s), 0) << rec.err();
  EXPECT_EQ(sql_value(db, "SELECT min(seq) FROM process_samples"), "1");
  const auto samples = std::stoll(sql_value(db, "SELECT count(*) FROM samples"));
  const auto with_facts = std::stoll(sql_value(db, "SELECT count(*) FROM process_samples"));
  EXPECT_GE(samples, 10);
  EXPECT_LT(with_facts, samples);
  EXPECT_NE(rec.err().find("ms CPU per process facts collection"), std::string::npos) << rec.err();
  Child bad({"record", "--out", dir.file("bad.db"), "--process-interval", "often"});
  EXPECT_EQ(bad.wait_for(30s), 2);
  EXPECT_NE(bad.err().find("--process-interval: not a duration: \"often\""), std::string::npos)
      << bad.err();
}

TEST(StoreRecord, AUserWhoCannotReadSlabinfoGetsExit3AndNoFile) {
  testing::TempDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
  const std::string db = dir.file("nope.db");
  std::function<void()> drop;
  if (::geteuid() == 0) {
    // Become nobody: /proc/slabinfo is root-only (0400).
    drop = [] {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(99);
    };
  } else if (testing::slabinfo_readable()) {
    GTEST_SKIP() << "slabinfo is readable without root here; nothing to refuse";
  }
  Child rec({"record", "--out", db}, drop);
  EXPECT_EQ(rec.wait_for(30s), 3) << rec.err();
  EXPECT_NE(rec.err().find("cannot read /proc/slabinfo"), std::string::npos) << rec.err();
  EXPECT_NE(rec.err().find("run poolscope as root"), std::string::npos) << rec.err();
  EXPECT_FALSE(std::filesystem::exists(db));
}

}  // namespace
}  // namespace poolscope
