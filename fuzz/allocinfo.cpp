// Fuzzer for the /proc/allocinfo parser.
#include "trace/allocinfo.h"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)poolscope::trace::parse_allocinfo(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
