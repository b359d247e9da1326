// Fuzzer for the WinDbg !poolused parser. Besides not crashing: every entry is a 4-byte tag, and
// every line of the input put under a table header is an entry, a diagnostic or one of the lines
// !poolused prints besides rows (a kd prompt, a header, "NonPaged Paged", "Sorting by", "....",
// TOTAL); a row whose numbers are all 0 gives no entry, and is told from a dropped line by
// making its zeros ones.
#include "parse/poolused.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "line_accounting.h"

namespace {

namespace fuzz = poolscope::fuzz;
namespace parse = poolscope::parse;

constexpr std::string_view kHeader = " Tag    Allocs     Used    Allocs     Used\n";

bool is_row_shaped(std::string_view line) {
  const std::string_view t = parse::trim(line);
  if (t.empty() || parse::windbg_command(t) || t.starts_with("Tag")) return false;
  if (t.starts_with("Sorting by") || t == "Pool Used:" || parse::starts_with_word(t, "TOTAL")) {
    return false;
  }
  if (t.find_first_not_of('.') == std::string_view::npos) return false;
  bool only_pool_names = true;
  fuzz::for_each_word(t, [&](std::string_view word) {
    only_pool_names = word == "NonPaged" || word == "Paged";
    return only_pool_names;
  });
  return !only_pool_names;
}

std::size_t accounted_under_header(std::string line) {
  auto parsed = parse::parse_poolused(std::string(kHeader) + line);
  return parsed ? parsed->snapshot.entries.size() + parsed->diagnostics.size() : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = parse::parse_poolused(text)) {
    // Every entry is a 4-byte tag: the row reader never hands out a longer or shorter one.
    for (const auto& entry : parsed->snapshot.entries) {
      if (entry.key.name.size() != 4) __builtin_trap();
    }
  }
  (void)parse::windbg_command(text);
  std::size_t checked = 0;
  fuzz::for_each_line(text, [&](std::string_view line) {
    if (checked == 64 || !is_row_shaped(line)) return;  // bounded: each check parses again
    ++checked;
    std::string row(line);
    if (accounted_under_header(row) > 0) return;
    std::replace(row.begin(), row.end(), '0', '1');
    fuzz::require(accounted_under_header(row) > 0);
  });
  return 0;
}
