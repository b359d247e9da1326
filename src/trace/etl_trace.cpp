// ETL file -> ETW pool processor (src/trace/etw_pool.cpp, shared with the live session).
#include "trace/etl_trace.h"

#include <algorithm>
#include <fstream>

#include "core/forward_error.h"

namespace poolscope::trace::etl {

namespace {

// FILETIME (100 ns since 1601) of the Unix epoch.
constexpr std::uint64_t kUnixEpochFiletime = 116444736000000000ull;

}  // namespace

Result<EtlPoolTrace> read_pool_trace(ByteSource source, etw::EtwOptions options,
                                     std::uint64_t sample_interval_ns,
                                     const SampleSink& on_sample) {
  EtlReader reader(std::move(source));
  if (auto opened = reader.open(); !opened) return forward_error(opened);
  EtlPoolTrace out;
  out.header = reader.header();
  options.ticks_per_second = out.header.ticks_per_second();
  options.default_pointer_size = out.header.pointer_size;
  out.processor = std::make_unique<etw::EtwPoolProcessor>(options);
  etw::EtwPoolProcessor& processor = *out.processor;

  const std::uint64_t frequency = options.ticks_per_second;
  if (on_sample && sample_interval_ns == 0) {
    // About 200 samples over the trace's length (its header's FILETIMEs), none closer than 1 s.
    const auto& h = out.header;
    const std::uint64_t length_ns =
        h.end_time > h.start_time ? (h.end_time - h.start_time) * 100 : 0;
    sample_interval_ns = std::max<std::uint64_t>(1'000'000'000, length_ns / 200);
  }
  const std::uint64_t interval_ticks =
      !on_sample ? 0
                 : std::max<std::uint64_t>(1, sample_interval_ns / 1000 * frequency / 1'000'000);
  std::uint64_t next_sample = 0;  // 0: not started
  std::uint64_t latest = 0;
  bool first = true;
  reader.walk([&](const EtlRecord& record) {
    if (first) {
      first = false;
      out.header_ticks = record.timestamp;
    }
    // Only the classes the pool decoder reads go through it: the rest are counted by the reader.
    if (record.classic && record.group != 0x0E && record.group != 0x14 && record.group != 0x18) {
      return;
    }
    processor.add(to_etw_record(record));
    if (record.timestamp <= latest || interval_ticks == 0) return;
    latest = record.timestamp;
    if (record.group != 0x0E) return;
    if (next_sample == 0) next_sample = record.timestamp + interval_ticks;
    // Per-CPU buffers reach the file out of order: a sample is taken one interval late, so that
    // the events before it have arrived.
    // A timestamp far ahead (a damaged record) took one sample per interval up to it: billions
    // of flushes, a hang (issue 21, found by fuzzing). Past kMaxCatchUp samples in one jump the
    // rest of the gap, where no event arrived, is stepped over. No overflow near UINT64_MAX.
    constexpr std::uint64_t kMaxCatchUp = 16;
    std::uint64_t taken = 0;
    while (latest >= next_sample && latest - next_sample >= interval_ticks) {
      if (++taken == kMaxCatchUp) {
        next_sample += ((latest - next_sample) / interval_ticks - 1) * interval_ticks;
      }
      processor.flush(next_sample);
      on_sample(next_sample, processor);
      next_sample += interval_ticks;
    }
  });
  processor.flush();
  out.stats = reader.stats();
  out.first_ticks = out.stats.first_timestamp == UINT64_MAX ? 0 : out.stats.first_timestamp;
  out.end_ticks = std::max(out.stats.last_timestamp, processor.latest_timestamp());
  if (interval_ticks != 0 && next_sample != 0 && on_sample) on_sample(out.end_ticks, processor);
  return out;
}

etw::EtwRunFacts run_facts(const EtlPoolTrace& trace, const std::string& path) {
  etw::EtwRunFacts facts;
  const auto& h = trace.header;
  const auto& s = trace.stats;
  const std::uint64_t frequency = h.ticks_per_second();
  if (trace.end_ticks > trace.first_ticks && frequency != 0) {
    facts.seconds =
        static_cast<double>(trace.end_ticks - trace.first_ticks) / static_cast<double>(frequency);
  }
  facts.events_lost = h.events_lost;
  facts.buffers_lost = h.buffers_lost;
  const auto& etw = trace.processor->stats();
  std::uint64_t classes = s.by_group[0x0E] + s.by_group[0x14] + s.by_group[0x18];
  facts.notes.push_back("read from " + path + " (ETL, Windows " + std::to_string(h.major) + "." +
                        std::to_string(h.minor) + " build " + std::to_string(h.build) + ", " +
                        std::to_string(h.pointer_size * 8) + "-bit, " + std::to_string(s.buffers) +
                        " buffers, " + std::to_string(s.compressed_buffers) + " compressed, " +
                        std::to_string(s.events) + " events; " +
                        std::to_string(s.events - classes) +
                        " of other providers and kernel groups skipped)");
  if (s.buffers_events_lost + s.buffers_lost_flag > 0) {
    facts.notes.push_back(std::to_string(s.buffers_events_lost + s.buffers_lost_flag) +
                          " buffers say events or buffers were lost before them");
  }
  if (s.bad_buffers > 0) {
    facts.notes.push_back(std::to_string(s.bad_buffers) +
                          " buffers could not be read to their end (first: " + s.first_bad_buffer +
                          ")");
  }
  if (s.truncated) {
    facts.notes.push_back("the file ends inside the buffer at byte " +
                          std::to_string(s.truncated_at) +
                          " (cut off): reported as far as it goes; allocations whose free came "
                          "later show as outstanding");
  }
  if (etw.pool_events == 0) {
    facts.notes.push_back(
        "the trace holds no pool events (capture with xperf -on PROC_THREAD+LOADER+POOL "
        "-stackwalk PoolAlloc+PoolFree+PoolAllocSession+PoolFreeSession)");
  }
  return facts;
}

std::chrono::system_clock::time_point wall_time(const EtlPoolTrace& trace, std::uint64_t ticks) {
  const auto& h = trace.header;
  const std::uint64_t frequency = h.ticks_per_second();
  std::int64_t since_start_ns = 0;
  if (ticks >= trace.header_ticks) {
    const std::uint64_t delta = ticks - trace.header_ticks;
    since_start_ns = static_cast<std::int64_t>(delta / frequency * 1'000'000'000 +
                                               delta % frequency * 1'000'000'000 / frequency);
  }
  std::int64_t start_ns = 0;
  if (h.start_time > kUnixEpochFiletime) {
    start_ns = static_cast<std::int64_t>((h.start_time - kUnixEpochFiletime) * 100);
  }
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(start_ns + since_start_ns)));
}

Result<EtlSeries> read_tag_series(ByteSource source, const std::string& path,
                                  std::size_t max_tracked) {
  EtlSeries out;
  etw::EtwOptions options;
  options.tracker.max_tracked = max_tracked;
  auto on_sample = [&](std::uint64_t ticks, const etw::EtwPoolProcessor& processor) {
    const TraceReport report = processor.tracker().report(processor.to_ns(ticks), 0);
    Snapshot snapshot;
    snapshot.source = path;
    snapshot.format = "etl";
    snapshot.monotonic_ns = static_cast<std::int64_t>(ticks);  // raw until the header is known
    std::vector<CountAndBytes> by_tag(processor.tag_count());
    for (const auto& [id, counts] : report.caches) {
      if (id < by_tag.size()) by_tag[id] = counts;
    }
    for (std::size_t id = 0; id < by_tag.size(); ++id) {
      const auto tag = static_cast<std::uint16_t>(id);
      Entry entry;
      entry.key = tag_from_ulong(processor.tag_value(tag));
      // POOL_TYPE: odd base types are paged; +32 is the session pool; NonPagedPoolNx is 512.
      const std::uint32_t type = processor.tag_pool_type(tag);
      entry.pool = (type & 1) != 0 && type < 512 ? PoolKind::kPaged : PoolKind::kNonPaged;
      if ((type & 32) != 0 && type < 512) entry.pool = PoolKind::kSession;
      entry.counters.outstanding = by_tag[id].outstanding;
      entry.counters.bytes = by_tag[id].bytes;
      snapshot.entries.push_back(std::move(entry));
    }
    out.snapshots.push_back(std::move(snapshot));
  };
  auto read = read_pool_trace(std::move(source), options, 0, on_sample);
  if (!read) return forward_error(read);
  out.trace = std::move(*read);
  for (Snapshot& snapshot : out.snapshots) {
    const auto ticks = static_cast<std::uint64_t>(snapshot.monotonic_ns.value_or(0));
    snapshot.wall_time = wall_time(out.trace, ticks);
    snapshot.monotonic_ns = static_cast<std::int64_t>(out.trace.processor->to_ns(ticks));
  }
  return out;
}

bool is_etl_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> start(256);
  in.read(reinterpret_cast<char*>(start.data()), static_cast<std::streamsize>(start.size()));
  start.resize(static_cast<std::size_t>(in.gcount()));
  return trace::etl::looks_like_etl(start);
}

}  // namespace poolscope::trace::etl
