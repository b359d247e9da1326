// The `trace` report on Windows (table or JSON) from an EtwPoolProcessor: the same JSON shape as
// the Linux report where it applies (call_sites with symbol = driver+offset, module, outstanding,
// bytes, oldest_age_s, caches = pool tags, pids; lost_events). Portable, so it is unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trace/etw_pool.h"

namespace poolscope::trace::etw {

struct EtwRunFacts {
  double seconds = 0;
  std::string format = "table";  // table or json
  std::size_t top = 20;          // call sites shown (0: all)
  double min_age_s = 0;
  std::vector<std::string> tags;   // --tag as given (empty: every tag)
  std::uint64_t events_lost = 0;   // EVENT_TRACE_PROPERTIES.EventsLost
  std::uint64_t buffers_lost = 0;  // LogBuffersLost + RealTimeBuffersLost
  bool interrupted = false;        // stopped by Ctrl+C
  std::vector<std::string> notes;
};

// The report text (ends with a newline). `end_ticks`: the trace's end in the events' clock.
std::string render_report(const EtwPoolProcessor& processor, std::uint64_t end_ticks,
                          const EtwRunFacts& facts);

}  // namespace poolscope::trace::etw
