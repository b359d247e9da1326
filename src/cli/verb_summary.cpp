// `poolscope summary`: pool usage against its limit, as WinDbg's !vm judges it.
#include <cstdio>

#include "cli/verbs.h"
#include "render/snapshot_output.h"
#include "store/recording_source.h"

namespace poolscope::cli {

void add_summary_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    SourceOptions source;
    std::string format = "table";
    std::size_t top = 5;
    bool check = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "summary",
      "pool usage against its limit with a verdict (!vm's view), failures, top consumers");
  add_source_options(*verb, options->source);
  add_format_option(*verb, options->format, kTableFormats, "table (or text), json or csv");
  verb->add_option("--top", options->top, "how many of the largest consumers to list")
      ->default_val(5);
  verb->add_flag(
      "--check", options->check,
      "exit 1 when a pool is above 80% of its limit, allocations failed (pool allocations or any "
      "other failure the source reports, e.g. !vm's kernel stack PTEs), or (Linux) the kernel "
      "memory verdict is excessive (for monitoring)");
  verb->callback([&run, options] {
    run = [options]() -> int {
      SystemClock clock;
      auto source = open_source(options->source, clock);
      if (!source) return report_error(source.error());
      auto snapshot = (*source)->sample();
      if (!snapshot) return report_error(snapshot.error());
      auto verdicts = judge_pools(*snapshot);
      std::string out =
          options->format == "json"  ? render_summary_json(*snapshot, verdicts, options->top)
          : options->format == "csv" ? render_summary_csv(*snapshot, verdicts, options->top)
                                     : render_summary_text(*snapshot, verdicts, options->top);
      std::fwrite(out.data(), 1, out.size(), stdout);
      if (options->format == "csv") {  // the table's notes; csv holds only rows
        for (const auto& note : snapshot->notes) std::fprintf(stderr, "note: %s\n", note.c_str());
      }
      auto checked = [&] {
        if (!options->check) return kExitOk;
        if (auto kernel = summarize_kernel_memory(*snapshot); kernel && kernel->excessive) {
          return kExitFindings;
        }
        if (!snapshot->other_failures.empty()) return kExitFindings;
        for (const auto& v : verdicts) {
          const PoolTotal* t = find_total(*snapshot, v.pool);
          if (v.excessive || (t && t->failures.value_or(0) > 0)) return kExitFindings;
        }
        return kExitOk;
      };
      return damaged_exit(options->source.source, store::recording_damage(*snapshot),
                          options->source.allow_damaged, checked());
    };
  });
}

}  // namespace poolscope::cli
