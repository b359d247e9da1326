// `poolscope leaks --prometheus URL`: the detector over what Prometheus scraped from `poolscope
// serve`, one report per host (instance label).
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/verbs.h"
#include "core/units.h"
#include "detect/output.h"
#include "serve/http_client.h"
#include "serve/prometheus_history.h"

namespace poolscope::cli {

void add_prometheus_leaks_options(CLI::App& verb, PrometheusLeaksOptions& options) {
  verb.add_option("--prometheus", options.url,
                  "read the series from this Prometheus (on loopback, e.g. http://127.0.0.1:9090) "
                  "instead of a recording");
  verb.add_option("--match", options.match,
                  "with --prometheus: label matchers choosing the hosts, e.g. "
                  "'{instance=~\"web.*\"}'");
  verb.add_option("--since", options.since, "with --prometheus: how far back (24h, 7d)")
      ->default_val("24h");
  verb.add_option("--step", options.step,
                  "with --prometheus: resolution of the series (default: --since / 2048, at "
                  "least 15s)");
}

int run_prometheus_leaks(const PrometheusLeaksOptions& options,
                         const detect::DetectorOptions& detector, const std::string& format,
                         std::size_t max_buckets, bool fail_on_leak) {
  auto url = serve::parse_http_url(options.url);
  if (!url) return report_error(url.error());
  auto since = parse_duration(options.since);
  if (!since) return report_error(since.error());
  std::chrono::nanoseconds step = std::max<std::chrono::nanoseconds>(
      *since / static_cast<std::int64_t>(max_buckets), std::chrono::seconds(15));
  if (!options.step.empty()) {
    auto s = parse_duration(options.step);
    if (!s) return report_error(s.error());
    step = *s;
  }
  if (*since / step > 11000) {
    return report_error(
        make_error(ErrorCode::kUsage,
                   fmt::format("--since {} at --step {} is more than the 11000 points Prometheus "
                               "returns per series; raise --step",
                               options.since, options.step))
            .error());
  }
  const double end = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count()) /
                     1000.0;
  const double start = end - std::chrono::duration<double>(*since).count();
  const double step_s = std::chrono::duration<double>(step).count();
  auto fetch = [&](std::string_view metric,
                   std::vector<serve::PromSeries>& into) -> std::optional<Error> {
    auto query = serve::with_matchers(metric, options.match);
    if (!query) return query.error();
    const std::string target =
        fmt::format("/api/v1/query_range?query={}&start={:.3f}&end={:.3f}&step={}",
                    serve::url_encode(*query), start, end, step_s);
    auto response = serve::http_get(*url, target);
    if (!response) return response.error();
    if (response->status != 200 && response->status != 400 && response->status != 422) {
      return Error{ErrorCode::kEnvironment, 0,
                   fmt::format("{} answered HTTP {} to {}; is it a Prometheus server?", options.url,
                               response->status, target)};
    }
    auto series = serve::parse_query_range(response->body);
    if (!series) return series.error();
    into = std::move(*series);
    return std::nullopt;
  };
  serve::PromData data;
  const std::pair<const char*, std::vector<serve::PromSeries>*> queries[] = {
      {"poolscope_key_outstanding_objects", &data.outstanding},
      {"poolscope_key_bytes", &data.bytes},
      {"poolscope_pool_used_bytes", &data.pool_used},
      {"poolscope_pool_limit_bytes", &data.pool_limit},
      {"poolscope_memory_available_bytes", &data.memory_available},
      {"poolscope_memory_total_bytes", &data.memory_total},
  };
  for (const auto& [metric, into] : queries) {
    if (auto error = fetch(metric, *into)) return report_error(*error);
  }
  const auto histories = serve::histories_from_prometheus(data, max_buckets);
  if (histories.empty()) {
    return report_error(
        make_error(ErrorCode::kInput,
                   fmt::format("{} has no poolscope series{} in the last {}; is `poolscope "
                               "serve` scraped by it?",
                               options.url, options.match.empty() ? "" : " matching --match",
                               options.since))
            .error());
  }
  bool leak = false;
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();  // --format csv
  for (const auto& [instance, history] : histories) {
    const detect::Report report = detect::analyze(history, detector);
    for (const auto& f : report.findings) leak = leak || f.verdict == detect::Verdict::kLeak;
    if (format == "csv") {
      append_leak_rows(report, instance, rows);
    } else if (format == "json") {
      all.push_back({{"instance", instance}, {"report", detect::report_json(report)}});
    } else {
      const std::string text =
          fmt::format("== {} ==\n{}\n", instance.empty() ? "(no instance label)" : instance,
                      detect::report_text(report));
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
  }
  if (format == "json") std::printf("%s\n", all.dump(2).c_str());
  if (format == "csv") std::fputs(leak_rows_csv(rows, true).c_str(), stdout);
  return fail_on_leak && leak ? kExitFindings : kExitOk;
}

}  // namespace poolscope::cli
