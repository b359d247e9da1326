// The report of a Linux allocation trace (`trace`, `trace --load`, `trace --pages`): the table and
// the JSON of the call sites whose allocations stay outstanding, with their caches (or page
// orders), processes, bytes, age and growth. Portable: the live run (trace/linux/kmem_run.h) and a
// saved trace's replay (load_saved_kmem_trace) both end here.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "trace/kmem_events.h"
#include "trace/processor.h"
#include "trace/saved_trace.h"
#include "trace/tracker.h"

namespace poolscope::trace {

// A kernel code address as people read it: "do_eventfd+0x3c [module]".
struct SiteName {
  std::string symbol, module, location;  // symbol "0x..." and module "" when unknown
  std::uint64_t offset = 0;
};

// What the report needs of the kernel's symbols, without depending on where they come from
// (attrib::KernelSymbols on the machine that traced, or the lines a saved trace carries).
struct SymbolAt {
  std::string_view name, module;  // module "" = vmlinux
  std::uint64_t address = 0;      // the symbol's start
  char type = 't';
  std::uint64_t offset = 0;  // of the address into the symbol
};
using SymbolLookup = std::function<std::optional<SymbolAt>(std::uint64_t)>;

class SiteNamer {
 public:
  SiteNamer() = default;  // no symbols: call sites are addresses
  explicit SiteNamer(SymbolLookup lookup) : lookup_(std::move(lookup)) {}
  bool has_symbols() const { return static_cast<bool>(lookup_); }
  // The function containing `address` ("" when unknown or past the kernel's text, e.g. BPF JIT
  // code, whose nearest symbol is far below): the page call-site choice.
  std::string_view function(std::uint64_t address) const;
  SiteName name(std::uint64_t address) const;
  // The kallsyms lines of the symbols the sites fall in: enough for a saved trace to name its
  // call sites on another machine (KernelSymbols::at picks the same symbol from these lines).
  std::string kallsyms_lines(const std::vector<std::uint64_t>& sites) const;

 private:
  SymbolLookup lookup_;
};

// How a run went: the backend, its buffers, what was lost, the notes to print.
struct KmemRunFacts {
  double seconds = 0;
  std::size_t cpus = 0;
  std::string backend;        // "bpf" or "tracefs"
  std::string instance;       // tracefs
  std::size_t buffer_kb = 0;  // tracefs, per CPU
  std::size_t ring_kb = 0;    // bpf, shared by all CPUs
  LostEvents lost;
  ProcessorStats stats;
  std::vector<std::string> notes;
  bool interrupted = false;
  bool hash_sampled = false;  // sampled by address hash (BPF), not by page (tracefs)
  bool pages = false;         // the page allocator (`--pages`)
};

struct KmemReportOptions {
  std::string format = "table";  // table | json
  std::size_t top = 20;          // 0: every call site
  double min_age_s = 0;
};

// comm of each pid, from tracefs' saved_cmdlines text or a saved trace's comms ("pid comm" lines).
std::map<std::int32_t, std::string> parse_comms(std::string_view text);

// The whole report (ends with a newline). `comms` names the pids it knows.
std::string render_kmem_report(const KmemReportOptions& options, const TraceReport& report,
                               const KmemDecoder& decoder, const SiteNamer& namer,
                               const KmemRunFacts& facts,
                               const std::map<std::int32_t, std::string>& comms);

// A trace saved with `trace --save`, replayed: its report as of the saving run's end, the facts
// its meta and end records hold, and the kallsyms and comms lines it carries (the saving
// machine's; name the sites with them, never with this machine's).
struct LoadedKmemTrace {
  SavedTraceReplay replay;  // its processor (decoder, tracker) and texts
  KmemRunFacts facts;
  TraceReport report;
  std::map<std::int32_t, std::string> comms;
};
// `name` is the file's name for the notes and messages. kInput for a file that is not a saved
// trace or holds no trace pages.
Result<LoadedKmemTrace> load_saved_kmem_trace(std::istream& in, const std::string& name,
                                              std::size_t max_tracked, double min_age_s);

}  // namespace poolscope::trace
