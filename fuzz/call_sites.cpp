// Fuzzer for the call-site scanner: decodes whatever code the PE reader finds and walks back from
// every pool call; hostile code (truncated instructions, branches anywhere) must not crash it.
// Corpus: fuzz/corpus/call_sites/ holds tiny mingw-built drivers (tests/data/drivers/*.c, the PE
// fuzzer's tiny drivers), never third-party ones.
#include "attrib/call_sites.h"

#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto image =
      poolscope::parse::parse_pe(bytes, {.exports = false, .version = false, .signature = false});
  if (!image) return 0;
  const auto scan = poolscope::attrib::scan_call_sites(*image, bytes);
  (void)poolscope::attrib::driver_tags(scan);
  (void)poolscope::attrib::find_tag_in_driver(*image, bytes, poolscope::tag_from_text("None"));
  return 0;
}
