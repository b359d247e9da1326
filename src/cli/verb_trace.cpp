// `poolscope trace` on Linux: the options, then one call: a live trace (trace/linux/kmem_run.h),
// a saved or .etl trace's replay, or /proc/allocinfo; the report is trace/kmem_report.h's.
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "attrib/slab_owner.h"
#include "cli/verbs.h"
#include "core/units.h"
#include "parse/text.h"
#include "source/host.h"
#include "source/text_file.h"
#include "trace/allocinfo.h"
#include "trace/etl_trace.h"
#include "trace/kmem_report.h"
#include "trace/linux/bpf_session.h"
#include "trace/linux/kmem_run.h"

namespace poolscope::cli {

namespace {

// --sample auto: tracing every cache (or the page allocator) samples 1 object in 8 (BPF: by
// address hash; tracefs: 1 page in 8) (every event costs the traced
// code; sampling takes away most of what writing them costs: README, "Benchmarks"); a trace of
// named caches (--cache, diagnose) sees every object, since a leak there may be a few objects a
// second and the kernel already filters the other caches out.
constexpr unsigned kSampleAllCaches = 8;
// --pages: every sampled page allocation walks the kernel stack (about 1.3 us here), and a pipe
// loop allocates 2 M pages per second of its CPU: 1 in 64 keeps the slowdown near the goal
// (bench/trace.cpp, BM_PipeWorkload*), and a leak of 160 pages/s is still sampled 25 times in
// 10 s.
constexpr unsigned kSamplePages = 64;

struct Options {
  std::string duration = "10s";
  std::vector<std::string> caches;
  double min_age_s = 0;
  std::string format = "table";
  std::size_t top = 20;
  std::size_t max_tracked = trace::kDefaultMaxTracked;
  std::size_t buffer_kb = 0;
  std::string sample = "auto";  // --sample N: objects in 1 of N pages (1: every object)
  std::string kallsyms = "/proc/kallsyms";
  std::string btf = trace::kKernelBtfPath;  // --btf FILE: the kernel's BTF for the BPF backend
  std::string save;                         // --save FILE: also write the raw trace
  std::string load;        // --load FILE: report from a saved trace instead of tracing
  bool allocinfo = false;  // --allocinfo: the kernel's own per-call-site bytes instead of tracing
  std::string allocinfo_path = "/proc/allocinfo";
  std::string backend = "auto";   // --backend auto|bpf|tracefs
  bool pages = false;             // --pages: the page allocator instead of kmem (BPF only)
  std::string* output = nullptr;  // diagnose: the report into this string, not stdout
};

// Call sites named by these kernel symbols (none when their addresses are hidden).
trace::SiteNamer namer_of(Result<attrib::KernelSymbols> loaded) {
  if (!loaded || loaded->addresses_hidden()) return {};
  auto symbols = std::make_shared<attrib::KernelSymbols>(std::move(*loaded));
  return trace::SiteNamer([symbols](std::uint64_t address) -> std::optional<trace::SymbolAt> {
    auto match = symbols->at(address);
    if (!match) return std::nullopt;
    return trace::SymbolAt{match->symbol.name, match->symbol.module, match->symbol.address,
                           match->symbol.type, match->offset};
  });
}

trace::KmemReportOptions report_options(const Options& options) {
  return {options.format, options.top, options.min_age_s};
}

int run_load(const Options& options) {
  // A FIFO or device is refused before it is opened (an endless stream, or a hang in open()).
  if (auto file = check_regular_file(options.load); !file) return report_error(file.error());
  if (trace::etl::is_etl_file(
          options.load)) {  // a Windows pool trace (xperf/WPR): --cache names pool tags
    return run_etl_trace_load(EtlLoadOptions{options.load, options.caches, options.min_age_s,
                                             options.format, options.top, options.max_tracked});
  }
  std::ifstream in(options.load, std::ios::binary);
  if (!in) {
    return report_error(Error{ErrorCode::kInput, 0,
                              "cannot read the trace file " + options.load +
                                  " (give a file written by `poolscope trace --save`)"});
  }
  auto loaded =
      trace::load_saved_kmem_trace(in, options.load, options.max_tracked, options.min_age_s);
  if (!loaded) return report_error(loaded.error());
  // The saving machine's symbols, carried in the file; never this machine's.
  const auto& kallsyms = loaded->replay.texts.kallsyms;
  const trace::SiteNamer namer =
      kallsyms.empty() ? trace::SiteNamer{}
                       : namer_of(attrib::KernelSymbols::from_text(kallsyms, options.load));
  std::fputs(trace::render_kmem_report(report_options(options), loaded->report,
                                       loaded->replay.processor->decoder(), namer, loaded->facts,
                                       loaded->comms)
                 .c_str(),
             stdout);
  return kExitOk;
}

// /proc/allocinfo (CONFIG_MEM_ALLOC_PROFILING, Linux 6.10+): bytes and live calls per allocation
// site, live now, counted by the kernel itself; no tracing needed.
int run_allocinfo(const Options& options) {
  std::ifstream in(options.allocinfo_path);
  if (!in) {
    return report_error(Error{
        ErrorCode::kEnvironment, 0,
        "this kernel has no " + options.allocinfo_path +
            " (memory allocation profiling needs Linux 6.10+ with CONFIG_MEM_ALLOC_PROFILING, "
            "and sysctl vm.mem_profiling=1): use poolscope trace to find the call sites instead"});
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::fputs(trace::render_allocinfo(trace::parse_allocinfo(text), options.allocinfo_path,
                                     options.format, options.top)
                 .c_str(),
             stdout);
  return kExitOk;
}

// What to run when tracing was refused for want of privileges: the same trace as root, and what
// answers without root on this machine (/proc/allocinfo only where the kernel has it).
std::string without_root_advice() {
  std::error_code ec;
  const bool allocinfo = std::filesystem::exists("/proc/allocinfo", ec);
  return std::string(
             ".\nRun the trace as root: sudo poolscope trace ... (the BPF backend also runs "
             "with CAP_BPF and CAP_PERFMON, and names call sites with CAP_SYSLOG: sudo setcap "
             "cap_bpf,cap_perfmon,cap_syslog+ep $(command -v poolscope)). Without root: `poolscope "
             "who CACHE` names a cache's owner "
             "from the kernel's symbols; `poolscope watch` shows which cache grows") +
         (allocinfo ? "; `poolscope trace --allocinfo` reads the kernel's own bytes per call site "
                      "(/proc/allocinfo)"
                    : "; /proc/allocinfo (the kernel's own bytes per call site, `poolscope trace "
                      "--allocinfo`) is not on this kernel: it needs Linux 6.10+ with "
                      "CONFIG_MEM_ALLOC_PROFILING");
}

int run_trace(const Options& options) {
  if (options.min_age_s < 0) {
    return report_error(Error{ErrorCode::kUsage, 0, "--min-age must be 0 or more seconds"});
  }
  unsigned sample = options.pages ? kSamplePages : options.caches.empty() ? kSampleAllCaches : 1;
  if (options.sample != "auto") {
    auto n = parse::parse_u64(options.sample);
    if (!n || *n == 0 || *n > 1024 || !std::has_single_bit(*n)) {
      return report_error(Error{ErrorCode::kUsage, 0,
                                "--sample must be auto or a power of two from 1 (every object) "
                                "to 1024, not '" +
                                    options.sample + "'"});
    }
    sample = static_cast<unsigned>(*n);
  }
  if (options.allocinfo) return run_allocinfo(options);
  if (options.pages && (!options.caches.empty() || options.backend == "tracefs")) {
    return report_error(Error{ErrorCode::kUsage, 0,
                              "--pages traces the page allocator with BPF programs: it takes no "
                              "--cache and no --backend tracefs"});
  }
  if (!options.load.empty()) return run_load(options);
  auto duration = parse_duration(options.duration);
  if (!duration) return report_error(duration.error());
  if (duration->count() <= 0 || *duration > std::chrono::hours(24)) {
    return report_error(
        Error{ErrorCode::kUsage, 0, "--duration must be between 1s and 24h (e.g. 30s, 5m)"});
  }
  std::vector<std::string> resolved_notes;
  auto caches = attrib::resolve_slab_caches(options.caches, resolved_notes);
  if (!caches) return report_error(caches.error());
  for (const auto& note : resolved_notes) std::fprintf(stderr, "poolscope: %s\n", note.c_str());
  const trace::SiteNamer namer = namer_of(attrib::load_kernel_symbols(options.kallsyms));
  // Signals only set a flag: the trace ends and the kernel state is undone on the normal path.
  host::StopOnSignal stop;
  trace::KmemRunOptions run_options;
  run_options.duration = *duration;
  run_options.caches = *caches;
  run_options.pages = options.pages;
  run_options.backend = options.backend;
  run_options.btf = options.btf;
  run_options.buffer_kb = options.buffer_kb;
  run_options.sample = sample;
  run_options.max_tracked = options.max_tracked;
  run_options.min_age_s = options.min_age_s;
  run_options.save = options.save;
  run_options.stop = &stop.flag();
  run_options.namer = &namer;
  auto run = trace::run_kmem_trace(run_options);
  if (!run) {
    Error error = run.error();
    if (error.os_code == EPERM || error.os_code == EACCES) error.message += without_root_advice();
    return report_error(error);
  }
  const std::string report =
      trace::render_kmem_report(report_options(options), run->report, run->processor->decoder(),
                                namer, run->facts, run->comms);
  if (options.output) {
    *options.output = report;
  } else {
    std::fputs(report.c_str(), stdout);
  }
  return kExitOk;
}

}  // namespace

int trace_call_sites(const std::string& cache, const std::string& duration, std::size_t top,
                     std::string* json) {
  Options options;
  if (cache.empty()) options.pages = true;
  if (!cache.empty()) options.caches = {cache};
  options.duration = duration;
  options.top = top;
  if (json) options.format = "json", options.output = json;
  return run_trace(options);
}

void add_trace_verb(CLI::App& app, VerbMain& run) {
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "trace",
      "trace kernel allocations for a while and show the call sites whose allocations stay "
      "outstanding (Linux, root)");
  add_trace_report_options(*verb, options->duration, options->min_age_s, options->format,
                           options->top, options->max_tracked);
  verb->add_option("--cache", options->caches,
                   "only this slab cache (repeatable; kmalloc-N traces kmalloc of N bytes)");
  verb->add_option("--buffer-kb", options->buffer_kb,
                   "ring buffer in KiB: tracefs, per CPU (default: sized for 400k events/s); bpf, "
                   "one for all CPUs, a power of two (default 16384)");
  verb->add_option("--sample", options->sample,
                   "trace 1 object in N (a power of two; BPF: chosen by a hash of its address, "
                   "tracefs: the objects of 1 page in N; 1: every object; auto: 8 for all caches, "
                   "64 for --pages, 1 with --cache); counts are then estimates")
      ->default_val("auto");
  verb->add_option("--backend", options->backend,
                   "bpf: BPF programs on the raw tracepoints (the cheapest; needs BTF); tracefs: "
                   "a tracefs instance; auto: bpf when this kernel allows it, else tracefs")
      ->check(CLI::IsMember({"auto", "bpf", "tracefs"}))
      ->default_val("auto");
  verb->add_flag("--pages", options->pages,
                 "trace the page allocator (mm_page_alloc / mm_page_free) instead of slab "
                 "objects: pages that stay allocated by call site (the first kernel stack frame "
                 "outside the page allocator) and pid; BPF only");
  verb->add_option("--btf", options->btf,
                   "the running kernel's BTF, for the BPF backend (libbpf relocates the programs' "
                   "struct accesses to it: CO-RE)")
      ->default_val(trace::kKernelBtfPath);
  verb->add_option("--kallsyms", options->kallsyms, "kernel symbols for the call sites")
      ->default_val("/proc/kallsyms");
  verb->add_option("--save", options->save,
                   "also write the raw trace (ring-buffer pages, layouts, symbols) to this file");
  auto* load = verb->add_option("--load", options->load,
                                "report from a trace saved with --save, or from a Windows pool "
                                "trace (.etl from xperf/WPR; --cache then names pool tags); any "
                                "machine, no root");
  load->excludes(verb->get_option("--save"));
  verb->add_flag("--allocinfo", options->allocinfo,
                 "show the kernel's own bytes per allocation site from /proc/allocinfo (Linux "
                 "6.10+ with memory allocation profiling) instead of tracing")
      ->excludes(load)
      ->excludes(verb->get_option("--save"));
  verb->add_option("--allocinfo-file", options->allocinfo_path,
                   "read this file instead of /proc/allocinfo")
      ->default_val("/proc/allocinfo");
  verb->callback([&run, options] { run = [options]() -> int { return run_trace(*options); }; });
}

}  // namespace poolscope::cli
