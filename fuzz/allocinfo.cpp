// Fuzzer for the /proc/allocinfo parser. Besides not crashing: every line that is not blank, a "#"
// column line or the version header is a site or a diagnostic.
#include "trace/allocinfo.h"

#include <cstdint>
#include <string_view>

#include "line_accounting.h"
#include "parse/text.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = poolscope::trace::parse_allocinfo(text);
  const std::size_t data_lines = poolscope::fuzz::count_lines_if(text, [](std::string_view line) {
    const std::string_view t = poolscope::parse::trim(line);
    return !t.empty() && t[0] != '#' && !t.starts_with("allocinfo - version:");
  });
  poolscope::fuzz::require(parsed.sites.size() + parsed.diagnostics.size() == data_lines);
  return 0;
}
