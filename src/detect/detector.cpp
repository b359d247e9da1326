#include "detect/detector.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "core/kernel_memory.h"
#include "core/time_format.h"
#include "detect/census.h"
#include "detect/history.h"
#include "detect/links.h"
#include "detect/output.h"
#include "detect/stats.h"

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

// Which process facts can hold a key's memory. Threads, page tables, socket queues, BPF and
// DMA-BUF memory explain kernel memory keys only (a compiler's page tables correlate with any
// cache that grows while it runs), and each its own categories; fd counts explain any key (pipes
// hold unaccounted pages, sockets socket memory).
bool metric_can_hold(std::size_t metric, const PoolKey& key) {
  // Caches and tags: the link table (links.h). Kernel memory: fds of any kind (pipes, sockets)
  // and the Linux process facts below.
  if (key.kind != KeyKind::kKernelMemory) return false;
  if (metric <= static_cast<std::size_t>(ProcessMetric::kFdTotal)) return true;
  const std::string_view name = key.name;
  switch (static_cast<ProcessMetric>(metric)) {
    case ProcessMetric::kThreads:
      return name == kKernelStackKey || name == kVmallocUsedKey || name.starts_with(kVmallocPrefix);
    case ProcessMetric::kPageTableBytes:
      return name == kPageTablesKey;
    case ProcessMetric::kSocketQueueBytes:
      return name.starts_with(kSocketPrefix) || name == kUnaccountedKey || name == kLargeKmallocKey;
    case ProcessMetric::kBpfMemlockBytes:
      return name == kVmallocUsedKey || name.starts_with(kVmallocPrefix) || name == kUnaccountedKey;
    case ProcessMetric::kDmabufBytes:
      return name.starts_with(kDmabufPrefix) || name == kUnaccountedKey;
    // A pipe's buffers are pages (unaccounted); its pipe_buffer array a kmalloc, large once
    // resized past 64 slots (F_SETPIPE_SZ).
    case ProcessMetric::kPipes:
      return name == kUnaccountedKey || name == kLargeKmallocKey;
    case ProcessMetric::kPipeUnreadBytes:
      return name == kUnaccountedKey;
    default:
      return false;
  }
}

// Processes whose facts grew with the key over [from, to] (buckets).
std::vector<ProcessEvidence> find_culprits(const History& h, const KeyTrack& key, std::int64_t from,
                                           std::int64_t to, const DetectorOptions& options) {
  std::vector<ProcessEvidence> out;
  const Series& ks = primary_series(key);
  const std::string key_name = display_key(key.key);
  const double window = h.bucket_time(to) - h.bucket_time(from);
  // Only the process facts that can hold the key's objects (links.h): an eventfd leak does not
  // grow maple_node, closed TCP sockets in TIME_WAIT are held by no fd.
  std::array<bool, kProcessMetricCount> linked{};
  bool any_link = false;
  for (std::size_t m = 0; m < kProcessMetricCount; ++m) {
    const std::string name = process_metric_name(m);
    linked[m] = plausible_link(key.key, name) || metric_can_hold(m, key.key);
    for (const std::string& alias : key.aliases)
      linked[m] = linked[m] || plausible_link(slab_cache(alias), name);
    any_link = any_link || linked[m];
  }
  if (!any_link) return out;
  // A generic cache's own floor of objects per unit (links.h), tighter than the general 1/8.
  double min_per_unit = 1.0 / options.max_objects_per_unit;
  if (const ProcessLink* link = process_link(key.key); link && link->min_objects_per_unit > 0) {
    min_per_unit = std::max(min_per_unit, link->min_objects_per_unit);
  }
  // A tag that is an object type's bodies (Even <-> Event, links.h) is compared with that type
  // first: a process whose handles were recorded by type is not compared through its total handle
  // count or pool quota, which another type's churn (a backup opening files) moves.
  const std::optional<HandleKind> type = handle_kind_for_tag(key.key);
  const std::size_t type_metric = type ? handle_kind_metric(*type) : kProcessMetricCount;
  const std::size_t type_exited =
      type == HandleKind::kProcess  ? static_cast<std::size_t>(ProcessMetric::kExitedProcessHandles)
      : type == HandleKind::kThread ? static_cast<std::size_t>(ProcessMetric::kExitedThreadHandles)
                                    : kProcessMetricCount;
  auto untyped = [](std::size_t m) {
    return m == static_cast<std::size_t>(ProcessMetric::kHandles) ||
           m == static_cast<std::size_t>(ProcessMetric::kPagedQuotaBytes) ||
           m == static_cast<std::size_t>(ProcessMetric::kNonPagedQuotaBytes);
  };
  for (const ProcessTrack& p : h.processes()) {
    if (!p.changed()) continue;
    const std::int64_t a = std::max(from, p.first_bucket), b = std::min(to, p.last_bucket);
    if (b - a < 2) continue;
    const bool by_type = type && p.first_value[type_metric].has_value();
    std::optional<ProcessEvidence> best;
    for (std::size_t m = 0; m < kProcessMetricCount; ++m) {
      if (!linked[m] || p.series(m).empty()) continue;
      if (by_type && untyped(m)) continue;
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
      const bool count_metric = is_count_metric(m);
      // A bytes-only key (kernel memory) has no objects to compare with: a count must still have
      // grown by a few, or a process opening 2 files while memory grows correlates by chance.
      if (count_metric && !key.seen_outstanding && growth < options.min_metric_growth) continue;
      // Bytes against bytes (VmPTE against PageTables): the process must hold 1/8..8 of the growth.
      if (!count_metric && !key.seen_outstanding &&
          m >= static_cast<std::size_t>(ProcessMetric::kThreads)) {
        const double key_bytes = ys.back() - ys.front();
        if (key_bytes > options.max_objects_per_unit * growth ||
            key_bytes * options.max_objects_per_unit < growth) {
          continue;
        }
      }
      if (count_metric && key.seen_outstanding &&
          (growth < options.min_metric_growth ||
           key_growth > options.max_objects_per_unit * growth ||
           key_growth < min_per_unit * growth)) {
        continue;
      }
      // Sustained growth that matches the key's, not a one-off burst (a compiler opening its
      // files at once): in each half of the overlap the metric must carry at least
      // min_half_share of the part of its growth that the key's growth there predicts.
      // Bytes-only kernel memory (mem:unaccounted) steps by megabytes under unrelated load for
      // seconds at a time: a step at the midpoint must not reject a process that grew evenly, so
      // half the share is asked (a one-off burst still has nothing in one half).
      if (!grows_with(xs, ys, ts,
                      key.seen_outstanding ? options.min_half_share : options.min_half_share / 2)) {
        continue;
      }
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
      // The specific fd kind beats the total, pipes (inodes) beat pipe fds (both ends), and
      // references to exited processes/threads beat all handles of their type, when they
      // explain the key about as well.
      const bool pipes = m == static_cast<std::size_t>(ProcessMetric::kPipes);
      const bool specific = m < kFdKindCount || m == type_exited || pipes;
      const std::string general = m == type_exited ? process_metric_name(type_metric)
                                  : pipes          ? std::string(fd_kind_name(FdKind::kPipe))
                                                   : "fds";
      if (!best || corr > best->correlation + 0.02 ||
          (specific && corr > best->correlation - 0.02 && best->metric == general)) {
        best = e;
      }
    }
    if (!best) continue;
    // Its own wall: at this rate its fds reach its open-file limit (EMFILE) first.
    const std::size_t fd_total = static_cast<std::size_t>(ProcessMetric::kFdTotal);
    const bool fd_metric = best->metric == "fds" ||
                           std::any_of(kAllFdKinds.begin(), kAllFdKinds.end(),
                                       [&](FdKind k) { return best->metric == fd_kind_name(k); });
    if (fd_metric && p.fd_limit && best->seconds > 0) {
      const auto fds_now = p.value_at(fd_total, b);
      const double per_s = best->growth / best->seconds;
      if (fds_now && per_s > 0) {
        best->fd_limit = p.fd_limit;
        best->fd_limit_eta_seconds = std::max(0.0, *p.fd_limit - *fds_now) / per_s;
      }
    }
    std::string per_unit;
    if (key.seen_outstanding) {
      per_unit = fmt::format("{:.2f} objects per {}", best->objects_per_unit,
                             metric_plural(best->metric, 1));
    } else if (best->metric.ends_with("bytes")) {
      per_unit = fmt::format("{:.2f} bytes per byte of its {}", best->objects_per_unit,
                             best->metric.substr(0, best->metric.size() - 6));
    } else {
      per_unit = fmt::format("{} per {}",
                             human_bytes(static_cast<std::uint64_t>(
                                 std::max(0.0, std::round(best->objects_per_unit)))),
                             metric_plural(best->metric, 1));
    }
    best->evidence =
        fmt::format("{} (pid {}): +{} {} in {}, {:.2f} correlation with {} {}; {}", best->name,
                    best->pid, grouped(best->growth), metric_plural(best->metric, best->growth),
                    duration_text(best->seconds), best->correlation, key_name,
                    key.seen_outstanding ? "outstanding" : "bytes", per_unit);
    // What its pipes hold, where the collector could read it (pidfd_getfd + FIONREAD).
    const auto unread = p.value_at(static_cast<std::size_t>(ProcessMetric::kPipeUnreadBytes), b);
    if (unread && (best->metric == "pipes" || best->metric == "pipe")) {
      const auto first = p.value_at(static_cast<std::size_t>(ProcessMetric::kPipeUnreadBytes), a);
      best->evidence +=
          fmt::format("; {} unread in its pipes", human_bytes(static_cast<std::uint64_t>(*unread)));
      if (first && *unread > *first) {
        best->evidence +=
            fmt::format(" (+{} in {})", human_bytes(static_cast<std::uint64_t>(*unread - *first)),
                        duration_text(best->seconds));
      }
    }
    if (best->fd_limit_eta_seconds) {
      best->evidence +=
          fmt::format("; its open-file limit ({} fds, RLIMIT_NOFILE) is reached in {}",
                      grouped(*best->fd_limit), duration_text(*best->fd_limit_eta_seconds));
    }
    // pid 4 is System: its handles are the kernel's and drivers' (kernel handles), never an
    // application's, and restarting it is a reboot.
    if (p.pid == kSystemPid && best->metric.find("handles") != std::string::npos) {
      best->evidence += fmt::format(
          "; System holds them: the references are the kernel's or a driver's, not an "
          "application's, so the next step is the driver (`poolscope who {}`), not a process "
          "restart",
          key_name);
    }
    out.push_back(std::move(*best));
  }
  // Equally correlated (two steady leakers both correlate ~1 with a steady key): the one whose
  // fds explain the key closest to one to one comes first.
  std::sort(out.begin(), out.end(), [](const ProcessEvidence& x, const ProcessEvidence& y) {
    if (std::fabs(x.correlation - y.correlation) > 0.02) return x.correlation > y.correlation;
    const double dx = std::fabs(std::log(x.objects_per_unit)),
                 dy = std::fabs(std::log(y.objects_per_unit));
    if (std::fabs(dx - dy) > 0.05) return dx < dy;
    return x.growth > y.growth;
  });
  if (out.size() > options.max_processes_named) out.resize(options.max_processes_named);
  return out;
}

// Pools with a limit of their own: Windows' pools, and Linux socket memory (tcp_mem, udp_mem).
bool has_own_limit(PoolKind pool) {
  return pool == PoolKind::kPaged || pool == PoolKind::kNonPaged || pool == PoolKind::kSession ||
         pool == PoolKind::kTcp || pool == PoolKind::kUdp;
}

void forecast(const History& h, Finding& f) {
  if (!f.rate_bytes_per_hour || *f.rate_bytes_per_hour <= 0) {
    f.exhaustion_note = "no bytes rate: no forecast";
    return;
  }
  const double per_s = *f.rate_bytes_per_hour / 3600;
  const bool socket = f.pool == PoolKind::kTcp || f.pool == PoolKind::kUdp;
  // Recordings before sample format 2 kept the totals of the first five pools only: socket memory
  // read from one has no limit, and is forecast against MemAvailable like other kernel memory.
  if (has_own_limit(f.pool) && (!socket || h.pool_limit(f.pool))) {
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
    f.exhaustion_note = fmt::format(
        "{} {}: {} used of {} limit, at this key's rate", pool,
        socket ? "socket memory (net.ipv4." + pool + "_mem hard limit; the kernel drops above it)"
               : std::string("pool"),
        human_bytes(static_cast<std::uint64_t>(*used)),
        human_bytes(static_cast<std::uint64_t>(*limit)));
    if (const auto pressure = h.pool_pressure(f.pool); socket && pressure) {
      f.pressure_eta_seconds = std::max(0.0, *pressure - *used) / per_s;
      f.exhaustion_note += *used >= *pressure
                               ? fmt::format(
                                     "; already above the pressure threshold ({}): the "
                                     "kernel is shrinking socket buffers",
                                     human_bytes(static_cast<std::uint64_t>(*pressure)))
                               : fmt::format(
                                     "; memory pressure (the kernel shrinks socket "
                                     "buffers) from {}, in {}",
                                     human_bytes(static_cast<std::uint64_t>(*pressure)),
                                     duration_text(*f.pressure_eta_seconds));
    }
    return;
  }
  const auto available = h.memory_available_last();
  if (!available) {
    f.exhaustion_note = "available memory unknown: no forecast";
    return;
  }
  f.exhaustion_eta_seconds = *available / per_s;
  if (socket) {
    f.exhaustion_note = fmt::format(
        "memory: {} available (MemAvailable), at this key's rate (no net.ipv4.{}_mem limit in "
        "this data; `summary` shows it live)",
        human_bytes(static_cast<std::uint64_t>(*available)), pool_kind_name(f.pool));
    return;
  }
  f.exhaustion_note = fmt::format(
      "memory: {} available (MemAvailable), at this {}'s rate; {} is never given back",
      human_bytes(static_cast<std::uint64_t>(*available)),
      f.key.kind == KeyKind::kKernelMemory ? "key" : "cache",
      f.key.kind == KeyKind::kKernelMemory ? "this kernel memory" : "unreclaimable slab");
}

// The culprits' fds hit a wall before memory runs out: the first culprit's RLIMIT_NOFILE, or
// fs.file-max for the system (all culprits' fd growth against the free file handles).
void fd_wall(const History& h, Finding& f) {
  std::optional<double> eta;
  std::string note;
  if (!f.processes.empty() && f.processes.front().fd_limit_eta_seconds) {
    const ProcessEvidence& p = f.processes.front();
    eta = p.fd_limit_eta_seconds;
    note = fmt::format(
        "{} (pid {}) reaches its open-file limit ({} fds, RLIMIT_NOFILE in "
        "/proc/{}/limits) in {}: its opens then fail with EMFILE",
        p.name, p.pid, grouped(*p.fd_limit), p.pid, duration_text(*eta));
  }
  const auto file_max = h.open_files_max_last();
  const auto open = h.owner_counts().find("open files");
  if (file_max && open != h.owner_counts().end() && !open->second.empty()) {
    const Series& s = open->second;
    const double open_now = s.last(s.first_bucket() + static_cast<std::int64_t>(s.size()) - 1);
    double per_s = 0;
    for (const ProcessEvidence& p : f.processes) {
      if (p.fd_limit_eta_seconds && p.seconds > 0) per_s += p.growth / p.seconds;
    }
    if (per_s > 0) {
      const double system_eta = std::max(0.0, *file_max - open_now) / per_s;
      if (!eta || system_eta < *eta) {
        eta = system_eta;
        note = fmt::format(
            "the system's file handles (fs.file-max {}, {} allocated) run out in "
            "{}: every process's opens then fail with ENFILE",
            grouped(*file_max), grouped(open_now), duration_text(system_eta));
      }
    }
  }
  // Said only where it comes before memory runs out.
  if (!eta || (f.exhaustion_eta_seconds && *f.exhaustion_eta_seconds <= *eta)) return;
  f.fd_wall_eta_seconds = eta;
  f.fd_wall_note =
      note + (f.exhaustion_eta_seconds
                  ? fmt::format(", before memory ({})", duration_text(*f.exhaustion_eta_seconds))
                  : std::string());
  f.explanation += "; " + f.fd_wall_note;
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
          "like this (file walks, backups and indexers cause it) is not a leak",
          display_key(k.key), grouped(tr.end_value - tr.start_value), f.unit,
          duration_text(f.window_seconds),
          k.pool == PoolKind::kReclaimable
              ? "it is a reclaimable cache (dentries, inodes, ...)"
              : "its objects live and die with inodes, which are reclaimable");
      report.reclaimable.push_back(std::move(f));
      continue;
    }
    f.onset_bucket = onset_bucket;
    // The window's floors, reduced to at most 64 points: what incidents compare.
    {
      const std::size_t from = static_cast<std::size_t>(tr.onset);
      const std::size_t g = std::max<std::size_t>(1, (t.size() - from + 63) / 64);
      for (std::size_t i = from; i < t.size(); i += g) {
        const std::size_t e = std::min(t.size(), i + g);
        f.growth_t.push_back(t[i]);
        f.growth_y.push_back(*std::min_element(y.begin() + static_cast<std::ptrdiff_t>(i),
                                               y.begin() + static_cast<std::ptrdiff_t>(e)));
      }
    }
    forecast(h, f);
    // A process is named only for growth above the key's noise (or a few-sample series): a suspect
    // that only repeats its earlier levels is churn-like, and a process growing beside it cannot
    // be said to hold its objects (seen live: kmalloc-192 pinned on an eventfd leaker).
    if (h.has_process_facts() && (tr.above_noise || tr.sparse))
      f.processes = find_culprits(h, k, onset_bucket, last_bucket, options);
    fd_wall(h, f);
    // A process whose fds or handles grow with the key holds the new objects: that is not a
    // cache filling its working set, so the warm-up rule does not hold the verdict back.
    if (tr.warming_up && !f.processes.empty()) {
      tr.verdict = f.verdict = Verdict::kLeak;
      tr.warming_up = false;
      tr.why.clear();
      f.trend = tr;
    }

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
      const ProcessLink* link = process_link(k.key);
      what += link && !link->metrics.empty()
                  ? "; no process's handles or fds grew with it (a driver or the kernel itself)"
                  : "; no recorded process fact can hold its objects (docs/detection.md, "
                    "\"Culprit processes\"), so no process is named";
    }
    f.explanation = what;
    report.findings.push_back(std::move(f));
  }
  add_census(h, report);
  add_snapshot_evidence(h, report);
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
  group_incidents(report);
  if (h.samples() == 1) {
    report.notes.push_back(
        "one sample: it shows what is held now (the largest consumers; as suspects, lockstep "
        "pairs of near-equal huge counts, a key holding most of its pool, objects far beyond "
        "their owners), not what grows: a leak needs a second sample in time (record, or import "
        "a second snapshot)");
  } else if (h.samples() > 1 && report.seconds <= 0) {
    report.notes.push_back(fmt::format(
        "the {} samples have the same time: growth shows, but no rate and no forecast (one "
        "poolmon screen and the previous refresh its ( delta ) columns give, when poolmon's "
        "refresh interval is not known: import --refresh-interval)",
        h.samples()));
  }
  return report;
}

}  // namespace poolscope::detect
