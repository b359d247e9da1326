// `poolscope import`: adds saved artifacts (poolmon logs, !poolused/!vm, slabinfo copies, PDH-CSV
// counter logs, httperr.log) to a recording, all files in one transaction.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "cli/verbs.h"
#include "cli/version.h"
#include "core/time_format.h"
#include "parse/httperr.h"
#include "parse/pdh_csv.h"
#include "parse/poolmon.h"
#include "parse/sniff.h"
#include "source/text_file.h"
#include "store/import.h"
#include "trace/etl_trace.h"

namespace poolscope::cli {

void add_import_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string into;
    std::vector<std::string> paths;
    std::vector<std::string> at;
    std::optional<std::int32_t> bias;
    std::string encoding = "auto";
    std::optional<double> refresh;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "import",
      "add saved artifacts to a recording: poolmon logs, !poolused/!vm, slabinfo copies, PDH-CSV "
      "counter logs, httperr.log");
  verb->add_option("--into", options->into, "the recording (SQLite) file; created if missing")
      ->required();
  verb->add_option("paths", options->paths, "files to import (format detected from content)")
      ->required();
  verb->add_option("--at", options->at,
                   "time of text dumps that carry none (UTC, \"2026-11-21T11:40:02Z\"): once for "
                   "all files, or once per file in order; default: each file's mtime");
  verb->add_option("--bias", options->bias,
                   "minutes to add to a PDH log's local times to get UTC, for logs whose header "
                   "has no bias (e.g. -180 for UTC+3)");
  verb->add_option("--encoding", options->encoding,
                   "the encoding of a PDH log's 8-bit text: auto (UTF-8, else cp1251), utf-8 or "
                   "cp1251; UTF-16 with a byte order mark is always recognised")
      ->check(CLI::IsMember({"auto", "utf-8", "cp1251"}))
      ->default_val("auto");
  verb->add_option("--refresh-interval", options->refresh,
                   "poolmon's refresh interval (2, 500ms, 1m), when known: each screen's "
                   "( delta ) columns then add its previous refresh as a sample this long "
                   "before it. Without it, only a single screen's are used, with no rate")
      ->transform(duration_in_seconds())
      ->check(CLI::Range(0.001, 86400.0 * 365));
  verb->callback([&run, options] {
    run = [options]() -> int {
      const auto& paths = options->paths;
      if (options->at.size() > 1 && options->at.size() != paths.size()) {
        return report_error(Error{ErrorCode::kUsage, 0,
                                  "--at was given " + std::to_string(options->at.size()) +
                                      " times for " + std::to_string(paths.size()) +
                                      " files: give it once, or once per file"});
      }
      std::vector<std::optional<std::chrono::system_clock::time_point>> times(paths.size());
      for (std::size_t i = 0; i < options->at.size(); ++i) {
        auto t = parse_utc(options->at[i]);
        if (!t) {
          return report_error(Error{
              ErrorCode::kUsage, 0,
              "--at \"" + options->at[i] + "\" is not a time (expected 2026-11-21T11:40:02Z)"});
        }
        if (options->at.size() == 1) {
          std::fill(times.begin(), times.end(), *t);
        } else {
          times[i] = *t;
        }
      }
      // Parse everything first: a bad file fails the import before anything is written.
      std::vector<store::ImportedFile> files;
      for (std::size_t i = 0; i < paths.size(); ++i) {
        const parse::TextEncoding encoding =
            options->encoding == "utf-8"    ? parse::TextEncoding::kUtf8
            : options->encoding == "cp1251" ? parse::TextEncoding::kCp1251
                                            : parse::TextEncoding::kAuto;
        auto file = store::read_import_file(
            paths[i], times[i],
            parse::PdhCsvOptions{.encoding = encoding, .bias_minutes = options->bias});
        if (!file) return report_error(file.error());
        files.push_back(std::move(*file));
      }
      auto rec = store::Recording::open_write(
          options->into, store::WriterOptions{.purpose = "import", .version = kVersion});
      if (!rec) return report_error(rec.error());
      if (!rec->takeover_note().empty()) {
        std::fprintf(stderr, "poolscope: note: %s\n", rec->takeover_note().c_str());
      }
      auto totals = store::write_imported(
          *rec, files, store::ImportOptions{.refresh_seconds = options->refresh});
      if (!totals) return report_error(totals.error());
      for (const auto& file : files) {
        for (const auto& note : file.notes) {
          std::fprintf(stderr, "poolscope: note: %s: %s\n", file.path.c_str(), note.c_str());
        }
        std::fprintf(stderr, "poolscope: %s\n", store::describe_imported(file).c_str());
      }
      std::printf(
          "imported %zu file(s) into %s: %zu sample(s), %zu event(s), %zu counter "
          "series (%zu point(s))\n",
          files.size(), options->into.c_str(), totals->samples, totals->events, totals->counters,
          totals->points);
      return kExitOk;
    };
  });
}

}  // namespace poolscope::cli
