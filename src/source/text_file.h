// Reading saved text inputs (`--source FILE`, `import`) with bounded memory: regular files only,
// streamed line by line with a cap on the longest line, or read whole under a size cap.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "parse/text.h"

namespace poolscope {

// The documented limits (README "Limits of saved inputs").
// A line longer than this is no line of any format poolscope reads (a poolmon row is ~150 bytes,
// a PDH-CSV header with thousands of counters a few hundred KB).
inline constexpr std::size_t kMaxTextLineBytes = std::size_t{4} << 20;
// Formats parsed as one text (slabinfo, !poolused, !vm, PDH-CSV, httperr) are held whole: real
// ones are far smaller (a !poolused of a big server is ~1 MB).
inline constexpr std::uint64_t kMaxWholeTextBytes = std::uint64_t{256} << 20;
// How much of the start of a file format detection looks at.
inline constexpr std::size_t kTextHeadBytes = std::size_t{1} << 20;

// The size of path when it is a regular file (or a symlink to one); else an input error saying
// what it is: missing (or a symlink loop), a directory, a FIFO, a device, a socket. Nothing is
// opened, so a FIFO without a writer cannot block. For every saved input, text or binary.
Result<std::uint64_t> check_regular_file(const std::string& path);

// A regular file opened for reading text. Directories, character and block devices (/dev/zero),
// FIFOs and sockets are refused before open() (a FIFO without a writer would block forever).
class TextFile {
 public:
  static Result<TextFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }

  // Up to max bytes from the start (detection); the file position is not moved for next_line().
  Result<std::string> head(std::size_t max);
  // The whole file when it is at most max bytes; else an input error naming the limit.
  Result<std::string> read_all(std::uint64_t max);
  // The next line (without "\n" and a "\r" before it), valid until the next call; false at the
  // end. A line longer than max_line is an input error "path:N: line longer than ...".
  Result<bool> next_line(std::string_view& line, std::size_t max_line = kMaxTextLineBytes);
  std::size_t line_number() const { return line_number_; }

 private:
  // A UTF-16 file (LE or BE, with its byte order mark) decoded into buffer_ as UTF-8.
  Result<void> decode_utf16();
  // Appends up to one block of the file to `to`; sets eof_ at the end.
  Result<void> read_block(std::string& to);

  struct Closer {
    void operator()(std::FILE* f) const {
      if (f) std::fclose(f);
    }
  };
  std::string path_;
  std::uint64_t size_ = 0;
  std::unique_ptr<std::FILE, Closer> file_;
  std::string buffer_;  // read but not yet returned, from buffer_start_
  std::size_t buffer_start_ = 0;
  bool eof_ = false;
  std::size_t line_number_ = 0;
};

// Calls on_line(line, number) for every line (next_line's cap); stops at its first error.
Result<void> for_each_line(
    TextFile& file, const std::function<Result<void>(std::string_view, std::size_t)>& on_line);

// "path:line: message" for the first max_shown diagnostics, then "... and N more" (of total, when
// more were counted than kept); each line ends in "\n". The one listing of bad lines for
// `--source` and `import`.
std::string list_diagnostics(const std::string& path,
                             const std::vector<parse::Diagnostic>& diagnostics,
                             std::size_t max_shown = 10, std::size_t total = 0);

}  // namespace poolscope
