// One function per verb: adds its subcommand and options to the app; the callback runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "attrib/call_sites.h"
#include "attrib/driver_file.h"
#include "attrib/driver_folder.h"
#include "attrib/driver_tree.h"
#include "attrib/owner_resolver.h"
#include "core/clock.h"
#include "core/result.h"
#include "core/select.h"
#include "detect/detector.h"
#include "source/owner_source.h"
#include "source/source.h"

namespace poolscope::cli {

// The verb chosen on the command line; returns the process exit code.
using VerbMain = std::function<int()>;

void add_snapshot_verb(CLI::App& app, VerbMain& run);
void add_summary_verb(CLI::App& app, VerbMain& run);
void add_top_verb(CLI::App& app, VerbMain& run);
void add_record_verb(CLI::App& app, VerbMain& run);
void add_import_verb(CLI::App& app, VerbMain& run);
void add_export_verb(CLI::App& app, VerbMain& run);
// Owner attribution (src/attrib): which driver owns a tag; every tag of a folder of drivers.
void add_who_verb(CLI::App& app, VerbMain& run);
// Leak detection (src/detect): over a recording, live, and the whole hunt on this machine.
void add_leaks_verb(CLI::App& app, VerbMain& run);
void add_watch_verb(CLI::App& app, VerbMain& run);
void add_diagnose_verb(CLI::App& app, VerbMain& run);
void add_drivers_verb(CLI::App& app, VerbMain& run);
// The fleet (src/serve): the live pools and findings as Prometheus metrics.
void add_serve_verb(CLI::App& app, VerbMain& run);
// Allocation tracing (src/trace): outstanding allocations by call site (Linux: kmem events;
// Windows: ETW pool events).
void add_trace_verb(CLI::App& app, VerbMain& run);
// The options `trace` has on every platform: --duration, --min-age, --format, --top, --max-tracked.
void add_trace_report_options(CLI::App& verb, std::string& duration, double& min_age_s,
                              std::string& format, std::size_t& top, std::size_t& max_tracked);
struct EtlLoadOptions {
  std::string path;
  std::vector<std::string> tags;  // only these pool tags (empty: all)
  double min_age_s = 0;
  std::string format = "table";
  std::size_t top = 20;
  std::size_t max_tracked = 0;
};
int run_etl_trace_load(const EtlLoadOptions& options);
// `diagnose`'s confirmation of a leak's call site (Linux, root): traces only `cache` (a generic
// kmalloc cache), or the page allocator with kernel stacks when `cache` is empty, for `duration`,
// and prints the `trace` table of the top call sites (with `json`: the `trace --format json`
// report goes there instead). Returns the exit code `trace` would.
int trace_call_sites(const std::string& cache, const std::string& duration, std::size_t top,
                     std::string* json = nullptr);
// After diagnose's findings (diagnose_confirm.cpp): the first confirmed leak in a generic kmalloc
// cache or in page-allocator memory is traced for 10 s to name its call site (Linux, root; else
// what needs root), printed, or put into the findings JSON as "trace".
void confirm_call_site(const detect::Report& report);
void confirm_call_site_json(const detect::Report& report, nlohmann::ordered_json& j);
// The HTML report of a recording (src/report).
void add_report_verb(CLI::App& app, VerbMain& run);

// `leaks --prometheus URL` (leaks_prometheus.cpp): the detector over Prometheus' series.
struct PrometheusLeaksOptions {
  std::string url, match, since = "24h", step;
  // "auto": batches sized to about kPointBudget points per query from the first host read;
  // a number: that many hosts; 0: every host in one query per metric (the old way).
  std::string hosts_per_query = "auto";
};
void add_prometheus_leaks_options(CLI::App& verb, PrometheusLeaksOptions& options);
int run_prometheus_leaks(const PrometheusLeaksOptions& options,
                         const detect::DetectorOptions& detector, const std::string& format,
                         std::size_t max_buckets, bool fail_on_leak);

// `leaks --format csv` (verb_leaks.cpp): a report's findings, reclaimable growth and largest
// consumers as rows (column kind; instance: the Prometheus instance, "" for a recording) ...
void append_leak_rows(const detect::Report& report, const std::string& instance,
                      nlohmann::ordered_json& rows);
// ... and their CSV (with an instance column for --prometheus).
std::string leak_rows_csv(const nlohmann::ordered_json& rows, bool with_instance);

// Shared by leaks, watch and diagnose (verb_leaks.cpp).
void add_detector_options(CLI::App& verb, detect::DetectorOptions& options);

// The option sets every verb shares: the same name means the same thing everywhere.
// --format,-f with the verb's outputs (the first is the default). "text" is accepted for "table"
// (the verb sees "table"); a table verb offers table|json|csv, a verb whose records stream
// table|jsonl.
CLI::Option* add_format_option(CLI::App& verb, std::string& format,
                               const std::vector<std::string>& formats, const std::string& help);
inline const std::vector<std::string> kTableFormats{"table", "json", "csv"};
// -i/--include and -x/--exclude (patterns with * and ?, case-sensitive, repeatable) and --top N,
// on every verb that lists keys.
void add_key_filter_options(CLI::App& verb, std::vector<std::string>& include,
                            std::vector<std::string>& exclude, std::size_t& top,
                            const std::string& top_help, std::size_t top_default);
// A time option kept in seconds (a number): it takes every duration ("500ms", "2m", "48h"; a bare
// number is seconds), and "0" where zero means "none".
CLI::Validator duration_in_seconds();
// Issue 21's one rule for every verb that reads a recording: it outputs what it could, counts what
// it skipped, and exits 2 unless --allow-damaged.
void add_allow_damaged_option(CLI::App& verb, bool& allow_damaged);
// Call after the output is written: prints what of `path` could not be read (`damage`, from
// store::describe_damage; empty: nothing) to stderr and returns 2, or normal_code when nothing was
// damaged or with --allow-damaged.
int damaged_exit(const std::string& path, const std::string& damage, bool allow_damaged,
                 int normal_code);

// Shared by the verbs that read pools.
struct SourceOptions {
  std::string source = "live";
  bool allow_bad_lines = false;
  bool allow_damaged = false;  // a damaged recording: exit 0 (its damage still shown)
  std::string at;  // a recording (.db) source: the sample at or before this time; default last
};
void add_source_options(CLI::App& verb, SourceOptions& options);
Result<std::unique_ptr<Source>> open_source(const SourceOptions& options, const Clock& clock);

struct SelectOptions {
  std::vector<std::string> include, exclude;
  bool paged = false, nonpaged = false;
  std::string sort = "bytes";
  std::size_t top = 0;
};
void add_select_options(CLI::App& verb, SelectOptions& options);
Result<Selection> make_selection(const SelectOptions& options);

// The OWNER column of snapshot and top (src/attrib).
struct OwnerOptions {
  std::string pooltag;   // pooltag.txt for Windows tags
  std::string kallsyms;  // kernel symbols for a saved slabinfo (live Linux: /proc/kallsyms)
  bool no_owner = false;
};
void add_owner_options(CLI::App& verb, OwnerOptions& options);
// pooltag.txt for tags (--pooltag FILE, or on Windows the Debugging Tools' copy when found); for
// a live Linux source /proc/kallsyms and /sys/kernel/slab, for a file --kallsyms FILE. A file named
// on the command line that cannot be read is an error; what could not be loaded by default is a
// note (added to every sample by with_owners).
Result<attrib::OwnerResolver> make_owner_resolver(const OwnerOptions& options,
                                                  const SourceOptions& source,
                                                  std::vector<std::string>& notes);
// make_owner_resolver and source/owner_source.h's with_owners for a verb's options; the source
// unchanged with --no-owner.
Result<std::unique_ptr<Source>> add_owners(std::unique_ptr<Source> source,
                                           const OwnerOptions& options,
                                           const SourceOptions& source_options);
// For `record` (a live source, for days): the same owners, each key's resolved once when it first
// appears and remembered, the resolver released in between (the recorder stays small).
Result<std::unique_ptr<Source>> add_owners_once(std::unique_ptr<Source> source,
                                                const OwnerOptions& options);

// The OWNER of the findings and largest consumers of leaks, watch and diagnose, where the samples
// gave none: for a recording analysed later (leaks) pooltag.txt as above and the kernel symbols of
// --kallsyms, else of this machine (/proc/kallsyms, names only; /sys/kernel/slab is not read, it
// describes this boot, not the recording's). A file named on the command line that cannot be read
// is an error.
Result<attrib::OwnerResolver> make_report_owner_resolver(const OwnerOptions& options);
void fill_report_owners(detect::Report& report, const attrib::OwnerResolver& resolver);
// Both, unless --no-owner; the error when a named file cannot be read.
std::optional<Error> add_report_owners(detect::Report& report, const OwnerOptions& options);

// Prints "poolscope: <message>" to stderr and returns the exit code for the error.
int report_error(const Error& error);

}  // namespace poolscope::cli
