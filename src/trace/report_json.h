// The JSON pieces that both `trace` reports (Linux kmem events, Windows ETW pool events) write the
// same way, so that the two keep one shape.
#pragma once

#include <nlohmann/json.hpp>

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

}  // namespace poolscope::trace
