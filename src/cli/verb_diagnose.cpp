// `poolscope diagnose`: the whole hunt on this machine. Records the pools (and per-process facts)
// for a while, then prints the verdict — largest consumers, growth, findings, culprit, next steps —
// and leaves the recording and the findings JSON in a folder.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "attrib/slab_owner.h"
#include "cli/live_loop.h"
#include "cli/verbs.h"
#include "cli/version.h"
#include "core/kernel_memory.h"
#include "core/time_format.h"
#include "detect/load.h"
#include "detect/output.h"
#include "report/evidence.h"
#include "report/next_steps.h"
#include "source/host.h"
#include "source/process_facts.h"
#include "store/recorder.h"

namespace poolscope::cli {

namespace {}  // namespace

void add_diagnose_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    LiveTimingOptions timing{.interval = "1", .duration = "5m"};
    std::string out;
    std::string format = "table";
    bool no_processes = false;
    bool no_trace = false;
    bool allow_damaged = false;
    detect::DetectorOptions detector;
    OwnerOptions owner;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "diagnose",
      "record this machine for a while, then say which tag or cache leaks, how fast, when the "
      "pool runs out and who is responsible");
  add_live_timing_options(*verb, options->timing, "time between samples",
                          "how long to record (90s, 5m, 1h)");
  verb->add_option("--out,-o", options->out,
                   "folder for recording.db, findings.json and report.html (default: "
                   "./poolscope-diagnose-<time>)");
  add_format_option(*verb, options->format, {"table", "json"},
                    "table (or text) or json (the findings on stdout)");
  verb->add_flag("--no-processes", options->no_processes, "do not sample per-process facts");
  verb->add_flag("--no-trace", options->no_trace,
                 "when a generic kmalloc cache or kernel memory from the page allocator leaks, do "
                 "not trace it (trace --cache, trace --pages) for 10 s to name its call site "
                 "(Linux, root; with --format json the kmalloc cache's trace is in the JSON as "
                 "\"trace\")");
  add_allow_damaged_option(*verb, options->allow_damaged);
  add_detector_options(*verb, options->detector);
  add_owner_options(*verb, options->owner);
  verb->callback([&run, options] {
    run = [options]() -> int {
      auto timing = parse_live_timing(options->timing);
      if (!timing) return report_error(timing.error());
      // Appending to an earlier run's recording would analyse both runs and the gap between them
      // as one: refused before anything is recorded.
      if (std::error_code ec;
          !options->out.empty() &&
          std::filesystem::exists(std::filesystem::path(options->out) / "recording.db", ec)) {
        return report_error(
            make_error(ErrorCode::kUsage,
                       options->out +
                           " already holds a recording (recording.db) of an earlier diagnose: "
                           "choose another folder with --out, or leave --out out for a new one")
                .error());
      }
      SystemClock clock;
      auto source = open_live_source(clock);
      if (!source) return report_error(source.error());
      // The verb owns the resolver: the samples' OWNER column and the report's owner evidence
      // (pooltag.txt lines of a leaking tag) come from the same files.
      std::shared_ptr<const attrib::OwnerResolver> resolver;
      if (!options->owner.no_owner) {
        std::vector<std::string> notes;
        auto loaded = make_owner_resolver(options->owner, SourceOptions{}, notes);
        if (!loaded) return report_error(loaded.error());
        resolver = std::make_shared<const attrib::OwnerResolver>(std::move(*loaded));
        *source = with_owners(std::move(*source), resolver, std::move(notes));
      }
      std::string dir = options->out;
      if (dir.empty()) {
        std::string stamp = format_utc(std::chrono::system_clock::now());
        for (char& c : stamp) {
          if (c == ':') c = '-';
        }
        dir = "poolscope-diagnose-" + stamp;
      }
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        return report_error(
            make_error(ErrorCode::kEnvironment, "cannot create " + dir + ": " + ec.message() +
                                                    " (choose another folder with --out)")
                .error());
      }
      const std::string db = (std::filesystem::path(dir) / "recording.db").string();
      const std::string json_path = (std::filesystem::path(dir) / "findings.json").string();
      const std::string html_path = (std::filesystem::path(dir) / "report.html").string();
      auto collector = open_collector_or_warn(clock, options->no_processes, "no culprit search");
      {
        auto recording = store::Recording::open_write(
            db, store::WriterOptions{.purpose = "diagnose", .version = std::string(kVersion)});
        if (!recording) return report_error(recording.error());
        store::RecorderOptions ropts;
        ropts.interval = timing->interval;
        ropts.duration = timing->duration;
        // A diagnosis is short and the culprit search needs the process facts at most samples:
        // it may spend up to 2% of a core on them (every sample with a few hundred processes),
        // where a long `record` keeps to 0.01% (--process-interval auto).
        ropts.process_cpu_share = 0.02;
        host::StopOnSignal stop;
        store::RecorderHooks hooks;
        static_cast<LiveLoopHooks&>(hooks) = live_hooks(**source, collector.get(), stop.flag());
        hooks.cpu_ns = nullptr;  // the schedule measures the collections' wall time (upper bound)
        hooks.warn = [](const std::string& message) {
          std::fprintf(stderr, "poolscope: warning: %s\n", message.c_str());
        };
        std::fprintf(stderr,
                     "poolscope: recording this machine for %s (every %s) into %s; Ctrl-C ends "
                     "early and still diagnoses\n",
                     options->timing.duration.c_str(), options->timing.interval.c_str(),
                     db.c_str());
        auto result = store::run_recorder(*recording, clock, hooks, ropts, stop.flag());
        recording->close();
        if (result.error) return report_error(*result.error);
      }
      auto recording = store::Recording::open_read(db);
      if (!recording) return report_error(recording.error());
      store::ReadDamage damage;
      auto history = detect::load_history(*recording, {}, &damage);
      if (!history) return report_error(history.error());
      const std::string damaged = store::describe_damage(damage);
      detect::Report report = detect::analyze(*history, options->detector);
      if (!damaged.empty())
        report.notes.insert(report.notes.begin(), "damaged recording: " + damaged);
      auto j = detect::report_json(report);
      j["recording"] = db;
      j["report"] = html_path;
      if (options->format == "json" && !options->no_trace) confirm_call_site_json(report, j);
      {
        std::ofstream out(json_path, std::ios::binary);
        out << j.dump(2) << "\n";
        if (!out) {
          return report_error(
              make_error(ErrorCode::kEnvironment, "cannot write " + json_path + " (disk full?)")
                  .error());
        }
      }
      report::HtmlReportOptions html;
      html.top = options->detector.top;
      html.file_label = db;
      html.version = kVersion;
      html.resolver = resolver.get();
      html.drivers_advice = "run poolscope report " + db + " --drivers DIR";
      auto written = report::write_html_report(*recording, *history, report, html_path, html);
      if (!written) return report_error(written.error());
      if (options->format == "json") {
        std::printf("%s\n", j.dump(2).c_str());
      } else {
        std::string text = detect::report_text(report);
        text += "\nNext steps:\n";
        for (const std::string& step : report::next_steps(report, db)) text += "  - " + step + "\n";
        text += "\nWritten: " + db + " (the recording; poolscope leaks/export/snapshot read it)\n";
        text += "         " + json_path + " (these findings as JSON)\n";
        text += "         " + html_path +
                " (the report to read or send: charts, evidence, next steps)\n";
        std::fwrite(text.data(), 1, text.size(), stdout);
        if (!options->no_trace) confirm_call_site(report);
      }
      return damaged_exit(db, damaged, options->allow_damaged, kExitOk);
    };
  });
}

}  // namespace poolscope::cli
