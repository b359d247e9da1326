// Fuzzer for the kernel symbol parsers: /proc/kallsyms, %pS locations, SLUB allocation traces.
#include "parse/kallsyms.h"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)poolscope::parse::parse_kallsyms(text);
  (void)poolscope::parse::parse_slab_callers(text);
  (void)poolscope::parse::parse_kernel_location(text);
  return 0;
}
