// `poolscope watch`: the leak detector on the live pools, printing a finding when it becomes
// significant (and again when a suspect becomes a leak).
#include <fmt/format.h>

#include <cstdio>
#include <map>
#include <set>

#include "cli/live_loop.h"
#include "cli/verbs.h"
#include "detect/detector.h"
#include "detect/output.h"
#include "source/host.h"
#include "store/recorder.h"

namespace poolscope::cli {

namespace {

constexpr std::int64_t kWatchMinSamples = 6;
constexpr std::size_t kWatchColumns = 120;

}  // namespace

void add_watch_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    LiveTimingOptions timing{.interval = "5", .duration = ""};
    std::string format = "table";
    bool no_processes = false;
    std::string process_interval = "auto";
    std::size_t analyze_every = 0;
    std::size_t max_buckets = 1024;
    detect::DetectorOptions detector;
    OwnerOptions owner;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "watch", "watch the live pools and print each leak or suspect as it becomes significant");
  add_live_timing_options(*verb, options->timing, "time between samples (5, 1, 0.5, 500ms)",
                          "stop after this long; default: until Ctrl-C");
  add_format_option(*verb, options->format, {"table", "jsonl"},
                    "table (or text): a line per finding, or jsonl: one JSON finding per line");
  verb->add_flag("--no-processes", options->no_processes,
                 "do not sample per-process facts (no culprit process is named)");
  verb->add_option("--process-interval", options->process_interval,
                   "how often to take the per-process facts: a duration (the --interval for "
                   "every sample), or auto: as often as 2% of a core allows (every sample with a "
                   "few hundred processes), at least every 5 minutes")
      ->default_val("auto");
  verb->add_option("--analyze-every", options->analyze_every,
                   "run the detector every N samples (default: every 30 s of samples)");
  verb->add_option("--resolution", options->max_buckets, "points kept per series")
      ->check(CLI::Range(16, 1 << 20))
      ->default_val(1024);
  add_detector_options(*verb, options->detector);
  add_owner_options(*verb, options->owner);
  verb->callback([&run, options] {
    run = [options]() -> int {
      auto loop = parse_live_timing(options->timing);
      if (!loop) return report_error(loop.error());
      auto process_interval = store::parse_process_interval(options->process_interval);
      if (!process_interval) return report_error(process_interval.error());
      // Like diagnose, watch names culprits from few samples, so it allows process facts more
      // CPU than a long `record` (0.01%).
      loop->process_interval = *process_interval;
      loop->process_cpu_share = 0.02;
      loop->wait_out_duration = true;
      SystemClock clock;
      auto source = open_live_source(clock);
      if (!source) return report_error(source.error());
      source = add_owners(std::move(*source), options->owner, SourceOptions{});
      if (!source) return report_error(source.error());
      auto collector = open_collector_or_warn(clock, options->no_processes, "no culprit search");
      const std::size_t every = detector_every(options->analyze_every, loop->interval);
      detect::History history({.max_buckets = options->max_buckets});
      std::map<std::string, detect::Verdict> reported;
      host::StopOnSignal stop;
      const bool text = options->format == "table";
      if (text) {
        std::fprintf(
            stderr, "poolscope: watching every %s, the detector every %zu sample(s); Ctrl-C ends\n",
            options->timing.interval.c_str(), every);
      }
      std::size_t findings = 0;
      auto watch = [&](LiveTick& tick) -> std::optional<Error> {
        history.add_snapshot(tick.snapshot, tick.processes ? &*tick.processes : nullptr,
                             tick.seconds);
        // The few-samples rule is for snapshots taken around a workload; live, the first seconds
        // of a stream prove nothing, so the detector waits for a series it can test.
        if (history.samples() < kWatchMinSamples ||
            history.samples() % static_cast<std::int64_t>(every) != 0) {
          return std::nullopt;
        }
        const detect::Report report = detect::analyze(history, options->detector);
        std::set<std::size_t> fresh_incidents;  // text: one block per incident with news
        for (const detect::Finding& f : report.findings) {
          const std::string id = display_key(f.key) + "/" + std::string(pool_kind_name(f.pool));
          auto it = reported.find(id);
          if (it != reported.end() &&
              !(it->second == detect::Verdict::kSuspect && f.verdict == detect::Verdict::kLeak)) {
            continue;
          }
          reported[id] = f.verdict;
          ++findings;
          if (text) {
            fresh_incidents.insert(f.incident);
          } else {
            auto j = detect::finding_json(f);
            j["time"] = detect::wall_text(report.last_wall_ns);
            std::printf("%s\n", j.dump().c_str());
          }
          std::fflush(stdout);
        }
        for (const detect::Incident& in : report.incidents) {
          if (!fresh_incidents.contains(in.id)) continue;
          const detect::Finding& src = report.findings[in.source];
          // Lines fit a 120-column terminal: a long explanation goes on indented lines.
          const std::string head =
              in.members.size() == 1
                  ? fmt::format("{} {} {}: {}", detect::wall_text(report.last_wall_ns),
                                detect::verdict_name(src.verdict), display_key(src.key),
                                src.explanation)
                  : fmt::format("{} {} incident {} in {} keys, source {}: {}",
                                detect::wall_text(report.last_wall_ns),
                                detect::verdict_name(in.verdict), in.id, in.members.size(),
                                display_key(src.key), in.explanation);
          std::fputs(detect::wrap_text(head, kWatchColumns, "    ").c_str(), stdout);
          for (const auto& p : in.processes) {
            std::fputs(detect::wrap_text("  process: " + p.evidence, kWatchColumns, "    ").c_str(),
                       stdout);
          }
          std::fflush(stdout);
        }
        return std::nullopt;
      };
      const LiveLoopResult result = run_live_loop(
          clock, live_hooks(**source, collector.get(), stop.flag()), *loop, stop.flag(), watch);
      const int rc = result.error ? report_error(*result.error) : kExitOk;
      if (text) {
        std::fprintf(stderr, "poolscope: watched %lld sample(s) over %s; %zu finding(s) printed\n",
                     static_cast<long long>(history.samples()),
                     detect::duration_text(history.last_time() - history.first_time()).c_str(),
                     findings);
      }
      return rc;
    };
  });
}

}  // namespace poolscope::cli
