// Fuzzer for format detection and the parse-anything entry point behind `--source FILE`.
#include <cstdint>
#include <string_view>

#include "parse/sniff.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)poolscope::parse::detect_format(text);
  (void)poolscope::parse::parse_pool_text(text);
  return 0;
}
