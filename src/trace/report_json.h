// The JSON pieces that both `trace` reports (Linux kmem events, Windows ETW pool events) write the
// same way, so that the two keep one shape.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "trace/tracker.h"

namespace poolscope::trace {

double round3(double value);
// "events", "allocations", "frees", "paired_frees", "unpaired_frees".
void put_totals(nlohmann::ordered_json& out, const TraceTotals& totals);
// {"max_tracked", "bytes_per_allocation", "reached", "untracked_allocations"}.
nlohmann::ordered_json cap_json(const TraceTotals& totals);
// A call site's "outstanding", "bytes", "oldest_age_s", "allocations", "frees", "growth_per_s",
// "net_growth".
void put_site_counts(nlohmann::ordered_json& out, const SiteReport& site);
// [{"cache", "outstanding", "bytes"}] of cache ids (Linux slab caches, Windows pool tags).
nlohmann::ordered_json caches_json(
    const std::vector<std::pair<std::uint16_t, CountAndBytes>>& groups,
    const std::function<std::string(std::uint16_t)>& name_of);

}  // namespace poolscope::trace
