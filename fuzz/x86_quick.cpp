// Differential fuzzer for the quick x86/x64 length decoder: at every offset of the input, in the
// mode the first byte selects, wherever the quick decoder answers it must agree with Zydis on the
// length, the branch kind and the displacement; a disagreement aborts.
// Corpus: fuzz/corpus/x86_quick/ holds instruction sequences written for it (prefix runs, nops,
// branches, ModRM/SIB forms, truncated instructions) and the tiny mingw test drivers, whole.
#include "attrib/x86_quick.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const bool x64 = (data[0] & 1) != 0;
  const std::uint8_t* code = data + 1;
  const std::size_t n = size - 1;
  for (std::size_t at = 0; at < n; ++at) {
    const auto quick = poolscope::attrib::quick_decode_x86(code + at, n - at, x64);
    if (!quick) continue;
    const auto zydis = poolscope::attrib::zydis_decode_x86(code + at, n - at, x64);
    if (!zydis || zydis->length != quick->length || zydis->kind != quick->kind ||
        zydis->rel != quick->rel) {
      std::fprintf(stderr, "x86_quick disagrees with Zydis at offset %zu (%s)\n", at,
                   x64 ? "x64" : "x86");
      std::abort();
    }
  }
  return 0;
}
