#include "trace/linux/kmem_run.h"

#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/forward_error.h"
#include "trace/linux/bpf_session.h"
#include "trace/linux/session.h"
#include "trace/page_sites.h"
#include "trace/saved_trace.h"

namespace poolscope::trace {

namespace {

// comm of each pid: /proc now, else what tracefs saved when the events were recorded.
std::map<std::int32_t, std::string> resolve_comms(const TraceReport& report,
                                                  const std::string& saved_cmdlines) {
  const auto saved = parse_comms(saved_cmdlines);
  std::map<std::int32_t, std::string> out;
  for (const auto& [pid, counts] : report.pids) {
    if (pid == 0) {
      out[pid] = "<idle/irq>";
      continue;
    }
    std::string name;
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    if (comm) std::getline(comm, name);
    if (name.empty()) {
      if (auto it = saved.find(pid); it != saved.end()) name = it->second;
    }
    out[pid] = name;
  }
  return out;
}

// What a saved trace says about the run that wrote it, before its pages.
KeyValues saved_meta(const KmemRunFacts& facts, const KmemRunOptions& options,
                     const TrackerOptions& tracker_options) {
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

}  // namespace

Result<KmemRun> run_kmem_trace(const KmemRunOptions& options) {
  const SiteNamer no_symbols;
  const SiteNamer& namer = options.namer ? *options.namer : no_symbols;
  std::optional<SavedTraceWriter> writer;
  if (!options.save.empty()) {
    auto created = SavedTraceWriter::create(options.save);
    if (!created) return forward_error(created);
    writer.emplace(std::move(*created));
  }
  auto give_up = [&](const Error& error) -> Result<KmemRun> {
    if (writer) {
      (void)writer->close();
      std::remove(options.save.c_str());
    }
    return unexpected(error);
  };
  const unsigned sample_shift = static_cast<unsigned>(std::countr_zero(options.sample));

  // The backend: BPF programs on the raw tracepoints when this kernel allows them (cheaper per
  // event: README, "Benchmarks"), else the tracefs instance.
  KmemRun run;
  KmemRunFacts& facts = run.facts;
  std::unique_ptr<BpfSession> bpf;
  std::unique_ptr<TraceSession> tracefs;
  std::optional<Error> bpf_refused;  // auto: why BPF could not be used, if tracefs cannot either
  if (options.backend != "tracefs") {
    BpfSessionOptions bpf_options;
    bpf_options.caches = options.caches;
    bpf_options.pages = options.pages;
    if (!options.btf.empty()) bpf_options.btf_path = options.btf;
    bpf_options.sample_shift = sample_shift;
    if (options.buffer_kb != 0) bpf_options.ring_bytes = options.buffer_kb * 1024;
    auto started = BpfSession::start(bpf_options);
    if (started) {
      bpf = std::move(*started);
    } else if (options.backend == "bpf" || options.pages) {
      // Pages need stacks: tracefs cannot stand in.
      return give_up(started.error());
    } else {
      bpf_refused = started.error();
      facts.notes.push_back(
          "traced through tracefs, which costs the traced code more: the BPF "
          "backend cannot be used here (" +
          started.error().message + ")");
    }
  }
  KmemDecoder decoder;
  TrackerOptions tracker_options;
  tracker_options.max_tracked = options.max_tracked;
  const auto nanoseconds = static_cast<std::uint64_t>(options.duration.count());
  tracker_options.sample_interval_ns = std::max<std::uint64_t>(nanoseconds / 60, 100'000'000);
  PageLayout layout;
  if (bpf) {
    facts.backend = "bpf";
    facts.cpus = static_cast<std::size_t>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
    facts.ring_kb = bpf->ring_bytes() / 1024;
    tracker_options.sample_shift = bpf->sample_shift();
    tracker_options.address_hash = true;
    facts.hash_sampled = true;
    facts.pages = options.pages;
  } else {
    SessionOptions session_options;
    session_options.caches = options.caches;
    session_options.buffer_kb_per_cpu = options.buffer_kb;
    session_options.sample_shift = sample_shift;
    auto session = TraceSession::start(session_options);
    if (!session && bpf_refused) {  // both refused: say why for each
      Error both = session.error();
      both.message = "neither tracing backend could start: BPF: " + bpf_refused->message +
                     "; tracefs: " + session.error().message;
      return give_up(both);
    }
    if (!session) return give_up(session.error());
    tracefs = std::move(*session);
    auto created = KmemDecoder::create(tracefs->formats());
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
  run.processor = std::make_unique<TraceProcessor>(layout, std::move(decoder), tracker_options);
  TraceProcessor& processor = *run.processor;
  if (bpf) processor.only_caches(options.caches);

  std::optional<Error> failure;
  auto saved = [&](Result<void> result) {
    if (!result && !failure) failure = result.error();
  };
  if (writer) {
    saved(writer->text(SavedRecord::kMeta, 0,
                       key_values_text(saved_meta(facts, options, tracker_options))));
    if (tracefs) {
      const auto& layout_texts = tracefs->layout_texts();
      saved(writer->text(SavedRecord::kHeaderPage, 0, layout_texts.at(0)));
      saved(writer->text(SavedRecord::kHeaderEvent, 0, layout_texts.at(1)));
      for (std::uint32_t i = 0; i < 4; ++i) {
        saved(writer->text(SavedRecord::kEventFormat, i, layout_texts.at(2 + i)));
      }
    }
  }

  auto on_page = [&](std::size_t cpu, std::span<const std::uint8_t> page) {
    processor.add_pages(page);
    if (writer && !failure) saved(writer->pages(static_cast<std::uint32_t>(cpu), page));
  };
  // Pages: each allocation's stack id becomes its call site before it is processed or saved.
  std::optional<PageSiteResolver> page_sites;
  if (bpf && options.pages) {
    page_sites.emplace([&](std::int32_t id) { return bpf->stack(id); },
                       [&](std::uint64_t address) { return namer.function(address); },
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
  auto stopped = [&] { return options.stop && options.stop->load(); };
  const std::uint64_t start = bpf_clock_ns();
  const std::uint64_t deadline = start + nanoseconds;
  // Events are held back 50 ms so that a free on one CPU never precedes its allocation on another.
  constexpr std::uint64_t kHoldBack = 50'000'000;
  // BPF: the ring holds 0.8 s of the busiest design load, so it is emptied every 100 ms.
  const std::uint64_t max_wait_ms = bpf ? 100 : 250;
  while (!stopped() && !failure) {
    const std::uint64_t round = bpf_clock_ns();
    if (round >= deadline) break;
    const int wait_ms =
        static_cast<int>(std::min<std::uint64_t>((deadline - round) / 1'000'000 + 1, max_wait_ms));
    if (auto r = read(wait_ms, false); !r) {
      failure = r.error();
      break;
    }
    flush(round > kHoldBack ? round - kHoldBack : 0);
  }
  facts.interrupted = stopped();
  const std::uint64_t end = bpf_clock_ns();
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
  // A failure while tracing keeps what was saved: a trace that ends early still reads.
  if (failure) return unexpected(*failure);
  if (closed) facts.notes.push_back(closed->message);
  facts.seconds = static_cast<double>(end - start) / 1e9;
  facts.stats = processor.stats();
  if (writer) {
    // The names the report needs, resolved here: the pids and symbols are this machine's.
    const auto everything = processor.tracker().report(end, 0, 0);
    std::string comms;
    for (const auto& [pid, comm] : resolve_comms(everything, saved_cmdlines)) {
      if (!comm.empty()) comms += std::to_string(pid) + ' ' + comm + '\n';
    }
    saved(writer->text(SavedRecord::kKallsyms, 0,
                       namer.kallsyms_lines(processor.tracker().call_sites())));
    saved(writer->text(SavedRecord::kComms, 0, comms));
    const KeyValues end_values = {{"duration_ns", std::to_string(end - start)},
                                  {"end_time", std::to_string(end)},
                                  {"interrupted", facts.interrupted ? "1" : "0"},
                                  {"overrun", std::to_string(facts.lost.overrun)},
                                  {"dropped", std::to_string(facts.lost.dropped)},
                                  {"commit_overrun", std::to_string(facts.lost.commit_overrun)},
                                  {"nested", std::to_string(facts.lost.nested)}};
    saved(writer->text(SavedRecord::kEnd, 0, key_values_text(end_values)));
    const std::uint64_t bytes = writer->bytes_written();
    saved(writer->close());
    if (failure) return unexpected(*failure);
    facts.notes.push_back("raw trace saved to " + options.save + " (" + std::to_string(bytes) +
                          " bytes; report it anywhere with poolscope trace --load " + options.save +
                          ")");
  }
  run.report = processor.tracker().report(end, static_cast<std::uint64_t>(options.min_age_s * 1e9));
  run.comms = resolve_comms(run.report, saved_cmdlines);
  return run;
}

}  // namespace poolscope::trace
