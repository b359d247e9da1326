// `poolscope export`: a recording as JSON lines or CSV, one line per key-sample, plus process
// samples, imported events and counter samples, each line marked with its kind (store/export.h).
#include <cstdio>

#include "cli/verbs.h"
#include "core/time_format.h"
#include "store/export.h"

namespace poolscope::cli {

void add_export_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string file;
    std::string format = "jsonl";
    std::vector<std::string> include, exclude;
    std::string from, to;
    std::vector<std::string> kinds;
    bool allow_damaged = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "export",
      "write a recording as JSON lines or CSV: one line per key-sample, plus process "
      "samples, events and counter samples");
  verb->add_option("file", options->file, "the recording (SQLite) file")->required();
  add_format_option(*verb, options->format, {"jsonl", "csv"}, "jsonl or csv");
  verb->add_option("--include,-i", options->include,
                   "only pool keys and processes (by name) matching this pattern (* and ?, "
                   "case-sensitive); repeatable");
  verb->add_option("--exclude,-x", options->exclude,
                   "drop pool keys and processes (by name) matching this; repeatable");
  verb->add_option("--from", options->from, "only from this time on (UTC, 2026-11-21T11:40:02Z)");
  verb->add_option("--to", options->to, "only up to this time (UTC)");
  verb->add_option("--kind", options->kinds,
                   "only these kinds of lines: pool, process, event, counter (default: all)")
      ->check(CLI::IsMember({"pool", "process", "event", "counter"}));
  add_allow_damaged_option(*verb, options->allow_damaged);
  verb->callback([&run, options] {
    run = [options]() -> int {
      std::int64_t from = INT64_MIN, to = INT64_MAX;
      for (auto [text, out] : {std::pair{&options->from, &from}, std::pair{&options->to, &to}}) {
        if (text->empty()) continue;
        auto t = parse_utc(*text);
        if (!t) {
          return report_error(Error{ErrorCode::kUsage, 0,
                                    "\"" + *text +
                                        "\" is not a time (expected "
                                        "2026-11-21T11:40:02Z)"});
        }
        *out = store::to_wall_ns(*t);
      }
      auto rec = store::Recording::open_read(options->file);
      if (!rec) return report_error(rec.error());
      store::ExportOptions exporting{.csv = options->format == "csv",
                                     .include = options->include,
                                     .exclude = options->exclude,
                                     .from_ns = from,
                                     .to_ns = to,
                                     .kinds = options->kinds};
      auto result = store::export_recording(*rec, exporting, [](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), stdout);
      });
      if (!result) return report_error(result.error());
      if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        return report_error(Error{ErrorCode::kEnvironment, 0, "cannot write the export"});
      }
      return damaged_exit(options->file, store::describe_damage(result->damage),
                          options->allow_damaged, kExitOk);
    };
  });
}

}  // namespace poolscope::cli
