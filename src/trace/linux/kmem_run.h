// One live allocation trace on Linux (`trace`, and `diagnose` for a slab cache): picks the backend
// (BPF programs on the raw tracepoints when this kernel allows them, else a tracefs instance),
// reads and pairs the events for the duration with a 50 ms hold-back, optionally saves the raw
// trace, and leaves the kernel's tracing state as it found it. Root.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "trace/kmem_report.h"
#include "trace/processor.h"

namespace poolscope::trace {

struct KmemRunOptions {
  std::chrono::nanoseconds duration = std::chrono::seconds(10);
  std::vector<std::string> caches;  // only these caches (kmalloc-N: kmalloc of N bytes)
  bool pages = false;               // the page allocator instead of kmem (BPF only)
  std::string backend = "auto";     // auto | bpf | tracefs
  std::string btf;                  // the kernel's BTF for the BPF backend ("" = the default)
  std::size_t buffer_kb = 0;        // 0: the backend's default
  unsigned sample = 1;              // trace 1 object (page allocation) in N, a power of two
  std::size_t max_tracked = kDefaultMaxTracked;
  double min_age_s = 0;
  std::string save;                         // also write the raw trace here ("" = no)
  const std::atomic<bool>* stop = nullptr;  // ends the trace early when set
  const SiteNamer* namer = nullptr;         // this machine's symbols (page call sites, --save)
};

struct KmemRun {
  KmemRunFacts facts;
  std::unique_ptr<TraceProcessor> processor;  // its decoder names the caches
  TraceReport report;
  std::map<std::int32_t, std::string> comms;  // /proc now, else what tracefs saved
};

Result<KmemRun> run_kmem_trace(const KmemRunOptions& options);

}  // namespace poolscope::trace
