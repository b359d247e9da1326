// `poolscope serve`: the live pools and the live detector's findings as a Prometheus /metrics
// page. The sampler runs on this thread; the HTTP server on its own, answering from the page the
// sampler rendered last, so scrapes never wait for a sample and clients never delay one.
#include <cstdio>
#include <mutex>
#include <thread>

#include "cli/live_loop.h"
#include "cli/verbs.h"
#include "cli/version.h"
#include "detect/output.h"
#include "serve/http_server.h"
#include "serve/metrics.h"
#include "source/host.h"

namespace poolscope::cli {

namespace {

struct Page {
  std::string prometheus, openmetrics;
};

// The newest rendered page, swapped in whole by the sampler.
class PageSlot {
 public:
  void publish(std::shared_ptr<const Page> page) {
    std::lock_guard lock(mutex_);
    page_ = std::move(page);
  }
  std::shared_ptr<const Page> get() const {
    std::lock_guard lock(mutex_);
    return page_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Page> page_;
};

std::string answer(const serve::HttpRequest& req, const PageSlot& slot) {
  const bool head = req.method == "HEAD";
  if (req.path == "/metrics") {
    auto page = slot.get();
    if (!page) {
      return serve::http_response(503, "text/plain; charset=utf-8",
                                  "no sample yet; try again in a moment\n", head);
    }
    if (serve::wants_openmetrics(req.accept)) {
      return serve::http_response(200, serve::kOpenMetricsContentType, page->openmetrics, head);
    }
    return serve::http_response(200, serve::kPrometheusContentType, page->prometheus, head);
  }
  if (req.path == "/") {
    return serve::http_response(
        200, "text/html; charset=utf-8",
        "<html><head><title>poolscope</title></head><body><h1>poolscope serve</h1>"
        "<p><a href=\"/metrics\">/metrics</a></p></body></html>\n",
        head);
  }
  return serve::http_response(404, "text/plain; charset=utf-8",
                              "not found; the metrics are at /metrics\n", head);
}

}  // namespace

void add_serve_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string listen = "127.0.0.1:9469";
    LiveTimingOptions timing{.interval = "15", .duration = ""};
    std::size_t top = 50;
    std::size_t analyze_every = 0;
    std::size_t max_buckets = 1024;
    std::size_t max_connections = 16;
    std::size_t max_processes = 4096;
    bool no_processes = false;
    detect::DetectorOptions detector;
    OwnerOptions owner;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "serve",
      "serve the live pools and the leak detector's findings as Prometheus metrics on /metrics");
  verb->add_option("--listen", options->listen,
                   "address and port to listen on (loopback by default; :9469 = every interface)")
      ->default_val("127.0.0.1:9469");
  add_live_timing_options(*verb, options->timing, "time between samples (15, 5, 500ms)",
                          "stop after this long; default: until Ctrl-C");
  add_key_filter_options(
      *verb, options->detector.include, options->detector.exclude, options->top,
      "keys exported: the N largest by bytes, plus every key with a finding (0 = all)", 50);
  verb->add_option("--leak-confidence", options->detector.trend.leak_confidence,
                   "confidence a leak verdict needs (0.5..0.999999)")
      ->check(CLI::Range(0.5, 0.999999))
      ->default_val(0.999);
  verb->add_option("--analyze-every", options->analyze_every,
                   "run the detector every N samples (default: about every 30 s)");
  verb->add_option("--resolution", options->max_buckets, "points kept per series for the detector")
      ->check(CLI::Range(16, 1 << 20))
      ->default_val(1024);
  verb->add_option("--max-connections", options->max_connections,
                   "clients served at once; more are answered 503")
      ->check(CLI::Range(1, 1024))
      ->default_val(16);
  verb->add_option("--max-processes", options->max_processes,
                   "processes the culprit search tracks (exited, unchanged ones are dropped first; "
                   "bounds memory on machines that start many short-lived processes)")
      ->check(CLI::Range(16, 1 << 20))
      ->default_val(4096);
  verb->add_flag("--no-processes", options->no_processes,
                 "do not sample per-process facts (no culprit process is named)");
  add_owner_options(*verb, options->owner);
  verb->callback([&run, options] {
    run = [options]() -> int {
      auto loop = parse_live_timing(options->timing);
      if (!loop) return report_error(loop.error());
      loop->process_interval = loop->interval;  // the process facts at every sample
      loop->wait_out_duration = true;
      SystemClock clock;
      auto live = open_live_source(clock);
      if (!live) return report_error(live.error());
      auto source = add_owners(std::move(*live), options->owner, SourceOptions{});
      if (!source) return report_error(source.error());
      auto collector = open_collector_or_warn(clock, options->no_processes, "no culprit search");
      auto server = serve::HttpServer::open(
          {.listen = options->listen, .max_connections = options->max_connections});
      if (!server) return report_error(server.error());
      std::fprintf(stderr, "poolscope: serving http://%s/metrics, a sample every %s\n",
                   (*server)->address().c_str(), options->timing.interval.c_str());
      if (!(*server)->loopback()) {
        std::fprintf(stderr,
                     "poolscope: warning: %s is reachable from other machines; the metrics "
                     "name this machine's drivers and processes\n",
                     (*server)->address().c_str());
      }
      const std::size_t every = detector_every(options->analyze_every, loop->interval);

      host::StopOnSignal stop;
      PageSlot slot;
      std::thread http([&] {
        (*server)->run([&slot](const serve::HttpRequest& req) { return answer(req, slot); },
                       stop.flag());
      });

      detect::History history(
          {.max_buckets = options->max_buckets, .max_processes = options->max_processes});
      std::optional<detect::Report> report;
      serve::MetricsOptions metrics{.top = options->top,
                                    .include = options->detector.include,
                                    .exclude = options->detector.exclude};
      auto publish = [&](LiveTick& tick) -> std::optional<Error> {
        history.add_snapshot(tick.snapshot, tick.processes ? &*tick.processes : nullptr,
                             tick.seconds);
        if (history.samples() == 1 || history.samples() % static_cast<std::int64_t>(every) == 0) {
          report = detect::analyze(history, options->detector);
        }
        const serve::MetricsInput input{
            .snapshot = &tick.snapshot,
            .report = report ? &*report : nullptr,
            .samples = history.samples(),
            .sample_seconds = static_cast<double>(clock.monotonic_ns() - tick.monotonic_ns) / 1e9,
            .history_bytes = history.memory_bytes(),
            .version = std::string(kVersion)};
        auto page = std::make_shared<Page>();
        page->prometheus = serve::render_metrics(input, metrics);
        metrics.openmetrics = true;
        page->openmetrics = serve::render_metrics(input, metrics);
        metrics.openmetrics = false;
        slot.publish(std::move(page));
        return std::nullopt;
      };
      const LiveLoopResult result = run_live_loop(
          clock, live_hooks(**source, collector.get(), stop.flag()), *loop, stop.flag(), publish);
      const int rc = result.error ? report_error(*result.error) : kExitOk;
      stop.request_stop();
      http.join();
      const serve::ServerStats stats = (*server)->stats();
      std::fprintf(stderr, "poolscope: served %llu request(s), refused %llu, over %lld sample(s)\n",
                   static_cast<unsigned long long>(stats.requests),
                   static_cast<unsigned long long>(stats.refused),
                   static_cast<long long>(history.samples()));
      return rc;
    };
  });
}

}  // namespace poolscope::cli
