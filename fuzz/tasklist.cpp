// Fuzzer for the tasklist parser. Besides not crashing: every process comes from a line, and the
// processes are sorted by pid.
#include "parse/tasklist.h"

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "line_accounting.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace parse = poolscope::parse;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)parse::looks_like_tasklist(text);
  if (auto parsed = parse::parse_tasklist(text)) {
    const auto& p = parsed->sample.processes;
    const std::size_t lines = poolscope::fuzz::count_lines_if(
        text, [](std::string_view line) { return !parse::trim(line).empty(); });
    poolscope::fuzz::require(p.size() + parsed->diagnostics.size() <= lines);
    poolscope::fuzz::require(std::is_sorted(
        p.begin(), p.end(), [](const auto& a, const auto& b) { return a.pid < b.pid; }));
  }
  return 0;
}
