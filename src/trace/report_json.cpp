// JSON shared by the Linux and Windows `trace` reports.
#include "trace/report_json.h"

#include <fmt/format.h>
#include <fmt/printf.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/csv.h"
#include "core/time_format.h"

namespace poolscope::trace {

double round3(double value) {
  return std::round(value * 1000) / 1000;
}

void put_totals(nlohmann::ordered_json& out, const TraceTotals& totals) {
  out["events"] = totals.events;
  out["allocations"] = totals.allocations;
  out["frees"] = totals.frees;
  out["paired_frees"] = totals.paired_frees;
  out["unpaired_frees"] = totals.unpaired_frees;
}

nlohmann::ordered_json cap_json(const TraceTotals& totals) {
  return {{"max_tracked", totals.max_tracked},
          {"bytes_per_allocation", kBytesPerTrackedAllocation},
          {"reached", totals.cap_reached},
          {"untracked_allocations", totals.untracked_allocations}};
}

void put_site_counts(nlohmann::ordered_json& out, const SiteReport& site) {
  out["outstanding"] = site.outstanding;
  out["bytes"] = site.bytes;
  out["oldest_age_s"] = round3(site.oldest_age_s);
  out["allocations"] = site.allocations;
  out["frees"] = site.frees;
  out["growth_per_s"] = round3(site.growth_per_s);
  out["net_growth"] = site.net_growth;
}

nlohmann::ordered_json caches_json(
    const std::vector<std::pair<std::uint16_t, CountAndBytes>>& groups,
    const std::function<std::string(std::uint16_t)>& name_of) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& [cache, counts] : groups) {
    out.push_back(
        {{"cache", name_of(cache)}, {"outstanding", counts.outstanding}, {"bytes", counts.bytes}});
  }
  return out;
}

nlohmann::ordered_json site_json(const std::string& symbol, const std::string& module,
                                 const std::string* location, std::uint64_t address,
                                 const SiteReport& site) {
  nlohmann::ordered_json s;
  s["symbol"] = symbol;
  s["module"] = module.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(module);
  if (location) s["location"] = *location;
  s["address"] = fmt::format("{:#x}", address);
  put_site_counts(s, site);
  return s;
}

std::string site_table(const std::vector<SiteRow>& rows, const char* key_header, int key_width,
                       std::size_t total) {
  int module_width = 10;
  for (const auto& row : rows)
    module_width = std::max(module_width, static_cast<int>(row.module.size()));
  std::string out =
      fmt::sprintf("%-40s %-*s %11s %10s %8s %9s  %-*s %s\n", "Call site", module_width, "Module",
                   "Outstanding", "Bytes", "Oldest", "Growth/s", key_width, key_header, "Pids");
  for (const auto& row : rows) {
    const std::string where = row.where.size() > 40 ? row.where.substr(0, 39) + "~" : row.where;
    out += fmt::sprintf("%-40s %-*s %11s %10s %7.1fs %9.1f  %-*s %s\n", where, module_width,
                        row.module, thousands(row.outstanding), human_bytes(row.bytes),
                        row.oldest_age_s, row.growth_per_s, key_width, row.key, row.pids);
  }
  if (rows.size() < total) {
    out += fmt::sprintf("(%zu of %zu call sites shown; --top 0 shows all)\n", rows.size(), total);
  }
  return out;
}

std::string site_csv(const std::vector<SiteRow>& rows, const char* key_header) {
  std::string key = key_header;
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string out = csv_line(
      {"call_site", "module", "outstanding", "bytes", "oldest_age_s", "growth_per_s", key, "pids"});
  for (const auto& row : rows) {
    out += csv_line({row.where, row.module, std::to_string(row.outstanding),
                     std::to_string(row.bytes), fmt::format("{:.1f}", row.oldest_age_s),
                     fmt::format("{:.1f}", row.growth_per_s), row.key, row.pids});
  }
  return out;
}

}  // namespace poolscope::trace
