// One function per verb: adds its subcommand and options to the app; the callback runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "core/select.h"
#include "source/source.h"

namespace poolscope::cli {

// The verb chosen on the command line; returns the process exit code.
using VerbMain = std::function<int()>;

void add_snapshot_verb(CLI::App& app, VerbMain& run);
void add_summary_verb(CLI::App& app, VerbMain& run);
void add_top_verb(CLI::App& app, VerbMain& run);

// Shared by the verbs that read pools.
struct SourceOptions {
  std::string source = "live";
  bool allow_bad_lines = false;
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

// Prints "poolscope: <message>" to stderr and returns the exit code for the error.
int report_error(const Error& error);

}  // namespace poolscope::cli
