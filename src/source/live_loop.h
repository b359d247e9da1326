// The one live sampling loop of record, diagnose, watch and serve: a source (and the process facts,
// on their own schedule) sampled at steady ticks until stopped or the duration ends, each sample
// handed to the caller (a recorder, a detector history). Time comes from an injected clock and the
// sleep from a hook, so tests run it on a ManualClock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/pool.h"
#include "core/process.h"
#include "core/result.h"
#include "source/process_facts.h"
#include "source/source.h"

namespace poolscope {

// When the per-process facts are next due, by tick offset (ns since the start): a fixed interval,
// or automatic (after each collection, wait until its CPU cost is `cpu_share` of the time since,
// at least one tick and at most `max`).
class ProcessSchedule {
 public:
  ProcessSchedule(std::optional<std::chrono::nanoseconds> interval, double cpu_share,
                  std::chrono::nanoseconds max);
  bool due(std::int64_t offset_ns) const { return offset_ns >= next_; }
  // A collection at offset_ns cost cost_ns of CPU time.
  void collected(std::int64_t offset_ns, std::int64_t cost_ns);

 private:
  std::int64_t interval_;  // 0: automatic
  double cpu_share_;
  double max_;
  std::int64_t next_ = 0;
  std::int64_t collections_ = 0;
};

struct LiveLoopOptions {
  std::chrono::nanoseconds interval = std::chrono::seconds(10);
  std::optional<std::chrono::nanoseconds> duration;  // none: until stopped
  // Process facts: see ProcessSchedule (none: automatic within process_cpu_share of a core).
  std::optional<std::chrono::nanoseconds> process_interval;
  double process_cpu_share = 1e-4;
  std::chrono::nanoseconds process_interval_max = std::chrono::minutes(5);
  // false (record, diagnose): the loop ends after the last tick before the duration ends; true
  // (watch, serve, which answer or print meanwhile): it sleeps until the duration has passed.
  bool wait_out_duration = false;
};

// What the loop calls. sample is required; the others may be empty.
struct LiveLoopHooks {
  std::function<Result<Snapshot>()> sample;
  std::function<Result<ProcessSample>()> processes;                  // empty: no process facts
  std::function<void(std::int64_t until_monotonic_ns)> sleep_until;  // empty: busy-free no-op
  std::function<void(const std::string&)> warn;  // printed once per kind of problem
  // This process's CPU time in ns (host::process_cpu_time_ns); empty: the monotonic clock, an
  // upper bound (tests steer it).
  std::function<std::int64_t()> cpu_ns;
};

// One sample, as the loop hands it over.
struct LiveTick {
  std::int64_t offset_ns = 0;     // scheduled: tick * interval
  std::int64_t monotonic_ns = 0;  // measured: the clock's monotonic time before sampling
  double seconds = 0;             // the same since the start of the loop
  Snapshot snapshot;
  std::optional<ProcessSample> processes;  // when they were due and collected
};

struct LiveLoopStats {
  std::int64_t samples = 0;        // handed over
  std::int64_t skipped_ticks = 0;  // ticks missed because a sample took longer than the interval
  std::int64_t process_failures =
      0;                             // samples handed over without process facts (collector failed)
  std::int64_t process_cpu_ns = 0;   // spent in the process facts collections
  std::int64_t process_samples = 0;  // samples handed over with process facts
};

struct LiveLoopResult {
  LiveLoopStats stats;
  std::optional<Error> error;  // why it stopped early (the source or the consumer failed)
};

// The consumer of each sample; an error ends the loop with it.
using LiveConsumer = std::function<std::optional<Error>(LiveTick&)>;

// Ticks are at start + k * interval on the monotonic clock, so the schedule never drifts; when a
// sample overruns, the ticks it covered are skipped (counted) rather than run back to back. The
// loop checks `stop` before each sample and after each sleep.
LiveLoopResult run_live_loop(const Clock& clock, const LiveLoopHooks& hooks,
                             const LiveLoopOptions& options, const std::atomic<bool>& stop,
                             const LiveConsumer& consume);

// The hooks of a live verb: the source, the collector (null: none), the host's CPU time and a sleep
// that `stop` ends early.
LiveLoopHooks live_hooks(Source& source, ProcessFactsCollector* collector,
                         const std::atomic<bool>& stop);

// This OS's process facts collector, or null with `skip` (--no-processes) or when it cannot be
// opened (then a warning on stderr says that `consequence`, e.g. "no culprit search").
std::unique_ptr<ProcessFactsCollector> open_collector_or_warn(const Clock& clock, bool skip,
                                                              const char* consequence);

}  // namespace poolscope
