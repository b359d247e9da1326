// `poolscope top`: the pool table in the terminal, refreshed every interval (poolmon's live view).
#include <fmt/format.h>

#include <cmath>
#include <cstdio>

#include "cli/verbs.h"
#include "store/recording_source.h"
#include "top/top_model.h"

namespace poolscope::cli {

void add_top_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    SourceOptions source;
    SelectOptions select;
    OwnerOptions owner;
    double interval = 2.0;
    std::size_t iterations = 0;
    bool report_peak_rss = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "top", "live pool table in the terminal, refreshed with changes highlighted (poolmon)");
  add_source_options(*verb, options->source);
  add_select_options(*verb, options->select);
  add_owner_options(*verb, options->owner);
  verb->add_option("--interval", options->interval,
                   "time between refreshes (2, 0.5, 500ms, 1m). A file source shows the same "
                   "sample again")
      ->transform(duration_in_seconds())
      ->check(CLI::Range(0.01, 86400.0))
      ->default_val(2.0);
  verb->add_option("--iterations", options->iterations,
                   "exit after N refreshes (the first display counts); 0 = until Q")
      ->default_val(0);
  // Hidden: the memory test reads the peak resident size the process reached.
  verb->add_flag("--report-peak-rss", options->report_peak_rss,
                 "print the peak resident set size to stderr on exit")
      ->group("");
  verb->footer(std::string(top::key_help()));
  verb->callback([&run, options] {
    run = [options]() -> int {
      auto selection = make_selection(options->select);
      if (!selection) return report_error(selection.error());
      if (!top::stdout_is_terminal()) {
        return report_error(Error{
            ErrorCode::kUsage, 0,
            "top draws a live table and needs a terminal, but its output is not one; to write "
            "the table to a file or pipe use `poolscope snapshot` (same --source and filters)"});
      }
      SystemClock clock;
      auto source = open_source(options->source, clock);
      if (!source) return report_error(source.error());
      // Loaded once; each refresh only looks up keys it has not seen before.
      source = add_owners(std::move(*source), options->owner, options->source);
      if (!source) return report_error(source.error());
      auto first = (*source)->sample();
      if (!first) return report_error(first.error());
      const std::string damage =
          store::recording_damage(*first);  // a damaged recording, said after the screen

      top::TopConfig config;
      config.selection = *selection;
      config.interval_text = fmt::format("{:g}s", options->interval);
      top::TopModel model(config);
      model.update(std::move(*first));
      {
        auto terminal = top::open_terminal();
        if (!terminal) return report_error(terminal.error());
        top::RunOptions run_options;
        run_options.interval = std::chrono::nanoseconds(std::llround(options->interval * 1e9));
        run_options.iterations = options->iterations;
        top::run_top(**source, model, **terminal, clock, run_options);
      }  // the terminal is restored here, before anything else is printed
      if (options->report_peak_rss) {
        auto peak = top::peak_resident_kib();
        if (peak) {
          std::fprintf(stderr, "peak RSS: %llu KiB\n", static_cast<unsigned long long>(*peak));
        } else {
          std::fprintf(stderr, "peak RSS: unknown on this system\n");
        }
      }
      return damaged_exit(options->source.source, damage, options->source.allow_damaged, kExitOk);
    };
  });
}

}  // namespace poolscope::cli
