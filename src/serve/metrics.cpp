#include "serve/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "core/select.h"

namespace poolscope::serve {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 32 || u >= 127) {
      out += '?';
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}

// Writes metric families in order; each family's HELP/TYPE once, then its samples.
class Writer {
 public:
  explicit Writer(bool openmetrics) : openmetrics_(openmetrics) {}

  // type: "gauge", "counter" or "info". Counter samples are named <name>_total, info samples
  // <name>_info; OpenMetrics names the family <name>, the Prometheus text format names it after
  // its samples (an info family is a gauge there).
  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = std::string(name);
    suffix_ = type == "counter" ? "_total" : type == "info" ? "_info" : "";
    const std::string family_name = openmetrics_ ? name_ : name_ + std::string(suffix_);
    const std::string_view shown_type = !openmetrics_ && type == "info" ? "gauge" : type;
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family_name, help, family_name, shown_type);
  }
  void sample(const std::vector<std::pair<std::string_view, std::string>>& labels, double value) {
    out_ += name_;
    out_ += suffix_;
    if (!labels.empty()) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += fmt::format("{}=\"{}\"", k, escape_label_value(v));
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += number(value);
    out_ += '\n';
  }
  std::string finish() {
    if (openmetrics_) out_ += "# EOF\n";
    return std::move(out_);
  }

 private:
  bool openmetrics_;
  std::string_view suffix_;
  std::string name_;
  std::string out_;
};

using Labels = std::vector<std::pair<std::string_view, std::string>>;

Labels key_labels(const PoolKey& key, PoolKind pool, const std::string& owner) {
  Labels l{{"key", display_key(key)}, {"pool", std::string(pool_kind_name(pool))}};
  if (!owner.empty()) l.emplace_back("owner", owner);
  return l;
}

using Identity = std::tuple<PoolKey, PoolKind, std::uint32_t>;

}  // namespace

std::string render_metrics(const MetricsInput& input, const MetricsOptions& options) {
  Writer w(options.openmetrics);
  const Snapshot& s = *input.snapshot;

  w.family("poolscope", "info", "poolscope build and the source it samples (always 1).");
  w.sample({{"version", input.version}, {"source", s.source}, {"host", s.host}}, 1);

  // Which keys are exported: the top N, then every key with a finding.
  Selection sel;
  sel.include = options.include;
  sel.exclude = options.exclude;
  sel.sort = SortKey::kBytes;
  bool any_bytes = false;
  for (const Entry& e : s.entries) any_bytes = any_bytes || e.counters.bytes.has_value();
  if (!any_bytes) sel.sort = SortKey::kOutstanding;
  std::vector<std::size_t> order = select_entries(s, sel);
  std::set<Identity> with_finding;
  if (input.report) {
    for (const detect::Finding& f : input.report->findings) {
      with_finding.emplace(f.key, f.pool, f.session_id.value_or(0));
    }
  }
  std::vector<std::size_t> shown;
  for (std::size_t rank = 0; rank < order.size(); ++rank) {
    const Entry& e = s.entries[order[rank]];
    if (options.top == 0 || rank < options.top ||
        with_finding.contains({e.key, e.pool, e.session_id.value_or(0)})) {
      shown.push_back(order[rank]);
    }
  }

  auto per_key = [&](std::string_view name, std::string_view type, std::string_view help,
                     auto value_of) {
    bool any = false;
    for (std::size_t i : shown) any = any || value_of(s.entries[i].counters).has_value();
    if (!any) return;
    w.family(name, type, help);
    for (std::size_t i : shown) {
      const Entry& e = s.entries[i];
      const std::optional<std::uint64_t> v = value_of(e.counters);
      if (!v) continue;
      Labels l = key_labels(e.key, e.pool, e.owner);
      if (e.session_id) l.emplace_back("session", fmt::format("{}", *e.session_id));
      w.sample(l, static_cast<double>(*v));
    }
  };
  per_key("poolscope_key_outstanding_objects", "gauge",
          "Objects allocated and not freed, per key (Windows pool tag, Linux slab cache).",
          [](const Counters& c) { return c.outstanding; });
  per_key("poolscope_key_bytes", "gauge", "Bytes held, per key.",
          [](const Counters& c) { return c.bytes; });
  per_key("poolscope_key_allocs", "counter",
          "Allocations since boot, per key (Windows only; 32-bit, wraps like a counter reset).",
          [](const Counters& c) { return c.allocs; });
  per_key("poolscope_key_frees", "counter",
          "Frees since boot, per key (Windows only; 32-bit, wraps like a counter reset).",
          [](const Counters& c) { return c.frees; });

  auto per_pool = [&](std::string_view name, std::string_view type, std::string_view help,
                      auto value_of) {
    bool any = false;
    for (const PoolTotal& t : s.totals) any = any || value_of(t).has_value();
    if (!any) return;
    w.family(name, type, help);
    for (const PoolTotal& t : s.totals) {
      if (auto v = value_of(t)) {
        w.sample({{"pool", std::string(pool_kind_name(t.pool))}}, static_cast<double>(*v));
      }
    }
  };
  per_pool("poolscope_pool_used_bytes", "gauge", "Bytes in use, per pool.",
           [](const PoolTotal& t) { return t.used_bytes; });
  per_pool("poolscope_pool_limit_bytes", "gauge",
           "What the pool can grow to, per pool (docs/metrics.md says where it comes from).",
           [](const PoolTotal& t) { return t.limit_bytes; });
  per_pool("poolscope_pool_failures", "counter", "Failed allocations, per pool, where reported.",
           [](const PoolTotal& t) { return t.failures; });
  if (s.memory_total_bytes) {
    w.family("poolscope_memory_total_bytes", "gauge", "Physical memory.");
    w.sample({}, static_cast<double>(*s.memory_total_bytes));
  }
  if (s.memory_available_bytes) {
    w.family("poolscope_memory_available_bytes", "gauge",
             "Memory available (Linux MemAvailable, Windows available pages).");
    w.sample({}, static_cast<double>(*s.memory_available_bytes));
  }

  if (input.report) {
    const auto& findings = input.report->findings;
    auto finding_labels = [](const detect::Finding& f) {
      Labels l = key_labels(f.key, f.pool, f.owner);
      if (f.session_id) l.emplace_back("session", fmt::format("{}", *f.session_id));
      l.emplace_back("verdict", detect::verdict_name(f.verdict));
      return l;
    };
    auto per_finding = [&](std::string_view name, std::string_view help, auto value_of) {
      bool header = false;
      for (const detect::Finding& f : findings) {
        const std::optional<double> v = value_of(f);
        if (!v) continue;
        if (!header) w.family(name, "gauge", help);
        header = true;
        w.sample(finding_labels(f), *v);
      }
    };
    per_finding("poolscope_finding",
                "1 for each key the live detector holds as leaking (verdict leak) or suspect.",
                [](const detect::Finding&) -> std::optional<double> { return 1.0; });
    per_finding("poolscope_finding_confidence", "The detector's confidence in the growth (0..1).",
                [](const detect::Finding& f) -> std::optional<double> { return f.confidence; });
    per_finding("poolscope_finding_growth_bytes_per_hour", "Fitted growth rate in bytes per hour.",
                [](const detect::Finding& f) { return f.rate_bytes_per_hour; });
    per_finding("poolscope_finding_growth_objects_per_hour",
                "Fitted growth rate in objects per hour.",
                [](const detect::Finding& f) { return f.rate_objects_per_hour; });
    per_finding("poolscope_finding_exhaustion_eta_seconds",
                "Seconds until the pool (or memory) runs out at the fitted rate.",
                [](const detect::Finding& f) -> std::optional<double> {
                  if (!f.exhaustion_eta_seconds || !std::isfinite(*f.exhaustion_eta_seconds)) {
                    return std::nullopt;
                  }
                  return *f.exhaustion_eta_seconds;
                });
    per_finding("poolscope_finding_onset_timestamp_seconds", "When the growth began (Unix time).",
                [](const detect::Finding& f) -> std::optional<double> {
                  return static_cast<double>(f.onset_wall_ns / 1'000'000) / 1000.0;
                });
    // One series per incident (keys growing together: one leak), labelled with its source key,
    // so an alert fires once per leak, not once per key that follows it.
    const auto& incidents = input.report->incidents;
    auto per_incident = [&](std::string_view name, std::string_view help, auto value_of) {
      bool header = false;
      for (const detect::Incident& in : incidents) {
        const std::optional<double> v = value_of(in);
        if (!v) continue;
        if (!header) w.family(name, "gauge", help);
        header = true;
        const detect::Finding& src = findings[in.source];
        Labels l = key_labels(src.key, src.pool, src.owner);
        if (src.session_id) l.emplace_back("session", fmt::format("{}", *src.session_id));
        l.emplace_back("verdict", detect::verdict_name(in.verdict));
        w.sample(l, *v);
      }
    };
    per_incident("poolscope_incident",
                 "1 for each incident: keys growing together as one leak, labelled with the "
                 "source key (the one to chase); verdict is the strongest of its keys.",
                 [](const detect::Incident&) -> std::optional<double> { return 1.0; });
    per_incident("poolscope_incident_keys", "Keys in the incident (the source and its followers).",
                 [](const detect::Incident& in) -> std::optional<double> {
                   return static_cast<double>(in.members.size());
                 });
    per_incident("poolscope_incident_growth_bytes_per_hour",
                 "Growth of all the incident's keys together, bytes per hour.",
                 [](const detect::Incident& in) { return in.rate_bytes_per_hour; });
    per_incident("poolscope_incident_exhaustion_eta_seconds",
                 "Seconds until the pool (or memory) runs out at the incident's total rate.",
                 [](const detect::Incident& in) -> std::optional<double> {
                   if (!in.exhaustion_eta_seconds || !std::isfinite(*in.exhaustion_eta_seconds)) {
                     return std::nullopt;
                   }
                   return *in.exhaustion_eta_seconds;
                 });
    w.family("poolscope_detector_window_seconds", "gauge",
             "Length of the history the detector analysed.");
    w.sample({}, input.report->seconds);
  }

  if (input.history_bytes) {
    w.family("poolscope_detector_history_bytes", "gauge",
             "Memory of the detector's history (bounded by --resolution).");
    w.sample({}, static_cast<double>(input.history_bytes));
  }
  w.family("poolscope_keys", "gauge", "Keys in the newest sample (all), and exported here.");
  w.sample({{"set", "all"}}, static_cast<double>(s.entries.size()));
  w.sample({{"set", "exported"}}, static_cast<double>(shown.size()));
  w.family("poolscope_samples", "counter", "Samples taken since poolscope serve started.");
  w.sample({}, static_cast<double>(input.samples));
  w.family("poolscope_sample_duration_seconds", "gauge", "How long the newest sample took.");
  w.sample({}, input.sample_seconds);
  w.family("poolscope_last_sample_timestamp_seconds", "gauge",
           "When the newest sample was taken (Unix time).");
  w.sample({}, static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       s.wall_time.time_since_epoch())
                                       .count()) /
                   1000.0);
  return w.finish();
}

}  // namespace poolscope::serve
