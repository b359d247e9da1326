// The recording loop (see recorder.h): schedule, process facts, retention, errors.
#include "store/recorder.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

namespace poolscope::store {

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  auto bad = [&text]() -> Result<std::chrono::nanoseconds> {
    return make_error(ErrorCode::kUsage,
                      "not a duration: \"" + std::string(text) +
                          "\" (expected e.g. 0.1, 10s, 500ms, 30m, 48h, 7d, 2w)");
  };
  std::size_t digits = 0;
  while (digits < text.size() &&
         ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0) return bad();
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc() || end != text.data() + digits) return bad();
  const std::string_view unit = text.substr(digits);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1e9;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "m" || unit == "min") {
    scale = 60e9;
  } else if (unit == "h") {
    scale = 3600e9;
  } else if (unit == "d") {
    scale = 86400e9;
  } else if (unit == "w") {
    scale = 7 * 86400e9;
  } else {
    return bad();
  }
  const double ns = number * scale;
  if (!(ns >= 1) || ns > 100 * 365.25 * 86400e9) return bad();
  return std::chrono::nanoseconds(std::llround(ns));
}

std::int64_t process_cpu_time_ns() {
  return static_cast<std::int64_t>(std::clock()) * (1'000'000'000 / CLOCKS_PER_SEC);
}

Result<std::optional<std::chrono::nanoseconds>> parse_process_interval(std::string_view text) {
  if (text == "auto") return std::nullopt;
  auto d = parse_duration(text);
  if (!d) {
    return make_error(d.error().code, "--process-interval: " + d.error().message + ", or auto");
  }
  return *d;
}

ProcessSchedule::ProcessSchedule(std::optional<std::chrono::nanoseconds> interval, double cpu_share,
                                 std::chrono::nanoseconds max)
    : interval_(interval ? std::max<std::int64_t>(interval->count(), 1) : 0),
      cpu_share_(cpu_share),
      max_(static_cast<double>(max.count())) {}

void ProcessSchedule::collected(std::int64_t offset_ns, std::int64_t cost_ns) {
  if (interval_ != 0) {
    next_ = offset_ns + interval_;
  } else if (cpu_share_ > 0 && ++collections_ > 1) {
    // The gap after which this collection's cost is the share of it. (The first collection reads
    // every process and says nothing about the later ones: the second follows at the next tick.)
    const double gap = static_cast<double>(cost_ns) / cpu_share_;
    next_ = offset_ns + static_cast<std::int64_t>(std::min(gap, max_));
  }
}

RecorderResult run_recorder(Recording& recording, const Clock& clock, const RecorderHooks& hooks,
                            const RecorderOptions& options, const std::atomic<bool>& stop) {
  RecorderResult result;
  RecorderStats& stats = result.stats;
  const std::int64_t interval = std::max<std::int64_t>(options.interval.count(), 1);
  const std::int64_t start = clock.monotonic_ns();
  const std::int64_t duration = options.duration ? options.duration->count() : INT64_MAX;
  bool warned_processes = false;
  std::int64_t tick = 0;
  // Scheduled tick offsets, not measured times, so the process ticks are exact and repeatable.
  ProcessSchedule schedule(options.process_interval, options.process_cpu_share,
                           options.process_interval_max);
  auto cost_now = [&] { return hooks.cpu_ns ? hooks.cpu_ns() : clock.monotonic_ns(); };
  while (!stop.load()) {
    auto snapshot = hooks.sample();
    if (!snapshot) {
      result.error = snapshot.error();
      break;
    }
    std::optional<ProcessSample> processes;
    const std::int64_t offset = tick * interval;
    if (hooks.processes && schedule.due(offset)) {
      const std::int64_t before = cost_now();
      auto collected = hooks.processes();
      const std::int64_t cost = std::max<std::int64_t>(cost_now() - before, 0);
      stats.process_cpu_ns += cost;
      schedule.collected(offset, cost);
      if (collected) {
        processes = std::move(*collected);
      } else {
        ++stats.process_failures;
        if (!warned_processes && hooks.warn) {
          hooks.warn("process facts not recorded: " + collected.error().message);
        }
        warned_processes = true;
      }
    }
    auto seq = recording.append(*snapshot, processes ? &*processes : nullptr);
    if (!seq) {
      result.error = seq.error();
      break;
    }
    ++stats.samples;
    if (processes) ++stats.process_samples;
    if (stats.first_seq == 0) stats.first_seq = *seq;
    stats.last_seq = *seq;
    stats.last_key_count = snapshot->entries.size();
    if (hooks.on_commit) hooks.on_commit(*seq, *snapshot);
    if (options.retention) {
      const std::int64_t cutoff = to_wall_ns(clock.wall()) - options.retention->count();
      auto deleted = recording.apply_retention(cutoff, options.retention_batch);
      if (!deleted) {
        result.error = deleted.error();
        break;
      }
      stats.retention_deleted += *deleted;
    }

    ++tick;
    const std::int64_t now = clock.monotonic_ns();
    std::int64_t next = start + tick * interval;
    if (now >= next) {
      // Overran: skip the ticks already past instead of sampling back to back.
      const std::int64_t missed = (now - next) / interval + 1;
      stats.skipped_ticks += missed;
      tick += missed;
      next = start + tick * interval;
    }
    if (next - start >= duration) break;
    if (stop.load()) break;
    if (hooks.sleep_until) hooks.sleep_until(next);
  }
  return result;
}

}  // namespace poolscope::store
