// The trend statistics on series of known shape: leaks of several rates and noise levels against
// the shapes that only look like one (plateau, sawtooth churn, one-off step, noise, wander).
#include "detect/trend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace poolscope::detect {
namespace {

struct Series {
  std::vector<double> t, y;
};

// n samples at 1 s; f(t) plus uniform noise in [-noise, noise].
template <class F>
Series make(std::size_t n, F f, double noise = 0, unsigned seed = 1) {
  Series s;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-noise, noise);
  for (std::size_t i = 0; i < n; ++i) {
    s.t.push_back(static_cast<double>(i));
    s.y.push_back(std::round(f(static_cast<double>(i)) + (noise > 0 ? u(rng) : 0)));
  }
  return s;
}

// The rules other than the warm-up one, on series shorter than a warm-up.
TrendOptions without_warmup_rule() {
  TrendOptions o;
  o.warmup_seconds = 0;
  return o;
}

TEST(Trend, TheilSenIgnoresOutliers) {
  Series s = make(100, [](double t) { return 1000 + 2 * t; });
  s.y[10] = 1e9;
  s.y[50] = -1e9;
  EXPECT_NEAR(theil_sen_slope(s.t, s.y), 2.0, 1e-9);
  EXPECT_GT(std::fabs(least_squares_slope(s.t, s.y) - 2.0), 1000.0);
}

TEST(Trend, MannKendallCountsPairsAndTies) {
  const std::vector<double> up = {1, 2, 3, 4};
  EXPECT_EQ(mann_kendall(up).s, 6);
  EXPECT_NEAR(mann_kendall(up).variance, 4 * 3 * 13 / 18.0, 1e-9);
  const std::vector<double> ties = {1, 1, 2};
  // pairs: (1,1) 0, (1,2) +1, (1,2) +1; ties group of 2: 2*1*9 = 18
  EXPECT_EQ(mann_kendall(ties).s, 2);
  EXPECT_NEAR(mann_kendall(ties).variance, (3 * 2 * 11 - 18) / 18.0, 1e-9);
}

TEST(Trend, SteadyLeakIsALeakWithItsRate) {
  for (double rate : {0.1, 1.0, 10.0}) {
    for (double noise : {0.0, 5.0, 50.0}) {
      // Long enough for the growth to clear the noise band twice over.
      const std::size_t n = static_cast<std::size_t>(std::max(600.0, 8 * noise / rate));
      Series s = make(
          n, [&](double t) { return 30000 + rate * t; }, noise, 7);
      TrendResult r = assess_trend(s.t, s.y, without_warmup_rule());
      EXPECT_EQ(r.verdict, Verdict::kLeak)
          << "rate " << rate << " noise " << noise << ": " << r.why;
      EXPECT_NEAR(r.slope, rate, rate * 0.1) << "rate " << rate << " noise " << noise;
      EXPECT_GE(r.confidence, 0.999);
    }
  }
}

TEST(Trend, LeakStartingLateHasItsOnset) {
  Series s = make(
      1200, [](double t) { return t < 800 ? 5000 : 5000 + 2 * (t - 800); }, 3);
  TrendResult r = assess_trend(s.t, s.y, without_warmup_rule());
  EXPECT_EQ(r.verdict, Verdict::kLeak) << r.why;
  EXPECT_NEAR(r.onset_t, 800, 40);
  EXPECT_NEAR(r.slope, 2.0, 0.2);
}

TEST(Trend, PlateauIsNotALeak) {
  Series s = make(
      1200, [](double t) { return 1000 + 500 * (1 - std::exp(-t / 100)); }, 5);
  TrendResult r = assess_trend(s.t, s.y);
  EXPECT_EQ(r.verdict, Verdict::kNone) << r.why;
}

TEST(Trend, SawtoothChurnIsNotALeak) {
  // Fill 400 objects over 40 s, free them all, again: the floor never moves.
  Series s = make(
      1200, [](double t) { return 2000 + std::fmod(t, 40) * 10; }, 3);
  TrendResult r = assess_trend(s.t, s.y);
  EXPECT_EQ(r.verdict, Verdict::kNone) << r.why;
}

// Early in a run, before buckets are floors of whole periods, the onset search can isolate one
// ramp of a sawtooth (found by bench/detect.cpp): it climbs only to where earlier teeth were.
TEST(Trend, ASingleSawtoothRampIsNoLeakInAShortSeries) {
  for (std::size_t n : {50u, 59u, 70u, 79u, 90u, 119u}) {
    Series s = make(
        n, [](double t) { return 5500 + std::fmod(t, 20) * 20; }, 3);
    TrendResult r = assess_trend(s.t, s.y);
    EXPECT_NE(r.verdict, Verdict::kLeak) << n << " samples: " << r.why;
  }
}

// The churn run of bench/detect.cpp that alarmed (seed 1009, the first check at 60 s): SLUB-like
// level noise lifted the newest tooth 8 objects above the earlier ones, so the 12 s ramp looked
// new. The series had risen as much before (5,481 -> 5,866 in 17 s) and fell back: churn.
TEST(Trend, ASawtoothToothLiftedByNoiseIsNoLeak) {
  const std::vector<double> y = {
      5498, 5522, 5561, 5577, 5564, 5633, 5655, 5669, 5694, 5715, 5729, 5754, 5774, 5789, 5812,
      5833, 5820, 5841, 5830, 5859, 5481, 5508, 5528, 5606, 5626, 5668, 5644, 5663, 5685, 5702,
      5727, 5742, 5767, 5787, 5805, 5826, 5847, 5866, 5741, 5758, 5378, 5402, 5423, 5441, 5460,
      5559, 5578, 5596, 5725, 5640, 5719, 5739, 5758, 5931, 5789, 5812, 5854, 5874, 5896, 5956};
  std::vector<double> t(y.size());
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<double>(i);
  TrendResult r = assess_trend(t, y);
  EXPECT_NE(r.verdict, Verdict::kLeak) << r.why;
  EXPECT_NE(r.why.find("fell back"), std::string::npos) << r.why;
  // The same flat start, then a leak of the same 20/s that does not fall back, is one.
  std::vector<double> leak(y.begin(), y.begin() + 20);
  for (int i = 0; i < 40; ++i) leak.push_back(5500 + 20.0 * i + (i % 3) * 5);
  TrendResult l = assess_trend(t, leak, without_warmup_rule());
  EXPECT_EQ(l.verdict, Verdict::kLeak) << l.why;
}

// Issue 17 item 8: a cache warming up (1,200 objects over 20 minutes at 1/s, then flat) was a
// leak once per run while it grew. Checked every minute for 2 h, from the start and after an
// hour of flat: never a leak, but a suspect while it grows.
TEST(Trend, ACacheWarmingUpForTwentyMinutesIsNeverALeak) {
  for (double start : {0.0, 3600.0}) {
    const Series s = make(
        7200, [&](double t) { return 5500 + std::clamp(t - start, 0.0, 1200.0); }, 30, 3);
    bool suspect_while_growing = false;
    for (std::size_t n = 60; n <= s.t.size(); n += 60) {
      const TrendResult r = assess_trend(std::span(s.t.data(), n), std::span(s.y.data(), n));
      EXPECT_NE(r.verdict, Verdict::kLeak) << "start " << start << ", at " << n << " s";
      suspect_while_growing = suspect_while_growing || r.warming_up;
    }
    EXPECT_TRUE(suspect_while_growing) << "start " << start;
  }
}

// The same growth that does not stop is a leak once it has grown for 30 minutes, counted from
// its onset: as soon after an hour of flat as from the first sample. Growth of half the level is
// a leak at once.
TEST(Trend, ALeakIsFoundAsSoonAfterAnHourOfFlatAsFromTheStart) {
  for (double start : {0.0, 3600.0}) {
    const Series s = make(
        start + 2400, [&](double t) { return 5500 + std::max(0.0, t - start); }, 30, 3);
    const auto verdict_at = [&](double seconds_after_onset) {
      const auto n = static_cast<std::size_t>(start + seconds_after_onset);
      return assess_trend(std::span(s.t.data(), n), std::span(s.y.data(), n)).verdict;
    };
    EXPECT_EQ(verdict_at(1200), Verdict::kSuspect) << "start " << start;
    EXPECT_EQ(verdict_at(1900), Verdict::kLeak) << "start " << start;
  }
  const Series fast = make(
      400, [](double t) { return 1000 + 5 * t; }, 30, 3);
  EXPECT_EQ(assess_trend(fast.t, fast.y).verdict, Verdict::kLeak);
}

TEST(Trend, OneOffStepIsNotALeak) {
  Series s = make(
      1200, [](double t) { return t < 600 ? 3000 : 3500; }, 4);
  TrendResult r = assess_trend(s.t, s.y);
  EXPECT_NE(r.verdict, Verdict::kLeak) << r.why;
}

TEST(Trend, NoiseAndWanderAreNotLeaks) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    Series s = make(
        1800, [](double) { return 10000; }, 40, seed);
    EXPECT_EQ(assess_trend(s.t, s.y).verdict, Verdict::kNone) << "seed " << seed;
    // A bounded random walk (mean-reverting): slow wander must not read as a trend.
    std::mt19937 rng(seed);
    std::normal_distribution<double> step(0, 3);
    Series w;
    double v = 10000;
    for (int i = 0; i < 1800; ++i) {
      v += step(rng) - 0.01 * (v - 10000);
      w.t.push_back(i);
      w.y.push_back(std::round(v));
    }
    EXPECT_NE(assess_trend(w.t, w.y).verdict, Verdict::kLeak) << "walk seed " << seed;
  }
}

TEST(Trend, TwoPointsBeforeAndAfter) {
  // The Drsd pair: Diff 21 -> 27 between two snapshots.
  const std::vector<double> t = {0, 300}, y = {21, 27};
  TrendResult r = assess_trend(t, y);
  // Half of all trendless pairs rise: a suspect (the leak confidence, 0.999, applies to all).
  EXPECT_EQ(r.verdict, Verdict::kSuspect);
  EXPECT_TRUE(r.sparse);
  EXPECT_DOUBLE_EQ(r.confidence, 0.5);
  EXPECT_DOUBLE_EQ(r.slope, 6.0 / 300);
  // Incident 2's Thre readings, three days apart: Diff 110,065 -> 137,029.
  const std::vector<double> t2 = {0, 3 * 86400.0}, y2 = {110065, 137029};
  TrendResult thre = assess_trend(t2, y2);
  EXPECT_EQ(thre.verdict, Verdict::kSuspect);
  EXPECT_NEAR(thre.slope * 86400, (137029 - 110065) / 3.0, 1e-6);
  // Falling or barely moving pairs are not findings.
  const std::vector<double> down = {27, 21}, flat = {1000, 1001};
  EXPECT_EQ(assess_trend(t, down).verdict, Verdict::kNone);
  EXPECT_EQ(assess_trend(t, flat).verdict, Verdict::kNone);
}

TEST(Trend, SingleSampleNeverALeak) {
  const std::vector<double> t = {0}, y = {1e9};
  EXPECT_EQ(assess_trend(t, y).verdict, Verdict::kNone);
}

}  // namespace
}  // namespace poolscope::detect
