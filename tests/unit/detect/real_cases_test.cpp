// The detector on the incidents' own numbers (../shared/context): incident 2's two dated poolmon
// readings of Thre, given in a comment as text (no poolmon screen was saved, so they go into the
// History directly, exactly as written there).
#include <gtest/gtest.h>

#include "detect/detector.h"

namespace poolscope::detect {
namespace {

// "12.12.08 non-paged 166700, Diff 110065, Bytes 68680560 and 15.12.08 - non-paged 183820,
// Diff 137029, Bytes 85506096" (incident-2-none-tag-exallocatepool.txt). The dates carry no time
// of day: midnight UTC is taken, 3 days apart. Task Manager's non-paged figure is in KiB.
History thre_history(std::optional<double> nonpaged_limit) {
  History h;
  struct Reading {
    std::int64_t wall_s;
    std::uint64_t nonpaged_kib, diff, bytes;
  };
  const Reading readings[] = {{1'229'040'000, 166700, 110065, 68680560},
                              {1'229'299'200, 183820, 137029, 85506096}};
  for (const Reading& r : readings) {
    h.begin_sample(static_cast<double>(r.wall_s - readings[0].wall_s), r.wall_s * 1'000'000'000);
    KeyTrack& k = h.key(0);
    k.key = tag_from_text("Thre");
    k.pool = PoolKind::kNonPaged;
    h.add_key_value(0, r.diff, r.bytes, CounterWidth::k32);
    h.add_pool_total(PoolKind::kNonPaged, static_cast<double>(r.nonpaged_kib) * 1024,
                     nonpaged_limit, std::nullopt);
    h.end_sample();
  }
  return h;
}

TEST(DetectRealCases, ThreTwoReadingsThreeDaysApartAreASuspect) {
  const Report r = analyze(thre_history(std::nullopt));
  ASSERT_EQ(r.findings.size(), 1u);
  const Finding& f = r.findings[0];
  EXPECT_EQ(f.key, tag_from_text("Thre"));
  EXPECT_EQ(f.verdict, Verdict::kSuspect);  // two readings: confidence 0.5
  EXPECT_TRUE(f.trend.sparse);
  // +26,964 thread objects and +16,825,536 bytes (624 bytes each) in 72 hours.
  EXPECT_DOUBLE_EQ(f.end_value - f.start_value, 26964);
  EXPECT_NEAR(*f.rate_objects_per_hour, 26964.0 / 72, 1e-6);
  EXPECT_NEAR(*f.rate_bytes_per_hour, 16825536.0 / 72, 1e-6);
  EXPECT_DOUBLE_EQ(f.confidence, 0.5);
  EXPECT_EQ(f.window_seconds, 3 * 86400);
  // poolmon and Task Manager give the non-paged pool's use, not its limit.
  EXPECT_FALSE(f.exhaustion_eta_seconds);
  EXPECT_NE(f.exhaustion_note.find("no nonpaged pool limit"), std::string::npos)
      << f.exhaustion_note;
}

TEST(DetectRealCases, ThreForecastAgainstTheLimitTheWriterSaw) {
  // The writer saw the pool run into ~256 MB; with that limit known (a !vm would give it) the
  // forecast is the free room over Thre's byte rate: 76.5 MiB at 64.9 B/s, about 14 days.
  const Report r = analyze(thre_history(256.0 * 1024 * 1024));
  ASSERT_EQ(r.findings.size(), 1u);
  const Finding& f = r.findings[0];
  ASSERT_TRUE(f.exhaustion_eta_seconds);
  const double room = 256.0 * 1024 * 1024 - 183820.0 * 1024;
  EXPECT_NEAR(*f.exhaustion_eta_seconds, room / (16825536.0 / 259200), 1);
  EXPECT_GT(*f.exhaustion_eta_seconds, 13 * 86400.0);
  EXPECT_LT(*f.exhaustion_eta_seconds, 15 * 86400.0);
}

TEST(DetectRealCases, TwoReadingsThatFellOrBarelyMovedAreNoLeak) {
  for (std::uint64_t second : {110000u, 110100u}) {  // down 65; up 35 (0.03%)
    History h;
    for (int i = 0; i < 2; ++i) {
      h.begin_sample(i * 3600.0, (1'229'040'000 + i * 3600) * 1'000'000'000LL);
      h.key(0).key = tag_from_text("Thre");
      h.add_key_value(0, i == 0 ? 110065u : second, std::nullopt, CounterWidth::k32);
      h.end_sample();
    }
    EXPECT_TRUE(analyze(h).findings.empty()) << second;
  }
}

}  // namespace
}  // namespace poolscope::detect
