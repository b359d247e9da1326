// `poolscope trace`: traces kernel allocations and frees for a while (its own tracefs instance,
// the kmem events, per-CPU raw ring buffers) and names the call sites whose allocations stay
// outstanding, with their caches, processes, bytes, age and growth.
#include <signal.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "attrib/slab_owner.h"
#include "cli/verbs.h"
#include "parse/text.h"
#include "source/text_file.h"
#include "store/recorder.h"
#include "trace/allocinfo.h"
#include "trace/linux/bpf_session.h"
#include "trace/linux/session.h"
#include "trace/page_sites.h"
#include "trace/processor.h"
#include "trace/report_json.h"
#include "trace/saved_trace.h"

namespace poolscope::cli {

namespace {

std::atomic<bool> g_stop{false};
void on_stop_signal(int) {
  g_stop = true;
}

std::uint64_t mono_now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

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
  std::string backend = "auto";  // --backend auto|bpf|tracefs
  bool pages = false;            // --pages: the page allocator instead of kmem (BPF only)
};

struct Symbolizer {
  std::optional<attrib::KernelSymbols> symbols;
  struct Name {
    std::string symbol, module, location;
    std::uint64_t offset = 0;
  };
  // The function containing `address` ("" when unknown), for the page call-site choice.
  std::string_view function(std::uint64_t address) const {
    if (!symbols) return {};
    auto match = symbols->at(address);
    // Past the end of the kernel's text (BPF JIT code) the nearest symbol is far below.
    return match && match->offset < 0x100000 ? match->symbol.name : std::string_view{};
  }
  Name name(std::uint64_t address) const {
    Name out;
    char hex[24];
    std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(address));
    if (symbols) {
      if (auto match = symbols->at(address)) {
        out.symbol = std::string(match->symbol.name);
        out.module = match->symbol.module.empty() ? "vmlinux" : std::string(match->symbol.module);
        out.offset = match->offset;
        char offset[24];
        std::snprintf(offset, sizeof offset, "+0x%llx",
                      static_cast<unsigned long long>(match->offset));
        out.location = out.symbol + offset;
        if (out.module != "vmlinux") out.location += " [" + out.module + "]";
        return out;
      }
    }
    out.symbol = hex;
    out.location = hex;
    return out;
  }
};

// comm of each pid: /proc now, else what tracefs saved when the events were recorded.
std::map<std::int32_t, std::string> resolve_comms(const std::vector<std::int32_t>& pids,
                                                  const std::string& saved_cmdlines,
                                                  bool from_proc) {
  std::map<std::int32_t, std::string> out;
  std::map<std::int32_t, std::string> saved;
  parse::LineReader reader(saved_cmdlines);
  std::string_view line;
  while (reader.next(line)) {
    const std::size_t blank = line.find(' ');
    if (blank == std::string_view::npos) continue;
    if (auto pid = parse::parse_u64(line.substr(0, blank))) {
      saved[static_cast<std::int32_t>(*pid)] = std::string(line.substr(blank + 1));
    }
  }
  for (std::int32_t pid : pids) {
    if (out.count(pid)) continue;
    if (pid == 0) {
      out[pid] = "<idle/irq>";
      continue;
    }
    std::string name;
    if (from_proc) {
      std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
      if (comm) std::getline(comm, name);
    }
    if (!name.empty()) {
      out[pid] = name;
    } else if (auto it = saved.find(pid); it != saved.end()) {
      out[pid] = it->second;
    } else {
      out[pid] = "";
    }
  }
  return out;
}

std::string bytes_text(std::uint64_t bytes) {
  char buffer[32];
  if (bytes >= (1ull << 30)) {
    std::snprintf(buffer, sizeof buffer, "%.1f GiB", static_cast<double>(bytes) / (1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(buffer, sizeof buffer, "%.1f MiB", static_cast<double>(bytes) / (1ull << 20));
  } else if (bytes >= 1024) {
    std::snprintf(buffer, sizeof buffer, "%.1f KiB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(buffer, sizeof buffer, "%llu B", static_cast<unsigned long long>(bytes));
  }
  return buffer;
}

struct RunFacts {
  double seconds = 0;
  std::size_t cpus = 0;
  std::string backend;        // "bpf" or "tracefs"
  std::string instance;       // tracefs
  std::size_t buffer_kb = 0;  // tracefs, per CPU
  std::size_t ring_kb = 0;    // bpf, shared by all CPUs
  trace::LostEvents lost;
  trace::ProcessorStats stats;
  std::vector<std::string> notes;
  bool interrupted = false;
  bool comms_from_proc = true;  // false for a saved trace: its pids are another machine's
  bool hash_sampled = false;    // sampled by address hash (BPF), not by page (tracefs)
  bool pages = false;           // the page allocator (`--pages`)
};

int print_report(const Options& options, const trace::TraceReport& report,
                 const trace::KmemDecoder& decoder, const Symbolizer& symbolizer,
                 const RunFacts& facts, const std::string& saved_cmdlines) {
  const auto& totals = report.totals;
  const std::uint64_t lost_total = facts.lost.total() + facts.stats.missed_events;
  std::vector<std::int32_t> pids;
  for (const auto& [pid, counts] : report.pids) pids.push_back(pid);
  const auto comms = resolve_comms(pids, saved_cmdlines, facts.comms_from_proc);
  auto comm_of = [&](std::int32_t pid) {
    auto it = comms.find(pid);
    return it == comms.end() ? std::string() : it->second;
  };
  std::vector<std::string> notes = facts.notes;
  if (totals.cap_reached) {
    notes.push_back("cap reached: " + std::to_string(totals.untracked_allocations) +
                    " allocations were not tracked (at most " + std::to_string(totals.max_tracked) +
                    " at once, " + std::to_string(trace::kBytesPerTrackedAllocation) +
                    " bytes each; raise --max-tracked or trace fewer caches with --cache)");
  }
  if (lost_total > 0 || facts.stats.missed_pages > 0) {
    notes.push_back(
        "events were lost (ring buffer overrun): frees may be missing, so some "
        "allocations show as outstanding that are not; trace fewer caches or raise "
        "--buffer-kb");
  }
  if (!symbolizer.symbols) {
    notes.push_back("call sites are addresses: kernel symbols could not be read");
  }
  const bool sampled = totals.sample_rate > 1;
  if (sampled && facts.hash_sampled) {
    notes.push_back("sampled: 1 " + std::string(facts.pages ? "page allocation" : "object") +
                    " in " + std::to_string(totals.sample_rate) +
                    " was traced, chosen by a hash of its address (the rest are dropped in the "
                    "kernel); outstanding counts, bytes and growth are estimates scaled up by " +
                    std::to_string(totals.sample_rate) + ": --sample 1 traces every one");
  } else if (sampled) {
    notes.push_back("sampled: only objects in 1 of " + std::to_string(totals.sample_rate) +
                    " pages were traced (the rest are dropped in the kernel before they are "
                    "written); outstanding counts, bytes and growth are estimates scaled up by " +
                    std::to_string(totals.sample_rate) +
                    ", and a site with few objects may be missed: --sample 1 traces every "
                    "object, at a higher cost");
  }
  const std::size_t shown =
      std::min(options.top == 0 ? report.call_sites.size() : options.top, report.call_sites.size());

  if (options.format == "json") {
    auto caches_json = [&](const auto& groups) {
      return trace::caches_json(
          groups, [&](std::uint16_t cache) { return std::string(decoder.cache_name(cache)); });
    };
    auto pids_json = [&](const auto& groups) {
      auto out = nlohmann::ordered_json::array();
      for (const auto& [pid, counts] : groups) {
        out.push_back({{"pid", pid},
                       {"comm", comm_of(pid)},
                       {"outstanding", counts.outstanding},
                       {"bytes", counts.bytes}});
      }
      return out;
    };
    nlohmann::ordered_json j;
    j["duration_s"] = trace::round3(facts.seconds);
    j["cpus"] = facts.cpus;
    j["backend"] = facts.backend;
    j["instance"] = facts.instance;
    j["buffer_kb_per_cpu"] = facts.buffer_kb;
    j["ring_kb"] = facts.ring_kb;
    trace::put_totals(j, totals);
    j["lost_events"] = lost_total;
    j["lost"] = {{"overrun", facts.lost.overrun},
                 {"dropped", facts.lost.dropped},
                 {"commit_overrun", facts.lost.commit_overrun},
                 {"nested", facts.lost.nested},
                 {"pages_with_missed_events", facts.stats.missed_pages}};
    j["cap"] = trace::cap_json(totals);
    j["min_age_s"] = options.min_age_s;
    j["sample_rate"] = totals.sample_rate;
    j["estimated"] = sampled;
    j["sampling"] = !sampled ? "none" : facts.hash_sampled ? "address hash" : "page";
    j["tracepoints"] = facts.pages ? "pages" : "kmem";
    j["tracked"] = totals.tracked;
    auto call_sites = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < shown; ++i) {
      const auto& site = report.call_sites[i];
      const auto name = symbolizer.name(site.call_site);
      nlohmann::ordered_json s;
      char hex[24];
      std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(site.call_site));
      s["symbol"] = name.symbol;
      s["module"] = name.module.empty() ? nlohmann::ordered_json(nullptr)
                                        : nlohmann::ordered_json(name.module);
      s["location"] = name.location;
      s["address"] = hex;
      trace::put_site_counts(s, site);
      s["caches"] = caches_json(site.caches);
      s["pids"] = pids_json(site.pids);
      call_sites.push_back(std::move(s));
    }
    j["call_sites"] = call_sites;
    j["call_sites_total"] = report.call_sites.size();
    j["caches"] = caches_json(report.caches);
    j["pids"] = pids_json(report.pids);
    j["notes"] = notes;
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }

  std::printf(
      "trace: %.1f s on %zu CPUs (%s), %llu events (%llu allocations, %llu frees), lost %llu%s\n",
      facts.seconds, facts.cpus,
      facts.pages              ? "BPF, page allocator"
      : facts.backend == "bpf" ? "BPF raw tracepoints"
                               : "tracefs",
      static_cast<unsigned long long>(totals.events),
      static_cast<unsigned long long>(totals.allocations),
      static_cast<unsigned long long>(totals.frees), static_cast<unsigned long long>(lost_total),
      facts.interrupted ? " (stopped by a signal)" : "");
  std::printf(
      "  unpaired frees %llu (objects allocated before the trace), tracked at the end %llu "
      "(cap %llu%s)\n",
      static_cast<unsigned long long>(totals.unpaired_frees),
      static_cast<unsigned long long>(totals.tracked),
      static_cast<unsigned long long>(totals.max_tracked),
      totals.cap_reached ? ", CAP REACHED" : "");
  std::uint64_t outstanding = 0, bytes = 0;
  for (const auto& [cache, counts] : report.caches) {
    outstanding += counts.outstanding;
    bytes += counts.bytes;
  }
  const std::string estimate = !sampled ? ""
                                        : " (sampled 1 in " + std::to_string(totals.sample_rate) +
                                              (facts.hash_sampled ? " by address" : " pages") +
                                              ": estimates)";
  std::printf(
      "  outstanding at least %.1f s old: %s%llu allocations, %s, from %zu call sites%s\n\n",
      options.min_age_s, sampled ? "~" : "", static_cast<unsigned long long>(outstanding),
      bytes_text(bytes).c_str(), report.call_sites.size(), estimate.c_str());
  std::printf("%-40s %-10s %11s %10s %8s %9s  %-18s %s\n", "Call site", "Module", "Outstanding",
              "Bytes", "Oldest", "Growth/s", facts.pages ? "Order" : "Cache", "Pids");
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& site = report.call_sites[i];
    const auto name = symbolizer.name(site.call_site);
    char offset[24];
    std::snprintf(offset, sizeof offset, "+0x%llx", static_cast<unsigned long long>(name.offset));
    std::string where = name.module.empty() ? name.symbol : name.symbol + offset;
    if (where.size() > 40) where = where.substr(0, 39) + "~";
    std::string cache =
        site.caches.empty() ? "" : std::string(decoder.cache_name(site.caches[0].first));
    if (site.caches.size() > 1) cache += " +" + std::to_string(site.caches.size() - 1);
    std::string who;
    for (std::size_t p = 0; p < site.pids.size() && p < 2; ++p) {
      if (!who.empty()) who += ", ";
      const std::string comm = comm_of(site.pids[p].first);
      who += std::to_string(site.pids[p].first) + (comm.empty() ? "" : " " + comm);
    }
    if (site.pids.size() > 2) who += ", ...";
    std::printf("%-40s %-10s %11llu %10llu %7.1fs %9.1f  %-18s %s\n", where.c_str(),
                name.module.c_str(), static_cast<unsigned long long>(site.outstanding),
                static_cast<unsigned long long>(site.bytes), site.oldest_age_s, site.growth_per_s,
                cache.c_str(), who.c_str());
  }
  if (shown < report.call_sites.size()) {
    std::printf("(%zu of %zu call sites shown)\n", shown, report.call_sites.size());
  }
  for (const auto& note : notes) std::printf("note: %s\n", note.c_str());
  return kExitOk;
}

// The kallsyms lines of the symbols the call sites fall in: enough for a saved trace to name its
// call sites on another machine (KernelSymbols::at picks the same symbol from these lines).
std::string kallsyms_of_sites(const Symbolizer& symbolizer,
                              const std::vector<std::uint64_t>& sites) {
  std::string out;
  if (!symbolizer.symbols) return out;
  std::map<std::uint64_t, std::string> lines;
  for (std::uint64_t site : sites) {
    auto match = symbolizer.symbols->at(site);
    if (!match || lines.count(match->symbol.address)) continue;
    char address[24];
    std::snprintf(address, sizeof address, "%016llx",
                  static_cast<unsigned long long>(match->symbol.address));
    std::string line =
        std::string(address) + ' ' + match->symbol.type + ' ' + std::string(match->symbol.name);
    if (!match->symbol.module.empty()) line += "\t[" + std::string(match->symbol.module) + "]";
    lines[match->symbol.address] = line + '\n';
  }
  for (const auto& [address, line] : lines) out += line;
  return out;
}

// What a saved trace says about the run that wrote it, before its pages.
trace::KeyValues saved_meta(const RunFacts& facts, const Options& options,
                            const trace::TrackerOptions& tracker_options) {
  utsname host{};
  ::uname(&host);
  std::string caches;
  for (const auto& cache : options.caches) caches += (caches.empty() ? "" : ",") + cache;
  return {{"version", "1"},
          {"host", host.nodename},
          {"kernel", host.release},
          {"machine", host.machine},
          {"clock", "mono"},
          {"backend", facts.backend},
          {"cpus", std::to_string(facts.cpus)},
          {"instance", facts.instance},
          {"buffer_kb_per_cpu", std::to_string(facts.buffer_kb)},
          {"ring_kb", std::to_string(facts.ring_kb)},
          {"caches", caches.empty() ? "all" : caches},
          {"max_tracked", std::to_string(tracker_options.max_tracked)},
          {"sample_interval_ns", std::to_string(tracker_options.sample_interval_ns)},
          {"sample_shift", std::to_string(tracker_options.sample_shift)},
          {"page_shift", std::to_string(tracker_options.page_shift)},
          {"sampling", tracker_options.address_hash ? "hash" : "page"},
          {"events", facts.pages ? "pages" : "kmem"}};
}

int run_load(const Options& options) {
  // A FIFO or device is refused before it is opened (an endless stream, or a hang in open()).
  if (auto file = check_regular_file(options.load); !file) return report_error(file.error());
  if (is_etl_file(options.load)) {  // a Windows pool trace (xperf/WPR): --cache names pool tags
    return run_etl_trace_load(EtlLoadOptions{options.load, options.caches, options.min_age_s,
                                             options.format, options.top, options.max_tracked});
  }
  std::ifstream in(options.load, std::ios::binary);
  if (!in) {
    return report_error(Error{ErrorCode::kInput, 0,
                              "cannot read the trace file " + options.load +
                                  " (give a file written by `poolscope trace --save`)"});
  }
  // The growth sample interval is the saving run's (in the file); the cap is this run's.
  auto replay = trace::replay_saved_trace(in, [&] {
    trace::TrackerOptions tracker_options;
    tracker_options.max_tracked = options.max_tracked;
    return tracker_options;
  }());
  if (!replay) return report_error(replay.error());
  if (!replay->processor) {
    return report_error(Error{ErrorCode::kInput, 0,
                              "the trace file " + options.load +
                                  " holds no trace pages (the saving run ended before tracing)"});
  }
  const auto& texts = replay->texts;
  auto number = [&](const trace::KeyValues& values, std::string_view key) -> std::uint64_t {
    auto value = trace::find_value(values, key);
    if (!value) return 0;
    return parse::parse_u64(*value).value_or(0);
  };
  Symbolizer symbolizer;
  if (!texts.kallsyms.empty()) {
    if (auto symbols = attrib::KernelSymbols::from_text(texts.kallsyms, options.load)) {
      if (!symbols->addresses_hidden()) symbolizer.symbols = std::move(*symbols);
    }
  }
  RunFacts facts;
  facts.comms_from_proc = false;
  facts.cpus = number(texts.meta, "cpus");
  facts.instance = std::string(trace::find_value(texts.meta, "instance").value_or(""));
  facts.buffer_kb = number(texts.meta, "buffer_kb_per_cpu");
  facts.ring_kb = number(texts.meta, "ring_kb");
  facts.backend = std::string(trace::find_value(texts.meta, "backend").value_or("tracefs"));
  facts.hash_sampled = trace::find_value(texts.meta, "sampling") == "hash";
  facts.pages = trace::find_value(texts.meta, "events") == "pages";
  facts.lost.overrun = number(texts.end, "overrun");
  facts.lost.dropped = number(texts.end, "dropped");
  facts.lost.commit_overrun = number(texts.end, "commit_overrun");
  facts.lost.nested = number(texts.end, "nested");
  facts.interrupted = trace::find_value(texts.end, "interrupted").value_or("0") == "1";
  facts.seconds = static_cast<double>(number(texts.end, "duration_ns")) / 1e9;
  facts.stats = replay->processor->stats();
  facts.notes.push_back("read from " + options.load + ", saved on " +
                        std::string(trace::find_value(texts.meta, "host").value_or("?")) +
                        " (Linux " +
                        std::string(trace::find_value(texts.meta, "kernel").value_or("?")) + ")");
  if (!texts.complete) {
    facts.notes.push_back(
        "the trace file ends early (the saving run was killed or the disk filled): reported as far "
        "as it goes; allocations whose free came later show as outstanding");
  }
  std::uint64_t end = number(texts.end, "end_time");
  const auto& tracker = replay->processor->tracker();
  if (end == 0) end = tracker.totals().last_time;
  if (facts.seconds == 0 && tracker.totals().first_time != 0) {
    facts.seconds = static_cast<double>(end - tracker.totals().first_time) / 1e9;
  }
  const auto min_age = static_cast<std::uint64_t>(options.min_age_s * 1e9);
  const auto report = tracker.report(end, min_age);
  return print_report(options, report, replay->processor->decoder(), symbolizer, facts,
                      texts.comms);
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
  auto parsed = trace::parse_allocinfo(text);
  std::vector<const trace::AllocinfoSite*> sites;
  for (const auto& site : parsed.sites) {
    if (site.calls > 0) sites.push_back(&site);
  }
  std::sort(sites.begin(), sites.end(), [](const auto* a, const auto* b) {
    return a->bytes != b->bytes ? a->bytes > b->bytes : a->function < b->function;
  });
  const std::size_t shown = std::min(options.top == 0 ? sites.size() : options.top, sites.size());
  if (options.format == "json") {
    auto out = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < shown; ++i) {
      const auto& site = *sites[i];
      out.push_back({{"function", std::string(site.function)},
                     {"module", site.module.empty() ? "vmlinux" : std::string(site.module)},
                     {"file", std::string(site.file)},
                     {"line", site.line},
                     {"bytes", site.bytes},
                     {"calls", site.calls}});
    }
    nlohmann::ordered_json j;
    j["source"] = options.allocinfo_path;
    j["sites"] = out;
    j["sites_total"] = sites.size();
    j["malformed_lines"] = parsed.diagnostics.size();
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  std::printf(
      "%s: %zu allocation sites with live allocations (bytes allocated now, counted by the "
      "kernel)\n\n",
      options.allocinfo_path.c_str(), sites.size());
  std::printf("%-40s %-10s %12s %10s  %s\n", "Function", "Module", "Bytes", "Calls", "Source");
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& site = *sites[i];
    std::printf("%-40s %-10s %12llu %10llu  %s:%u\n", std::string(site.function).c_str(),
                site.module.empty() ? "vmlinux" : std::string(site.module).c_str(),
                static_cast<unsigned long long>(site.bytes),
                static_cast<unsigned long long>(site.calls), std::string(site.file).c_str(),
                site.line);
  }
  if (shown < sites.size()) std::printf("(%zu of %zu sites shown)\n", shown, sites.size());
  return kExitOk;
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
  auto duration = store::parse_duration(options.duration);
  if (!duration) return report_error(duration.error());
  if (duration->count() <= 0 || *duration > std::chrono::hours(24)) {
    return report_error(
        Error{ErrorCode::kUsage, 0, "--duration must be between 1s and 24h (e.g. 30s, 5m)"});
  }
  Symbolizer symbolizer;
  std::vector<std::string> notes;
  if (auto symbols = attrib::load_kernel_symbols(options.kallsyms)) {
    if (!symbols->addresses_hidden()) symbolizer.symbols = std::move(*symbols);
  }
  std::optional<trace::SavedTraceWriter> writer;
  if (!options.save.empty()) {
    auto created = trace::SavedTraceWriter::create(options.save);
    if (!created) return report_error(created.error());
    writer.emplace(std::move(*created));
  }

  const unsigned sample_shift = static_cast<unsigned>(std::countr_zero(sample));
  // Signals only set a flag: the loop ends and the kernel state is undone on the normal path.
  g_stop = false;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {
  }, old_term{};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);
  auto restore = [&] {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  };
  auto give_up = [&](const Error& error) {
    restore();
    if (writer) {
      (void)writer->close();
      std::remove(options.save.c_str());
    }
    return report_error(error);
  };

  // The backend: BPF programs on the raw tracepoints when this kernel allows them (cheaper per
  // event: README, "Benchmarks"), else the tracefs instance.
  RunFacts facts;
  std::unique_ptr<trace::BpfSession> bpf;
  std::unique_ptr<trace::TraceSession> tracefs;
  if (options.backend != "tracefs") {
    trace::BpfSessionOptions bpf_options;
    bpf_options.caches = options.caches;
    bpf_options.pages = options.pages;
    bpf_options.btf_path = options.btf;
    bpf_options.sample_shift = sample_shift;
    if (options.buffer_kb != 0) bpf_options.ring_bytes = options.buffer_kb * 1024;
    auto started = trace::BpfSession::start(bpf_options);
    if (started) {
      bpf = std::move(*started);
    } else if (options.backend == "bpf" || options.pages) {
      // Pages need stacks: tracefs cannot stand in.
      return give_up(started.error());
    } else {
      facts.notes.push_back(
          "traced through tracefs, which costs the traced code more: the BPF "
          "backend cannot be used here (" +
          started.error().message + ")");
    }
  }
  trace::KmemDecoder decoder;
  trace::TrackerOptions tracker_options;
  tracker_options.max_tracked = options.max_tracked;
  const auto nanoseconds = static_cast<std::uint64_t>(duration->count());
  tracker_options.sample_interval_ns = std::max<std::uint64_t>(nanoseconds / 60, 100'000'000);
  trace::PageLayout layout;
  if (bpf) {
    facts.backend = "bpf";
    facts.cpus = static_cast<std::size_t>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
    facts.ring_kb = bpf->ring_bytes() / 1024;
    tracker_options.sample_shift = bpf->sample_shift();
    tracker_options.address_hash = true;
    facts.hash_sampled = true;
    facts.pages = options.pages;
  } else {
    trace::SessionOptions session_options;
    session_options.caches = options.caches;
    session_options.buffer_kb_per_cpu = options.buffer_kb;
    session_options.sample_shift = sample_shift;
    auto session = trace::TraceSession::start(session_options);
    if (!session) return give_up(session.error());
    tracefs = std::move(*session);
    auto created = trace::KmemDecoder::create(tracefs->formats());
    if (!created) return give_up(created.error());
    decoder = std::move(*created);
    layout = tracefs->layout();
    facts.backend = "tracefs";
    facts.cpus = tracefs->cpus();
    facts.instance = tracefs->instance().filename().string();
    facts.buffer_kb = tracefs->buffer_kb_per_cpu();
    for (const auto& note : tracefs->notes()) facts.notes.push_back(note);
    tracker_options.sample_shift = tracefs->sample_shift();
    tracker_options.page_shift = tracefs->page_shift();
  }
  trace::TraceProcessor processor(layout, std::move(decoder), tracker_options);
  if (bpf) processor.only_caches(options.caches);

  std::optional<Error> failure;
  auto saved = [&](Result<void> result) {
    if (!result && !failure) failure = result.error();
  };
  if (writer) {
    saved(writer->text(trace::SavedRecord::kMeta, 0,
                       trace::key_values_text(saved_meta(facts, options, tracker_options))));
    if (tracefs) {
      const auto& layout_texts = tracefs->layout_texts();
      saved(writer->text(trace::SavedRecord::kHeaderPage, 0, layout_texts.at(0)));
      saved(writer->text(trace::SavedRecord::kHeaderEvent, 0, layout_texts.at(1)));
      for (std::uint32_t i = 0; i < 4; ++i) {
        saved(writer->text(trace::SavedRecord::kEventFormat, i, layout_texts.at(2 + i)));
      }
    }
  }

  auto on_page = [&](std::size_t cpu, std::span<const std::uint8_t> page) {
    processor.add_pages(page);
    if (writer && !failure) saved(writer->pages(static_cast<std::uint32_t>(cpu), page));
  };
  // Pages: each allocation's stack id becomes its call site before it is processed or saved.
  std::optional<trace::PageSiteResolver> page_sites;
  if (bpf && options.pages) {
    page_sites.emplace([&](std::int32_t id) { return bpf->stack(id); },
                       [&](std::uint64_t address) { return symbolizer.function(address); },
                       static_cast<unsigned>(
                           std::countr_zero(static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)))));
  }
  auto on_records = [&](std::span<const std::uint8_t> records) {
    if (page_sites) {
      const auto resolved = page_sites->resolve(records);
      const std::size_t used = processor.add_bpf_records(resolved);
      if (writer && !failure) saved(writer->bpf_page_records(resolved.first(used)));
      return used;
    }
    const std::size_t used = processor.add_bpf_records(records);
    if (writer && !failure) saved(writer->bpf_records(records.first(used)));
    return used;
  };
  // Waits up to wait_ms for data (tracefs: woken when a buffer is a quarter full; BPF: the
  // programs do not wake the reader, it sleeps) and reads what is there.
  auto read = [&](int wait_ms, bool drain) -> Result<void> {
    if (tracefs) return tracefs->read(wait_ms, on_page, drain);
    if (wait_ms > 0) {
      timespec pause{wait_ms / 1000, static_cast<long>(wait_ms % 1000) * 1'000'000};
      ::nanosleep(&pause, nullptr);  // a signal ends it early
    }
    bpf->read(on_records);
    return {};
  };
  auto flush = [&](std::uint64_t watermark) {
    processor.flush(watermark);
    if (writer && !failure) saved(writer->flush(watermark));
  };
  const std::uint64_t start = mono_now_ns();
  const std::uint64_t deadline = start + nanoseconds;
  // Events are held back 50 ms so that a free on one CPU never precedes its allocation on another.
  constexpr std::uint64_t kHoldBack = 50'000'000;
  // BPF: the ring holds 0.8 s of the busiest design load, so it is emptied every 100 ms.
  const std::uint64_t max_wait_ms = bpf ? 100 : 250;
  while (!g_stop && !failure) {
    const std::uint64_t round = mono_now_ns();
    if (round >= deadline) break;
    const int wait_ms =
        static_cast<int>(std::min<std::uint64_t>((deadline - round) / 1'000'000 + 1, max_wait_ms));
    if (auto r = read(wait_ms, false); !r) {
      failure = r.error();
      break;
    }
    flush(round > kHoldBack ? round - kHoldBack : 0);
  }
  facts.interrupted = g_stop;
  const std::uint64_t end = mono_now_ns();
  if (tracefs) {
    tracefs->stop_events();
  } else {
    bpf->detach();
  }
  if (auto r = read(0, true); !r && !failure) failure = r.error();
  flush(UINT64_MAX);
  std::string saved_cmdlines;
  std::optional<Error> closed;
  if (tracefs) {
    facts.lost = tracefs->lost_events();
    std::ifstream in(tracefs->tracefs() / "saved_cmdlines");
    std::ostringstream text;
    text << in.rdbuf();
    saved_cmdlines = text.str();
    if (auto r = tracefs->close(); !r) closed = r.error();
    tracefs.reset();
  } else {
    facts.lost = bpf->lost();
    if (page_sites && page_sites->without_stack() > 0) {
      facts.notes.push_back(std::to_string(page_sites->without_stack()) +
                            " traced page allocations had no kernel stack (the stack map was "
                            "full or the walk failed): they show as call site 0x0");
    }
    bpf.reset();
  }
  restore();
  if (failure) return report_error(*failure);
  if (closed) facts.notes.push_back(closed->message);
  facts.seconds = static_cast<double>(end - start) / 1e9;
  facts.stats = processor.stats();
  if (writer) {
    // The names the report needs, resolved here: the pids and symbols are this machine's.
    const auto everything = processor.tracker().report(end, 0, 0);
    std::vector<std::int32_t> pids;
    for (const auto& [pid, counts] : everything.pids) pids.push_back(pid);
    std::string comms;
    for (const auto& [pid, comm] : resolve_comms(pids, saved_cmdlines, true)) {
      if (!comm.empty()) comms += std::to_string(pid) + ' ' + comm + '\n';
    }
    saved(writer->text(trace::SavedRecord::kKallsyms, 0,
                       kallsyms_of_sites(symbolizer, processor.tracker().call_sites())));
    saved(writer->text(trace::SavedRecord::kComms, 0, comms));
    const trace::KeyValues end_values = {
        {"duration_ns", std::to_string(end - start)},
        {"end_time", std::to_string(end)},
        {"interrupted", facts.interrupted ? "1" : "0"},
        {"overrun", std::to_string(facts.lost.overrun)},
        {"dropped", std::to_string(facts.lost.dropped)},
        {"commit_overrun", std::to_string(facts.lost.commit_overrun)},
        {"nested", std::to_string(facts.lost.nested)}};
    saved(writer->text(trace::SavedRecord::kEnd, 0, trace::key_values_text(end_values)));
    const std::uint64_t bytes = writer->bytes_written();
    saved(writer->close());
    if (failure) return report_error(*failure);
    facts.notes.push_back("raw trace saved to " + options.save + " (" + std::to_string(bytes) +
                          " bytes; report it anywhere with poolscope trace --load " + options.save +
                          ")");
  }
  const auto min_age = static_cast<std::uint64_t>(options.min_age_s * 1e9);
  const auto report = processor.tracker().report(end, min_age);
  return print_report(options, report, processor.decoder(), symbolizer, facts, saved_cmdlines);
}

}  // namespace

int trace_cache_call_sites(const std::string& cache, const std::string& duration, std::size_t top) {
  Options options;
  options.caches = {cache};
  options.duration = duration;
  options.top = top;
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
