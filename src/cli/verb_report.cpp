// `poolscope report`: a recording as one self-contained HTML page for the people who act on a
// finding (src/report gathers the owner evidence, renders the page and writes it).
#include <cstdio>
#include <filesystem>

#include "cli/verbs.h"
#include "cli/version.h"
#include "core/time_format.h"
#include "detect/load.h"
#include "detect/output.h"
#include "report/evidence.h"

namespace poolscope::cli {

namespace {

// report.html for pools.db: next to it, with the extension replaced.
std::string default_output(const std::string& recording) {
  std::filesystem::path out(recording);
  out.replace_extension(".html");
  if (out == std::filesystem::path(recording)) out = recording + ".report.html";
  return out.string();
}

}  // namespace

void add_report_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string file;
    std::string out;
    std::vector<std::string> drivers;
    bool no_processes = false;
    bool allow_damaged = false;
    detect::DetectorOptions detector;
    OwnerOptions owner;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "report",
      "write a recording as one self-contained HTML page: verdict, pool totals, top growers, "
      "each finding's trend, forecast and culprit, events, owner evidence, next steps");
  verb->add_option("file", options->file, "a recording (poolscope record / import / diagnose)")
      ->required();
  verb->add_option("--out,-o", options->out,
                   "the HTML file to write (default: next to FILE, FILE's name with .html); an "
                   "existing file is replaced");
  verb->add_option("--drivers", options->drivers,
                   "folder of Windows drivers to search for the findings' tags (repeatable)");
  verb->add_flag("--no-processes", options->no_processes,
                 "do not search the recorded process facts for a culprit");
  add_allow_damaged_option(*verb, options->allow_damaged);
  add_detector_options(*verb, options->detector);
  add_owner_options(*verb, options->owner);
  verb->callback([&run, options] {
    run = [options]() -> int {
      auto recording = store::Recording::open_read(options->file);
      if (!recording) return report_error(recording.error());
      store::ReadDamage damage;
      auto history =
          detect::load_history(*recording, {.processes = !options->no_processes}, &damage);
      if (!history) return report_error(history.error());
      const std::string damaged = store::describe_damage(damage);
      detect::Report report = detect::analyze(*history, options->detector);
      if (!damaged.empty())
        report.notes.insert(report.notes.begin(), "damaged recording: " + damaged);
      std::optional<attrib::OwnerResolver> resolver;
      if (!options->owner.no_owner) {
        auto loaded = make_report_owner_resolver(options->owner);
        if (!loaded) return report_error(loaded.error());
        resolver = std::move(*loaded);
        fill_report_owners(report, *resolver);
      }
      const std::string out = options->out.empty() ? default_output(options->file) : options->out;
      report::HtmlReportOptions html;
      html.top = options->detector.top;
      html.drivers = options->drivers;
      html.resolver = resolver ? &*resolver : nullptr;
      html.file_label = options->file;
      html.version = kVersion;
      auto written = report::write_html_report(*recording, *history, report, out, html);
      if (!written) return report_error(written.error());
      std::size_t leaks = 0, suspects = 0;
      for (const auto& f : report.findings) {
        (f.verdict == detect::Verdict::kLeak ? leaks : suspects)++;
      }
      std::printf(
          "poolscope: wrote %s (%s): %zu leak(s), %zu suspect(s) in %lld sample(s) over %s; "
          "%zu event(s), %zu counter(s); open it in a browser\n",
          out.c_str(), human_bytes(written->bytes).c_str(), leaks, suspects,
          static_cast<long long>(history->samples()),
          detect::duration_text(history->last_time() - history->first_time()).c_str(),
          written->events, written->counters);
      return damaged_exit(options->file, damaged, options->allow_damaged, kExitOk);
    };
  });
}

}  // namespace poolscope::cli
