// Fuzzer for the /proc/PID/fd link target classifier and the /proc/PID/stat parser. Besides not
// crashing: a parsed comm lies inside the text, and every target lands in exactly one kind.
#include "parse/proc_fd.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace parse = poolscope::parse;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto stat = parse::parse_proc_stat(text)) {
    if (stat->comm.size() + 2 > text.size()) std::abort();
    if (text.find(stat->comm) == std::string_view::npos) std::abort();
  }
  // Each line as a link target.
  poolscope::FdCounts counts;
  std::uint64_t lines = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    parse::count_fd(counts, text.substr(start, end - start));
    ++lines;
    start = end + 1;
  }
  if (poolscope::fd_counts_total(counts) != lines) std::abort();
  return 0;
}
