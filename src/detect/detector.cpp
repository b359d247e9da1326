#include "detect/detector.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/time_format.h"
#include "detect/object_tags.h"
#include "detect/output.h"

namespace poolscope::detect {

namespace {

const Series& primary_series(const KeyTrack& k) {
  return k.seen_outstanding ? k.outstanding : k.bytes;
}

std::string grouped(double v) {
  const long long n = std::llround(v);
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = x.size();
  if (n < 3) return 0;
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0;
}

// True when the metric x grew in both halves of the time span in proportion to y: each half's
// share of x's growth is at least min_share times y's share there.
bool grows_with(const std::vector<double>& x, const std::vector<double>& y,
                const std::vector<double>& t, double min_share) {
  const std::size_t n = x.size();
  const double mid_t = (t.front() + t.back()) / 2;
  std::size_t h = 0;
  while (h + 1 < n && t[h] < mid_t) ++h;
  const double x_growth = x.back() - x.front();
  const double y_first = std::max(0.0, y[h] - y.front()), y_second = std::max(0.0, y.back() - y[h]);
  const double y_growth = y_first + y_second;
  if (x_growth <= 0 || y_growth <= 0) return false;
  const double x_first = (x[h] - x.front()) / x_growth, x_second = (x.back() - x[h]) / x_growth;
  return x_first >= min_share * y_first / y_growth && x_second >= min_share * y_second / y_growth;
}

std::string metric_plural(const std::string& metric, double growth) {
  if (metric == "fds" || metric.find("handles") != std::string::npos || metric.ends_with("bytes")) {
    return metric;
  }
  return std::fabs(growth) == 1 ? metric : metric + "s";
}

// Processes whose facts grew with the key over [from, to] (buckets).
std::vector<ProcessEvidence> find_culprits(const History& h, const KeyTrack& key, std::int64_t from,
                                           std::int64_t to, const DetectorOptions& options) {
  std::vector<ProcessEvidence> out;
  const Series& ks = primary_series(key);
  const std::string key_name = display_key(key.key);
  const double window = h.bucket_time(to) - h.bucket_time(from);
  // A tag that is an object type's body is compared with that type's handles first: with handle
  // types recorded, a process is named for it only through them (and, for Proc/Thre, through its
  // references to exited processes/threads), never through its total or another type's churn.
  const std::optional<HandleKind> linked = handle_kind_for_tag(key.key);
  const std::size_t linked_metric = linked ? handle_kind_metric(*linked) : kProcessMetricCount;
  const std::size_t linked_exited =
      linked == HandleKind::kProcess
          ? static_cast<std::size_t>(ProcessMetric::kExitedProcessHandles)
          : (linked == HandleKind::kThread
                 ? static_cast<std::size_t>(ProcessMetric::kExitedThreadHandles)
                 : kProcessMetricCount);
  for (const ProcessTrack& p : h.processes()) {
    if (!p.changed()) continue;
    const std::int64_t a = std::max(from, p.first_bucket), b = std::min(to, p.last_bucket);
    if (b - a < 2) continue;
    const bool by_type = linked && p.first_value[linked_metric].has_value();
    std::optional<ProcessEvidence> best;
    for (std::size_t m = 0; m < kProcessMetricCount; ++m) {
      if (p.series[m].empty()) continue;
      if (by_type && m != linked_metric && m != linked_exited) continue;
      std::vector<double> xs, ys, ts;
      for (std::int64_t bucket = a; bucket <= b; ++bucket) {
        if (!ks.has(bucket)) continue;
        const auto v = p.value_at(m, bucket);
        if (!v) continue;
        xs.push_back(*v);
        ys.push_back(ks.mean(bucket));
        ts.push_back(h.bucket_time(bucket));
      }
      if (xs.size() < 3) continue;
      const double growth = xs.back() - xs.front();
      if (growth <= 0) continue;
      // A process seen for a sliver of the window, or whose few new fds cannot hold the key's
      // growth, correlates by chance (a compiler opening 3 files while a cache grows).
      const double overlap = ts.back() - ts.front();
      if (overlap < options.min_overlap * window) continue;
      const double key_growth = ys.back() - ys.front();
      const bool count_metric = m != static_cast<std::size_t>(ProcessMetric::kPagedQuotaBytes) &&
                                m != static_cast<std::size_t>(ProcessMetric::kNonPagedQuotaBytes);
      if (count_metric && key.seen_outstanding &&
          (growth < options.min_metric_growth ||
           key_growth > options.max_objects_per_unit * growth ||
           key_growth * options.max_objects_per_unit < growth)) {
        continue;
      }
      // Sustained growth that matches the key's, not a one-off burst (a compiler opening its
      // files at once): in each half of the overlap the metric must carry at least
      // min_half_share of the part of its growth that the key's growth there predicts.
      if (!grows_with(xs, ys, ts, options.min_half_share)) continue;
      const double corr = pearson(xs, ys);
      if (corr < options.min_correlation) continue;
      ProcessEvidence e;
      e.pid = p.pid;
      e.name = p.name;
      e.metric = process_metric_name(m);
      e.growth = growth;
      e.seconds = ts.back() - ts.front();
      e.correlation = corr;
      e.objects_per_unit = (ys.back() - ys.front()) / growth;
      // The specific fd kind (or exited-object references over all Process/Thread handles)
      // beats the total when it explains the key about as well.
      const bool specific = m < kFdKindCount || (by_type && m == linked_exited);
      if (!best || corr > best->correlation + 0.02 ||
          (specific && corr > best->correlation - 0.02 &&
           (best->metric == "fds" ||
            (by_type && best->metric == process_metric_name(linked_metric))))) {
        best = e;
      }
    }
    if (!best) continue;
    const bool handle_metric = best->metric.find("handles") != std::string::npos;
    best->evidence =
        fmt::format("{} (pid {}): +{} {} in {}, {:.2f} correlation with {} {}; {:.2f} {} per {}",
                    best->name, best->pid, grouped(best->growth),
                    metric_plural(best->metric, best->growth), duration_text(best->seconds),
                    best->correlation, key_name, key.seen_outstanding ? "outstanding" : "bytes",
                    best->objects_per_unit, key.seen_outstanding ? "objects" : "bytes",
                    best->metric == "fds" ? "fd" : (handle_metric ? "handle" : best->metric));
    // pid 4 is the kernel itself: its handles are the kernel's and drivers' (kernel handles).
    if (p.pid == 4 && handle_metric) {
      best->evidence += fmt::format(
          "; the references are the kernel's or a driver's, not an application's: next step "
          "`poolscope who {}`, not a process restart",
          key_name);
    }
    out.push_back(std::move(*best));
  }
  std::sort(out.begin(), out.end(), [](const ProcessEvidence& x, const ProcessEvidence& y) {
    if (std::fabs(x.correlation - y.correlation) > 0.02) return x.correlation > y.correlation;
    return x.growth > y.growth;
  });
  if (out.size() > options.max_processes_named) out.resize(options.max_processes_named);
  return out;
}

bool is_windows_pool(PoolKind pool) {
  return pool == PoolKind::kPaged || pool == PoolKind::kNonPaged || pool == PoolKind::kSession;
}

void forecast(const History& h, Finding& f) {
  if (!f.rate_bytes_per_hour || *f.rate_bytes_per_hour <= 0) {
    f.exhaustion_note = "no bytes rate: no forecast";
    return;
  }
  const double per_s = *f.rate_bytes_per_hour / 3600;
  if (is_windows_pool(f.pool)) {
    const auto limit = h.pool_limit(f.pool);
    const auto used = h.pool_used_last(f.pool);
    const std::string pool(pool_kind_name(f.pool));
    if (!limit) {
      f.exhaustion_note = "no " + pool +
                          " pool limit in this data (a live Windows sample or an imported !vm "
                          "output gives it): no forecast";
      return;
    }
    if (!used) {
      f.exhaustion_note = "the " + pool + " pool limit is known but not its usage: no forecast";
      return;
    }
    f.exhaustion_eta_seconds = std::max(0.0, *limit - *used) / per_s;
    f.exhaustion_note = fmt::format("{} pool: {} used of {} limit, at this key's rate", pool,
                                    human_bytes(static_cast<std::uint64_t>(*used)),
                                    human_bytes(static_cast<std::uint64_t>(*limit)));
    return;
  }
  const auto available = h.memory_available_last();
  if (!available) {
    f.exhaustion_note = "available memory unknown: no forecast";
    return;
  }
  f.exhaustion_eta_seconds = *available / per_s;
  f.exhaustion_note = fmt::format(
      "memory: {} available (MemAvailable), at this cache's rate; unreclaimable slab is never "
      "given back",
      human_bytes(static_cast<std::uint64_t>(*available)));
}

// Unreclaimable caches whose objects are attached to inodes (one per inode, freed with it): they
// grow and shrink with the reclaimable inode caches, e.g. under a file walk.
bool inode_attached(const PoolKey& key) {
  return key.kind == KeyKind::kSlabCache && key.name == "lsm_inode_cache";
}

bool selected(const PoolKey& key, const DetectorOptions& options) {
  auto any = [&](const std::vector<std::string>& patterns) {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const std::string& p) { return key_matches(key, p); });
  };
  if (!options.include.empty() && !any(options.include)) return false;
  return !any(options.exclude);
}

}  // namespace

bool worth_assessing(const KeyTrack& key, std::int64_t buckets) {
  const Series& s = primary_series(key);
  if (s.empty() || buckets < 2) return false;
  // The floor of the newest quarter above the lowest floor seen: anything flat or falling is out.
  const std::int64_t end = s.first_bucket() + static_cast<std::int64_t>(s.size());
  const std::int64_t span = end - s.first_bucket();
  const std::int64_t tail_from = end - std::max<std::int64_t>(1, span / 4);
  double lowest = INFINITY, tail_low = INFINITY;
  for (std::int64_t b = s.first_bucket(); b < end; ++b) {
    if (!s.has(b)) continue;
    lowest = std::min(lowest, s.min(b));
    if (b >= tail_from) tail_low = std::min(tail_low, s.min(b));
  }
  return std::isfinite(tail_low) && tail_low > lowest;
}

Report analyze(const History& h, const DetectorOptions& options) {
  Report report;
  report.samples = h.samples();
  report.seconds = h.last_time() - h.first_time();
  report.first_wall_ns = h.first_wall_ns();
  report.last_wall_ns = h.last_wall_ns();
  report.process_facts = h.has_process_facts();
  const std::int64_t last_bucket = h.buckets() - 1;

  for (const KeyTrack& k : h.keys()) {
    const Series& s = primary_series(k);
    if (s.empty() || !selected(k.key, options)) continue;
    if (k.present_last) {
      Consumer c;
      c.key = k.key;
      c.pool = k.pool;
      c.owner = k.owner;
      if (k.seen_outstanding && k.outstanding.has(last_bucket)) {
        c.outstanding = k.outstanding.last(last_bucket);
      }
      if (k.seen_bytes && k.bytes.has(last_bucket)) c.bytes = k.bytes.last(last_bucket);
      report.top.push_back(std::move(c));
    }
    if (!k.present_last || !worth_assessing(k, h.buckets())) continue;
    std::vector<double> t, y;
    std::vector<std::int64_t> buckets;
    const std::int64_t end = s.first_bucket() + static_cast<std::int64_t>(s.size());
    for (std::int64_t b = s.first_bucket(); b < end; ++b) {
      if (!s.has(b)) continue;
      t.push_back(h.bucket_time(b));
      y.push_back(s.min(b));
      buckets.push_back(b);
    }
    TrendResult tr = assess_trend(t, y, options.trend);
    if (tr.verdict == Verdict::kNone) continue;
    Finding f;
    f.key = k.key;
    f.pool = k.pool;
    f.session_id = k.session_id;
    f.owner = k.owner;
    f.aliases = k.aliases;
    f.verdict = tr.verdict;
    f.unit = k.seen_outstanding ? "objects" : "bytes";
    f.confidence = tr.confidence;
    f.start_value = tr.start_value;
    f.end_value = tr.end_value;
    const std::int64_t onset_bucket = buckets[tr.onset];
    f.onset_wall_ns = h.bucket_wall_ns(onset_bucket);
    f.window_seconds = h.last_time() - tr.onset_t;
    if (tr.rate_known) {
      if (k.seen_outstanding) {
        f.rate_objects_per_hour = tr.slope * 3600;
        if (k.seen_bytes) {
          std::vector<double> bt, by;
          for (std::int64_t b = onset_bucket; b < end; ++b) {
            if (!k.bytes.has(b)) continue;
            bt.push_back(h.bucket_time(b));
            by.push_back(k.bytes.min(b));
          }
          if (bt.size() > 256) {
            // The same reduction as the trend: floors of groups.
            const std::size_t g = (bt.size() + 255) / 256;
            std::vector<double> rt, ry;
            for (std::size_t i = 0; i < bt.size(); i += g) {
              const std::size_t e = std::min(bt.size(), i + g);
              rt.push_back(bt[i]);
              ry.push_back(*std::min_element(by.begin() + static_cast<std::ptrdiff_t>(i),
                                             by.begin() + static_cast<std::ptrdiff_t>(e)));
            }
            bt = std::move(rt);
            by = std::move(ry);
          }
          f.rate_bytes_per_hour = theil_sen_slope(bt, by) * 3600;
          // Bytes grow in whole slabs or pages: when their floor has not moved yet, the object
          // size gives the rate.
          if (*f.rate_bytes_per_hour <= 0 && k.object_size) {
            f.rate_bytes_per_hour = tr.slope * *k.object_size * 3600;
          }
        } else if (k.object_size) {
          f.rate_bytes_per_hour = tr.slope * *k.object_size * 3600;
        }
      } else {
        f.rate_bytes_per_hour = tr.slope * 3600;
      }
    }
    f.trend = tr;
    if (k.pool == PoolKind::kReclaimable || inode_attached(k.key)) {
      f.explanation = fmt::format(
          "{} grew {} {} in {}, but {}: the kernel frees it under memory pressure, so growth "
          "under a file walk is not a leak",
          display_key(k.key), grouped(tr.end_value - tr.start_value), f.unit,
          duration_text(f.window_seconds),
          k.pool == PoolKind::kReclaimable
              ? "it is a reclaimable cache (dentries, inodes, ...)"
              : "its objects live and die with inodes, which are reclaimable");
      report.reclaimable.push_back(std::move(f));
      continue;
    }
    forecast(h, f);
    if (h.has_process_facts())
      f.processes = find_culprits(h, k, onset_bucket, last_bucket, options);

    std::string what =
        fmt::format("{} {} grew from {} to {} (+{}) in {} since {}", display_key(k.key),
                    k.seen_outstanding ? "outstanding objects" : "bytes", grouped(tr.start_value),
                    grouped(tr.end_value), grouped(tr.end_value - tr.start_value),
                    duration_text(f.window_seconds),
                    format_utc(std::chrono::system_clock::time_point(
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            std::chrono::nanoseconds(f.onset_wall_ns)))));
    if (tr.sparse) {
      what += fmt::format("; {} samples, each higher than the one before", t.size());
      if (!tr.rate_known) what += "; the samples have the same time, so no rate";
    } else {
      what += fmt::format(
          "; trend z={:.1f} after correcting for autocorrelation {:.2f}; the second half grows at "
          "{:.0f}% of the window's rate",
          tr.z, tr.autocorrelation, tr.second_half_ratio * 100);
    }
    if (!tr.why.empty()) what += "; " + tr.why;
    if (!f.processes.empty()) {
      what += "; " + f.processes.front().evidence;
    } else if (h.has_process_facts()) {
      what += "; no process's handles or fds grew with it (a driver or the kernel itself)";
    }
    f.explanation = what;
    report.findings.push_back(std::move(f));
  }
  auto order = [](const Finding& a, const Finding& b) {
    if (a.verdict != b.verdict) return a.verdict == Verdict::kLeak;
    return a.rate_bytes_per_hour.value_or(0) > b.rate_bytes_per_hour.value_or(0);
  };
  std::sort(report.findings.begin(), report.findings.end(), order);
  std::sort(report.reclaimable.begin(), report.reclaimable.end(), order);
  std::sort(report.top.begin(), report.top.end(), [](const Consumer& a, const Consumer& b) {
    return a.bytes.value_or(0) != b.bytes.value_or(0)
               ? a.bytes.value_or(0) > b.bytes.value_or(0)
               : a.outstanding.value_or(0) > b.outstanding.value_or(0);
  });
  if (report.top.size() > options.top) report.top.resize(options.top);
  if (h.samples() == 1) {
    report.notes.push_back(
        "one sample: the largest consumers are shown, but a leak needs at least two samples in "
        "time (record, or import a second snapshot)");
  }
  return report;
}

}  // namespace poolscope::detect
