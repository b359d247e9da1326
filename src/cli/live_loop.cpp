#include "cli/live_loop.h"

#include <algorithm>
#include <cstdio>

#include "store/recorder.h"

namespace poolscope::cli {

Result<LiveTiming> parse_live_timing(const std::string& interval, const std::string& duration) {
  LiveTiming t;
  auto i = store::parse_duration(interval);
  if (!i) return std::unexpected(i.error());
  t.interval = *i;
  if (!duration.empty()) {
    auto d = store::parse_duration(duration);
    if (!d) return std::unexpected(d.error());
    t.duration = *d;
  }
  return t;
}

std::unique_ptr<ProcessFactsCollector> open_collector_or_warn(const Clock& clock, bool no_processes,
                                                              const char* consequence) {
  if (no_processes) return nullptr;
  auto opened = open_process_facts_collector(clock);
  if (!opened) {
    std::fprintf(stderr, "poolscope: warning: %s: %s\n", consequence,
                 opened.error().message.c_str());
    return nullptr;
  }
  return std::move(*opened);
}

Result<Snapshot> sample_into_history(Source& source, ProcessFactsCollector* collector,
                                     detect::History& history, double t_seconds) {
  auto snapshot = source.sample();
  if (!snapshot) return snapshot;
  std::optional<ProcessSample> procs;
  if (collector) {
    auto p = collector->collect();
    if (p) procs = std::move(*p);
  }
  history.add_snapshot(*snapshot, procs ? &*procs : nullptr, t_seconds);
  return snapshot;
}

std::size_t detector_every(std::size_t every, std::chrono::nanoseconds interval) {
  if (every) return every;
  return static_cast<std::size_t>(std::max<std::int64_t>(
      1, std::chrono::seconds(30) / std::max(interval, std::chrono::nanoseconds(1))));
}

std::int64_t next_tick(std::int64_t start, std::int64_t interval_ns, std::int64_t& tick,
                       std::int64_t now, std::optional<std::int64_t> end) {
  ++tick;
  std::int64_t next = start + tick * interval_ns;
  while (next <= now) {
    ++tick;
    next += interval_ns;
  }
  return end ? std::min(next, *end) : next;
}

}  // namespace poolscope::cli
