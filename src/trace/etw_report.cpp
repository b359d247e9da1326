// Rendering of the Windows `trace` report.
#include "trace/etw_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/time_format.h"
#include "trace/report_json.h"

namespace poolscope::trace::etw {

namespace {

std::string printf_text(const char* format, auto... values) {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, format, values...);
  return buffer;
}

template <class Key>
void merge_groups(std::vector<std::pair<Key, CountAndBytes>>& into,
                  const std::vector<std::pair<Key, CountAndBytes>>& from) {
  for (const auto& [key, counts] : from) {
    // A copy: clang 14 (the fuzz build) cannot capture a structured binding.
    auto it = std::find_if(into.begin(), into.end(),
                           [&, wanted = key](const auto& g) { return g.first == wanted; });
    if (it == into.end()) {
      into.emplace_back(key, counts);
    } else {
      it->second.outstanding += counts.outstanding;
      it->second.bytes += counts.bytes;
    }
  }
  std::stable_sort(into.begin(), into.end(), [](const auto& a, const auto& b) {
    return a.second.outstanding > b.second.outstanding;
  });
}

// Stack keys: the tracker grouped allocations by key site; those that resolve to the same call site
// (the same stack logged under several keys over time) become one row. Returns how many
// outstanding allocations had a key whose frames never came.
std::uint64_t merge_key_sites(TraceReport& report, const EtwPoolProcessor& processor) {
  std::uint64_t unresolved = 0;
  std::vector<SiteReport> out;
  std::unordered_map<std::uint64_t, std::size_t> at;
  bool merged = false;
  for (SiteReport& site : report.call_sites) {
    const std::uint64_t resolved = processor.resolve(site.call_site);
    if (resolved == 0 && site.call_site != 0) unresolved += site.outstanding;
    site.call_site = resolved;
    auto [it, inserted] = at.emplace(resolved, out.size());
    if (inserted) {
      out.push_back(std::move(site));
      continue;
    }
    merged = true;
    SiteReport& into = out[it->second];
    into.outstanding += site.outstanding;
    into.bytes += site.bytes;
    into.oldest_age_s = std::max(into.oldest_age_s, site.oldest_age_s);
    into.allocations += site.allocations;
    into.frees += site.frees;
    into.growth_per_s += site.growth_per_s;  // slopes of a sum add up
    into.net_growth += site.net_growth;
    merge_groups(into.caches, site.caches);
    merge_groups(into.pids, site.pids);
  }
  if (merged) {
    std::sort(out.begin(), out.end(), [](const SiteReport& a, const SiteReport& b) {
      if (a.bytes != b.bytes) return a.bytes > b.bytes;
      return a.call_site < b.call_site;
    });
  }
  report.call_sites = std::move(out);
  return unresolved;
}

}  // namespace

std::string render_report(const EtwPoolProcessor& processor, std::uint64_t end_ticks,
                          const EtwRunFacts& facts) {
  const auto min_age = static_cast<std::uint64_t>(std::max(facts.min_age_s, 0.0) * 1e9);
  TraceReport report = processor.tracker().report(processor.to_ns(end_ticks), min_age);
  const std::uint64_t unresolved_keys = merge_key_sites(report, processor);
  const auto& totals = report.totals;
  const auto& stats = processor.stats();
  const std::uint64_t lost = facts.events_lost + facts.buffers_lost;
  std::vector<std::string> notes = facts.notes;
  if (totals.cap_reached) {
    notes.push_back("cap reached: " + std::to_string(totals.untracked_allocations) +
                    " allocations were not tracked (at most " + std::to_string(totals.max_tracked) +
                    " at once, " + std::to_string(kBytesPerTrackedAllocation) +
                    " bytes each; raise --max-tracked or trace fewer tags with --tag)");
  }
  if (lost > 0 || stats.lost_records > 0) {
    notes.push_back(
        "events were lost (ETW buffers full): frees may be missing, so some allocations show "
        "as outstanding that are not; trace fewer tags with --tag");
  }
  if (stats.allocations_without_stack > 0) {
    notes.push_back(std::to_string(stats.allocations_without_stack) +
                    " allocations came without a stack: they are grouped as \"(no stack)\"");
  }
  if (unresolved_keys > 0) {
    notes.push_back(std::to_string(unresolved_keys) +
                    " outstanding allocations have a stack key whose frames the trace never "
                    "logged (no key rundown at its end): they are grouped as \"(no stack)\"");
  }
  if (stats.big_pool > 0) {
    notes.push_back(std::to_string(stats.big_pool) + " pool events were of big-pool blocks");
  }
  if (stats.malformed > 0) {
    notes.push_back(std::to_string(stats.malformed) +
                    " records did not fit their documented layout and were skipped (first: " +
                    stats.first_malformed + ")");
  }
  if (processor.images().size() == 0 && !report.call_sites.empty()) {
    notes.push_back("no image load or rundown events: call sites are addresses");
  }
  const std::size_t shown =
      std::min(facts.top == 0 ? report.call_sites.size() : facts.top, report.call_sites.size());

  if (facts.format == "json") {
    auto tags_json = [&](const auto& groups) {
      return caches_json(groups,
                         [&](std::uint16_t tag) { return std::string(processor.tag_name(tag)); });
    };
    auto pids_json = [](const auto& groups) {
      auto out = nlohmann::ordered_json::array();
      for (const auto& [pid, counts] : groups) {
        out.push_back({{"pid", pid}, {"outstanding", counts.outstanding}, {"bytes", counts.bytes}});
      }
      return out;
    };
    nlohmann::ordered_json j;
    j["platform"] = "windows";
    j["duration_s"] = round3(facts.seconds);
    j["tags"] = facts.tags;
    put_totals(j, totals);
    j["lost_events"] = lost;
    j["lost"] = {{"events_lost", facts.events_lost},
                 {"buffers_lost", facts.buffers_lost},
                 {"lost_event_records", stats.lost_records}};
    j["cap"] = cap_json(totals);
    j["stacks"] = {{"received", stats.stacks},
                   {"matched", stats.stacks_matched},
                   {"allocations_without_stack", stats.allocations_without_stack},
                   {"stack_keys", stats.stack_keys},
                   {"stack_key_rundowns", stats.stack_key_frames}};
    j["big_pool_events"] = stats.big_pool;
    j["images"] = processor.images().size();
    j["min_age_s"] = facts.min_age_s;
    j["tracked"] = totals.tracked;
    auto call_sites = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < shown; ++i) {
      const auto& site = report.call_sites[i];
      const auto name = processor.name(site.call_site);
      auto s = site_json(name.symbol, name.module, nullptr, site.call_site, site);
      s["caches"] = tags_json(site.caches);
      s["pids"] = pids_json(site.pids);
      call_sites.push_back(std::move(s));
    }
    j["call_sites"] = call_sites;
    j["call_sites_total"] = report.call_sites.size();
    j["caches"] = tags_json(report.caches);
    j["pids"] = pids_json(report.pids);
    j["notes"] = notes;
    return j.dump(2) + "\n";
  }

  std::string out;
  out += printf_text(
      "trace: %.1f s, %llu pool events (%llu allocations, %llu frees), lost %llu%s\n",
      facts.seconds, static_cast<unsigned long long>(totals.events),
      static_cast<unsigned long long>(totals.allocations),
      static_cast<unsigned long long>(totals.frees), static_cast<unsigned long long>(lost),
      facts.interrupted ? " (stopped by Ctrl+C)" : "");
  out += printf_text(
      "  unpaired frees %llu (allocated before the trace), tracked at the end %llu (cap %llu%s)\n",
      static_cast<unsigned long long>(totals.unpaired_frees),
      static_cast<unsigned long long>(totals.tracked),
      static_cast<unsigned long long>(totals.max_tracked),
      totals.cap_reached ? ", CAP REACHED" : "");
  std::uint64_t outstanding = 0, bytes = 0;
  for (const auto& [tag, counts] : report.caches) {
    outstanding += counts.outstanding;
    bytes += counts.bytes;
  }
  out +=
      printf_text("  outstanding at least %.1f s old: %s allocations, %s, from %zu call sites\n\n",
                  facts.min_age_s, thousands(outstanding).c_str(), human_bytes(bytes).c_str(),
                  report.call_sites.size());
  std::vector<SiteRow> rows;
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& site = report.call_sites[i];
    const auto name = processor.name(site.call_site);
    SiteRow row{.where = name.symbol,
                .module = name.module,
                .outstanding = site.outstanding,
                .bytes = site.bytes,
                .oldest_age_s = site.oldest_age_s,
                .growth_per_s = site.growth_per_s};
    if (!site.caches.empty()) row.key = std::string(processor.tag_name(site.caches[0].first));
    if (site.caches.size() > 1) row.key += " +" + std::to_string(site.caches.size() - 1);
    for (std::size_t p = 0; p < site.pids.size() && p < 3; ++p) {
      if (!row.pids.empty()) row.pids += ", ";
      row.pids += std::to_string(site.pids[p].first);
    }
    if (site.pids.size() > 3) row.pids += ", ...";
    rows.push_back(std::move(row));
  }
  if (facts.format == "csv") return site_csv(rows, "Tag");
  out += site_table(rows, "Tag", 10, report.call_sites.size());
  for (const std::string& note : notes) out += "note: " + note + "\n";
  return out;
}

}  // namespace poolscope::trace::etw
