// Fuzzer for the /proc/slabinfo and /proc/meminfo parsers.
#include "parse/slabinfo.h"

#include <cstdint>
#include <string_view>

#include "line_accounting.h"
#include "parse/text.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  poolscope::parse::SlabAttributeMap attributes;
  attributes["dentry"] = {true, {"a"}};
  auto parsed = poolscope::parse::parse_slabinfo(text, {});
  (void)poolscope::parse::parse_slabinfo(text, {.page_size = 65536, .attributes = &attributes});
  if (auto m = poolscope::parse::parse_meminfo(text)) {
    poolscope::Snapshot s;
    poolscope::parse::apply_meminfo(*m, s);
  }
  if (parsed) {
    // Every line after the version header is an entry, a diagnostic, a "#" comment (the column
    // header) or blank: never nothing.
    bool header_seen = false;
    std::size_t data_lines = 0;
    poolscope::fuzz::for_each_line(text, [&](std::string_view line) {
      if (!header_seen) {
        header_seen = !poolscope::parse::trim(line).empty();
        return;
      }
      if (line.empty() || line[0] == '#') return;
      bool any_word = false;
      poolscope::fuzz::for_each_word(line, [&](std::string_view) { return !(any_word = true); });
      if (any_word) ++data_lines;
    });
    poolscope::fuzz::require(parsed->snapshot.entries.size() + parsed->diagnostics.size() ==
                             data_lines);
  }
  return 0;
}
