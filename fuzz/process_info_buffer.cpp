// Fuzzer for the SystemProcessInformation decoder, both layouts. The first 8 bytes are the base
// address the buffer pretends to have had; the rest is the buffer. Besides not crashing: every
// decoded name is valid UTF-8, and the thread arrays never claim more threads than the buffer
// holds (64 bytes each at least).
#include "parse/process_info_buffer.h"

#include <cstdint>
#include <cstdlib>
#include <span>

#include "parse/encoding.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace parse = poolscope::parse;
  std::uint64_t base = 0;
  std::size_t skip = 0;
  if (size >= 8) {
    for (int i = 0; i < 8; ++i) base |= std::uint64_t{data[i]} << (8 * i);
    skip = 8;
  }
  std::span<const std::byte> buffer(reinterpret_cast<const std::byte*>(data) + skip, size - skip);
  for (auto width : {parse::PointerWidth::k64, parse::PointerWidth::k32}) {
    const std::uint64_t pointer_base = width == parse::PointerWidth::k32 ? base & 0xFFFFFFFF : base;
    if (auto processes = parse::decode_process_info_buffer(buffer, width, pointer_base)) {
      if (processes->size() > buffer.size() / 184 + 1) std::abort();
      for (const auto& p : *processes) {
        if (!parse::is_valid_utf8(p.name)) std::abort();
        if (!p.handle_count || *p.handle_count > 0xFFFFFFFFu) std::abort();
      }
    }
    if (auto threads = parse::decode_process_threads(buffer, width)) {
      if (threads->size() > buffer.size() / 64) std::abort();
    }
  }
  return 0;
}
