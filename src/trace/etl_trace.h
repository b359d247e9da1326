// A pool trace read from an ETL file (xperf -on ...+POOL, WPR): the ETL reader's records through
// the same ETW pool decoder and pairing as the live Windows `trace`, plus what the file says about
// itself (clock, start, lost events) for the report, and per-tag outstanding samples over the
// trace's time for `import`.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/pool.h"
#include "core/result.h"
#include "trace/etl.h"
#include "trace/etw_pool.h"
#include "trace/etw_report.h"

namespace poolscope::trace::etl {

struct EtlPoolTrace {
  TraceHeader header;
  EtlStats stats;
  std::unique_ptr<etw::EtwPoolProcessor> processor;
  std::uint64_t first_ticks = 0, end_ticks = 0;  // of the events, in the trace's clock
  std::uint64_t header_ticks = 0;                // the trace header's timestamp
};

// Called at each sample time (raw ticks) with every event before it paired.
using SampleSink = std::function<void(std::uint64_t ticks, const etw::EtwPoolProcessor&)>;

// Reads the whole file. `options.ticks_per_second` and the pointer size come from the file's
// header. Fails (kInput) only when the file is not an ETL file; damage inside is counted in the
// stats. With a sink, samples every `sample_interval_ns` of trace time (0: about 200 samples over
// the trace's length, at least 1 s apart).
Result<EtlPoolTrace> read_pool_trace(ByteSource source, etw::EtwOptions options,
                                     std::uint64_t sample_interval_ns = 0,
                                     const SampleSink& on_sample = {});

// The report facts of the file: duration, lost events and buffers, notes on what was read and
// skipped (other providers, damaged buffers, a cut-off end, no pool events).
etw::EtwRunFacts run_facts(const EtlPoolTrace& trace, const std::string& path);

// The wall-clock time of a tick of the trace's clock (from the header's start time).
std::chrono::system_clock::time_point wall_time(const EtlPoolTrace& trace, std::uint64_t ticks);

// `import`: the outstanding allocations and bytes of every pool tag over the trace's time, one
// snapshot (format "etl") per sample interval and one at the end, at the wall-clock times of the
// trace. Tags whose allocations were all freed stay in with 0, so that series do not break.
struct EtlSeries {
  std::vector<Snapshot> snapshots;
  EtlPoolTrace trace;
};
Result<EtlSeries> read_tag_series(ByteSource source, const std::string& path,
                                  std::size_t max_tracked = kDefaultMaxTracked);

// True if the file at path starts like an ETL file (a WMI buffer header).
bool is_etl_file(const std::string& path);

}  // namespace poolscope::trace::etl
