// `poolscope record`: samples the live pools (and per-process facts) into a recording file until
// stopped (SIGINT/SIGTERM), the duration ends, or writing fails.
#include <fmt/format.h>

#include <cstdio>

#include "cli/live_loop.h"
#include "cli/verbs.h"
#include "cli/version.h"
#include "core/time_format.h"
#include "source/host.h"
#include "store/recorder.h"

namespace poolscope::cli {

void add_record_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string out;
    LiveTimingOptions timing{.interval = "10", .duration = ""};
    std::string retention;
    std::string process_interval = "auto";
    bool no_processes = false;
    bool print_commits = false;
    std::int64_t keyframe_interval = store::kDefaultKeyframeInterval;
    OwnerOptions owner;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "record", "sample the pools (and per-process facts) into a recording file over time");
  verb->add_option("--out,-o", options->out, "the recording (SQLite) file; created if missing")
      ->required();
  add_live_timing_options(
      *verb, options->timing, "time between samples: seconds (0.1 works) or 500ms, 1m ...",
      "stop after this long (90s, 30m, 48h, 7d); default: until SIGINT/SIGTERM");
  verb->add_option("--retention", options->retention,
                   "delete samples older than this (e.g. 30d), a bounded batch per sample");
  verb->add_option("--process-interval", options->process_interval,
                   "how often to record the per-process facts: a duration (10s; the --interval "
                   "for every sample), or auto: as often as 0.01% of a core allows (their cost "
                   "grows with the number of processes), at least every 5 minutes")
      ->default_val("auto");
  verb->add_flag("--no-processes", options->no_processes,
                 "do not record per-process facts (fd counts by kind / handle counts and pool "
                 "quota)");
  // The OWNER of each key goes into the recording's keys table (once per key, again only when it
  // changes), so a copy analysed elsewhere still names owners.
  add_owner_options(*verb, options->owner);
  // For the kill -9 test: one flushed line per committed sample.
  verb->add_flag("--print-commits", options->print_commits)->group("");
  // For retention tests, which cannot wait for 600 samples.
  verb->add_option("--keyframe-interval", options->keyframe_interval)->group("");
  verb->callback([&run, options] {
    run = [options]() -> int {
      store::RecorderOptions ropts;
      auto timing = parse_live_timing(options->timing);
      if (!timing) return report_error(timing.error());
      ropts.interval = timing->interval;
      ropts.duration = timing->duration;
      auto process_interval = store::parse_process_interval(options->process_interval);
      if (!process_interval) return report_error(process_interval.error());
      ropts.process_interval = *process_interval;
      if (!options->retention.empty()) {
        auto d = parse_duration(options->retention);
        if (!d) return report_error(d.error());
        ropts.retention = *d;
      }

      // The live source first: a user who may not read the pools gets exit 3 and no file.
      SystemClock clock;
      auto source = open_live_source(clock);
      if (!source) return report_error(source.error());
      source = add_owners_once(std::move(*source), options->owner);
      if (!source) return report_error(source.error());
      auto collector =
          open_collector_or_warn(clock, options->no_processes, "process facts not recorded");
      auto recording = store::Recording::open_write(
          options->out, store::WriterOptions{.keyframe_interval = options->keyframe_interval,
                                             .purpose = "record",
                                             .version = kVersion});
      if (!recording) return report_error(recording.error());
      if (!recording->takeover_note().empty()) {
        std::fprintf(stderr, "poolscope: note: %s\n", recording->takeover_note().c_str());
      }

      host::StopOnSignal stop;
      store::RecorderHooks hooks;
      static_cast<LiveLoopHooks&>(hooks) = live_hooks(**source, collector.get(), stop.flag());
      if (options->print_commits) {
        hooks.on_commit = [](std::int64_t seq, const Snapshot&) {
          std::printf("committed %lld\n", static_cast<long long>(seq));
          std::fflush(stdout);
        };
      }
      hooks.warn = [](const std::string& message) {
        std::fprintf(stderr, "poolscope: warning: %s\n", message.c_str());
      };
      auto result = store::run_recorder(*recording, clock, hooks, ropts, stop.flag());

      const auto& stats = result.stats;
      recording->close();  // merges the WAL, so the size below is what stays on disk
      const std::uint64_t bytes = recording->file_bytes();
      std::string summary = "poolscope: recorded " + std::to_string(stats.samples) + " sample(s)";
      if (stats.samples > 0) {
        summary += " (seq " + std::to_string(stats.first_seq) + ".." +
                   std::to_string(stats.last_seq) + ")";
      }
      summary += " of " + std::to_string(stats.last_key_count) + " keys into " + options->out +
                 " (" + human_bytes(bytes) + ")";
      if (collector && stats.process_samples != stats.samples) {
        summary += "; process facts in " + std::to_string(stats.process_samples) + " of them";
      }
      if (stats.process_samples > 0) {
        summary += fmt::format(" ({:.2f} ms CPU per process facts collection)",
                               static_cast<double>(stats.process_cpu_ns) / 1e6 /
                                   static_cast<double>(stats.process_samples));
      }
      if (stats.skipped_ticks) {
        summary += "; " + std::to_string(stats.skipped_ticks) +
                   " tick(s) skipped because a sample took longer than the interval";
      }
      if (stats.retention_deleted) {
        summary += "; " + std::to_string(stats.retention_deleted) + " old sample(s) deleted";
      }
      std::fprintf(stderr, "%s\n", summary.c_str());
      if (result.error) return report_error(*result.error);
      return kExitOk;
    };
  });
}

}  // namespace poolscope::cli
