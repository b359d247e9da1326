// Fuzzer for the WinDbg !poolused parser.
#include "parse/poolused.h"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = poolscope::parse::parse_poolused(text)) {
    // Every entry is a 4-byte tag: the row reader never hands out a longer or shorter one.
    for (const auto& entry : parsed->snapshot.entries) {
      if (entry.key.name.size() != 4) __builtin_trap();
    }
  }
  (void)poolscope::parse::windbg_command(text);
  return 0;
}
