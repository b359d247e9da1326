// A small ARM64 (machine 0xAA64) PE32+ driver built in memory for the attribution tests: mingw has
// no aarch64 compiler here, so the bytes are laid out by PeBuilder, not copied from a real file.
// It imports the untagged ExAllocatePool, ExAllocatePoolWithTag and ExFreePoolWithTag from
// ntoskrnl.exe, and its code loads the tag "a64T" from a literal pool (`ldr w2, =...`), the way
// ARM64 code takes a 32-bit constant it cannot build with one mov.
#pragma once

#include <cstdint>

#include "unit/parse/pe_builder.h"

namespace poolscope::testing {

struct Arm64Driver {
  Bytes bytes;
  std::uint64_t tag_file_offset = 0;  // where the 4 bytes "a64T" are in the file
};

inline Arm64Driver arm64_driver() {
  PeBuilder builder(true, 0xAA64);
  Bytes code;
  const auto insn = [&code](std::uint32_t word) {
    const std::size_t at = code.size();
    put_u32(code, at, word);
  };
  insn(0x18000082);  // ldr  w2, #16        ; the tag from the literal below
  insn(0xD2800801);  // mov  x1, #0x40      ; size
  insn(0xD2804000);  // mov  x0, #0x200     ; NonPagedPoolNx
  insn(0xD65F03C0);  // ret                 (the import call is not modelled: nothing decodes it)
  const std::size_t literal = code.size();
  for (char c : {'a', '6', '4', 'T'}) code.push_back(static_cast<std::byte>(c));
  builder.add_code(code);
  builder.add_imports({{"ntoskrnl.exe",
                        {ImportName{"ExAllocatePool", 0}, ImportName{"ExAllocatePoolWithTag", 0},
                         ImportName{"ExFreePoolWithTag", 0}}}});
  Arm64Driver out;
  out.bytes = builder.build();
  // The first section's raw data starts right after the headers.
  out.tag_file_offset = PeBuilder::kHeadersSize + literal;
  return out;
}

}  // namespace poolscope::testing
