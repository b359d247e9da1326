// Fuzzer for the /proc/slabinfo and /proc/meminfo parsers.
#include "parse/slabinfo.h"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  poolscope::parse::SlabAttributeMap attributes;
  attributes["dentry"] = {true, {"a"}};
  (void)poolscope::parse::parse_slabinfo(text, {});
  (void)poolscope::parse::parse_slabinfo(text, {.page_size = 65536, .attributes = &attributes});
  if (auto m = poolscope::parse::parse_meminfo(text)) {
    poolscope::Snapshot s;
    poolscope::parse::apply_meminfo(*m, s);
  }
  return 0;
}
