// The recording loop (see recorder.h): schedule, process facts, retention, errors.
#include "store/recorder.h"

#include <algorithm>

namespace poolscope::store {

Result<std::optional<std::chrono::nanoseconds>> parse_process_interval(std::string_view text) {
  if (text == "auto") return std::nullopt;
  auto d = parse_duration(text);
  if (!d) {
    return make_error(d.error().code, "--process-interval: " + d.error().message + ", or auto");
  }
  return *d;
}

RecorderResult run_recorder(Recording& recording, const Clock& clock, const RecorderHooks& hooks,
                            const RecorderOptions& options, const std::atomic<bool>& stop) {
  RecorderResult result;
  RecorderStats& stats = result.stats;
  const LiveLoopOptions loop{.interval = options.interval,
                             .duration = options.duration,
                             .process_interval = options.process_interval,
                             .process_cpu_share = options.process_cpu_share,
                             .process_interval_max = options.process_interval_max};
  auto commit = [&](LiveTick& tick) -> std::optional<Error> {
    const Snapshot& snapshot = tick.snapshot;
    auto seq = recording.append(snapshot, tick.processes ? &*tick.processes : nullptr);
    if (!seq) return seq.error();
    ++stats.samples;
    if (tick.processes) ++stats.process_samples;
    if (stats.first_seq == 0) stats.first_seq = *seq;
    stats.last_seq = *seq;
    stats.last_key_count = snapshot.entries.size();
    if (hooks.on_commit) hooks.on_commit(*seq, snapshot);
    if (options.retention) {
      const std::int64_t cutoff = to_wall_ns(clock.wall()) - options.retention->count();
      auto deleted = recording.apply_retention(cutoff, options.retention_batch);
      if (!deleted) return deleted.error();
      stats.retention_deleted += *deleted;
    }
    return std::nullopt;
  };
  const LiveLoopResult ran = run_live_loop(clock, hooks, loop, stop, commit);
  // Samples are counted when committed, also the one whose retention then failed.
  stats.skipped_ticks = ran.stats.skipped_ticks;
  stats.process_failures = ran.stats.process_failures;
  stats.process_cpu_ns = ran.stats.process_cpu_ns;
  result.error = ran.error;
  return result;
}

}  // namespace poolscope::store
