// The statistics of one series: is it a leak (growth that keeps going), only a suspect, or
// normal (flat, noise, churn, a one-off step, growth that levelled off)? See docs/detection.md.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace poolscope::detect {

enum class Verdict { kNone, kSuspect, kLeak };
const char* verdict_name(Verdict v);  // "none", "suspect", "leak"

struct TrendOptions {
  double leak_confidence = 0.999;  // one-sided trend test, after the autocorrelation correction
  double suspect_confidence = 0.99;
  double sparse_min_growth = 0.10;    // 2..5 points: relative growth needed at all
  double min_relative_growth = 0.01;  // of the median level, over the growth window ...
  double min_absolute_growth = 2;     // ... and at least this many units, capped by:
  double growth_cap = 32;             // the relative rule never asks more than this many units
  std::size_t max_points = 256;       // the series is reduced (floor of groups) to this many points
  // The growth window keeps at least this share of the points (and 6). A short window at the end
  // of a long flat series is what finds a late leak as fast as an early one; the warm-up rule
  // below keeps such short windows from alarming on small growth.
  double min_window_share = 0.05;
  // Warm-up: a cache that fills to its working size grows like a leak until it levels off. A
  // growth younger than warmup_seconds is at most a suspect, unless it already added
  // warmup_exempt_growth times the level it started from (0 turns the rule off).
  double warmup_seconds = 1800;
  double warmup_exempt_growth = 0.5;
  // ... and a warm-up that stopped minutes ago still leaves the window's second half rising: the
  // newest quarter must still grow at this share of the window's rate (0: not checked).
  double newest_quarter_share = 0.25;
};

struct TrendResult {
  Verdict verdict = Verdict::kNone;
  double confidence = 0;  // probability-like, see docs/detection.md
  bool sparse = false;    // decided by the few-points rule
  bool rate_known = false;
  double slope = 0;       // units per second (Theil-Sen over the growth window)
  std::size_t onset = 0;  // index into the input where the growth window starts
  double onset_t = 0;
  double start_value = 0, end_value = 0;  // fitted level at onset and at the end
  double z = 0;                           // Mann-Kendall z after the correction
  double autocorrelation = 0;             // lag-1 of the detrended reduced series
  double second_half_ratio = 0;           // slope of the window's second half / whole window
  double last_quarter_ratio = 0;          // slope of its newest quarter / whole window
  bool above_noise = false;  // the window's last quarter is wholly above its first quarter
  bool persistent = false;   // the second half and the newest quarter still grow at >= 1/4 of
                             // the window's rate
  bool enough_growth = false;
  bool warming_up = false;  // held to a suspect by the warm-up rule
  std::string why;          // for kNone/kSuspect: what kept it from the next verdict
};

// t: ascending times (s); y: the floor (minimum) of each bucket. Sizes must match.
TrendResult assess_trend(std::span<const double> t, std::span<const double> y,
                         const TrendOptions& options = {});

// Building blocks, exposed for tests and the benchmark baseline.
double theil_sen_slope(std::span<const double> t, std::span<const double> y);
// One-sided Mann-Kendall: S and its variance with the ties correction.
struct MannKendall {
  double s = 0;
  double variance = 0;
};
MannKendall mann_kendall(std::span<const double> y);
// Least-squares slope (what Prometheus' deriv() computes over its window).
double least_squares_slope(std::span<const double> t, std::span<const double> y);
double normal_cdf(double z);

}  // namespace poolscope::detect
