// Replays a saved file (poolmon, !poolused, !vm, slabinfo) as a source of one snapshot.
#include <cstdio>
#include <filesystem>

#include "core/forward_error.h"
#include "parse/poolmon.h"
#include "parse/sniff.h"
#include "source/source.h"
#include "source/text_file.h"

namespace poolscope {

namespace {

constexpr std::size_t kMaxDiagnosticsShown = 10;

// A saved text read with bounded memory: the snapshot, and how many lines were bad (a streamed
// poolmon log keeps the first 1000 diagnostics only).
struct ParsedTextFile {
  parse::TextFormat format = parse::TextFormat::kUnknown;
  parse::ParsedSnapshot parsed;
  std::size_t bad_lines = 0;
};

Result<ParsedTextFile> parse_text_file(TextFile& file) {
  auto head = file.head(kTextHeadBytes);
  if (!head) return forward_error(head);
  ParsedTextFile out;
  out.format = parse::detect_format(*head);
  head->clear();
  head->shrink_to_fit();
  if (out.format == parse::TextFormat::kPoolmon) {
    // poolmon -n logs grow for days: streamed, only the last screen kept.
    parse::PoolmonLineParser parser(false);
    auto read = for_each_line(file, [&](std::string_view line, std::size_t number) {
      parser.line(line, number);
      return Result<void>{};
    });
    if (!read) return forward_error(read);
    auto parsed = parser.finish_last();
    if (!parsed)
      return make_error(parsed.error().code, file.path() + ": " + parsed.error().message);
    out.parsed = std::move(*parsed);
    out.bad_lines = parser.diagnostic_count();
    return out;
  }
  if (out.format == parse::TextFormat::kUnknown) {
    return make_error(ErrorCode::kInput, file.path() +
                                             ": not a format poolscope knows. Known "
                                             "formats:\n" +
                                             std::string(parse::known_formats_help()));
  }
  auto text = file.read_all(kMaxWholeTextBytes);
  if (!text) return forward_error(text);
  auto parsed = parse::parse_pool_text(*text);
  if (!parsed) return make_error(parsed.error().code, file.path() + ": " + parsed.error().message);
  out.parsed = std::move(*parsed);
  out.bad_lines = out.parsed.diagnostics.size();
  return out;
}

}  // namespace

Result<std::unique_ptr<Source>> open_file_source(const std::string& path,
                                                 const FileSourceOptions& options) {
  auto file = TextFile::open(path);
  if (!file) return forward_error(file);
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(path, ec);
  auto parsed = parse_text_file(*file);
  if (!parsed) return forward_error(parsed);
  if (parsed->bad_lines > 0) {
    std::string msg = list_diagnostics(path, parsed->parsed.diagnostics, kMaxDiagnosticsShown);
    if (!options.allow_bad_lines) {
      msg +=
          "the result would be partial, so nothing is shown; fix the lines or pass "
          "--allow-bad-lines to skip them";
      return make_error(ErrorCode::kInput, msg);
    }
    std::fputs(msg.c_str(), stderr);
    std::fprintf(stderr, "warning: %zu malformed line(s) skipped (--allow-bad-lines)\n",
                 parsed->bad_lines);
    parsed->parsed.snapshot.notes.push_back(std::to_string(parsed->bad_lines) +
                                            " malformed line(s) skipped");
  }
  auto* out = &parsed->parsed;
  Snapshot snapshot = std::move(out->snapshot);
  snapshot.source = path;
  if (snapshot.wall_time == std::chrono::system_clock::time_point{} && !ec) {
    // Text dumps carry no date: the file's modification time is the best we know.
    snapshot.wall_time = std::chrono::time_point_cast<std::chrono::system_clock::duration>(
        std::chrono::file_clock::to_sys(mtime));
    snapshot.notes.push_back(
        "the text holds no date: the time shown is the file's modification time");
  }
  return fixed_snapshot_source(path, std::move(snapshot));
}

}  // namespace poolscope
