// Fuzzer for the SystemModuleInformation decoder, both layouts. Besides not crashing: the module
// count is bounded by the buffer, names are plain bounded ASCII, and module + missing = the count.
#include "parse/system_modules.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace parse = poolscope::parse;
  std::span<const std::byte> buffer(reinterpret_cast<const std::byte*>(data), size);
  for (auto width : {parse::PointerWidth::k64, parse::PointerWidth::k32}) {
    const auto decoded = parse::decode_system_modules(buffer, width);
    if (!decoded) {
      if (size >= 4) std::abort();
      continue;
    }
    std::uint32_t count = 0;
    std::memcpy(&count, data, 4);
    if (decoded->modules.size() + decoded->missing != count) std::abort();
    if (decoded->modules.size() > size / 284 + 1) std::abort();
    for (const auto& m : decoded->modules) {
      if (m.full_path.size() > 4 * 256) std::abort();
      for (char c : m.full_path) {
        if (c < 0x20 || c > 0x7E) std::abort();
      }
      (void)parse::module_suspicions(m.full_path);
      (void)parse::module_disk_path(m.full_path, "C:\\Windows");
    }
  }
  return 0;
}
