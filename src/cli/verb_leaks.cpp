// `poolscope leaks`: the leak detector over a recording: findings with rate, onset, confidence,
// exhaustion forecast and culprit processes.
#include <cstdio>

#include "cli/verbs.h"
#include "detect/load.h"
#include "detect/output.h"
#include "render/csv_table.h"

namespace poolscope::cli {

void add_detector_options(CLI::App& verb, detect::DetectorOptions& options) {
  add_key_filter_options(verb, options.include, options.exclude, options.top,
                         "how many of the largest consumers to list", 10);
  verb.add_option("--leak-confidence", options.trend.leak_confidence,
                  "confidence a leak verdict needs (0.5..0.999999)")
      ->check(CLI::Range(0.5, 0.999999))
      ->default_val(0.999);
}

void append_leak_rows(const detect::Report& report, const std::string& instance,
                      nlohmann::ordered_json& rows) {
  const nlohmann::ordered_json j = detect::report_json(report);
  for (const auto& [kind, list] : {std::pair{"finding", "findings"},
                                   {"reclaimable_growth", "reclaimable_growth"},
                                   {"top_consumer", "top_consumers"}}) {
    if (!j.contains(list)) continue;
    for (const auto& record : j[list]) {
      nlohmann::ordered_json row{{"instance", instance}, {"kind", kind}};
      row.update(record);
      rows.push_back(std::move(row));
    }
  }
}

std::string leak_rows_csv(const nlohmann::ordered_json& rows, bool with_instance) {
  std::vector<std::string> columns{"kind",
                                   "key",
                                   "pool",
                                   "verdict",
                                   "incident",
                                   "owner",
                                   "rate_bytes_per_hour",
                                   "rate_objects_per_hour",
                                   "confidence",
                                   "onset",
                                   "exhaustion_eta_seconds",
                                   "unit",
                                   "start",
                                   "end",
                                   "window_seconds",
                                   "outstanding",
                                   "bytes",
                                   "explanation"};
  if (with_instance) columns.insert(columns.begin(), "instance");
  return csv_of_records(rows, columns);
}

int print_report(const detect::Report& report, const std::string& format) {
  std::string out;
  if (format == "csv") {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    append_leak_rows(report, "", rows);
    out = leak_rows_csv(rows, false);
  } else {
    out =
        format == "json" ? detect::report_json(report).dump(2) + "\n" : detect::report_text(report);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

bool has_leak(const detect::Report& report) {
  for (const auto& f : report.findings) {
    if (f.verdict == detect::Verdict::kLeak) return true;
  }
  return false;
}

void add_leaks_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string file;
    std::string format = "table";
    bool fail_on_leak = false;
    bool no_processes = false;
    bool allow_damaged = false;
    std::size_t max_buckets = 2048;
    detect::DetectorOptions detector;
    OwnerOptions owner;
    PrometheusLeaksOptions prometheus;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "leaks",
      "find the keys that leak in a recording: rate, onset, confidence, when the pool "
      "runs out, which process");
  verb->add_option("file", options->file, "a recording (poolscope record / import)");
  add_format_option(*verb, options->format, kTableFormats,
                    "table (or text), json or csv (one row per finding, reclaimable growth and "
                    "largest consumer: column kind)");
  verb->add_flag("--fail-on-leak", options->fail_on_leak,
                 "exit 1 when a leak is found (for monitoring)");
  verb->add_flag("--no-processes", options->no_processes,
                 "do not search the recorded process facts for a culprit");
  verb->add_option("--resolution", options->max_buckets,
                   "points per series kept for analysis (memory is keys x this)")
      ->check(CLI::Range(16, 1 << 20))
      ->default_val(2048);
  add_allow_damaged_option(*verb, options->allow_damaged);
  add_detector_options(*verb, options->detector);
  add_owner_options(*verb, options->owner);
  add_prometheus_leaks_options(*verb, options->prometheus);
  verb->callback([&run, options] {
    run = [options]() -> int {
      if (!options->prometheus.url.empty()) {
        if (!options->file.empty()) {
          return report_error(
              make_error(ErrorCode::kUsage, "give a recording or --prometheus, not both").error());
        }
        return run_prometheus_leaks(options->prometheus, options->detector, options->format,
                                    options->max_buckets, options->fail_on_leak);
      }
      if (options->file.empty()) {
        return report_error(
            make_error(ErrorCode::kUsage,
                       "give a recording (poolscope record / import) or --prometheus URL")
                .error());
      }
      auto recording = store::Recording::open_read(options->file);
      if (!recording) return report_error(recording.error());
      store::ReadDamage damage;
      auto history = detect::load_history(
          *recording, {.max_buckets = options->max_buckets, .processes = !options->no_processes},
          &damage);
      if (!history) return report_error(history.error());
      const std::string damaged = store::describe_damage(damage);
      if (history->samples() == 0) {
        return report_error(
            make_error(ErrorCode::kInput,
                       options->file + ": the recording has no samples" +
                           (damaged.empty() ? " yet" : " that can be read: " + damaged))
                .error());
      }
      auto report = detect::analyze(*history, options->detector);
      if (!damaged.empty())
        report.notes.insert(report.notes.begin(), "damaged recording: " + damaged);
      if (auto error = add_report_owners(report, options->owner)) return report_error(*error);
      print_report(report, options->format);
      return damaged_exit(options->file, damaged, options->allow_damaged,
                          options->fail_on_leak && has_leak(report) ? kExitFindings : kExitOk);
    };
  });
}

}  // namespace poolscope::cli
