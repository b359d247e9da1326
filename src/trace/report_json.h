// The pieces that both `trace` reports (Linux kmem and page events, Windows ETW pool events) write
// the same way, so that the two keep one shape: the call-site table and the JSON.
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

// A call site's JSON: "symbol", "module" (null when unknown), "location" (when given), "address",
// then the counts (put_site_counts). The caller adds its "caches" and "pids".
nlohmann::ordered_json site_json(const std::string& symbol, const std::string& module,
                                 const std::string* location, std::uint64_t address,
                                 const SiteReport& site);

// One row of the call-site table.
struct SiteRow {
  std::string where;  // symbol+offset, or the address
  std::string module;
  std::uint64_t outstanding = 0, bytes = 0;
  double oldest_age_s = 0, growth_per_s = 0;
  std::string key;   // its cache, page order or pool tag ("+N" for more)
  std::string pids;  // "1234 comm, 99, ..."
};
// The header and the rows: the call site (40 columns, a longer one cut with ~), the module (as wide
// as the longest, at least 10), the counts, the key column (key_header, key_width wide) and the
// pids; then "(N of M call sites shown; --top 0 shows all)" when fewer than `total` are shown.
std::string site_table(const std::vector<SiteRow>& rows, const char* key_header, int key_width,
                       std::size_t total);
// `trace --format csv`: the same rows, raw numbers: call_site, module, outstanding, bytes,
// oldest_age_s, growth_per_s, the key column (key_header in lower case), pids. core/csv.h quotes.
std::string site_csv(const std::vector<SiteRow>& rows, const char* key_header);

}  // namespace poolscope::trace
