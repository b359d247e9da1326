// diagnose's confirmation of a leak's call site: a short trace of the leaking kmalloc cache or of
// the page allocator, as text or into the findings JSON.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "attrib/slab_owner.h"
#include "cli/verbs.h"
#include "core/kernel_memory.h"
#include "detect/detector.h"
#include "source/host.h"

namespace poolscope::cli {

// A confirmed leak names no call site by itself when it is in a generic kmalloc cache (the cache
// names no owner) or in memory taken straight from the page allocator (mem:unaccounted,
// slab:large-kmalloc, vmalloc:*, ...: wants_page_trace). On Linux, as root, diagnose then traces
// for 10 s what names it: that kmalloc cache alone (the kernel filters the other caches out), or
// the page allocator with kernel stacks (`trace --pages`). Only the first such finding; the leak is
// expected to still be running. Without root it says what needs root and the command to run.
void confirm_call_site(const detect::Report& report) {
  for (const detect::Finding& f : report.findings) {
    if (f.verdict != detect::Verdict::kLeak) continue;
    if (wants_page_trace(f.key)) {
      if (!host::is_privileged()) {
        std::printf(
            "\nTo name the call site behind %s, trace the page allocator as root (its BPF "
            "programs need root, or CAP_BPF and CAP_PERFMON, and the kernel's BTF): poolscope "
            "trace --pages --duration 30s\n",
            f.key.name.c_str());
        return;
      }
      std::printf(
          "\nConfirming the call site: %s is memory from the page allocator; tracing it for "
          "10 s (poolscope trace --pages; --no-trace skips this)\n\n",
          f.key.name.c_str());
      std::fflush(stdout);
      (void)trace_call_sites("", "10s", 10);
      return;
    }
    if (f.key.kind != KeyKind::kSlabCache || !attrib::is_generic_kmalloc_cache(f.key.name)) {
      continue;
    }
    // The cache by the name this kernel gives it (kmalloc-1k, not kmalloc-1024): trace resolves
    // it to the same cache either way, but a name printed here must be one the kernel knows.
    const std::string& cache = f.key.name;
    if (!host::is_privileged()) {
      std::printf(
          "\nTo name the call site behind %s, run as root (tracing kernel allocations needs "
          "root): poolscope trace --cache %s --duration 30s\n",
          f.key.name.c_str(), cache.c_str());
      return;
    }
    std::printf(
        "\nConfirming the call site: tracing %s for 10 s (poolscope trace --cache %s; "
        "--no-trace skips this)\n\n",
        f.key.name.c_str(), cache.c_str());
    std::fflush(stdout);
    (void)trace_call_sites(cache, "10s", 5);
    return;
  }
}

// diagnose --format json: the same confirmation, its outcome in the JSON as "trace" (the trace's
// own JSON report under "report" when it ran), so a script sees what the text shows.
void confirm_call_site_json(const detect::Report& report, nlohmann::ordered_json& j) {
  for (const detect::Finding& f : report.findings) {
    if (f.verdict == detect::Verdict::kLeak && wants_page_trace(f.key)) {
      j["trace"] = {{"key", f.key.name},
                    {"ran", false},
                    {"command", "poolscope trace --pages --duration 30s"},
                    {"reason", "the page allocator is traced on its own (trace --pages)"}};
      return;
    }
    if (f.verdict == detect::Verdict::kSuspect || f.key.kind != KeyKind::kSlabCache ||
        !attrib::is_generic_kmalloc_cache(f.key.name)) {
      continue;
    }
    nlohmann::ordered_json trace;
    trace["cache"] = f.key.name;
    trace["command"] = "poolscope trace --cache " + f.key.name + " --duration 30s";
    if (!host::is_privileged()) {
      trace["ran"] = false;
      trace["reason"] = "tracing needs root";
    } else {
      std::fprintf(stderr,
                   "poolscope: confirming the call site: tracing %s for 10 s (--no-trace skips "
                   "this)\n",
                   f.key.name.c_str());
      std::string out;
      const int rc = trace_call_sites(f.key.name, "10s", 5, &out);
      trace["ran"] = rc == kExitOk;
      if (rc == kExitOk) {
        trace["report"] = nlohmann::ordered_json::parse(out, nullptr, false);
      } else {
        trace["reason"] =
            "the trace failed (exit " + std::to_string(rc) + "; its message is on stderr)";
      }
    }
    j["trace"] = std::move(trace);
    return;
  }
}

}  // namespace poolscope::cli
