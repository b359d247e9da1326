// Fuzzer for the WinDbg !vm parser and its merge into a !poolused snapshot.
#include "parse/vm.h"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = poolscope::parse::parse_vm(text)) {
    poolscope::Snapshot merged;
    poolscope::parse::apply_vm(parsed->snapshot, merged);
    if (!parsed->snapshot.entries.empty()) __builtin_trap();  // !vm has totals only
  }
  (void)poolscope::parse::is_vm_line(text);
  return 0;
}
