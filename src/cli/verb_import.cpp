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
#include "store/recording.h"
#include "trace/etl_trace.h"

namespace poolscope::cli {

namespace {

constexpr std::size_t kMaxDiagnosticsShown = 10;

// What one file contributes.
struct ImportedFile {
  std::string path;
  std::string format;
  std::vector<Snapshot> snapshots;
  // A poolmon log is streamed again when written: how many screens it holds, and their time.
  std::size_t streamed_snapshots = 0;
  std::chrono::system_clock::time_point when{};
  std::vector<parse::HttpErrEvent> events;
  std::optional<parse::CounterLog> counters;
  std::vector<std::string> notes;
};

std::string import_formats_help() {
  return std::string(parse::known_formats_help()) +
         "  - PDH counter logs in CSV/TSV (typeperf, relog, perfmon data collector sets: "
         "\"(PDH-CSV 4.0)\")\n"
         "  - HTTP.sys error logs (httperr*.log: \"#Software: Microsoft HTTP API\" / "
         "\"#Fields:\")\n"
         "  - Windows pool traces (.etl from xperf/WPR with POOL): outstanding per tag over time\n";
}

// A PDH log names its format in its first field; UTF-16 logs spell it in 2-byte characters.
bool looks_like_pdh(std::string_view text) {
  const std::string_view head = text.substr(0, 256);
  if (head.find("(PDH-CSV 4.0)") != std::string_view::npos) return true;
  if (head.find("(PDH-TSV 4.0)") != std::string_view::npos) return true;
  static constexpr char kWide[] = {'P', 0, 'D', 0, 'H', 0, '-', 0};
  return head.find(std::string_view(kWide, sizeof kWide)) != std::string_view::npos;
}

bool looks_like_httperr(std::string_view text) {
  parse::LineReader lines(text.substr(0, 4096));
  std::string_view line;
  while (lines.next(line)) {
    auto t = parse::trim(line);
    if (t.empty()) continue;
    return t.starts_with("#Software: Microsoft HTTP API") || t.starts_with("#Fields:");
  }
  return false;
}

Error diagnostics_error(const std::string& path, const std::vector<parse::Diagnostic>& diags,
                        std::size_t total = 0) {
  return Error{ErrorCode::kInput, 0,
               list_diagnostics(path, diags, kMaxDiagnosticsShown, total) +
                   "nothing was imported (the import is all or nothing); fix the line(s) and "
                   "import again"};
}

// Streams a poolmon log screen by screen (memory bounded by a screen, not the file): on_snapshot
// gets each one in order. Validation (on_snapshot empty) collects up to kMaxDiagnosticsShown + 1
// diagnostics and counts them all.
Result<std::size_t> stream_poolmon(TextFile& file,
                                   const std::function<Result<void>(Snapshot&)>& on_snapshot,
                                   std::vector<parse::Diagnostic>& diagnostics,
                                   std::size_t& bad_lines) {
  parse::PoolmonLineParser parser(true);
  std::size_t snapshots = 0;
  auto take = [&](std::vector<parse::ParsedSnapshot> done) -> Result<void> {
    for (auto& p : done) {
      for (auto& d : p.diagnostics) {
        if (diagnostics.size() <= kMaxDiagnosticsShown) diagnostics.push_back(std::move(d));
      }
      ++snapshots;
      if (on_snapshot) {
        if (auto ok = on_snapshot(p.snapshot); !ok) return ok;
      }
    }
    return {};
  };
  auto read = for_each_line(file, [&](std::string_view line, std::size_t number) {
    parser.line(line, number);
    return take(parser.take_completed());
  });
  if (!read) return std::unexpected(read.error());
  auto rest = parser.finish();
  if (!rest) return make_error(rest.error().code, file.path() + ": " + rest.error().message);
  if (auto ok = take(std::move(*rest)); !ok) return std::unexpected(ok.error());
  bad_lines = parser.diagnostic_count();
  return snapshots;
}

Result<ImportedFile> parse_file(const std::string& path,
                                std::optional<std::chrono::system_clock::time_point> at,
                                const parse::PdhCsvOptions& pdh_options) {
  ImportedFile file;
  file.path = path;
  // Refuses devices and FIFOs before anything opens them.
  auto opened = TextFile::open(path);
  if (!opened) return std::unexpected(opened.error());
  if (store::looks_like_sqlite(path)) {
    return make_error(ErrorCode::kInput,
                      path +
                          " is an SQLite file (a recording?); import reads text artifacts. "
                          "Known formats:\n" +
                          import_formats_help());
  }
  if (is_etl_file(path)) {  // a Windows pool trace (xperf/WPR): outstanding per tag over its time
    std::ifstream in(path, std::ios::binary);
    auto series = trace::etl::read_tag_series(trace::etl::stream_source(in), path);
    if (!series) return make_error(series.error().code, path + ": " + series.error().message);
    file.format = "etl";
    file.snapshots = std::move(series->snapshots);
    file.notes = trace::etl::run_facts(series->trace, path).notes;
    return file;
  }
  auto head = opened->head(kTextHeadBytes);
  if (!head) return std::unexpected(head.error());
  const bool pdh = looks_like_pdh(*head);
  const bool httperr = !pdh && looks_like_httperr(*head);
  const parse::TextFormat format =
      pdh || httperr ? parse::TextFormat::kUnknown : parse::detect_format(*head);
  head->clear();
  head->shrink_to_fit();
  if (!pdh && !httperr && format == parse::TextFormat::kUnknown) {
    return make_error(
        ErrorCode::kInput,
        path + ": not a format poolscope can import. Known formats:\n" + import_formats_help());
  }
  std::vector<parse::ParsedSnapshot> parsed;
  if (format == parse::TextFormat::kPoolmon) {
    // A poolmon -n log holds one screen per refresh (one sample each) and grows for days: read
    // it twice, streamed, to check every line now and write the screens one by one later.
    std::vector<parse::Diagnostic> diagnostics;
    std::size_t bad_lines = 0;
    auto count = stream_poolmon(*opened, {}, diagnostics, bad_lines);
    if (!count) return std::unexpected(count.error());
    if (bad_lines > 0) return std::unexpected(diagnostics_error(path, diagnostics, bad_lines));
    file.streamed_snapshots = *count;
  } else {
    auto text = opened->read_all(kMaxWholeTextBytes);
    if (!text) return std::unexpected(text.error());
    if (pdh) {
      auto log = parse::parse_pdh_csv(*text, pdh_options);
      if (!log) return make_error(log.error().code, path + ": " + log.error().message);
      if (!log->diagnostics.empty()) {
        return std::unexpected(diagnostics_error(path, log->diagnostics));
      }
      file.format = log->log.format;
      file.notes = log->log.notes;
      file.counters = std::move(log->log);
      return file;
    }
    if (httperr) {
      auto log = parse::parse_httperr(*text);
      if (!log) return make_error(log.error().code, path + ": " + log.error().message);
      if (!log->diagnostics.empty()) {
        return std::unexpected(diagnostics_error(path, log->diagnostics));
      }
      file.format = "httperr";
      file.notes = log->log.notes;
      file.events = std::move(log->log.events);
      return file;
    }
    auto one = parse::parse_pool_text(*text);
    if (!one) return make_error(one.error().code, path + ": " + one.error().message);
    parsed.push_back(std::move(*one));
  }
  std::vector<parse::Diagnostic> diagnostics;
  for (const auto& p : parsed) {
    diagnostics.insert(diagnostics.end(), p.diagnostics.begin(), p.diagnostics.end());
  }
  if (!diagnostics.empty()) return std::unexpected(diagnostics_error(path, diagnostics));

  // Text dumps carry no date: --at, else the file's modification time.
  std::error_code ec;
  std::chrono::system_clock::time_point when{};
  if (at) {
    when = *at;
  } else {
    auto mtime = std::filesystem::last_write_time(path, ec);
    if (!ec) {
      when = std::chrono::time_point_cast<std::chrono::system_clock::duration>(
          std::chrono::file_clock::to_sys(mtime));
    }
  }
  file.format = std::string(parse::text_format_name(format));
  file.when = when;
  for (auto& p : parsed) {
    Snapshot s = std::move(p.snapshot);
    if (s.wall_time == std::chrono::system_clock::time_point{}) s.wall_time = when;
    s.source = path;
    file.snapshots.push_back(std::move(s));
  }
  return file;
}

std::string event_detail(const parse::HttpErrEvent& e, const std::string& path) {
  nlohmann::ordered_json j;
  j["reason"] = e.reason;
  if (e.status) j["status"] = *e.status;
  j["client_ip"] = e.client_ip;
  if (e.client_port) j["client_port"] = *e.client_port;
  j["server_ip"] = e.server_ip;
  if (e.server_port) j["server_port"] = *e.server_port;
  j["protocol"] = e.protocol;
  j["method"] = e.method;
  j["url"] = e.url;
  j["site_id"] = e.site_id;
  j["queue"] = e.queue;
  // Connections_Refused: HTTP.sys stopped accepting because nonpaged pool fell below 20 MB.
  if (parse::is_pool_pressure(e.reason)) {
    j["pool_pressure"] = true;
    j["refused_connections"] = parse::refused_connection_count(e.reason);
  }
  j["file"] = path;
  j["line"] = e.line;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<void> write_file(store::Recording& rec, const ImportedFile& file, std::size_t& samples,
                        std::size_t& events, std::size_t& points) {
  for (const Snapshot& s : file.snapshots) {
    auto seq = rec.append(s);
    if (!seq) return std::unexpected(seq.error());
    ++samples;
  }
  if (file.streamed_snapshots > 0) {
    auto opened = TextFile::open(file.path);
    if (!opened) return std::unexpected(opened.error());
    std::vector<parse::Diagnostic> diagnostics;
    std::size_t bad_lines = 0;
    auto written = stream_poolmon(
        *opened,
        [&](Snapshot& s) -> Result<void> {
          if (s.wall_time == std::chrono::system_clock::time_point{}) s.wall_time = file.when;
          s.source = file.path;
          auto seq = rec.append(s);
          if (!seq) return std::unexpected(seq.error());
          ++samples;
          return {};
        },
        diagnostics, bad_lines);
    if (!written) return std::unexpected(written.error());
    if (bad_lines > 0 || *written != file.streamed_snapshots) {
      return make_error(ErrorCode::kInput, file.path + " changed while it was imported");
    }
  }
  for (const auto& e : file.events) {
    auto ok = rec.add_event(store::to_wall_ns(e.time), "httperr", event_detail(e, file.path));
    if (!ok) return ok;
    ++events;
  }
  if (file.counters) {
    const parse::CounterLog& log = *file.counters;
    std::vector<store::CounterPoint> series;
    for (std::size_t c = 0; c < log.counters.size(); ++c) {
      const auto& path = log.counters[c];
      auto id = rec.add_counter(path.raw, parse::counter_kind_name(parse::counter_kind(path)));
      if (!id) return std::unexpected(id.error());
      series.clear();
      for (std::size_t row = 0; row < log.times.size(); ++row) {
        // A missing value is absent, not zero.
        if (auto v = parse::counter_value(log, row, c)) {
          series.push_back({store::to_wall_ns(log.times[row]), *v});
        }
      }
      if (auto ok = rec.add_counter_samples(*id, series); !ok) return ok;
      points += series.size();
    }
  }
  return {};
}

}  // namespace

void add_import_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string into;
    std::vector<std::string> paths;
    std::vector<std::string> at;
    std::optional<std::int32_t> bias;
    std::string encoding = "auto";
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
      std::vector<ImportedFile> files;
      for (std::size_t i = 0; i < paths.size(); ++i) {
        const parse::TextEncoding encoding =
            options->encoding == "utf-8"    ? parse::TextEncoding::kUtf8
            : options->encoding == "cp1251" ? parse::TextEncoding::kCp1251
                                            : parse::TextEncoding::kAuto;
        auto file =
            parse_file(paths[i], times[i],
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
      if (auto ok = rec->begin(); !ok) return report_error(ok.error());
      std::size_t samples = 0, events = 0, points = 0, counters = 0;
      for (const auto& file : files) {
        if (auto ok = write_file(*rec, file, samples, events, points); !ok) {
          rec->rollback();
          Error err = ok.error();
          err.message += "\nnothing was imported (the import is all or nothing)";
          return report_error(err);
        }
        if (file.counters) counters += file.counters->counters.size();
      }
      if (auto ok = rec->commit(); !ok) return report_error(ok.error());
      for (const auto& file : files) {
        for (const auto& note : file.notes) {
          std::fprintf(stderr, "poolscope: note: %s: %s\n", file.path.c_str(), note.c_str());
        }
        std::fprintf(stderr, "poolscope: %s: %s", file.path.c_str(), file.format.c_str());
        if (!file.snapshots.empty()) {
          std::fprintf(stderr, ", %zu sample(s) at %s", file.snapshots.size(),
                       format_utc(file.snapshots.front().wall_time).c_str());
        } else if (file.streamed_snapshots > 0) {
          std::fprintf(stderr, ", %zu sample(s) at %s", file.streamed_snapshots,
                       format_utc(file.when).c_str());
        }
        if (!file.events.empty()) std::fprintf(stderr, ", %zu event(s)", file.events.size());
        if (file.counters) {
          std::fprintf(stderr, ", %zu counter(s) x %zu row(s)", file.counters->counters.size(),
                       file.counters->times.size());
        }
        std::fprintf(stderr, "\n");
      }
      std::printf(
          "imported %zu file(s) into %s: %zu sample(s), %zu event(s), %zu counter "
          "series (%zu point(s))\n",
          files.size(), options->into.c_str(), samples, events, counters, points);
      return kExitOk;
    };
  });
}

}  // namespace poolscope::cli
