// Fuzzer for the HTTP.sys error log parser. Besides not crashing: reason counts add up to the
// events, and every event has a line number.
#include "parse/httperr.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "line_accounting.h"
#include "parse/text.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace parse = poolscope::parse;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = parse::parse_httperr(text)) {
    // Every line that is not blank or a "#" directive is an event or a diagnostic.
    const std::size_t data_lines = poolscope::fuzz::count_lines_if(text, [](std::string_view line) {
      return !line.empty() && line[0] != '#' && !parse::trim(line).empty();
    });
    poolscope::fuzz::require(parsed->log.events.size() <= data_lines);
    poolscope::fuzz::require(parsed->log.events.size() + parsed->diagnostics.size() >= data_lines);
    std::uint64_t counted = 0;
    for (const auto& [reason, count] : parsed->log.reason_counts) counted += count;
    if (counted != parsed->log.events.size()) std::abort();
    for (const auto& event : parsed->log.events) {
      if (event.line == 0) std::abort();
      if (parse::refused_connection_count(event.reason) != 0 &&
          !parse::is_pool_pressure(event.reason)) {
        std::abort();
      }
    }
  }
  return 0;
}
