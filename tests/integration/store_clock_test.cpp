// The recorder with a clock we control (the Clock interface): the wall clock set back does not
// reorder samples; the monotonic schedule does not drift and skips ticks a slow sample covered.
#include <thread>

#include "core/clock.h"
#include "integration/store_support.h"
#include "store/recorder.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;
using testing::sql_rows;

// Wall and monotonic time that only move when told; the wall clock can be set back.
class SteerableClock final : public Clock {
 public:
  std::chrono::system_clock::time_point wall() const override { return wall_; }
  std::int64_t monotonic_ns() const override { return mono_; }
  void advance(std::chrono::nanoseconds by) {
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
    mono_ += by.count();
  }
  void set_wall(std::chrono::system_clock::time_point t) { wall_ = t; }

 private:
  std::chrono::system_clock::time_point wall_{std::chrono::seconds(1'800'000'000)};
  std::int64_t mono_ = 5'000'000'000;
};

TEST(StoreClock, WallClockSetBackDoesNotReorderAndSlowSamplesSkipTicks) {
  testing::TempDir dir;
  const std::string db = dir.file("clock.db");
  auto rec = store::Recording::open_write(db);
  ASSERT_TRUE(rec.has_value()) << rec.error().message;
  SteerableClock clock;
  int n = 0;
  store::RecorderHooks hooks;
  hooks.sample = [&]() -> Result<Snapshot> {
    ++n;
    if (n == 4) clock.set_wall(clock.wall() - std::chrono::hours(1));  // NTP step back
    Snapshot s;
    s.wall_time = clock.wall();
    s.monotonic_ns = clock.monotonic_ns();
    Entry e;
    e.key = slab_cache("dentry");
    e.pool = PoolKind::kReclaimable;
    e.counters.outstanding = static_cast<std::uint64_t>(n);
    s.entries.push_back(e);
    // Sample 5 is slow: 25 s with a 10 s interval covers two more ticks.
    clock.advance(n == 5 ? 25s : 1s);
    return s;
  };
  hooks.sleep_until = [&](std::int64_t until) {
    ASSERT_GE(until, clock.monotonic_ns());
    clock.advance(std::chrono::nanoseconds(until - clock.monotonic_ns()));
  };
  std::atomic<bool> stop{false};
  auto result = store::run_recorder(
      *rec, clock, hooks, store::RecorderOptions{.interval = 10s, .duration = 100s}, stop);
  ASSERT_FALSE(result.error) << result.error->message;
  // Ticks 0..90 s; the slow sample at 40 s runs to 65 s, so 50 and 60 are skipped.
  EXPECT_EQ(result.stats.samples, 8);
  EXPECT_EQ(result.stats.skipped_ticks, 2);
  auto rows = sql_rows(db,
                       "SELECT seq, wall_ns / 1000000000 - 1800000000, (mono_ns - 5000000000) / "
                       "1000000000 FROM samples ORDER BY seq");
  EXPECT_EQ(rows,
            (std::vector<std::string>{"1|0|0", "2|10|10", "3|20|20", "4|-3570|30", "5|-3560|40",
                                      "6|-3530|70", "7|-3520|80", "8|-3510|90"}));
  // Readers follow seq, not wall time.
  auto cursor = rec->cursor();
  std::vector<std::uint64_t> values;
  while (cursor->next().value()) values.push_back(cursor->keys()[0].value[store::kOutstanding]);
  EXPECT_EQ(values, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  // The sample at a wall time is the one with the greatest wall time not after it.
  EXPECT_EQ(**rec->seq_at(store::from_wall_ns(1'800'000'025'000'000'000)), 3);
  EXPECT_EQ(**rec->seq_at(store::from_wall_ns(1'799'996'475'000'000'000)), 6);
}

TEST(StoreClock, StopEndsTheLoopAfterTheCurrentSample) {
  testing::TempDir dir;
  auto rec = store::Recording::open_write(dir.file("stop.db"));
  ASSERT_TRUE(rec.has_value());
  SteerableClock clock;
  std::atomic<bool> stop{false};
  store::RecorderHooks hooks;
  hooks.sample = [&]() -> Result<Snapshot> {
    Snapshot s;
    s.wall_time = clock.wall();
    return s;
  };
  hooks.on_commit = [&](std::int64_t seq, const Snapshot&) {
    if (seq == 3) stop = true;  // as the SIGINT handler does
  };
  hooks.sleep_until = [&](std::int64_t until) {
    clock.advance(std::chrono::nanoseconds(until - clock.monotonic_ns()));
  };
  auto result =
      store::run_recorder(*rec, clock, hooks, store::RecorderOptions{.interval = 1s}, stop);
  EXPECT_FALSE(result.error);
  EXPECT_EQ(result.stats.samples, 3);
}

// The automatic process interval: after a collection that cost C of CPU the next one waits
// C / process_cpu_share (2 ms at 0.01% -> 20 s), capped by process_interval_max. The first
// collection (which reads every process) is followed at the next sample.
TEST(StoreClock, AutomaticProcessIntervalFollowsTheCollectionCost) {
  testing::TempDir dir;
  auto rec = store::Recording::open_write(dir.file("auto.db"));
  ASSERT_TRUE(rec.has_value()) << rec.error().message;
  SteerableClock clock;
  const std::int64_t start = clock.monotonic_ns();
  std::int64_t cpu = 0;
  std::vector<std::int64_t> collected_at;
  store::RecorderHooks hooks;
  hooks.sample = [&]() -> Result<Snapshot> {
    Snapshot s;
    s.wall_time = clock.wall();
    s.monotonic_ns = clock.monotonic_ns();
    return s;
  };
  hooks.processes = [&]() -> Result<ProcessSample> {
    collected_at.push_back((clock.monotonic_ns() - start) / 1'000'000'000);
    // The first two collections cost 2 ms of CPU, the later ones 10 ms (-> 100 s, capped at 30).
    cpu += collected_at.size() <= 2 ? 2'000'000 : 10'000'000;
    return ProcessSample{};
  };
  hooks.cpu_ns = [&] { return cpu; };
  hooks.sleep_until = [&](std::int64_t until) {
    clock.advance(std::chrono::nanoseconds(until - clock.monotonic_ns()));
  };
  std::atomic<bool> stop{false};
  auto result = store::run_recorder(
      *rec, clock, hooks,
      store::RecorderOptions{
          .interval = 1s, .duration = 101s, .process_cpu_share = 1e-4, .process_interval_max = 30s},
      stop);
  ASSERT_FALSE(result.error) << result.error->message;
  EXPECT_EQ(result.stats.samples, 101);
  EXPECT_EQ(collected_at, (std::vector<std::int64_t>{0, 1, 21, 51, 81}));
  EXPECT_EQ(result.stats.process_samples, 5);
  EXPECT_EQ(result.stats.process_cpu_ns, 34'000'000);
}

// --process-interval: process facts at the scheduled ticks 0, 30, 60 ... s only (a slow
// sample that skips ticks moves the next one), and the samples between read back without any
// while the ones with facts decode through the gaps.
TEST(StoreClock, ProcessIntervalCollectsOnlyAtItsTicksAndReadsBackThroughTheGaps) {
  testing::TempDir dir;
  const std::string db = dir.file("proc.db");
  auto rec = store::Recording::open_write(db);
  ASSERT_TRUE(rec.has_value()) << rec.error().message;
  SteerableClock clock;
  int samples = 0, collections = 0;
  store::RecorderHooks hooks;
  hooks.sample = [&]() -> Result<Snapshot> {
    ++samples;
    Snapshot s;
    s.wall_time = clock.wall();
    s.monotonic_ns = clock.monotonic_ns();
    // The sample at 70 s is slow (to 95 s): the ticks at 80 and 90 s are skipped.
    clock.advance(samples == 8 ? 25s : 1s);
    return s;
  };
  hooks.processes = [&]() -> Result<ProcessSample> {
    ++collections;
    ProcessSample p;
    p.processes.push_back(ProcessFacts{.pid = 42,
                                       .start_time = 7,
                                       .name = "leaky",
                                       .fd_total = static_cast<std::uint64_t>(10 * collections)});
    return p;
  };
  hooks.sleep_until = [&](std::int64_t until) {
    clock.advance(std::chrono::nanoseconds(until - clock.monotonic_ns()));
  };
  std::atomic<bool> stop{false};
  auto result = store::run_recorder(
      *rec, clock, hooks,
      store::RecorderOptions{.interval = 10s, .duration = 150s, .process_interval = 30s}, stop);
  ASSERT_FALSE(result.error) << result.error->message;
  // Ticks 0..70, 100..140 s; processes at 0, 30, 60 and then 100 (90 was skipped), 130.
  EXPECT_EQ(result.stats.samples, 13);
  EXPECT_EQ(result.stats.skipped_ticks, 2);
  EXPECT_EQ(result.stats.process_samples, 5);
  EXPECT_EQ(collections, 5);
  EXPECT_EQ(sql_rows(db, "SELECT seq, keyframe FROM process_samples ORDER BY seq"),
            (std::vector<std::string>{"1|1", "4|0", "7|0", "9|0", "12|0"}));
  rec->close();
  auto reader = store::Recording::open_read(db);
  ASSERT_TRUE(reader.has_value());
  auto cursor = reader->cursor(store::CursorOptions{.processes = true});
  std::vector<std::string> seen;
  while (cursor->next().value()) {
    const auto* procs = cursor->processes();
    seen.push_back(procs ? std::to_string(*procs->processes.at(0).fd_total) : "-");
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"10", "-", "-", "20", "-", "-", "30", "-", "40", "-",
                                            "-", "50", "-"}));
  // From the middle: the chain is decoded from the keyframe at seq 1.
  auto middle = reader->cursor(store::CursorOptions{.from_seq = 9, .processes = true});
  ASSERT_TRUE(middle->next().value());
  EXPECT_EQ(middle->info().seq, 9);
  ASSERT_NE(middle->processes(), nullptr);
  EXPECT_EQ(middle->processes()->processes.at(0).fd_total, 40u);
}

TEST(StoreClock, DurationsParse) {
  EXPECT_EQ(*store::parse_duration("0.1"), 100ms);
  EXPECT_EQ(*store::parse_duration("90s"), 90s);
  EXPECT_EQ(*store::parse_duration("30m"), 30min);
  EXPECT_EQ(*store::parse_duration("48h"), 48h);
  EXPECT_EQ(*store::parse_duration("7d"), 7 * 24h);
  EXPECT_EQ(*store::parse_duration("500ms"), 500ms);
  EXPECT_EQ(*store::parse_duration("2w"), 14 * 24h);
  for (const char* bad : {"", "0", "-1s", "10x", "s", "1e3", "1..2", "999999999d"}) {
    auto d = store::parse_duration(bad);
    EXPECT_FALSE(d.has_value()) << bad;
    if (!d) {
      EXPECT_EQ(d.error().code, ErrorCode::kUsage);
    }
  }
}

}  // namespace
}  // namespace poolscope
