// Import of saved artifacts into a recording (see import.h).
#include "store/import.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/forward_error.h"
#include "core/time_format.h"
#include "parse/poolmon.h"
#include "parse/sniff.h"
#include "parse/tasklist.h"
#include "source/text_file.h"
#include "trace/etl_trace.h"

namespace poolscope::store {

namespace {

constexpr std::size_t kMaxDiagnosticsShown = 10;

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
Result<std::size_t> stream_poolmon(
    TextFile& file, const std::function<Result<void>(parse::ParsedSnapshot&)>& on_snapshot,
    std::vector<parse::Diagnostic>& diagnostics, std::size_t& bad_lines) {
  parse::PoolmonLineParser parser(true);
  std::size_t snapshots = 0;
  auto take = [&](std::vector<parse::ParsedSnapshot> done) -> Result<void> {
    for (auto& p : done) {
      for (auto& d : p.diagnostics) {
        if (diagnostics.size() <= kMaxDiagnosticsShown) diagnostics.push_back(std::move(d));
      }
      ++snapshots;
      if (on_snapshot) {
        if (auto ok = on_snapshot(p); !ok) return ok;
      }
    }
    return {};
  };
  auto read = for_each_line(file, [&](std::string_view line, std::size_t number) {
    parser.line(line, number);
    return take(parser.take_completed());
  });
  if (!read) return forward_error(read);
  auto rest = parser.finish();
  if (!rest) return make_error(rest.error().code, file.path() + ": " + rest.error().message);
  if (auto ok = take(std::move(*rest)); !ok) return forward_error(ok);
  bad_lines = parser.diagnostic_count();
  return snapshots;
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

// Text dumps carry no date: --at, else the file's modification time.
std::chrono::system_clock::time_point text_time(
    const std::string& path, std::optional<std::chrono::system_clock::time_point> at) {
  if (at) return *at;
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(path, ec);
  if (ec) return {};
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(
      std::chrono::file_clock::to_sys(mtime));
}

std::string seconds_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", seconds);
  return buf;
}

// How a screen's "( delta)" columns become a sample (ImportedFile::screens_with_changes).
enum class PreviousRefresh { kSkip, kAtInterval, kSameTime };

// Process lists by time: each goes with the pool samples of its time.
using ProcessLists = std::map<std::chrono::system_clock::time_point, const ProcessSample*>;

const ProcessSample* processes_at(const ProcessLists& lists,
                                  std::chrono::system_clock::time_point t) {
  auto it = lists.find(t);
  return it == lists.end() ? nullptr : it->second;
}

Result<void> write_file(Recording& rec, const ImportedFile& file, PreviousRefresh previous,
                        double refresh_seconds, const ProcessLists& lists, std::size_t& samples,
                        std::size_t& events, std::size_t& points) {
  for (const Snapshot& s : file.snapshots) {
    auto seq = rec.append(s, processes_at(lists, s.wall_time));
    if (!seq) return forward_error(seq);
    ++samples;
  }
  if (file.streamed_snapshots > 0) {
    auto opened = TextFile::open(file.path);
    if (!opened) return forward_error(opened);
    std::vector<parse::Diagnostic> diagnostics;
    std::size_t bad_lines = 0;
    std::optional<std::chrono::system_clock::time_point> last_written;
    auto written = stream_poolmon(
        *opened,
        [&](parse::ParsedSnapshot& p) -> Result<void> {
          Snapshot& s = p.snapshot;
          if (s.wall_time == std::chrono::system_clock::time_point{}) s.wall_time = file.when;
          s.source = file.path;
          if (p.previous_refresh && previous != PreviousRefresh::kSkip) {
            Snapshot& before = *p.previous_refresh;
            before.source = file.path;
            if (previous == PreviousRefresh::kAtInterval) {
              before.wall_time =
                  s.wall_time - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                    std::chrono::duration<double>(refresh_seconds));
              before.notes.push_back(
                  "poolmon's previous refresh, from the screen's ( delta ) columns, " +
                  seconds_text(refresh_seconds) + " before it (--refresh-interval)");
            } else {
              before.wall_time = s.wall_time;
              before.notes.push_back(
                  "poolmon's previous refresh, from the screen's ( delta ) columns; poolmon does "
                  "not print its refresh interval, so it carries the screen's time and gives "
                  "growth but no rate (import --refresh-interval gives one)");
            }
            // A log's earlier screen already is that sample when it is that close.
            if (!last_written || *last_written < before.wall_time) {
              auto seq = rec.append(before);
              if (!seq) return forward_error(seq);
              ++samples;
            }
          }
          last_written = s.wall_time;
          auto seq = rec.append(s, processes_at(lists, s.wall_time));
          if (!seq) return forward_error(seq);
          ++samples;
          return {};
        },
        diagnostics, bad_lines);
    if (!written) return forward_error(written);
    if (bad_lines > 0 || *written != file.streamed_snapshots) {
      return make_error(ErrorCode::kInput, file.path + " changed while it was imported");
    }
  }
  for (const auto& e : file.events) {
    auto ok = rec.add_event(to_wall_ns(e.time), "httperr", event_detail(e, file.path));
    if (!ok) return ok;
    ++events;
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
      points += series.size();
    }
  }
  return {};
}

}  // namespace

std::string import_formats_help() {
  return std::string(parse::known_formats_help()) +
         "  - PDH counter logs in CSV/TSV (typeperf, relog, perfmon data collector sets: "
         "\"(PDH-CSV 4.0)\")\n"
         "  - HTTP.sys error logs (httperr*.log: \"#Software: Microsoft HTTP API\" / "
         "\"#Fields:\")\n"
         "  - Windows pool traces (.etl from xperf/WPR with POOL): outstanding per tag over time\n"
         "  - Windows process lists (tasklist, tasklist /FO CSV): stored with the pool samples of "
         "the same --at time\n";
}

Result<ImportedFile> read_import_file(const std::string& path,
                                      std::optional<std::chrono::system_clock::time_point> at,
                                      const parse::PdhCsvOptions& pdh_options) {
  ImportedFile file;
  file.path = path;
  // Refuses devices and FIFOs before anything opens them.
  auto opened = TextFile::open(path);
  if (!opened) return forward_error(opened);
  if (looks_like_sqlite(path)) {
    return make_error(ErrorCode::kInput,
                      path +
                          " is an SQLite file (a recording?); import reads text artifacts. "
                          "Known formats:\n" +
                          import_formats_help());
  }
  if (trace::etl::is_etl_file(
          path)) {  // a Windows pool trace (xperf/WPR): outstanding per tag over its time
    std::ifstream in(path, std::ios::binary);
    auto series = trace::etl::read_tag_series(trace::etl::stream_source(in), path);
    if (!series) return make_error(series.error().code, path + ": " + series.error().message);
    file.format = "etl";
    file.snapshots = std::move(series->snapshots);
    file.notes = trace::etl::run_facts(series->trace, path).notes;
    return file;
  }
  auto head = opened->head(kTextHeadBytes);
  if (!head) return forward_error(head);
  const bool pdh = looks_like_pdh(*head);
  const bool httperr = !pdh && looks_like_httperr(*head);
  const bool tasklist = !pdh && !httperr && parse::looks_like_tasklist(*head);
  const parse::TextFormat format =
      pdh || httperr || tasklist ? parse::TextFormat::kUnknown : parse::detect_format(*head);
  head->clear();
  head->shrink_to_fit();
  if (!pdh && !httperr && !tasklist && format == parse::TextFormat::kUnknown) {
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
    auto count = stream_poolmon(
        *opened,
        [&](parse::ParsedSnapshot& p) -> Result<void> {
          if (p.previous_refresh) ++file.screens_with_changes;
          return {};
        },
        diagnostics, bad_lines);
    if (!count) return forward_error(count);
    if (bad_lines > 0) return unexpected(diagnostics_error(path, diagnostics, bad_lines));
    file.streamed_snapshots = *count;
  } else {
    auto text = opened->read_all(kMaxWholeTextBytes);
    if (!text) return forward_error(text);
    if (pdh) {
      auto log = parse::parse_pdh_csv(*text, pdh_options);
      if (!log) return make_error(log.error().code, path + ": " + log.error().message);
      if (!log->diagnostics.empty()) {
        return unexpected(diagnostics_error(path, log->diagnostics));
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
        return unexpected(diagnostics_error(path, log->diagnostics));
      }
      file.format = "httperr";
      file.notes = log->log.notes;
      file.events = std::move(log->log.events);
      return file;
    }
    if (tasklist) {
      auto list = parse::parse_tasklist(*text);
      if (!list) return make_error(list.error().code, path + ": " + list.error().message);
      if (!list->diagnostics.empty()) return unexpected(diagnostics_error(path, list->diagnostics));
      file.format = "tasklist";
      file.when = text_time(path, at);
      file.processes = std::move(list->sample);
      file.processes->time = file.when;
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
  if (!diagnostics.empty()) return unexpected(diagnostics_error(path, diagnostics));

  const auto when = text_time(path, at);
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

Result<ImportTotals> write_imported(Recording& rec, std::vector<ImportedFile>& files,
                                    const ImportOptions& options) {
  // One screen alone: its ( delta ) columns are the only second sample there is, so they are
  // used even without a time. Among several screens, an untimed one would fold the series.
  std::size_t screens = 0;
  for (const auto& file : files) screens += file.snapshots.size() + file.streamed_snapshots;
  const PreviousRefresh previous = options.refresh_seconds ? PreviousRefresh::kAtInterval
                                   : screens == 1          ? PreviousRefresh::kSameTime
                                                           : PreviousRefresh::kSkip;
  for (auto& file : files) {
    if (file.screens_with_changes == 0) continue;
    if (previous == PreviousRefresh::kSkip) {
      file.notes.push_back(
          "the ( delta ) columns of " + std::to_string(file.screens_with_changes) +
          " screen(s) were not used as samples: poolmon does not print its refresh interval; "
          "give it with --refresh-interval to add each screen's previous refresh");
    } else if (previous == PreviousRefresh::kSameTime) {
      file.notes.push_back(
          "the screen's ( delta ) columns give poolmon's previous refresh as a second sample; "
          "poolmon does not print its refresh interval, so that sample has the screen's time: "
          "growth, but no rate (--refresh-interval gives one)");
    }
  }
  // Each process list goes with the pool samples of its time; one that has none is refused.
  std::set<std::chrono::system_clock::time_point> pool_times;
  for (const auto& file : files) {
    if (file.streamed_snapshots > 0) pool_times.insert(file.when);
    for (const Snapshot& s : file.snapshots) pool_times.insert(s.wall_time);
  }
  ProcessLists lists;
  for (const auto& file : files) {
    if (!file.processes) continue;
    if (!pool_times.contains(file.when)) {
      return make_error(ErrorCode::kInput,
                        file.path + ": the process list at " + format_utc(file.when) +
                            " has no pool sample of the same time to go with; give it the same "
                            "--at as the poolmon screen it was taken with");
    }
    if (!lists.emplace(file.when, &*file.processes).second) {
      return make_error(ErrorCode::kInput, file.path + ": a second process list at " +
                                               format_utc(file.when) + "; one per time");
    }
  }
  if (auto ok = rec.begin(); !ok) return forward_error(ok);
  ImportTotals totals;
  for (const auto& file : files) {
    if (auto ok = write_file(rec, file, previous, options.refresh_seconds.value_or(0), lists,
                             totals.samples, totals.events, totals.points);
        !ok) {
      rec.rollback();
      Error err = ok.error();
      err.message += "\nnothing was imported (the import is all or nothing)";
      return unexpected(err);
    }
    if (file.counters) totals.counters += file.counters->counters.size();
  }
  if (auto ok = rec.commit(); !ok) return forward_error(ok);
  return totals;
}

std::string describe_imported(const ImportedFile& file) {
  std::string out = file.path + ": " + file.format;
  if (!file.snapshots.empty()) {
    out += ", " + std::to_string(file.snapshots.size()) + " sample(s) at " +
           format_utc(file.snapshots.front().wall_time);
  } else if (file.streamed_snapshots > 0) {
    out +=
        ", " + std::to_string(file.streamed_snapshots) + " sample(s) at " + format_utc(file.when);
    if (file.screens_with_changes > 0) {
      out += " (" + std::to_string(file.screens_with_changes) + " with ( delta ) columns)";
    }
  }
  if (!file.events.empty()) out += ", " + std::to_string(file.events.size()) + " event(s)";
  if (file.processes) {
    out += ", " + std::to_string(file.processes->processes.size()) + " process(es) at " +
           format_utc(file.when);
  }
  if (file.counters) {
    out += ", " + std::to_string(file.counters->counters.size()) + " counter(s) x " +
           std::to_string(file.counters->times.size()) + " row(s)";
  }
  return out;
}

}  // namespace poolscope::store
