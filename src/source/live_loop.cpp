// The live sampling loop (see live_loop.h): ticks, process facts schedule, hand-over.
#include "source/live_loop.h"

#include <algorithm>
#include <cstdio>

#include "source/host.h"

namespace poolscope {

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

LiveLoopResult run_live_loop(const Clock& clock, const LiveLoopHooks& hooks,
                             const LiveLoopOptions& options, const std::atomic<bool>& stop,
                             const LiveConsumer& consume) {
  LiveLoopResult result;
  LiveLoopStats& stats = result.stats;
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
    LiveTick sample;
    sample.offset_ns = tick * interval;
    sample.monotonic_ns = clock.monotonic_ns();
    sample.seconds = static_cast<double>(sample.monotonic_ns - start) / 1e9;
    auto snapshot = hooks.sample();
    if (!snapshot) {
      result.error = snapshot.error();
      break;
    }
    sample.snapshot = std::move(*snapshot);
    if (hooks.processes && schedule.due(sample.offset_ns)) {
      const std::int64_t before = cost_now();
      auto collected = hooks.processes();
      const std::int64_t cost = std::max<std::int64_t>(cost_now() - before, 0);
      stats.process_cpu_ns += cost;
      schedule.collected(sample.offset_ns, cost);
      if (collected) {
        sample.processes = std::move(*collected);
      } else {
        ++stats.process_failures;
        if (!warned_processes && hooks.warn) {
          hooks.warn("process facts not recorded: " + collected.error().message);
        }
        warned_processes = true;
      }
    }
    const bool with_processes = sample.processes.has_value();
    if (auto failed = consume(sample)) {
      result.error = std::move(failed);
      break;
    }
    ++stats.samples;
    if (with_processes) ++stats.process_samples;

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
    if (next - start >= duration) {
      // The last tick was the last sample; watch and serve stay until the duration has passed.
      if (options.wait_out_duration && !stop.load() && hooks.sleep_until) {
        hooks.sleep_until(start + duration);
      }
      break;
    }
    if (stop.load()) break;
    if (hooks.sleep_until) hooks.sleep_until(next);
  }
  return result;
}

LiveLoopHooks live_hooks(Source& source, ProcessFactsCollector* collector,
                         const std::atomic<bool>& stop) {
  LiveLoopHooks hooks;
  hooks.sample = [&source] { return source.sample(); };
  if (collector) hooks.processes = [collector] { return collector->collect(); };
  hooks.cpu_ns = host::process_cpu_time_ns;
  hooks.sleep_until = [&stop](std::int64_t until) { host::sleep_until_monotonic(until, stop); };
  return hooks;
}

std::unique_ptr<ProcessFactsCollector> open_collector_or_warn(const Clock& clock, bool skip,
                                                              const char* consequence) {
  if (skip) return nullptr;
  auto opened = open_process_facts_collector(clock);
  if (!opened) {
    std::fprintf(stderr, "poolscope: warning: %s: %s\n", consequence,
                 opened.error().message.c_str());
    return nullptr;
  }
  return std::move(*opened);
}

}  // namespace poolscope
