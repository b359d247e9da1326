#include "detect/load.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/forward_error.h"

namespace poolscope::detect {

Result<History> load_history(const store::Recording& recording, const LoadOptions& options,
                             store::ReadDamage* damage) {
  auto summary = recording.summary();
  if (!summary) return forward_error(summary);
  auto keys = recording.keys();
  if (!keys) return forward_error(keys);
  HistoryOptions hopts;
  hopts.max_buckets = options.max_buckets;
  hopts.samples_per_bucket = static_cast<std::size_t>(std::max<std::int64_t>(
      1, (summary->samples + static_cast<std::int64_t>(options.max_buckets) - 1) /
             static_cast<std::int64_t>(options.max_buckets)));
  History history(hopts);
  for (const store::KeyInfo& info : *keys) {
    KeyTrack& k = history.key(info.id);
    k.key = info.key;
    k.pool = info.pool;
    k.session_id = info.session_id;
    k.owner = info.owner;
    k.aliases = info.aliases;
  }
  auto cursor = recording.cursor(store::CursorOptions{.processes = options.processes});
  if (!cursor) return forward_error(cursor);
  double t = 0;
  std::optional<std::int64_t> prev_mono;
  std::int64_t prev_wall = 0;
  bool first = true;
  int errors_in_a_row = 0;
  std::vector<std::uint8_t> size_known;  // by key id: its object size is set
  while (true) {
    auto more = cursor->next();
    if (!more) {
      // A damaged sample: the cursor resumes at the next keyframe. An error that repeats (the
      // file unreadable, not one sample) ends the read instead of spinning.
      if (++errors_in_a_row > 64) return forward_error(more);
      continue;
    }
    errors_in_a_row = 0;
    if (!*more) break;
    const store::SampleInfo& info = cursor->info();
    if (!first) {
      double dt;
      if (info.mono_ns && prev_mono && *info.mono_ns >= *prev_mono) {
        dt = static_cast<double>(*info.mono_ns - *prev_mono) / 1e9;
      } else {
        dt = std::max<double>(0, static_cast<double>(info.wall_ns - prev_wall) / 1e9);
      }
      t += dt;
    }
    first = false;
    prev_mono = info.mono_ns;
    prev_wall = info.wall_ns;
    history.begin_sample(t, info.wall_ns);
    const store::SampleExtras& extras = cursor->extras();
    for (const store::KeySample& ks : cursor->keys()) {
      const std::optional<std::uint64_t> outstanding = ks.outstanding(extras.counter_width);
      const std::optional<std::uint64_t> bytes = ks.get(store::kBytes);
      if (ks.has(store::kObjectSize) &&
          (ks.key_id >= size_known.size() || !size_known[ks.key_id])) {
        // The first object size a key reports is kept (touching the key's track every sample
        // would cost a cache miss per key-sample).
        KeyTrack& k = history.key(ks.key_id);
        if (!k.object_size) k.object_size = static_cast<double>(ks.value[store::kObjectSize]);
        if (ks.key_id >= size_known.size()) size_known.resize(ks.key_id + 1, 0);
        size_known[ks.key_id] = 1;
      }
      history.add_key_value(ks.key_id, outstanding, bytes, extras.counter_width);
      if (ks.has(store::kAllocs) && ks.has(store::kFrees)) {
        history.add_key_counts(ks.key_id, ks.value[store::kAllocs], ks.value[store::kFrees]);
      }
    }
    auto as_double = [](std::optional<std::uint64_t> v) -> std::optional<double> {
      return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt;
    };
    for (std::size_t pool = 0; pool < store::kPoolKinds; ++pool) {
      const auto kind = static_cast<PoolKind>(pool);
      if (!extras.has_pool(kind)) continue;
      history.add_pool_total(
          kind, as_double(extras.pool_used(kind)), as_double(extras.pool_limit(kind)),
          as_double(extras.pool_failures(kind)), as_double(extras.pool_pressure(kind)));
    }
    history.add_memory(as_double(extras.memory_total()), as_double(extras.memory_available()));
    if (const store::ProcessState* procs = cursor->processes()) {
      history.add_processes(procs->processes);
      history.add_system_counts(store::system_counts_of(*procs));
    }
    history.end_sample();
  }
  if (damage) *damage = cursor->damage();
  return history;
}

}  // namespace poolscope::detect
