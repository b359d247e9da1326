// `poolscope leaks --prometheus`: the detector over what Prometheus scraped from `poolscope
// serve`. The hosts (instance label values) are listed first, then read and analysed a few at a
// time: each host's report is written as soon as it is known, memory stays bounded by one batch,
// and the fleet summary (which keys leak on how many hosts) comes last.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/verbs.h"
#include "core/forward_error.h"
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
  verb.add_option("--hosts-per-query", options.hosts_per_query,
                  "with --prometheus: hosts read per query: auto (sized from the first host to "
                  "about 200,000 points a query), a number, or 0 for all hosts in one query per "
                  "metric; halved when Prometheus refuses a query as too big")
      ->default_val("auto");
}

namespace {

// The metrics one host's History is made of, one query_range each.
struct Metric {
  const char* name;
  std::vector<serve::PromSeries> serve::PromData::*into;
};
constexpr Metric kMetrics[] = {
    {"poolscope_key_outstanding_objects", &serve::PromData::outstanding},
    {"poolscope_key_bytes", &serve::PromData::bytes},
    {"poolscope_pool_used_bytes", &serve::PromData::pool_used},
    {"poolscope_pool_limit_bytes", &serve::PromData::pool_limit},
    {"poolscope_memory_available_bytes", &serve::PromData::memory_available},
    {"poolscope_memory_total_bytes", &serve::PromData::memory_total},
};

// What Prometheus says when an answer would be too big: the batch is halved and read again.
bool too_big(const Error& error) {
  return error.message.find("too many samples") != std::string::npos ||
         error.message.find("exceeded maximum resolution") != std::string::npos ||
         error.message.find("response larger than") != std::string::npos ||
         error.message.find("bigger than") != std::string::npos;
}

class PrometheusReader {
 public:
  PrometheusReader(const serve::HttpUrl& url, std::string display_url, std::string match,
                   double start, double end, double step)
      : url_(url),
        display_url_(std::move(display_url)),
        match_(std::move(match)),
        start_(start),
        end_(end),
        step_(step) {}

  // The instance label values of the hosts that have poolscope series in the window.
  Result<std::vector<std::string>> instances() const {
    std::string query = "{__name__=~\"poolscope_key_bytes|poolscope_pool_used_bytes\"";
    if (auto user = serve::with_matchers("", match_); user && !user->empty()) {
      query += "," + user->substr(1, user->size() - 2);
    } else if (!user) {
      return forward_error(user);
    }
    query += "}";
    const std::string target =
        fmt::format("/api/v1/label/instance/values?match[]={}&start={:.3f}&end={:.3f}",
                    serve::url_encode(query), start_, end_);
    auto body = get(target);
    if (!body) return forward_error(body);
    return serve::parse_label_values(*body);
  }

  // The series of these hosts (all hosts when `instances` is empty).
  Result<serve::PromData> read(const std::vector<std::string>& instances) const {
    const std::string extra = instances.empty() ? "" : serve::instance_matcher(instances);
    serve::PromData data;
    for (const Metric& metric : kMetrics) {
      auto query = serve::with_matchers(metric.name, match_, extra);
      if (!query) return forward_error(query);
      const std::string target =
          fmt::format("/api/v1/query_range?query={}&start={:.3f}&end={:.3f}&step={}",
                      serve::url_encode(*query), start_, end_, step_);
      auto body = get(target);
      if (!body) return forward_error(body);
      auto series = serve::parse_query_range(*body);
      if (!series) return forward_error(series);
      data.*metric.into = std::move(*series);
    }
    return data;
  }

 private:
  Result<std::string> get(const std::string& target) const {
    auto response = serve::http_get(url_, target);
    if (!response) return forward_error(response);
    if (response->status != 200 && response->status != 400 && response->status != 422 &&
        response->status != 503) {
      return make_error(ErrorCode::kEnvironment,
                        fmt::format("{} answered HTTP {} to {}; is it a Prometheus server?",
                                    display_url_, response->status, target));
    }
    return std::move(response->body);
  }

  serve::HttpUrl url_;
  std::string display_url_, match_;
  double start_, end_, step_;
};

// Progress on a terminal only (stderr), one line rewritten in place.
class Progress {
 public:
  explicit Progress(std::size_t total) : total_(total), shown_(::isatty(2) == 1 && total > 1) {}
  ~Progress() {
    if (shown_) std::fputs("\r\033[K", stderr);
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void update(std::size_t done, std::size_t leaking) const {
    if (!shown_) return;
    std::fprintf(stderr, "\r\033[Kpoolscope: %zu of %zu hosts analysed, %zu with a leak", done,
                 total_, leaking);
    std::fflush(stderr);
  }

 private:
  std::size_t total_;
  bool shown_;
};

// Points a query may bring back, summed over the two per-key metrics: about 25 MB of JSON and
// 100 MB of parsed series at most (measured: 50 keys x 2,057 points per host is ~25 MiB of
// resident memory per host in a batch).
constexpr double kPointBudget = 200'000;
constexpr std::size_t kMaxAutoBatch = 100;

// The batch that keeps the next queries near the budget, from what one batch of `hosts` held.
std::size_t auto_batch(const serve::PromData& data, std::size_t hosts) {
  double points = 0;
  for (const auto* series : {&data.outstanding, &data.bytes}) {
    for (const serve::PromSeries& s : *series) points += static_cast<double>(s.points.size());
  }
  const double per_host = points / static_cast<double>(std::max<std::size_t>(hosts, 1));
  if (per_host <= 0) return kMaxAutoBatch;
  return std::clamp<std::size_t>(static_cast<std::size_t>(kPointBudget / per_host), 1,
                                 kMaxAutoBatch);
}

// "12" -> 12; anything else is nullopt.
std::optional<std::size_t> parse_count(const std::string& text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  std::size_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

}  // namespace

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
  const PrometheusReader reader(*url, options.url, options.match, start, end,
                                std::chrono::duration<double>(step).count());

  const bool automatic = options.hosts_per_query == "auto";
  std::size_t batch = 1;
  if (!automatic) {
    auto n = parse_count(options.hosts_per_query);
    if (!n) {
      return report_error(make_error(ErrorCode::kUsage,
                                     fmt::format("--hosts-per-query {}: give auto or a number of "
                                                 "hosts (0: all in one query)",
                                                 options.hosts_per_query))
                              .error());
    }
    batch = *n;
  }
  auto instances = reader.instances();
  if (!instances) return report_error(instances.error());
  // Series without an instance label (backfilled data, a federation without it) are one host:
  // read them all at once, as before.
  const bool by_instance = !instances->empty() && batch != 0;

  const bool json = format == "json";
  serve::FleetSummary fleet;
  bool leak = false, any = false, opened = false;
  const Progress progress(instances->size());
  auto emit = [&](const std::string& instance, const detect::History& history) {
    const detect::Report report = detect::analyze(history, detector);
    fleet.add(instance, report);
    for (const auto& f : report.findings) leak = leak || f.verdict == detect::Verdict::kLeak;
    if (format == "csv") {
      // One header, then each host's rows as they come.
      nlohmann::ordered_json rows = nlohmann::ordered_json::array();
      append_leak_rows(report, instance, rows);
      std::string csv = leak_rows_csv(rows, true);
      if (any) csv.erase(0, csv.find('\n') + 1);
      std::fwrite(csv.data(), 1, csv.size(), stdout);
    } else if (json) {
      const nlohmann::ordered_json entry = {{"instance", instance},
                                            {"report", detect::report_json(report)}};
      std::printf("%s%s", opened ? ",\n" : "{\"hosts\": [\n", entry.dump(2).c_str());
      opened = true;
    } else {
      const std::string text =
          fmt::format("== {} ==\n{}\n", instance.empty() ? "(no instance label)" : instance,
                      detect::report_text(report));
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
    std::fflush(stdout);
    any = true;
  };

  std::size_t next = 0;
  while (by_instance ? next < instances->size() : !any) {
    std::vector<std::string> chosen;
    if (by_instance) {
      const std::size_t n = std::min(batch, instances->size() - next);
      chosen.assign(instances->begin() + static_cast<std::ptrdiff_t>(next),
                    instances->begin() + static_cast<std::ptrdiff_t>(next + n));
    }
    auto data = reader.read(chosen);
    if (!data) {
      if (by_instance && batch > 1 && too_big(data.error())) {
        batch = std::max<std::size_t>(1, batch / 2);
        continue;
      }
      if (opened) std::printf("\n]}\n");
      return report_error(data.error());
    }
    if (automatic) batch = auto_batch(*data, chosen.size());
    for (const auto& [instance, history] : serve::histories_from_prometheus(*data, max_buckets)) {
      emit(instance, history);
    }
    if (!by_instance) break;
    next += chosen.size();
    progress.update(next, fleet.hosts_with_leak());
  }
  if (!any) {
    return report_error(
        make_error(ErrorCode::kInput,
                   fmt::format("{} has no poolscope series{} in the last {}; is `poolscope "
                               "serve` scraped by it?",
                               options.url, options.match.empty() ? "" : " matching --match",
                               options.since))
            .error());
  }
  if (json) {
    std::printf("\n], \"fleet\": %s}\n", fleet.json().dump(2).c_str());
  } else if (format != "csv" && fleet.hosts() > 1) {
    const std::string text = fleet.text();
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return fail_on_leak && leak ? kExitFindings : kExitOk;
}

}  // namespace poolscope::cli
