// Import of saved artifacts into a recording (see import.h).
#include "store/import.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/forward_error.h"
#include "parse/poolmon.h"
#include "parse/sniff.h"

namespace poolscope::store {

namespace {

constexpr std::uint64_t kMaxImportBytes = 1ull << 31;
constexpr std::size_t kMaxDiagnosticsShown = 10;

}  // namespace

std::string import_formats_help() {
  return std::string(parse::known_formats_help()) +
         "  - PDH counter logs in CSV/TSV (typeperf, relog, perfmon data collector sets: "
         "\"(PDH-CSV 4.0)\")\n"
         "  - HTTP.sys error logs (httperr*.log: \"#Software: Microsoft HTTP API\" / "
         "\"#Fields:\")\n";
}

namespace {

Result<std::string> read_whole_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return make_error(ErrorCode::kInput, "cannot open " + path + ": No such file or directory");
  }
  if (fs::is_directory(status)) return make_error(ErrorCode::kInput, path + " is a directory");
  auto size = fs::file_size(path, ec);
  if (!ec && size > kMaxImportBytes) {
    return make_error(ErrorCode::kInput, path + " is larger than 2 GiB; split it first");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return make_error(ErrorCode::kInput, "cannot open " + path + ": " + std::strerror(err), err);
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text;
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

Error diagnostics_error(const std::string& path, const std::vector<parse::Diagnostic>& diags) {
  std::string msg;
  std::size_t shown = 0;
  for (const auto& d : diags) {
    if (shown++ == kMaxDiagnosticsShown) {
      msg += "... and " + std::to_string(diags.size() - kMaxDiagnosticsShown) + " more\n";
      break;
    }
    msg += path + ":" + std::to_string(d.line) + ": " + d.message + "\n";
  }
  msg += "nothing was imported (the import is all or nothing); fix the line(s) and import again";
  return Error{ErrorCode::kInput, 0, msg};
}

}  // namespace

Result<ImportedFile> parse_import_file(const std::string& path,
                                       std::optional<std::chrono::system_clock::time_point> at,
                                       const parse::PdhCsvOptions& pdh) {
  ImportedFile file;
  file.path = path;
  if (looks_like_sqlite(path)) {
    return make_error(ErrorCode::kInput,
                      path +
                          " is an SQLite file (a recording?); import reads text artifacts. "
                          "Known formats:\n" +
                          import_formats_help());
  }
  auto text = read_whole_file(path);
  if (!text) return forward_error(text);

  if (looks_like_pdh(*text)) {
    auto parsed = parse::parse_pdh_csv(*text, pdh);
    if (!parsed) return make_error(parsed.error().code, path + ": " + parsed.error().message);
    if (!parsed->diagnostics.empty()) {
      return std::unexpected(diagnostics_error(path, parsed->diagnostics));
    }
    file.format = parsed->log.format;
    file.notes = parsed->log.notes;
    file.counters = std::move(parsed->log);
    return file;
  }
  if (looks_like_httperr(*text)) {
    auto parsed = parse::parse_httperr(*text);
    if (!parsed) return make_error(parsed.error().code, path + ": " + parsed.error().message);
    if (!parsed->diagnostics.empty()) {
      return std::unexpected(diagnostics_error(path, parsed->diagnostics));
    }
    file.format = "httperr";
    file.notes = parsed->log.notes;
    file.events = std::move(parsed->log.events);
    return file;
  }

  const parse::TextFormat format = parse::detect_format(*text);
  std::vector<parse::ParsedSnapshot> parsed;
  if (format == parse::TextFormat::kPoolmon) {
    // A poolmon -n log holds one screen per refresh: one sample each.
    auto all = parse::parse_poolmon_all(*text);
    if (!all) return make_error(all.error().code, path + ": " + all.error().message);
    parsed = std::move(*all);
  } else if (format != parse::TextFormat::kUnknown) {
    auto one = parse::parse_pool_text(*text);
    if (!one) return make_error(one.error().code, path + ": " + one.error().message);
    parsed.push_back(std::move(*one));
  } else {
    return make_error(
        ErrorCode::kInput,
        path + ": not a format poolscope can import. Known formats:\n" + import_formats_help());
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
  for (auto& p : parsed) {
    Snapshot s = std::move(p.snapshot);
    if (s.wall_time == std::chrono::system_clock::time_point{}) s.wall_time = when;
    s.source = path;
    file.snapshots.push_back(std::move(s));
  }
  return file;
}

namespace {

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

Result<void> write_file(Recording& rec, const ImportedFile& file, ImportTotals& totals) {
  for (const Snapshot& s : file.snapshots) {
    auto seq = rec.append(s);
    if (!seq) return forward_error(seq);
    ++totals.samples;
  }
  for (const auto& e : file.events) {
    auto ok = rec.add_event(to_wall_ns(e.time), "httperr", event_detail(e, file.path));
    if (!ok) return ok;
    ++totals.events;
  }
  if (file.counters) {
    const parse::CounterLog& log = *file.counters;
    std::vector<CounterPoint> series;
    for (std::size_t c = 0; c < log.counters.size(); ++c) {
      const auto& path = log.counters[c];
      auto id = rec.add_counter(path.raw, parse::counter_kind_name(parse::counter_kind(path)));
      if (!id) return forward_error(id);
      series.clear();
      for (std::size_t row = 0; row < log.times.size(); ++row) {
        // A missing value is absent, not zero.
        if (auto v = parse::counter_value(log, row, c)) {
          series.push_back({to_wall_ns(log.times[row]), *v});
        }
      }
      if (auto ok = rec.add_counter_samples(*id, series); !ok) return ok;
      totals.points += series.size();
    }
    totals.counters += log.counters.size();
  }
  return {};
}

}  // namespace

Result<ImportTotals> import_files(Recording& rec, const std::vector<ImportedFile>& files) {
  if (auto ok = rec.begin(); !ok) return forward_error(ok);
  ImportTotals totals;
  for (const auto& file : files) {
    if (auto ok = write_file(rec, file, totals); !ok) {
      rec.rollback();
      Error err = ok.error();
      err.message += "\nnothing was imported (the import is all or nothing)";
      return std::unexpected(err);
    }
  }
  if (auto ok = rec.commit(); !ok) return forward_error(ok);
  return totals;
}

}  // namespace poolscope::store
