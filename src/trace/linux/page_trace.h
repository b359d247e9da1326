// `trace --pages` as a library call, for `diagnose` (and anything else that must name the code
// holding kernel pages): traces the page allocator with the BPF programs for a while and returns
// the call sites whose pages stay allocated, most bytes first. Linux, root (CAP_BPF+CAP_PERFMON).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "trace/linux/session.h"
#include "trace/tracker.h"

namespace poolscope::trace {

struct PageTraceOptions {
  std::chrono::nanoseconds duration = std::chrono::seconds(10);
  unsigned sample_shift = 6;  // 1 page allocation in 64, by address hash (0: every one)
  // The function containing a kernel address ("" when unknown): picks the first stack frame
  // outside the page allocator (page_sites.h). E.g. attrib::KernelSymbols::at(a)->symbol.name.
  std::function<std::string_view(std::uint64_t)> function_of;
  // Ends the trace early when set (a signal handler's flag); may be null.
  const std::atomic<bool>* stop = nullptr;
  std::size_t ring_bytes = std::size_t{4} << 20;
};

struct PageTraceResult {
  TraceReport report;  // call_sites: outstanding pages by call site (estimates when sampled)
  std::vector<std::string> orders;  // report's cache ids -> "order-N"
  LostEvents lost;
  double seconds = 0;
  std::uint64_t without_stack = 0;  // allocations whose stack was not recorded
};

// kEnvironment when the BPF programs cannot be loaded (not root, no BTF, built without BPF).
Result<PageTraceResult> trace_pages(const PageTraceOptions& options);

}  // namespace poolscope::trace
