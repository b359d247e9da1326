// `poolscope snapshot`: one table of the pools, from the live OS or a file.
#include <cstdio>

#include "cli/verbs.h"
#include "render/snapshot_output.h"
#include "store/recording_source.h"

namespace poolscope::cli {

void add_snapshot_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    SourceOptions source;
    SelectOptions select;
    OwnerOptions owner;
    std::string format = "table";
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand("snapshot", "print the pools once (poolmon's table)");
  add_source_options(*verb, options->source);
  add_select_options(*verb, options->select);
  add_owner_options(*verb, options->owner);
  add_format_option(*verb, options->format, kTableFormats, "table (or text), json or csv");
  verb->callback([&run, options] {
    run = [options]() -> int {
      auto selection = make_selection(options->select);
      if (!selection) return report_error(selection.error());
      SystemClock clock;
      auto source = open_source(options->source, clock);
      if (!source) return report_error(source.error());
      source = add_owners(std::move(*source), options->owner, options->source);
      if (!source) return report_error(source.error());
      auto snapshot = (*source)->sample();
      if (!snapshot) return report_error(snapshot.error());
      auto rows = select_entries(*snapshot, *selection);
      std::string out;
      if (options->format == "json") {
        out = render_json(*snapshot, rows);
      } else if (options->format == "csv") {
        out = render_csv(*snapshot, rows);
      } else {
        out = render_table(*snapshot, rows);
      }
      std::fwrite(out.data(), 1, out.size(), stdout);
      return damaged_exit(options->source.source, store::recording_damage(*snapshot),
                          options->source.allow_damaged, kExitOk);
    };
  });
}

}  // namespace poolscope::cli
