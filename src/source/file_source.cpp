// Replays a saved file (poolmon, !poolused, !vm, slabinfo) as a source of one snapshot.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "parse/sniff.h"
#include "source/source.h"

namespace poolscope {

namespace {

constexpr std::size_t kMaxDiagnosticsShown = 10;
constexpr std::uint64_t kMaxFileBytes = 1ull << 31;

}  // namespace

Result<std::unique_ptr<Source>> open_file_source(const std::string& path,
                                                 const FileSourceOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return make_error(
        ErrorCode::kInput,
        "cannot open " + path + ": " + (ec ? ec.message() : "No such file or directory"),
        ec.value());
  }
  if (fs::is_directory(status))
    return make_error(ErrorCode::kInput, path + " is a directory; pass a file");
  auto size = fs::file_size(path, ec);
  if (ec)
    return make_error(ErrorCode::kInput, "cannot read " + path + ": " + ec.message(), ec.value());
  if (size > kMaxFileBytes)
    return make_error(ErrorCode::kInput, path + " is larger than 2 GiB; split it first");
  auto mtime = fs::last_write_time(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return make_error(ErrorCode::kInput, "cannot open " + path + ": " + std::strerror(err), err);
  }
  std::string text;
  text.resize(static_cast<std::size_t>(size));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));

  auto parsed = parse::parse_pool_text(text);
  if (!parsed) {
    return make_error(parsed.error().code, path + ": " + parsed.error().message);
  }
  if (!parsed->diagnostics.empty()) {
    std::ostringstream msg;
    std::size_t shown = 0;
    for (const auto& d : parsed->diagnostics) {
      if (shown++ == kMaxDiagnosticsShown) {
        msg << "... and " << parsed->diagnostics.size() - kMaxDiagnosticsShown << " more\n";
        break;
      }
      msg << path << ":" << d.line << ": " << d.message << "\n";
    }
    if (!options.allow_bad_lines) {
      msg << "the result would be partial, so nothing is shown; fix the lines or pass "
             "--allow-bad-lines to skip them";
      return make_error(ErrorCode::kInput, msg.str());
    }
    std::fputs(msg.str().c_str(), stderr);
    std::fprintf(stderr, "warning: %zu malformed line(s) skipped (--allow-bad-lines)\n",
                 parsed->diagnostics.size());
    parsed->snapshot.notes.push_back(std::to_string(parsed->diagnostics.size()) +
                                     " malformed line(s) skipped");
  }
  Snapshot snapshot = std::move(parsed->snapshot);
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
