// Fuzzer for the LZXPRESS (MS-XCA plain LZ77) decompressor of compressed ETL buffers: the input is
// compressed data; the output buffer is a 64 KiB ETL buffer's worth, then a tiny one.
#include <cstdint>
#include <span>
#include <vector>

#include "trace/etl.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace poolscope::trace;
  std::vector<std::uint8_t> out(65536);
  std::span<const std::uint8_t> input(data, size);
  auto n = etl::xpress_decompress(input, out);
  if (n && *n > out.size()) __builtin_trap();
  std::vector<std::uint8_t> tiny(7);
  n = etl::xpress_decompress(input, tiny);
  if (n && *n > tiny.size()) __builtin_trap();
  return 0;
}
