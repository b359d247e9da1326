// JSON shared by the Linux and Windows `trace` reports.
#include "trace/report_json.h"

#include <cmath>

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

}  // namespace poolscope::trace
