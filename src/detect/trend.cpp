#include "detect/trend.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace poolscope::detect {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kLeak:
      return "leak";
    case Verdict::kSuspect:
      return "suspect";
    case Verdict::kNone:
      break;
  }
  return "none";
}

double normal_cdf(double z) {
  return 0.5 * std::erfc(-z / std::sqrt(2.0));
}

double theil_sen_slope(std::span<const double> t, std::span<const double> y) {
  std::vector<double> slopes;
  const std::size_t n = t.size();
  if (n < 2) return 0;
  slopes.reserve(n * (n - 1) / 2);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double dt = t[j] - t[i];
      if (dt > 0) slopes.push_back((y[j] - y[i]) / dt);
    }
  }
  if (slopes.empty()) return 0;
  auto mid = slopes.begin() + static_cast<std::ptrdiff_t>(slopes.size() / 2);
  std::nth_element(slopes.begin(), mid, slopes.end());
  if (slopes.size() % 2 == 1) return *mid;
  const double upper = *mid;
  const double lower = *std::max_element(slopes.begin(), mid);
  return (lower + upper) / 2;
}

double least_squares_slope(std::span<const double> t, std::span<const double> y) {
  const std::size_t n = t.size();
  if (n < 2) return 0;
  const double mt = std::accumulate(t.begin(), t.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (t[i] - mt) * (y[i] - my);
    sxx += (t[i] - mt) * (t[i] - mt);
  }
  return sxx > 0 ? sxy / sxx : 0;
}

MannKendall mann_kendall(std::span<const double> y) {
  MannKendall r;
  const std::size_t n = y.size();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      r.s += (y[j] > y[i]) - (y[j] < y[i]);
    }
  }
  std::vector<double> sorted(y.begin(), y.end());
  std::sort(sorted.begin(), sorted.end());
  double ties = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && sorted[j] == sorted[i]) ++j;
    const double g = static_cast<double>(j - i);
    ties += g * (g - 1) * (2 * g + 5);
    i = j;
  }
  const double dn = static_cast<double>(n);
  r.variance = (dn * (dn - 1) * (2 * dn + 5) - ties) / 18;
  return r;
}

namespace {

// Trend z with the variance inflated for positive lag-1 autocorrelation of the detrended series
// (an AR(1) effective-sample-size correction): slow wander is not mistaken for a trend.
struct ZResult {
  double z = 0;
  double rho = 0;
};

ZResult corrected_z(std::span<const double> t, std::span<const double> y, double slope) {
  ZResult out;
  const std::size_t n = y.size();
  if (n < 3) return out;
  const MannKendall mk = mann_kendall(y);
  if (mk.variance <= 0) return out;
  std::vector<double> r(n);
  std::vector<double> shifted(n);
  for (std::size_t i = 0; i < n; ++i) shifted[i] = y[i] - slope * t[i];
  std::vector<double> tmp = shifted;
  std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(n / 2), tmp.end());
  const double intercept = tmp[n / 2];
  double num = 0, den = 0;
  for (std::size_t i = 0; i < n; ++i) r[i] = shifted[i] - intercept;
  for (std::size_t i = 0; i < n; ++i) {
    den += r[i] * r[i];
    if (i + 1 < n) num += r[i] * r[i + 1];
  }
  double rho = den > 0 ? num / den : 0;
  rho = std::clamp(rho, 0.0, 0.99);
  double factor = 1;
  double rk = 1;
  for (std::size_t k = 1; k < n && rk > 1e-6; ++k) {
    rk *= rho;
    factor += 2 * (1 - static_cast<double>(k) / n) * rk;
  }
  factor = std::min(factor, static_cast<double>(n));
  const double var = mk.variance * factor;
  const double s = mk.s > 0 ? mk.s - 1 : (mk.s < 0 ? mk.s + 1 : 0);
  out.z = s / std::sqrt(var);
  out.rho = rho;
  return out;
}

// Flat until the onset, then linear: the onset minimising the squared error (prefix sums, O(n)).
std::size_t hinge_onset(std::span<const double> t, std::span<const double> y,
                        std::size_t min_after) {
  const std::size_t n = t.size();
  if (n < min_after + 2) return 0;
  // Suffix sums over i >= k of t, t^2, y, t*y, y^2; prefix sums of y, y^2 for the flat part.
  std::vector<double> st(n + 1, 0), stt(n + 1, 0), sy(n + 1, 0), sty(n + 1, 0);
  for (std::size_t i = n; i-- > 0;) {
    st[i] = st[i + 1] + t[i];
    stt[i] = stt[i + 1] + t[i] * t[i];
    sy[i] = sy[i + 1] + y[i];
    sty[i] = sty[i + 1] + t[i] * y[i];
  }
  double syy = 0, ysum = 0;
  for (double v : y) {
    syy += v * v;
    ysum += v;
  }
  const double dn = static_cast<double>(n);
  double best_sse = std::numeric_limits<double>::max();
  std::size_t best = 0;
  for (std::size_t k = 0; k + min_after <= n; ++k) {
    const double tk = t[k];
    const double c = static_cast<double>(n - k);
    // Regressor x_i = max(0, t_i - tk): sums over i >= k.
    const double sx = st[k] - tk * c;
    const double sxx = stt[k] - 2 * tk * st[k] + tk * tk * c;
    const double sxy = sty[k] - tk * sy[k];
    // y = a + b x: least squares with intercept.
    const double vx = sxx - sx * sx / dn;
    if (vx <= 0) continue;
    const double b = (sxy - sx * ysum / dn) / vx;
    const double vy = syy - ysum * ysum / dn;
    const double sse = vy - b * (sxy - sx * ysum / dn);
    if (b > 0 && sse < best_sse) {
      best_sse = sse;
      best = k;
    }
  }
  return best;
}

// True when y rose by at least `growth` somewhere and later fell back by at least half of that
// rise: a swing as large as the growth being judged, made and undone. Churn does that; a leak
// preceded by a flat series does not (its noise swings less than the leak grows).
bool rose_and_fell(std::span<const double> y, double growth) {
  const std::size_t n = y.size();
  // suffix_min[l]: the lowest point at or after l.
  std::vector<double> suffix_min(n + 1, std::numeric_limits<double>::infinity());
  for (std::size_t l = n; l-- > 0;) suffix_min[l] = std::min(suffix_min[l + 1], y[l]);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double rise = y[j] - y[i];
      if (rise >= growth && suffix_min[j + 1] <= y[i] + rise / 2) return true;
    }
  }
  return false;
}

}  // namespace

namespace {

// 1 - 1/n!: the chance that n exchangeable values without ties are not in rising order.
double monotone_confidence(std::size_t n) {
  double factorial = 1;
  for (std::size_t i = 2; i <= n && factorial < 1e18; ++i) factorial *= static_cast<double>(i);
  return 1 - 1 / factorial;
}

}  // namespace

TrendResult assess_trend(std::span<const double> t_in, std::span<const double> y_in,
                         const TrendOptions& options) {
  TrendResult r;
  const std::size_t n_in = std::min(t_in.size(), y_in.size());
  if (n_in < 2) {
    r.why = "a single sample shows the largest consumers, never a leak";
    return r;
  }
  if (n_in <= 5) {
    // Too few points for the trend test: the procedure of taking snapshots before and after a
    // workload. The confidence is the exact chance that a trendless series (exchangeable values,
    // no ties) would not rise at every step: 1 - 1/n!. It is the same bound the test below uses
    // for a series that rises at every step, so the verdict only ever strengthens as samples are
    // added: 2..6 such samples are a suspect, 7 a leak (at the default 0.999).
    r.sparse = true;
    bool monotone = true, strict = true;
    for (std::size_t i = 1; i < n_in; ++i) {
      monotone = monotone && y_in[i] >= y_in[i - 1];
      strict = strict && y_in[i] > y_in[i - 1];
    }
    const double net = y_in[n_in - 1] - y_in[0];
    const double rel = net / std::max(1.0, y_in[0]);
    const double dt = t_in[n_in - 1] - t_in[0];
    r.start_value = y_in[0];
    r.end_value = y_in[n_in - 1];
    r.onset = 0;
    r.onset_t = t_in[0];
    r.rate_known = dt > 0;
    r.slope = dt > 0 ? net / dt : 0;
    r.confidence = strict ? monotone_confidence(n_in) : 0;
    r.enough_growth = net > 0 && rel >= options.sparse_min_growth;
    r.persistent = monotone;
    if (net > 0 && monotone && r.enough_growth) {
      r.verdict = r.confidence >= options.leak_confidence ? Verdict::kLeak : Verdict::kSuspect;
      r.why =
          "only " + std::to_string(n_in) +
          " samples, every one higher than the last: a leak by the before/after procedure if "
          "nothing else ran, but a trendless series does this once in " +
          std::to_string(static_cast<long long>(std::llround(1 / (1 - r.confidence + 1e-300)))) +
          " (a leak needs 7 such samples, or a longer recording to rule out churn)";
      if (!strict) r.why = "grew at every sample but stayed level at some";
    } else if (net > 0 && r.enough_growth) {
      r.verdict = Verdict::kSuspect;
      r.why = "grew overall but not at every sample";
    } else {
      r.why = net > 0 ? "growth below the few-samples threshold" : "no growth";
    }
    return r;
  }

  // Reduce to at most max_points: each point the floor of a group (churn does not lift floors).
  std::vector<double> t, y;
  std::vector<std::size_t> origin;  // index into the input of each group's first point
  const std::size_t group = (n_in + options.max_points - 1) / options.max_points;
  for (std::size_t i = 0; i < n_in; i += group) {
    const std::size_t end = std::min(n_in, i + group);
    double ts = 0, lo = y_in[i];
    for (std::size_t j = i; j < end; ++j) {
      ts += t_in[j];
      lo = std::min(lo, y_in[j]);
    }
    t.push_back(ts / static_cast<double>(end - i));
    y.push_back(lo);
    origin.push_back(i);
  }
  const std::size_t m = t.size();
  // At least 12 points (was 6 with a fifth of the series): a short live recording keeps the
  // window it had, a long series may end in a window of a twentieth.
  const std::size_t min_after = std::max<std::size_t>(
      options.min_window_share < 0.2 ? 12 : 6,
      static_cast<std::size_t>(options.min_window_share * static_cast<double>(m)));
  const std::size_t k = m >= 12 ? hinge_onset(t, y, min_after) : 0;
  std::span<const double> wt(t.data() + k, m - k), wy(y.data() + k, m - k);
  const std::size_t w = wt.size();
  r.onset = origin[k];
  r.onset_t = t_in[r.onset];
  r.slope = theil_sen_slope(wt, wy);
  r.rate_known = true;
  const ZResult zr = corrected_z(wt, wy, r.slope);
  r.z = zr.z;
  r.autocorrelation = zr.rho;
  r.confidence = normal_cdf(zr.z);
  // A window that rises at every point: the normal approximation understates the test for few
  // points (6 points: 0.996); the exact chance is 1/w! (docs/detection.md, "What confidence
  // means"). The same bound as the few-samples rule, so more samples never weaken a verdict.
  if (std::adjacent_find(wy.begin(), wy.end(), [](double a, double b) { return b <= a; }) ==
      wy.end()) {
    r.confidence = std::max(r.confidence, monotone_confidence(w));
  }

  // Fitted levels: median of y - slope * t as the intercept.
  std::vector<double> shifted(w);
  for (std::size_t i = 0; i < w; ++i) shifted[i] = wy[i] - r.slope * wt[i];
  std::nth_element(shifted.begin(), shifted.begin() + static_cast<std::ptrdiff_t>(w / 2),
                   shifted.end());
  const double intercept = shifted[w / 2];
  r.start_value = intercept + r.slope * wt.front();
  r.end_value = intercept + r.slope * wt.back();

  const std::size_t half = w / 2;
  const double slope2 = theil_sen_slope(wt.subspan(half), wy.subspan(half));
  r.second_half_ratio = r.slope > 0 ? slope2 / r.slope : 0;
  r.persistent = r.slope > 0 && slope2 > 0 && r.second_half_ratio >= 0.25;
  // A warm-up that stopped a few minutes ago still leaves its second half rising: the newest
  // quarter must grow too.
  const std::size_t last_quarter = w - std::max<std::size_t>(3, w / 4);
  const double slope4 = theil_sen_slope(wt.subspan(last_quarter), wy.subspan(last_quarter));
  r.last_quarter_ratio = r.slope > 0 ? slope4 / r.slope : 0;
  if (options.newest_quarter_share > 0) {
    r.persistent =
        r.persistent && slope4 > 0 && r.last_quarter_ratio >= options.newest_quarter_share;
  }
  const std::size_t quarter = std::max<std::size_t>(1, w / 4);
  const double q1_max =
      *std::max_element(wy.begin(), wy.begin() + static_cast<std::ptrdiff_t>(quarter));
  const double q4_min =
      *std::min_element(wy.end() - static_cast<std::ptrdiff_t>(quarter), wy.end());
  // A leak reaches levels never seen before its onset. A sawtooth's ramp, which a short window
  // can isolate, only climbs back to where the previous teeth already were.
  const double before_max =
      k > 0 ? *std::max_element(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(k))
            : -std::numeric_limits<double>::infinity();
  const bool new_high = q4_min > before_max;
  r.above_noise = q4_min > q1_max && new_high;
  const double growth = r.end_value - r.start_value;
  // Churn repeats its rises: growth no larger than a swing the series made, and gave back, before
  // the onset is not told apart from the next tooth of a sawtooth (bench/detect.cpp's churn run
  // whose newest tooth noise had lifted just above the earlier ones).
  const bool repeated = growth > 0 && rose_and_fell(std::span(y.data(), k), growth);
  r.above_noise = r.above_noise && !repeated;

  std::vector<double> levels(wy.begin(), wy.end());
  std::nth_element(levels.begin(), levels.begin() + static_cast<std::ptrdiff_t>(w / 2),
                   levels.end());
  const double level = std::fabs(levels[w / 2]);
  const double needed = std::max(options.min_absolute_growth,
                                 std::min(options.min_relative_growth * level, options.growth_cap));
  r.enough_growth = growth >= needed;

  if (r.slope <= 0) {
    r.why = "no growth";
  } else if (!r.persistent) {
    r.why = "growth levelled off (second half at " +
            std::to_string(static_cast<int>(std::lround(r.second_half_ratio * 100))) +
            "%, newest quarter at " +
            std::to_string(static_cast<int>(std::lround(r.last_quarter_ratio * 100))) +
            "% of the rate)";
  } else if (!r.enough_growth) {
    r.why = "growth too small to matter";
  } else if (r.confidence < options.suspect_confidence) {
    r.why = "growth within the noise (trend not significant)";
  } else if (r.confidence >= options.leak_confidence && r.above_noise) {
    r.verdict = Verdict::kLeak;
    // Counted from the onset, so a leak after an hour of flat noise waits no longer than one
    // from the first sample.
    const double age = wt.back() - wt.front();
    if (age < options.warmup_seconds &&
        growth < options.warmup_exempt_growth * std::max(1.0, r.start_value)) {
      r.verdict = Verdict::kSuspect;
      r.warming_up = true;
      const std::string pct = std::to_string(std::lround(options.warmup_exempt_growth * 100)) + "%";
      r.why = "growing for only " + std::to_string(static_cast<long long>(std::lround(age))) +
              " s and by less than " + pct +
              " of its level: a cache warming up grows like this "
              "until it levels off (a leak once it has grown for " +
              std::to_string(static_cast<long long>(std::lround(options.warmup_seconds / 60))) +
              " min, or by " + pct + " of its level)";
    }
  } else {
    r.verdict = Verdict::kSuspect;
    r.why = r.above_noise ? "trend significant but not yet at the leak confidence"
            : !new_high   ? "not above the levels seen before the growth began (churn repeats "
                            "them)"
            : repeated    ? "the series rose as much as fast before the growth began, and fell "
                            "back (churn repeats its rises)"
                          : "still inside its noise band: the newest quarter is not wholly above "
                            "the first";
  }
  return r;
}

}  // namespace poolscope::detect
