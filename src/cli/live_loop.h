// Pieces of a live sampling loop (`serve`; the same steps `watch` and `record` take): the process
// facts collector, one sample into a detector history, and the fixed tick schedule.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "detect/history.h"
#include "source/process_facts.h"
#include "source/source.h"

namespace poolscope::cli {

// --interval and --duration of a live verb ("5", "500ms", "2h"); duration empty = until stopped.
struct LiveTiming {
  std::chrono::nanoseconds interval{};
  std::optional<std::chrono::nanoseconds> duration;
};
Result<LiveTiming> parse_live_timing(const std::string& interval, const std::string& duration);

// This OS's process facts collector, or null with --no-processes or when it cannot be opened (then
// a warning says that `consequence`, e.g. "no culprit search").
std::unique_ptr<ProcessFactsCollector> open_collector_or_warn(const Clock& clock, bool no_processes,
                                                              const char* consequence);

// Samples the source (and the processes, when collected) into the history at t_seconds.
Result<Snapshot> sample_into_history(Source& source, ProcessFactsCollector* collector,
                                     detect::History& history, double t_seconds);

// How often the detector runs: `every` samples when given, else about every 30 s of samples.
std::size_t detector_every(std::size_t every, std::chrono::nanoseconds interval);

// Ticks at start + k * interval never drift; ticks already past are skipped. Advances `tick` and
// returns when the next sample is due, no later than `end` when given.
std::int64_t next_tick(std::int64_t start, std::int64_t interval_ns, std::int64_t& tick,
                       std::int64_t now, std::optional<std::int64_t> end);

}  // namespace poolscope::cli
