// The recording loop: samples a source on a steady schedule into a Recording until stopped, the
// duration ends, or writing fails.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/pool.h"
#include "core/process.h"
#include "core/result.h"
#include "core/units.h"
#include "source/live_loop.h"
#include "store/recording.h"

namespace poolscope::store {

struct RecorderOptions {
  std::chrono::nanoseconds interval = std::chrono::seconds(10);
  std::optional<std::chrono::nanoseconds> duration;   // none: until stopped
  std::optional<std::chrono::nanoseconds> retention;  // delete samples older than this
  // Process facts only at the ticks at least this far apart. None: automatic — after each
  // collection the next one waits until that collection's CPU time is at most
  // process_cpu_share of the time since (never more often than every sample, never less often
  // than process_interval_max). Their cost grows with the number of processes (~3-8 us each,
  // Linux); the automatic interval keeps them within the share on any host, e.g. every ~5-10 s
  // with ~150 processes and every ~2 min with 2,000 at the default 0.01% of a core.
  std::optional<std::chrono::nanoseconds> process_interval;
  double process_cpu_share = 1e-4;
  std::chrono::nanoseconds process_interval_max = std::chrono::minutes(5);
  std::int64_t retention_batch = 1000;  // at most this many rows per sample
};

// What the loop calls (see LiveLoopHooks), and after each committed sample on_commit.
struct RecorderHooks : LiveLoopHooks {
  std::function<void(std::int64_t seq, const Snapshot&)> on_commit;
};

struct RecorderStats {
  std::int64_t samples = 0;        // committed by this run
  std::int64_t skipped_ticks = 0;  // ticks missed because a sample took longer than the interval
  std::int64_t first_seq = 0, last_seq = 0;
  std::size_t last_key_count = 0;
  std::int64_t process_failures = 0;   // samples stored without process facts (collector failed)
  std::int64_t process_cpu_ns = 0;     // spent in the process facts collections
  std::int64_t process_samples = 0;    // samples stored with process facts
  std::int64_t retention_deleted = 0;  // samples deleted by --retention
};

struct RecorderResult {
  RecorderStats stats;
  std::optional<Error> error;  // why it stopped early (disk full, source unreadable, ...)
};

// The duration parser (core/units.h), by its old name.
using poolscope::parse_duration;
// A --process-interval value: "auto" (nullopt: ProcessSchedule's automatic interval) or a duration.
Result<std::optional<std::chrono::nanoseconds>> parse_process_interval(std::string_view text);

// Ticks are at start + k * interval on the monotonic clock, so the schedule never drifts; when a
// sample overruns, the ticks it covered are skipped (counted) rather than run back to back. The
// loop checks `stop` before each sample and after each sleep.
RecorderResult run_recorder(Recording& recording, const Clock& clock, const RecorderHooks& hooks,
                            const RecorderOptions& options, const std::atomic<bool>& stop);

}  // namespace poolscope::store
