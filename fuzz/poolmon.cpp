// Fuzzer for the poolmon screen / `poolmon -n` log / pooltracker parser.
#include "parse/poolmon.h"

#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)poolscope::parse::parse_poolmon(text);
  (void)poolscope::parse::parse_poolmon_all(text);
  poolscope::parse::PoolmonRow row;
  std::string problem;
  (void)poolscope::parse::parse_poolmon_row(text, row, problem);
  (void)poolscope::parse::parse_poolmon_row(text, row, problem, 2);
  (void)poolscope::parse::is_poolmon_marker_line(text);
  return 0;
}
