// `poolscope leaks --prometheus`: the series `poolscope serve` exported, read back from
// Prometheus' query_range API, turned into one detect::History per host (instance label) so the
// detector runs where a fleet's data already is. Portable; fuzzed (fuzz/prometheus_client.cpp).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "detect/history.h"

namespace poolscope::serve {

struct PromSeries {
  std::map<std::string, std::string> labels;
  std::vector<std::pair<double, double>> points;  // (Unix seconds, value), in time order
};

// The body of /api/v1/query_range (resultType matrix). An error answer becomes an error with
// Prometheus' own message.
Result<std::vector<PromSeries>> parse_query_range(std::string_view json);

// What `leaks --prometheus` asks for, one query_range each.
struct PromData {
  std::vector<PromSeries> outstanding;       // poolscope_key_outstanding_objects
  std::vector<PromSeries> bytes;             // poolscope_key_bytes
  std::vector<PromSeries> pool_used;         // poolscope_pool_used_bytes
  std::vector<PromSeries> pool_limit;        // poolscope_pool_limit_bytes
  std::vector<PromSeries> memory_available;  // poolscope_memory_available_bytes
  std::vector<PromSeries> memory_total;      // poolscope_memory_total_bytes
};

// One History per value of the instance label (sorted; "" when there is none). Keys are told
// apart by their key, pool and session labels; the pool label says tag (Windows) or slab cache.
std::vector<std::pair<std::string, detect::History>> histories_from_prometheus(
    const PromData& data, std::size_t max_buckets);

// The metric with the user's matchers: ("m", "{job=\"a\"}") and ("m", "job=\"a\"") give
// m{job="a"}; ("m", "") gives m. A selector naming a metric is refused.
Result<std::string> with_matchers(std::string_view metric, std::string_view selector);

}  // namespace poolscope::serve
