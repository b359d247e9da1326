// Options and helpers shared by verbs.
#include <cstdio>

#include "cli/verbs.h"
#include "store/recording.h"

namespace poolscope::cli {

void add_source_options(CLI::App& verb, SourceOptions& options) {
  verb.add_option(
          "--source", options.source,
          "live (this machine) or a file: poolmon screen or /n log, WinDbg !poolused or !vm "
          "output, saved /proc/slabinfo, or a recording (.db) of poolscope record/import")
      ->default_val("live");
  verb.add_option("--at", options.at,
                  "with a recording: the sample at or before this time (UTC, "
                  "2026-11-21T11:40:02Z); default: the last one");
  verb.add_flag("--allow-bad-lines", options.allow_bad_lines,
                "skip malformed lines of a file (each is reported) instead of failing");
}

Result<std::unique_ptr<Source>> open_source(const SourceOptions& options, const Clock& clock) {
  if (options.source != "live" && store::looks_like_sqlite(options.source)) {
    return open_recording_source(options.source, options.at);
  }
  if (!options.at.empty()) {
    return make_error(ErrorCode::kUsage, "--at picks a sample of a recording; --source " +
                                             options.source + " is not one");
  }
  if (options.source == "live") return open_live_source(clock);
  return open_file_source(options.source,
                          FileSourceOptions{.allow_bad_lines = options.allow_bad_lines});
}

void add_select_options(CLI::App& verb, SelectOptions& options) {
  verb.add_option("--include,-i", options.include,
                  "only keys matching this pattern (* and ?, case-sensitive); repeatable");
  verb.add_option("--exclude,-x", options.exclude, "drop keys matching this pattern; repeatable");
  verb.add_flag("--paged", options.paged, "only paged pool (Windows)");
  verb.add_flag("--nonpaged", options.nonpaged, "only nonpaged pool (Windows)");
  verb.add_option("--sort", options.sort, std::string("sort by: ") + std::string(sort_key_names()))
      ->default_val("bytes");
  verb.add_option("--top", options.top, "show only the first N rows (0 = all)")->default_val(0);
}

Result<Selection> make_selection(const SelectOptions& options) {
  Selection sel;
  auto key = parse_sort_key(options.sort);
  if (!key) return std::unexpected(key.error());
  sel.sort = *key;
  sel.include = options.include;
  sel.exclude = options.exclude;
  sel.top = options.top;
  if (options.paged) {
    sel.pools.push_back(PoolKind::kPaged);
    sel.pools.push_back(PoolKind::kSession);
  }
  if (options.nonpaged) sel.pools.push_back(PoolKind::kNonPaged);
  return sel;
}

int report_error(const Error& error) {
  std::fprintf(stderr, "poolscope: %s\n", error.message.c_str());
  return exit_code_for(error.code);
}

}  // namespace poolscope::cli
