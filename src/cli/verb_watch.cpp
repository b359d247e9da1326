// `poolscope watch`: the leak detector on the live pools, printing a finding when it becomes
// significant (and again when a suspect becomes a leak).
#include <atomic>
#include <csignal>
#include <cstdio>
#include <map>
#include <set>

#include "cli/verbs.h"
#include "detect/detector.h"
#include "detect/output.h"
#include "source/process_facts.h"
#include "store/process_identity.h"
#include "store/recorder.h"

namespace poolscope::cli {

namespace {

std::atomic<bool> g_watch_stop{false};
constexpr std::int64_t kWatchMinSamples = 6;

extern "C" void watch_request_stop(int) {
  g_watch_stop.store(true);
}

}  // namespace

void add_watch_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string interval = "5";
    std::string duration;
    std::string format = "text";
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
  verb->add_option("--interval", options->interval, "time between samples (5, 1, 0.5, 500ms)")
      ->default_val("5");
  verb->add_option("--duration", options->duration, "stop after this long; default: until Ctrl-C");
  verb->add_option("--format,-f", options->format, "text or jsonl (one JSON finding per line)")
      ->check(CLI::IsMember({"text", "jsonl"}))
      ->default_val("text");
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
      auto interval = store::parse_duration(options->interval);
      if (!interval) return report_error(interval.error());
      std::optional<std::chrono::nanoseconds> duration;
      if (!options->duration.empty()) {
        auto d = store::parse_duration(options->duration);
        if (!d) return report_error(d.error());
        duration = *d;
      }
      auto process_interval = store::parse_process_interval(options->process_interval);
      if (!process_interval) return report_error(process_interval.error());
      // Like diagnose, watch names culprits from few samples, so it allows process facts more
      // CPU than a long `record` (0.01%).
      store::ProcessSchedule process_schedule(*process_interval, 0.02, std::chrono::minutes(5));
      SystemClock clock;
      auto source = open_live_source(clock);
      if (!source) return report_error(source.error());
      source = add_owners(std::move(*source), options->owner, SourceOptions{});
      if (!source) return report_error(source.error());
      std::unique_ptr<ProcessFactsCollector> collector;
      if (!options->no_processes) {
        auto opened = open_process_facts_collector(clock);
        if (opened) {
          collector = std::move(*opened);
        } else {
          std::fprintf(stderr, "poolscope: warning: no culprit search: %s\n",
                       opened.error().message.c_str());
        }
      }
      const std::size_t every = options->analyze_every
                                    ? options->analyze_every
                                    : static_cast<std::size_t>(std::max<std::int64_t>(
                                          1, std::chrono::seconds(30) /
                                                 std::max(*interval, std::chrono::nanoseconds(1))));
      detect::History history({.max_buckets = options->max_buckets});
      std::map<std::string, detect::Verdict> reported;
      g_watch_stop.store(false);
      std::signal(SIGINT, watch_request_stop);
      std::signal(SIGTERM, watch_request_stop);
      const std::int64_t start = clock.monotonic_ns();
      const bool text = options->format == "text";
      if (text) {
        std::fprintf(
            stderr, "poolscope: watching every %s, the detector every %zu sample(s); Ctrl-C ends\n",
            options->interval.c_str(), every);
      }
      std::int64_t tick = 0;
      std::size_t findings = 0;
      int rc = kExitOk;
      while (!g_watch_stop.load()) {
        const std::int64_t now = clock.monotonic_ns();
        if (duration && now - start >= duration->count()) break;
        auto snapshot = (*source)->sample();
        if (!snapshot) {
          rc = report_error(snapshot.error());
          break;
        }
        std::optional<ProcessSample> procs;
        if (collector && process_schedule.due(tick * interval->count())) {
          const std::int64_t before = store::process_cpu_time_ns();
          auto p = collector->collect();
          process_schedule.collected(
              tick * interval->count(),
              std::max<std::int64_t>(store::process_cpu_time_ns() - before, 0));
          if (p) procs = std::move(*p);
        }
        history.add_snapshot(*snapshot, procs ? &*procs : nullptr,
                             static_cast<double>(now - start) / 1e9);
        // The few-samples rule is for snapshots taken around a workload; live, the first seconds
        // of a stream prove nothing, so the detector waits for a series it can test.
        if (history.samples() >= kWatchMinSamples &&
            history.samples() % static_cast<std::int64_t>(every) == 0) {
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
            if (in.members.size() == 1) {
              std::printf("%s %s %s: %s\n", detect::wall_text(report.last_wall_ns).c_str(),
                          detect::verdict_name(src.verdict), display_key(src.key).c_str(),
                          src.explanation.c_str());
            } else {
              std::printf("%s %s incident %zu in %zu keys, source %s: %s\n",
                          detect::wall_text(report.last_wall_ns).c_str(),
                          detect::verdict_name(in.verdict), in.id, in.members.size(),
                          display_key(src.key).c_str(), in.explanation.c_str());
            }
            for (const auto& p : in.processes) std::printf("  process: %s\n", p.evidence.c_str());
            std::fflush(stdout);
          }
        }
        ++tick;
        std::int64_t next = start + tick * interval->count();
        const std::int64_t after = clock.monotonic_ns();
        while (next <= after) {
          ++tick;
          next += interval->count();
        }
        if (duration) next = std::min(next, start + duration->count());
        store::sleep_until_monotonic(next, g_watch_stop);
      }
      std::signal(SIGINT, SIG_DFL);
      std::signal(SIGTERM, SIG_DFL);
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
