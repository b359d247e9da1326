#include "serve/prometheus_history.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>

#include "core/forward_error.h"
#include "core/kernel_memory.h"
#include "detect/output.h"

namespace poolscope::serve {

namespace {

unexpected<Error> unexpected_answer(std::string_view api, const std::string& why) {
  return make_error(ErrorCode::kInput,
                    fmt::format("unexpected answer from Prometheus' {} API: {}", api, why));
}

// The `data` member of an API answer ({"status": "success", "data": ...}); an error answer becomes
// an error with Prometheus' own message.
Result<nlohmann::json> answer_data(std::string_view json, std::string_view api) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return unexpected_answer(api, "not a JSON object");
  const auto status = doc.find("status");
  if (status == doc.end() || !status->is_string()) return unexpected_answer(api, "no status");
  if (*status != "success") {
    std::string message = "Prometheus refused the query";
    const auto error = doc.find("error");
    if (error != doc.end() && error->is_string()) message += ": " + error->get<std::string>();
    return make_error(ErrorCode::kUsage, message + "; check --match");
  }
  const auto data = doc.find("data");
  if (data == doc.end()) return unexpected_answer(api, "no data");
  return std::move(*data);
}

}  // namespace

Result<std::vector<PromSeries>> parse_query_range(std::string_view json) {
  auto fail = [](const std::string& why) { return unexpected_answer("query_range", why); };
  auto answer = answer_data(json, "query_range");
  if (!answer) return forward_error(answer);
  const nlohmann::json* data = &*answer;
  if (!data->is_object()) return fail("no data");
  const auto type = data->find("resultType");
  if (type == data->end() || *type != "matrix") return fail("the result is not a matrix");
  const auto result = data->find("result");
  if (result == data->end() || !result->is_array()) return fail("no result array");
  std::vector<PromSeries> out;
  for (const auto& s : *result) {
    if (!s.is_object()) return fail("a series is not an object");
    PromSeries series;
    const auto metric = s.find("metric");
    if (metric != s.end() && metric->is_object()) {
      for (const auto& [k, v] : metric->items()) {
        if (v.is_string()) series.labels[k] = v.get<std::string>();
      }
    }
    const auto values = s.find("values");
    if (values == s.end() || !values->is_array()) return fail("a series has no values");
    for (const auto& p : *values) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_string()) {
        return fail("a value is not [time, \"number\"]");
      }
      const std::string text = p[1].get<std::string>();
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0') return fail("a value is not a number: " + text);
      const double t = p[0].get<double>();
      if (!std::isfinite(t) || !std::isfinite(v)) continue;
      if (!series.points.empty() && t <= series.points.back().first) {
        return fail("values are not in time order");
      }
      series.points.emplace_back(t, v);
    }
    out.push_back(std::move(series));
  }
  return out;
}

namespace {

std::string label(const PromSeries& s, const std::string& name) {
  const auto it = s.labels.find(name);
  return it == s.labels.end() ? std::string() : it->second;
}

// Walks a time-ordered series alongside the sample times.
class Cursor {
 public:
  explicit Cursor(const PromSeries* s) : s_(s) {}
  std::optional<double> at(double t) {
    if (!s_) return std::nullopt;
    while (i_ < s_->points.size() && s_->points[i_].first < t) ++i_;
    if (i_ < s_->points.size() && s_->points[i_].first == t) return s_->points[i_].second;
    return std::nullopt;
  }

 private:
  const PromSeries* s_;
  std::size_t i_ = 0;
};

std::optional<std::uint64_t> count(std::optional<double> v) {
  if (!v || *v < 0 || *v > 1.8e19) return std::nullopt;
  return static_cast<std::uint64_t>(std::llround(*v));
}

}  // namespace

std::vector<std::pair<std::string, detect::History>> histories_from_prometheus(
    const PromData& data, std::size_t max_buckets) {
  std::set<std::string> instances;
  for (const auto* list : {&data.outstanding, &data.bytes, &data.pool_used, &data.pool_limit,
                           &data.memory_available, &data.memory_total}) {
    for (const PromSeries& s : *list) instances.insert(label(s, "instance"));
  }
  std::vector<std::pair<std::string, detect::History>> out;
  for (const std::string& instance : instances) {
    auto mine = [&](const std::vector<PromSeries>& list) {
      std::vector<const PromSeries*> v;
      for (const PromSeries& s : list) {
        if (label(s, "instance") == instance) v.push_back(&s);
      }
      return v;
    };
    // Keys: (key, pool, session) -> index; each with its outstanding and bytes series.
    using Id = std::tuple<std::string, std::string, std::string>;
    std::map<Id, std::size_t> index;
    struct KeySeries {
      const PromSeries* outstanding = nullptr;
      const PromSeries* bytes = nullptr;
    };
    std::vector<KeySeries> keys;
    std::set<double> times;
    auto add_key_series = [&](const std::vector<const PromSeries*>& list, bool is_bytes) {
      for (const PromSeries* s : list) {
        const std::string pool = label(*s, "pool");
        if (!parse_pool_kind(pool)) continue;
        const Id id{label(*s, "key"), pool, label(*s, "session")};
        auto [it, added] = index.emplace(id, keys.size());
        if (added) keys.emplace_back();
        KeySeries& k = keys[it->second];
        // Two series of one key (e.g. two jobs scraping one host): the first is used.
        if (is_bytes && !k.bytes) k.bytes = s;
        if (!is_bytes && !k.outstanding) k.outstanding = s;
        for (const auto& p : s->points) times.insert(p.first);
      }
    };
    add_key_series(mine(data.outstanding), false);
    add_key_series(mine(data.bytes), true);
    if (times.empty()) continue;
    detect::HistoryOptions hopts;
    hopts.max_buckets = max_buckets;
    hopts.samples_per_bucket =
        std::max<std::size_t>(1, (times.size() + max_buckets - 1) / max_buckets);
    detect::History history(hopts);
    for (const auto& [id, i] : index) {
      detect::KeyTrack& k = history.key(i);
      const auto& [name, pool, session] = id;
      k.pool = *parse_pool_kind(pool);
      const bool windows = k.pool == PoolKind::kPaged || k.pool == PoolKind::kNonPaged ||
                           k.pool == PoolKind::kSession;
      // Slab cache names have no ':'; kernel memory keys all do ("mem:KernelStack").
      k.key = windows                               ? tag_from_text(name)
              : name.find(':') != std::string::npos ? kernel_memory_key(name)
                                                    : slab_cache(name);
      if (!session.empty()) {
        char* end = nullptr;
        const unsigned long v = std::strtoul(session.c_str(), &end, 10);
        if (end && *end == '\0') k.session_id = static_cast<std::uint32_t>(v);
      }
      const PromSeries* any = keys[i].outstanding ? keys[i].outstanding : keys[i].bytes;
      k.owner = label(*any, "owner");
    }
    std::vector<Cursor> out_cursors, byte_cursors;
    for (const KeySeries& k : keys) {
      out_cursors.emplace_back(k.outstanding);
      byte_cursors.emplace_back(k.bytes);
    }
    struct PoolCursors {
      PoolKind pool;
      Cursor used, limit;
    };
    std::vector<PoolCursors> pools;
    const auto used = mine(data.pool_used);
    const auto limits = mine(data.pool_limit);
    for (const PromSeries* s : used) {
      const auto kind = parse_pool_kind(label(*s, "pool"));
      if (!kind) continue;
      const PromSeries* limit = nullptr;
      for (const PromSeries* l : limits) {
        if (label(*l, "pool") == label(*s, "pool")) limit = l;
      }
      pools.push_back({*kind, Cursor(s), Cursor(limit)});
    }
    const auto avail = mine(data.memory_available);
    const auto total = mine(data.memory_total);
    Cursor avail_cursor(avail.empty() ? nullptr : avail.front());
    Cursor total_cursor(total.empty() ? nullptr : total.front());
    const double t0 = *times.begin();
    for (double t : times) {
      history.begin_sample(t - t0, static_cast<std::int64_t>(std::llround(t * 1e9)));
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto o = count(out_cursors[i].at(t));
        const auto b = count(byte_cursors[i].at(t));
        if (o || b) history.add_key_value(i, o, b, CounterWidth::k64);
      }
      for (PoolCursors& p : pools) {
        const auto u = p.used.at(t);
        const auto l = p.limit.at(t);
        if (u || l) history.add_pool_total(p.pool, u, l, std::nullopt);
      }
      const auto a = avail_cursor.at(t);
      const auto m = total_cursor.at(t);
      if (a || m) history.add_memory(m, a);
      history.end_sample();
    }
    out.emplace_back(instance, std::move(history));
  }
  return out;
}

Result<std::string> with_matchers(std::string_view metric, std::string_view selector) {
  std::string_view s = selector;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return std::string(metric);
  if (s.front() == '{') {
    if (s.back() != '}') {
      return make_error(ErrorCode::kUsage,
                        fmt::format("--match \"{}\": a selector in braces must end with }}, e.g. "
                                    "{{job=\"poolscope\"}}",
                                    selector));
    }
    s = s.substr(1, s.size() - 2);
  } else if (s.find('{') != std::string_view::npos ||
             s.find_first_of("=~!") == std::string_view::npos) {
    return make_error(ErrorCode::kUsage,
                      fmt::format("--match \"{}\": give label matchers only, e.g. "
                                  "'{{instance=~\"web.*\"}}'; the metrics are chosen by poolscope",
                                  selector));
  }
  return fmt::format("{}{{{}}}", metric, s);
}

Result<std::string> with_matchers(std::string_view metric, std::string_view selector,
                                  std::string_view extra) {
  auto query = with_matchers(metric, selector);
  if (!query) return query;
  if (extra.empty()) return query;
  if (query->back() != '}') return fmt::format("{}{{{}}}", *query, extra);
  query->insert(query->size() - 1, "," + std::string(extra));
  return query;
}

Result<std::vector<std::string>> parse_label_values(std::string_view json) {
  auto answer = answer_data(json, "label values");
  if (!answer) return forward_error(answer);
  const nlohmann::json* data = &*answer;
  if (!data->is_array()) return unexpected_answer("label values", "no data array");
  std::vector<std::string> values;
  values.reserve(data->size());
  for (const auto& v : *data) {
    if (!v.is_string()) return unexpected_answer("label values", "a value is not a string");
    values.push_back(v.get<std::string>());
  }
  return values;
}

std::string instance_matcher(const std::vector<std::string>& instances) {
  // PromQL double-quoted strings take Go escapes: a backslash and a quote need one.
  auto quoted = [](std::string_view text) {
    std::string out;
    for (char c : text) {
      if (c == '\\' || c == '"') out += '\\';
      out += c;
    }
    return out;
  };
  if (instances.size() == 1) return "instance=\"" + quoted(instances[0]) + "\"";
  std::string regex;
  for (const std::string& instance : instances) {
    if (!regex.empty()) regex += '|';
    for (char c : instance) {
      if (std::string_view("\\.+*?()|[]{}^$").find(c) != std::string_view::npos) regex += '\\';
      regex += c;
    }
  }
  return "instance=~\"" + quoted(regex) + "\"";
}

void FleetSummary::add(std::string_view instance, const detect::Report& report) {
  ++hosts_;
  bool leak = false, suspect = false;
  for (const detect::Finding& f : report.findings) {
    const bool is_leak = f.verdict == detect::Verdict::kLeak;
    leak = leak || is_leak;
    suspect = suspect || !is_leak;
    const std::string key = display_key(f.key);
    const std::string pool(pool_kind_name(f.pool));
    KeyHosts& k = keys_[{key, pool}];
    if (k.key.empty()) {
      k.key = key;
      k.pool = pool;
    }
    (is_leak ? k.leak_hosts : k.suspect_hosts) += 1;
    if (f.rate_bytes_per_hour) k.rates.push_back(*f.rate_bytes_per_hour);
    auto& examples = is_leak ? k.leak_examples : k.suspect_examples;
    if (examples.size() < kExampleHosts) {
      examples.push_back(instance.empty() ? "(no instance label)" : std::string(instance));
    }
  }
  if (leak) ++hosts_with_leak_;
  if (!leak && suspect) ++hosts_with_suspect_only_;
}

std::vector<std::string> FleetSummary::KeyHosts::examples() const {
  std::vector<std::string> out = leak_examples;
  for (const std::string& host : suspect_examples) {
    if (out.size() == kExampleHosts) break;
    out.push_back(host);
  }
  return out;
}

std::vector<const FleetSummary::KeyHosts*> FleetSummary::ordered() const {
  std::vector<const KeyHosts*> out;
  for (const auto& [id, k] : keys_) out.push_back(&k);
  std::stable_sort(out.begin(), out.end(), [](const KeyHosts* a, const KeyHosts* b) {
    return std::tie(b->leak_hosts, b->suspect_hosts) < std::tie(a->leak_hosts, a->suspect_hosts);
  });
  return out;
}

namespace {

std::optional<double> median(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

}  // namespace

std::string FleetSummary::text() const {
  std::string out = fmt::format("== fleet: {} host(s), {} with a leak, {} with a suspect only ==\n",
                                hosts_, hosts_with_leak_, hosts_with_suspect_only_);
  const auto keys = ordered();
  if (keys.empty()) return out + "No key grows on any host.\n";
  out += fmt::format("{:<24} {:<14} {:>10} {:>13} {:>14}  {}\n", "Key", "Pool", "Leak hosts",
                     "Suspect hosts", "Median rate", "Hosts");
  for (const KeyHosts* k : keys) {
    const auto examples = k->examples();
    std::string hosts;
    for (const std::string& h : examples) hosts += (hosts.empty() ? "" : ", ") + h;
    const std::size_t shown = examples.size();
    if (k->leak_hosts + k->suspect_hosts > shown) {
      hosts += fmt::format(" (+{} more)", k->leak_hosts + k->suspect_hosts - shown);
    }
    out += fmt::format("{:<24} {:<14} {:>10} {:>13} {:>14}  {}\n", k->key, k->pool, k->leak_hosts,
                       k->suspect_hosts, detect::rate_text(median(k->rates), "B"), hosts);
  }
  return out;
}

nlohmann::ordered_json FleetSummary::json() const {
  nlohmann::ordered_json keys = nlohmann::ordered_json::array();
  for (const KeyHosts* k : ordered()) {
    nlohmann::ordered_json entry = {{"key", k->key},
                                    {"pool", k->pool},
                                    {"leak_hosts", k->leak_hosts},
                                    {"suspect_hosts", k->suspect_hosts},
                                    {"median_rate_bytes_per_hour", nullptr},
                                    {"example_hosts", k->examples()}};
    if (const auto m = median(k->rates)) entry["median_rate_bytes_per_hour"] = *m;
    keys.push_back(std::move(entry));
  }
  return {{"hosts", hosts_},
          {"hosts_with_leak", hosts_with_leak_},
          {"hosts_with_suspect_only", hosts_with_suspect_only_},
          {"keys", std::move(keys)}};
}

}  // namespace poolscope::serve
