// Options and helpers shared by verbs.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <tuple>

#include "cli/verbs.h"
#include "core/forward_error.h"
#include "core/units.h"
#include "source/host.h"
#include "source/owner_memo.h"
#include "source/owner_source.h"
#include "store/recording.h"
#include "store/recording_source.h"
#include "trace/tracker.h"

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
  add_allow_damaged_option(verb, options.allow_damaged);
}

void add_allow_damaged_option(CLI::App& verb, bool& allow_damaged) {
  verb.add_flag("--allow-damaged", allow_damaged,
                "a damaged recording: exit 0 with what could be read (what could not is still "
                "counted) instead of 2");
}

int damaged_exit(const std::string& path, const std::string& damage, bool allow_damaged,
                 int normal_code) {
  if (damage.empty()) return normal_code;
  std::fprintf(stderr, "poolscope: %s: %s: %s\n", allow_damaged ? "warning" : "damaged recording",
               path.c_str(), damage.c_str());
  if (allow_damaged) return normal_code;
  std::fprintf(stderr,
               "poolscope: the output above is incomplete; --allow-damaged accepts it (exit %d)\n",
               normal_code);
  return kExitUsage;
}

Result<std::unique_ptr<Source>> open_source(const SourceOptions& options, const Clock& clock) {
  if (options.source != "live" && store::looks_like_sqlite(options.source)) {
    return store::open_recording_source(options.source, options.at);
  }
  if (!options.at.empty()) {
    return make_error(ErrorCode::kUsage, "--at picks a sample of a recording; --source " +
                                             options.source + " is not one");
  }
  if (options.source == "live") return open_live_source(clock);
  return open_file_source(options.source,
                          FileSourceOptions{.allow_bad_lines = options.allow_bad_lines});
}

CLI::Option* add_format_option(CLI::App& verb, std::string& format,
                               const std::vector<std::string>& formats, const std::string& help) {
  auto* option = verb.add_option("--format,-f", format, help);
  if (std::find(formats.begin(), formats.end(), "table") != formats.end()) {
    option->transform(CLI::Transformer(std::map<std::string, std::string>{{"text", "table"}}));
  }
  return option->check(CLI::IsMember(formats))->default_val(formats.front());
}

void add_key_filter_options(CLI::App& verb, std::vector<std::string>& include,
                            std::vector<std::string>& exclude, std::size_t& top,
                            const std::string& top_help, std::size_t top_default) {
  verb.add_option("--include,-i", include,
                  "only keys matching this pattern (* and ?, case-sensitive); repeatable");
  verb.add_option("--exclude,-x", exclude, "drop keys matching this pattern; repeatable");
  verb.add_option("--top", top, top_help)->default_val(top_default);
}

CLI::Validator duration_in_seconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text == "0") return {};
        auto duration = parse_duration(text);
        if (!duration) return duration.error().message;
        text = fmt::format("{}", std::chrono::duration<double>(*duration).count());
        return {};
      },
      "DURATION");
}

void add_select_options(CLI::App& verb, SelectOptions& options) {
  add_key_filter_options(verb, options.include, options.exclude, options.top,
                         "show only the first N rows (0 = all)", 0);
  verb.add_flag("--paged", options.paged, "only paged pool (Windows)");
  verb.add_flag("--nonpaged", options.nonpaged, "only nonpaged pool (Windows)");
  verb.add_option("--sort", options.sort, std::string("sort by: ") + std::string(sort_key_names()))
      ->default_val("bytes");
}

Result<Selection> make_selection(const SelectOptions& options) {
  Selection sel;
  auto key = parse_sort_key(options.sort);
  if (!key) return forward_error(key);
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

void add_owner_options(CLI::App& verb, OwnerOptions& options) {
  verb.add_option("--pooltag", options.pooltag,
                  "pooltag.txt of the Debugging Tools for the OWNER of tags (found automatically "
                  "on Windows)");
  verb.add_option("--kallsyms", options.kallsyms,
                  "kernel symbols (a copy of /proc/kallsyms) for the OWNER of the caches of a "
                  "saved slabinfo; live Linux reads /proc/kallsyms");
  verb.add_flag("--no-owner", options.no_owner,
                "no OWNER column: skip loading kernel symbols (0.1-0.3 s) and pooltag.txt");
}

namespace {

// The files the options name; the Debugging Tools' pooltag.txt when none is named and it is found
// (Windows).
attrib::OwnerResolverOptions owner_files(const OwnerOptions& options) {
  attrib::OwnerResolverOptions load;
  if (!options.pooltag.empty()) {
    load.pooltag = options.pooltag;
  } else {
    load.pooltag = host::default_pooltag();
  }
  if (!options.kallsyms.empty()) load.kallsyms = options.kallsyms;
  return load;
}

// This machine's kernel symbols when no --kallsyms was given (Linux: /proc/kallsyms, readable by
// everyone; addresses are hidden for non-root, the names are what is used), and a note, not an
// error, when they cannot be read.
void default_kallsyms(attrib::OwnerResolverOptions& load) {
  if (!load.kallsyms) {
    load.kallsyms = host::default_kallsyms();
    load.kallsyms_required = false;
  }
}

}  // namespace

Result<attrib::OwnerResolver> make_owner_resolver(const OwnerOptions& options,
                                                  const SourceOptions& source,
                                                  std::vector<std::string>& notes) {
  attrib::OwnerResolverOptions load = owner_files(options);
  load.allow_bad_lines = source.allow_bad_lines;
  if (source.source == "live" && host::has_slab_sysfs()) {
    load.read_sysfs = true;
    default_kallsyms(load);
    if (auto memo = owner_memo_location()) {  // owners kept between runs of this boot
      load.memo_file = memo->file;
      load.memo_key = memo->key;
    }
  }
  auto resolver = attrib::OwnerResolver::load(load);
  if (resolver) notes.insert(notes.end(), resolver->notes().begin(), resolver->notes().end());
  return resolver;
}

Result<attrib::OwnerResolver> make_report_owner_resolver(const OwnerOptions& options) {
  attrib::OwnerResolverOptions load = owner_files(options);
  default_kallsyms(load);
  return attrib::OwnerResolver::load(load);
}

void fill_report_owners(detect::Report& report, const attrib::OwnerResolver& resolver) {
  for (auto* findings : {&report.findings, &report.reclaimable}) {
    for (auto& finding : *findings) {
      if (finding.owner.empty()) finding.owner = resolver.owner_of(finding.key);
    }
  }
  for (auto& consumer : report.top) {
    if (consumer.owner.empty()) consumer.owner = resolver.owner_of(consumer.key);
  }
  detect::group_incidents(report);  // the owners weigh in the choice of each incident's source
}

Result<std::unique_ptr<Source>> add_owners_once(std::unique_ptr<Source> source,
                                                const OwnerOptions& options) {
  if (options.no_owner) return source;
  std::vector<std::string> notes;
  // Loaded now: a file named on the command line that cannot be read is an error before anything
  // is recorded.
  auto resolver = make_owner_resolver(options, SourceOptions{}, notes);
  if (!resolver) return forward_error(resolver);
  return with_owners_once(
      std::move(source), std::move(*resolver),
      [options]() -> std::optional<attrib::OwnerResolver> {
        std::vector<std::string> ignored;
        auto loaded = make_owner_resolver(options, SourceOptions{}, ignored);
        if (!loaded) return std::nullopt;
        return std::move(*loaded);
      },
      std::move(notes));
}

Result<std::unique_ptr<Source>> add_owners(std::unique_ptr<Source> source,
                                           const OwnerOptions& options,
                                           const SourceOptions& source_options) {
  if (options.no_owner) return source;
  std::vector<std::string> notes;
  auto resolver = make_owner_resolver(options, source_options, notes);
  if (!resolver) return forward_error(resolver);
  return with_owners(std::move(source),
                     std::make_shared<const attrib::OwnerResolver>(std::move(*resolver)),
                     std::move(notes));
}

std::optional<Error> add_report_owners(detect::Report& report, const OwnerOptions& options) {
  if (options.no_owner) return std::nullopt;
  auto resolver = make_report_owner_resolver(options);
  if (!resolver) return resolver.error();
  fill_report_owners(report, *resolver);
  return std::nullopt;
}

int report_error(const Error& error) {
  std::fprintf(stderr, "poolscope: %s\n", error.message.c_str());
  return exit_code_for(error.code);
}

void add_trace_report_options(CLI::App& verb, std::string& duration, double& min_age_s,
                              std::string& format, std::size_t& top, std::size_t& max_tracked) {
  verb.add_option("--duration,-d", duration, "how long to trace (30s, 5m)")->default_val("10s");
  verb.add_option("--min-age", min_age_s,
                  "show only allocations at least this old at the end (30s, 2m; 0: all)")
      ->transform(duration_in_seconds())
      ->default_val(0);
  add_format_option(verb, format, kTableFormats,
                    "table (or text), json or csv (the call-site rows)");
  verb.add_option("--top", top, "call sites shown (0: all)")->default_val(20);
  verb.add_option("--max-tracked", max_tracked,
                  "allocations tracked at once (64 bytes each; rounded up to a power of two)")
      ->default_val(trace::kDefaultMaxTracked);
}

}  // namespace poolscope::cli
