// `poolscope leaks --prometheus`: the series `poolscope serve` exported, read back from
// Prometheus' query_range API, turned into one detect::History per host (instance label) so the
// detector runs where a fleet's data already is. Portable; fuzzed (fuzz/prometheus_client.cpp).
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "detect/detector.h"
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
// The same with one more matcher of poolscope's own (e.g. instance_matcher's): m{user,extra}.
Result<std::string> with_matchers(std::string_view metric, std::string_view selector,
                                  std::string_view extra);

// The body of /api/v1/label/<name>/values: the values, as Prometheus sends them (sorted). An
// error answer becomes an error with Prometheus' own message.
Result<std::vector<std::string>> parse_label_values(std::string_view json);

// A PromQL matcher choosing exactly these instances: instance="a" for one, instance=~"a|b" for
// several (PromQL regexes are anchored; each value's regex metacharacters are escaped, and the
// string is escaped for PromQL's double quotes).
std::string instance_matcher(const std::vector<std::string>& instances);

// Which keys leak on how many hosts: the fleet-wide view of `leaks --prometheus`, built one host
// report at a time (memory: one entry per key with a finding on some host, a few example hosts
// and one rate per host each).
class FleetSummary {
 public:
  void add(std::string_view instance, const detect::Report& report);
  std::size_t hosts() const { return hosts_; }
  std::size_t hosts_with_leak() const { return hosts_with_leak_; }
  std::string text() const;
  nlohmann::ordered_json json() const;

  static constexpr std::size_t kExampleHosts = 5;

 private:
  struct KeyHosts {
    std::string key, pool;
    std::size_t leak_hosts = 0, suspect_hosts = 0;
    // The first kExampleHosts hosts of each verdict; shown leaks first, kExampleHosts in all.
    std::vector<std::string> leak_examples, suspect_examples;
    std::vector<std::string> examples() const;
    std::vector<double> rates;  // bytes per hour, one per host that gave one
  };
  std::vector<const KeyHosts*> ordered() const;  // most leak hosts first

  std::map<std::pair<std::string, std::string>, KeyHosts> keys_;
  std::size_t hosts_ = 0, hosts_with_leak_ = 0, hosts_with_suspect_only_ = 0;
};

}  // namespace poolscope::serve
