// The one live loop (source/live_loop.h) on a ManualClock: steady ticks, skipped ticks after a slow
// sample, the end of the duration (record's and watch/serve's), the process facts schedule, a
// consumer's error, stop; and the duration parser every option uses (core/units.h).
#include "source/live_loop.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>

#include "core/units.h"
#include "source/host.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;

struct Harness {
  ManualClock clock{std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000))};
  std::vector<std::int64_t> sampled_at;  // monotonic seconds
  std::vector<std::int64_t> slow;        // sample numbers (0-based) that take 25 s
  std::int64_t end = 0;
  LiveLoopHooks hooks() {
    LiveLoopHooks h;
    h.sample = [this]() -> Result<Snapshot> {
      sampled_at.push_back(clock.monotonic_ns() / 1'000'000'000);
      const bool is_slow =
          std::find(slow.begin(), slow.end(), static_cast<std::int64_t>(sampled_at.size() - 1)) !=
          slow.end();
      clock.advance(is_slow ? 25s : 1s);
      return Snapshot{};
    };
    h.sleep_until = [this](std::int64_t until) {
      EXPECT_GE(until, clock.monotonic_ns());
      clock.advance(std::chrono::nanoseconds(until - clock.monotonic_ns()));
    };
    return h;
  }
};

std::optional<Error> accept(LiveTick&) {
  return std::nullopt;
}

TEST(LiveLoop, TicksAreSteadyAndASlowSampleSkipsTheTicksItCovered) {
  Harness h;
  h.slow = {4};
  std::atomic<bool> stop{false};
  auto result =
      run_live_loop(h.clock, h.hooks(), {.interval = 10s, .duration = 100s}, stop, accept);
  ASSERT_FALSE(result.error);
  EXPECT_EQ(h.sampled_at, (std::vector<std::int64_t>{0, 10, 20, 30, 40, 70, 80, 90}));
  EXPECT_EQ(result.stats.samples, 8);
  EXPECT_EQ(result.stats.skipped_ticks, 2);
  // record ends after its last sample; watch and serve wait out the duration.
  EXPECT_EQ(h.clock.monotonic_ns(), 91'000'000'000);
  Harness w;
  run_live_loop(w.clock, w.hooks(), {.interval = 10s, .duration = 100s, .wait_out_duration = true},
                stop, accept);
  EXPECT_EQ(w.sampled_at.size(), 10u);
  EXPECT_EQ(w.clock.monotonic_ns(), 100'000'000'000);
}

TEST(LiveLoop, TheTickTellsItsScheduledOffsetAndMeasuredTime) {
  Harness h;
  std::vector<std::pair<std::int64_t, double>> seen;
  std::atomic<bool> stop{false};
  run_live_loop(h.clock, h.hooks(), {.interval = 5s, .duration = 15s}, stop,
                [&](LiveTick& tick) -> std::optional<Error> {
                  seen.emplace_back(tick.offset_ns / 1'000'000'000, tick.seconds);
                  return std::nullopt;
                });
  EXPECT_EQ(seen, (std::vector<std::pair<std::int64_t, double>>{{0, 0.0}, {5, 5.0}, {10, 10.0}}));
}

TEST(LiveLoop, ProcessFactsFollowTheirScheduleAndAFailureWarnsOnce) {
  Harness h;
  LiveLoopHooks hooks = h.hooks();
  int calls = 0;
  hooks.processes = [&]() -> Result<ProcessSample> {
    ++calls;
    if (calls == 2) return make_error(ErrorCode::kEnvironment, "denied");
    return ProcessSample{};
  };
  std::vector<std::string> warnings;
  hooks.warn = [&](const std::string& w) { warnings.push_back(w); };
  std::vector<bool> with;
  std::atomic<bool> stop{false};
  auto result =
      run_live_loop(h.clock, hooks, {.interval = 10s, .duration = 100s, .process_interval = 30s},
                    stop, [&](LiveTick& tick) -> std::optional<Error> {
                      with.push_back(tick.processes.has_value());
                      return std::nullopt;
                    });
  // Due at 0, 30, 60, 90 s; the second collection fails.
  EXPECT_EQ(with,
            (std::vector<bool>{true, false, false, false, false, false, true, false, false, true}));
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(result.stats.process_samples, 3);
  EXPECT_EQ(result.stats.process_failures, 1);
  EXPECT_EQ(warnings, (std::vector<std::string>{"process facts not recorded: denied"}));
}

TEST(LiveLoop, TheConsumersErrorOrTheSourcesEndsTheLoop) {
  Harness h;
  std::atomic<bool> stop{false};
  int n = 0;
  auto result = run_live_loop(h.clock, h.hooks(), {.interval = 1s}, stop,
                              [&](LiveTick&) -> std::optional<Error> {
                                if (++n == 3) return Error{ErrorCode::kEnvironment, 0, "disk full"};
                                return std::nullopt;
                              });
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->message, "disk full");
  EXPECT_EQ(result.stats.samples, 2);

  LiveLoopHooks failing = h.hooks();
  failing.sample = []() -> Result<Snapshot> { return make_error(ErrorCode::kEnvironment, "gone"); };
  auto failed = run_live_loop(h.clock, failing, {.interval = 1s}, stop, accept);
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->message, "gone");
  EXPECT_EQ(failed.stats.samples, 0);
}

TEST(LiveLoop, StopEndsItBeforeTheNextSample) {
  Harness h;
  std::atomic<bool> stop{false};
  auto result = run_live_loop(h.clock, h.hooks(), {.interval = 1s}, stop,
                              [&](LiveTick&) -> std::optional<Error> {
                                if (h.sampled_at.size() == 4) stop = true;
                                return std::nullopt;
                              });
  EXPECT_FALSE(result.error);
  EXPECT_EQ(result.stats.samples, 4);
}

TEST(Host, StopOnSignalTurnsSigintIntoTheFlagAndSleepSeesIt) {
  host::StopOnSignal stop;
  EXPECT_FALSE(stop.requested());
  std::raise(SIGINT);
  EXPECT_TRUE(stop.requested());
  // A stop already requested ends a sleep at once.
  host::sleep_until_monotonic(INT64_MAX, stop.flag());
  EXPECT_GE(host::process_cpu_time_ns(), 0);
}

TEST(Units, OneDurationParserAcceptsWhatEveryOptionTakes) {
  EXPECT_EQ(*parse_duration("500ms"), 500ms);
  EXPECT_EQ(*parse_duration("2m"), 2min);
  EXPECT_EQ(*parse_duration("48h"), 48h);
  EXPECT_EQ(*parse_duration("0.5"), 500ms);
  for (const char* bad : {"", "0", "5x", "-1s", "ms"}) {
    auto d = parse_duration(bad);
    ASSERT_FALSE(d.has_value()) << bad;
    EXPECT_EQ(d.error().code, ErrorCode::kUsage);
  }
}

}  // namespace
}  // namespace poolscope
