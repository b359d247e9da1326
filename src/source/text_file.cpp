// Bounded reading of saved text inputs (see text_file.h).
#include "source/text_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <span>
#include <utility>

#include "core/forward_error.h"
#include "parse/encoding.h"

namespace poolscope {

namespace {

constexpr std::size_t kReadBlock = 64 * 1024;

std::string size_text(std::uint64_t bytes) {
  if (bytes >= (std::uint64_t{1} << 20) && bytes % (std::uint64_t{1} << 20) == 0) {
    return std::to_string(bytes >> 20) + " MiB";
  }
  return std::to_string(bytes) + " bytes";
}

}  // namespace

Result<std::uint64_t> check_regular_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    // ec says why: "No such file or directory", "Too many levels of symbolic links" (a loop), ...
    return make_error(ErrorCode::kInput,
                      "cannot open " + path + ": " +
                          (ec ? ec.message() : std::string("No such file or directory")),
                      ec.value());
  }
  if (fs::is_directory(status)) {
    return make_error(ErrorCode::kInput, path + " is a directory; pass a file");
  }
  if (!fs::is_regular_file(status)) {
    const char* what = fs::is_fifo(status)             ? "a FIFO (named pipe)"
                       : fs::is_character_file(status) ? "a character device"
                       : fs::is_block_file(status)     ? "a block device"
                       : fs::is_socket(status)         ? "a socket"
                                                       : "not a regular file";
    return make_error(ErrorCode::kInput,
                      path + " is " + what +
                          "; poolscope reads saved files only (copy the output to a file first)");
  }
  const std::uint64_t size = fs::file_size(path, ec);
  if (ec) {
    return make_error(ErrorCode::kInput, "cannot read " + path + ": " + ec.message(), ec.value());
  }
  return size;
}

Result<TextFile> TextFile::open(const std::string& path) {
  auto size = check_regular_file(path);
  if (!size) return forward_error(size);
  TextFile file;
  file.path_ = path;
  file.size_ = *size;
  errno = 0;
  file.file_.reset(std::fopen(path.c_str(), "rb"));
  if (!file.file_) {
    const int err = errno;
    return make_error(ErrorCode::kInput, "cannot open " + path + ": " + std::strerror(err), err);
  }
  if (auto ok = file.decode_utf16(); !ok) return forward_error(ok);
  return file;
}

// Windows tools and PowerShell's `>` write UTF-16 with a byte order mark: such a file is read
// whole (the cap of the formats read whole) and served as UTF-8, so every reader and format
// detection see the text they know.
Result<void> TextFile::decode_utf16() {
  unsigned char bom[2] = {};
  const std::size_t got = std::fread(bom, 1, 2, file_.get());
  const bool little = got == 2 && bom[0] == 0xFF && bom[1] == 0xFE;
  const bool big = got == 2 && bom[0] == 0xFE && bom[1] == 0xFF;
  if (!little && !big) {
    std::rewind(file_.get());
    return {};
  }
  if (size_ > kMaxWholeTextBytes) {
    return make_error(ErrorCode::kInput, path_ + " is UTF-16 text of " + size_text(size_) +
                                             "; the limit is " + size_text(kMaxWholeTextBytes) +
                                             ": split it first");
  }
  std::string bytes;
  while (!eof_) {
    if (auto ok = read_block(bytes); !ok) return ok;
  }
  if (big) {
    for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) std::swap(bytes[i], bytes[i + 1]);
  }
  buffer_ = parse::utf16le_to_utf8(std::as_bytes(std::span(bytes.data(), bytes.size())));
  buffer_start_ = 0;
  eof_ = true;
  return {};
}

Result<void> TextFile::read_block(std::string& to) {
  const std::size_t old = to.size();
  to.resize(old + kReadBlock);
  const std::size_t got = std::fread(to.data() + old, 1, kReadBlock, file_.get());
  to.resize(old + got);
  if (got < kReadBlock) {
    if (std::ferror(file_.get())) {
      return make_error(ErrorCode::kInput, "cannot read " + path_ + ": read error");
    }
    eof_ = true;
  }
  return {};
}

Result<void> for_each_line(
    TextFile& file, const std::function<Result<void>(std::string_view, std::size_t)>& on_line) {
  std::string_view line;
  for (;;) {
    auto more = file.next_line(line);
    if (!more) return forward_error(more);
    if (!*more) return {};
    if (auto ok = on_line(line, file.line_number()); !ok) return ok;
  }
}

Result<std::string> TextFile::head(std::size_t max) {
  while (!eof_ && buffer_.size() - buffer_start_ < max) {
    if (auto ok = read_block(buffer_); !ok) return forward_error(ok);
  }
  return buffer_.substr(buffer_start_, max);
}

Result<std::string> TextFile::read_all(std::uint64_t max) {
  if (size_ > max) {
    return make_error(ErrorCode::kInput, path_ + " is " + size_text(size_) +
                                             "; this format is read "
                                             "whole and the limit is " +
                                             size_text(max) + ": split it first");
  }
  std::string text = buffer_.substr(buffer_start_);
  buffer_.clear();
  buffer_start_ = 0;
  // The size can change under us (a log still written): stop at max all the same.
  while (!eof_) {
    const std::size_t old = text.size();
    if (old > max) {
      return make_error(ErrorCode::kInput,
                        path_ + " grew past " + size_text(max) + " while read: split it first");
    }
    if (auto ok = read_block(text); !ok) return forward_error(ok);
  }
  return text;
}

Result<bool> TextFile::next_line(std::string_view& line, std::size_t max_line) {
  for (;;) {
    const std::size_t newline = buffer_.find('\n', buffer_start_);
    if (newline != std::string::npos || eof_) {
      if (newline == std::string::npos && buffer_start_ == buffer_.size()) return false;
      const std::size_t end = newline == std::string::npos ? buffer_.size() : newline;
      if (end - buffer_start_ > max_line) break;
      line = std::string_view(buffer_).substr(buffer_start_, end - buffer_start_);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      buffer_start_ = newline == std::string::npos ? buffer_.size() : newline + 1;
      ++line_number_;
      return true;
    }
    if (buffer_.size() - buffer_start_ > max_line) break;
    // Keep only the unread part, then read another block after it.
    buffer_.erase(0, buffer_start_);
    buffer_start_ = 0;
    if (auto ok = read_block(buffer_); !ok) return forward_error(ok);
  }
  return make_error(ErrorCode::kInput, path_ + ":" + std::to_string(line_number_ + 1) +
                                           ": a line longer than " + size_text(max_line) +
                                           " (no text format poolscope reads has such lines)");
}

std::string list_diagnostics(const std::string& path,
                             const std::vector<parse::Diagnostic>& diagnostics,
                             std::size_t max_shown, std::size_t total) {
  total = std::max(total, diagnostics.size());
  std::string out;
  std::size_t shown = 0;
  for (const auto& d : diagnostics) {
    if (shown == max_shown) break;
    out += path + ":" + std::to_string(d.line) + ": " + d.message + "\n";
    ++shown;
  }
  if (total > shown) out += "... and " + std::to_string(total - shown) + " more\n";
  return out;
}

}  // namespace poolscope
