#include "trace/kmem_report.h"

#include <fmt/printf.h>

#include <algorithm>
#include <cstdio>
#include <istream>
#include <nlohmann/json.hpp>

#include "core/forward_error.h"
#include "core/time_format.h"
#include "parse/text.h"
#include "trace/report_json.h"

namespace poolscope::trace {

std::string_view SiteNamer::function(std::uint64_t address) const {
  if (!lookup_) return {};
  auto match = lookup_(address);
  return match && match->offset < 0x100000 ? match->name : std::string_view{};
}

SiteName SiteNamer::name(std::uint64_t address) const {
  SiteName out;
  if (lookup_) {
    if (auto match = lookup_(address)) {
      out.symbol = std::string(match->name);
      out.module = match->module.empty() ? "vmlinux" : std::string(match->module);
      out.offset = match->offset;
      out.location = fmt::format("{}+{:#x}", out.symbol, match->offset);
      if (out.module != "vmlinux") out.location += " [" + out.module + "]";
      return out;
    }
  }
  out.symbol = fmt::format("{:#x}", address);
  out.location = out.symbol;
  return out;
}

std::string SiteNamer::kallsyms_lines(const std::vector<std::uint64_t>& sites) const {
  std::string out;
  if (!lookup_) return out;
  std::map<std::uint64_t, std::string> lines;
  for (std::uint64_t site : sites) {
    auto match = lookup_(site);
    if (!match || lines.count(match->address)) continue;
    std::string line = fmt::format("{:016x} {} {}", match->address, match->type, match->name);
    if (!match->module.empty()) line += fmt::format("\t[{}]", match->module);
    lines[match->address] = line + '\n';
  }
  for (const auto& [address, line] : lines) out += line;
  return out;
}

std::map<std::int32_t, std::string> parse_comms(std::string_view text) {
  std::map<std::int32_t, std::string> out;
  parse::LineReader reader(text);
  std::string_view line;
  while (reader.next(line)) {
    const std::size_t blank = line.find(' ');
    if (blank == std::string_view::npos) continue;
    if (auto pid = parse::parse_u64(line.substr(0, blank))) {
      out[static_cast<std::int32_t>(*pid)] = std::string(line.substr(blank + 1));
    }
  }
  return out;
}

namespace {

std::vector<std::string> report_notes(const TraceReport& report, const SiteNamer& namer,
                                      const KmemRunFacts& facts) {
  const auto& totals = report.totals;
  std::vector<std::string> notes = facts.notes;
  if (totals.cap_reached) {
    notes.push_back("cap reached: " + std::to_string(totals.untracked_allocations) +
                    " allocations were not tracked (at most " + std::to_string(totals.max_tracked) +
                    " at once, " + std::to_string(kBytesPerTrackedAllocation) +
                    " bytes each; raise --max-tracked or trace fewer caches with --cache)");
  }
  if (facts.lost.total() + facts.stats.missed_events > 0 || facts.stats.missed_pages > 0) {
    notes.push_back(
        "events were lost (ring buffer overrun): frees may be missing, so some "
        "allocations show as outstanding that are not; trace fewer caches or raise "
        "--buffer-kb");
  }
  if (facts.stats.truncated_pages > 0) {
    // Issue 21: a damaged page (random bytes, a commit or record past its end) ended early and
    // lost the rest of its events without a word.
    notes.push_back(
        std::to_string(facts.stats.truncated_pages) +
        " trace page(s) were damaged (a record or the commit runs past the page's end): "
        "the rest of each was not decoded, so events may be missing and some "
        "allocations show as outstanding that are not");
  }
  if (!namer.has_symbols()) {
    notes.push_back("call sites are addresses: kernel symbols could not be read");
  }
  if (totals.sample_rate > 1 && facts.hash_sampled) {
    notes.push_back("sampled: 1 " + std::string(facts.pages ? "page allocation" : "object") +
                    " in " + std::to_string(totals.sample_rate) +
                    " was traced, chosen by a hash of its address (the rest are dropped in the "
                    "kernel); outstanding counts, bytes and growth are estimates scaled up by " +
                    std::to_string(totals.sample_rate) + ": --sample 1 traces every one");
  } else if (totals.sample_rate > 1) {
    notes.push_back("sampled: only objects in 1 of " + std::to_string(totals.sample_rate) +
                    " pages were traced (the rest are dropped in the kernel before they are "
                    "written); outstanding counts, bytes and growth are estimates scaled up by " +
                    std::to_string(totals.sample_rate) +
                    ", and a site with few objects may be missed: --sample 1 traces every "
                    "object, at a higher cost");
  }
  return notes;
}

}  // namespace

std::string render_kmem_report(const KmemReportOptions& options, const TraceReport& report,
                               const KmemDecoder& decoder, const SiteNamer& namer,
                               const KmemRunFacts& facts,
                               const std::map<std::int32_t, std::string>& comms) {
  const auto& totals = report.totals;
  const std::uint64_t lost_total = facts.lost.total() + facts.stats.missed_events;
  auto comm_of = [&](std::int32_t pid) {
    auto it = comms.find(pid);
    return it == comms.end() ? std::string() : it->second;
  };
  const std::vector<std::string> notes = report_notes(report, namer, facts);
  const bool sampled = totals.sample_rate > 1;
  const std::size_t shown =
      std::min(options.top == 0 ? report.call_sites.size() : options.top, report.call_sites.size());

  if (options.format == "json") {
    auto caches = [&](const auto& groups) {
      return caches_json(
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
    j["duration_s"] = round3(facts.seconds);
    j["cpus"] = facts.cpus;
    j["backend"] = facts.backend;
    j["instance"] = facts.instance;
    j["buffer_kb_per_cpu"] = facts.buffer_kb;
    j["ring_kb"] = facts.ring_kb;
    put_totals(j, totals);
    j["lost_events"] = lost_total;
    j["lost"] = {{"overrun", facts.lost.overrun},
                 {"dropped", facts.lost.dropped},
                 {"commit_overrun", facts.lost.commit_overrun},
                 {"nested", facts.lost.nested},
                 {"pages_with_missed_events", facts.stats.missed_pages},
                 {"damaged_pages", facts.stats.truncated_pages}};
    j["cap"] = cap_json(totals);
    j["min_age_s"] = options.min_age_s;
    j["sample_rate"] = totals.sample_rate;
    j["estimated"] = sampled;
    j["sampling"] = !sampled ? "none" : facts.hash_sampled ? "address hash" : "page";
    j["tracepoints"] = facts.pages ? "pages" : "kmem";
    j["tracked"] = totals.tracked;
    auto call_sites = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < shown; ++i) {
      const auto& site = report.call_sites[i];
      const auto name = namer.name(site.call_site);
      auto s = site_json(name.symbol, name.module, &name.location, site.call_site, site);
      s["caches"] = caches(site.caches);
      s["pids"] = pids_json(site.pids);
      call_sites.push_back(std::move(s));
    }
    j["call_sites"] = call_sites;
    j["call_sites_total"] = report.call_sites.size();
    j["caches"] = caches(report.caches);
    j["pids"] = pids_json(report.pids);
    j["notes"] = notes;
    return j.dump(2) + "\n";
  }

  std::string out = fmt::sprintf(
      "trace: %.1f s on %zu CPUs (%s), %s events (%s allocations, %s frees), lost %s%s\n",
      facts.seconds, facts.cpus,
      facts.pages              ? "BPF, page allocator"
      : facts.backend == "bpf" ? "BPF raw tracepoints"
                               : "tracefs",
      thousands(totals.events), thousands(totals.allocations), thousands(totals.frees),
      thousands(lost_total), facts.interrupted ? " (stopped by a signal)" : "");
  out += fmt::sprintf(
      "  unpaired frees %s (objects allocated before the trace), tracked at the end %s "
      "(cap %s%s)\n",
      thousands(totals.unpaired_frees), thousands(totals.tracked), thousands(totals.max_tracked),
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
  out += fmt::sprintf(
      "  outstanding at least %.1f s old: %s%s allocations, %s, from %zu call sites%s\n\n",
      options.min_age_s, sampled ? "~" : "", thousands(outstanding), human_bytes(bytes),
      report.call_sites.size(), estimate);
  std::vector<SiteRow> rows;
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& site = report.call_sites[i];
    const auto name = namer.name(site.call_site);
    SiteRow row{.where = name.module.empty() ? name.symbol
                                             : fmt::format("{}+{:#x}", name.symbol, name.offset),
                .module = name.module,
                .outstanding = site.outstanding,
                .bytes = site.bytes,
                .oldest_age_s = site.oldest_age_s,
                .growth_per_s = site.growth_per_s};
    if (!site.caches.empty()) row.key = std::string(decoder.cache_name(site.caches[0].first));
    if (site.caches.size() > 1) row.key += " +" + std::to_string(site.caches.size() - 1);
    for (std::size_t p = 0; p < site.pids.size() && p < 2; ++p) {
      if (!row.pids.empty()) row.pids += ", ";
      const std::string comm = comm_of(site.pids[p].first);
      row.pids += std::to_string(site.pids[p].first) + (comm.empty() ? "" : " " + comm);
    }
    if (site.pids.size() > 2) row.pids += ", ...";
    rows.push_back(std::move(row));
  }
  if (options.format == "csv") return site_csv(rows, facts.pages ? "Order" : "Cache");
  out += site_table(rows, facts.pages ? "Order" : "Cache", 18, report.call_sites.size());
  for (const auto& note : notes) out += "note: " + note + "\n";
  return out;
}

Result<LoadedKmemTrace> load_saved_kmem_trace(std::istream& in, const std::string& name,
                                              std::size_t max_tracked, double min_age_s) {
  // The growth sample interval is the saving run's (in the file); the cap is this run's.
  TrackerOptions tracker_options;
  tracker_options.max_tracked = max_tracked;
  auto replay = replay_saved_trace(in, tracker_options);
  if (!replay) return forward_error(replay);
  if (!replay->processor) {
    return unexpected(Error{
        ErrorCode::kInput, 0,
        "the trace file " + name + " holds no trace pages (the saving run ended before tracing)"});
  }
  LoadedKmemTrace loaded{std::move(*replay), {}, {}, {}};
  const auto& texts = loaded.replay.texts;
  auto number = [&](const KeyValues& values, std::string_view key) -> std::uint64_t {
    auto value = find_value(values, key);
    if (!value) return 0;
    return parse::parse_u64(*value).value_or(0);
  };
  KmemRunFacts& facts = loaded.facts;
  facts.cpus = number(texts.meta, "cpus");
  facts.instance = std::string(find_value(texts.meta, "instance").value_or(""));
  facts.buffer_kb = number(texts.meta, "buffer_kb_per_cpu");
  facts.ring_kb = number(texts.meta, "ring_kb");
  facts.backend = std::string(find_value(texts.meta, "backend").value_or("tracefs"));
  facts.hash_sampled = find_value(texts.meta, "sampling") == "hash";
  facts.pages = find_value(texts.meta, "events") == "pages";
  facts.lost.overrun = number(texts.end, "overrun");
  facts.lost.dropped = number(texts.end, "dropped");
  facts.lost.commit_overrun = number(texts.end, "commit_overrun");
  facts.lost.nested = number(texts.end, "nested");
  facts.interrupted = find_value(texts.end, "interrupted").value_or("0") == "1";
  facts.seconds = static_cast<double>(number(texts.end, "duration_ns")) / 1e9;
  facts.stats = loaded.replay.processor->stats();
  facts.notes.push_back("read from " + name + ", saved on " +
                        std::string(find_value(texts.meta, "host").value_or("?")) + " (Linux " +
                        std::string(find_value(texts.meta, "kernel").value_or("?")) + ")");
  if (!texts.complete) {
    facts.notes.push_back(
        "the trace file ends early (the saving run was killed or the disk filled): reported as far "
        "as it goes; allocations whose free came later show as outstanding");
  }
  std::uint64_t end = number(texts.end, "end_time");
  const auto& tracker = loaded.replay.processor->tracker();
  if (end == 0) end = tracker.totals().last_time;
  if (facts.seconds == 0 && tracker.totals().first_time != 0) {
    facts.seconds = static_cast<double>(end - tracker.totals().first_time) / 1e9;
  }
  loaded.report = tracker.report(end, static_cast<std::uint64_t>(min_age_s * 1e9));
  // A saved trace's pids are another machine's: only the names it carries.
  loaded.comms = parse_comms(texts.comms);
  for (const auto& [pid, counts] : loaded.report.pids) {
    if (pid == 0) loaded.comms[pid] = "<idle/irq>";
  }
  return loaded;
}

}  // namespace poolscope::trace
