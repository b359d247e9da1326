// Fuzzer for the BTF reader: the blob's validation, then the lookups the BPF backend makes, which
// follow type ids and chains inside what parse() accepted.
#include "trace/btf.h"

#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto btf = poolscope::trace::Btf::parse(std::span<const std::uint8_t>(data, size));
  if (!btf) return 0;
  for (const char* param : {"call_site", "ptr", "bytes_alloc", "s", "__data"}) {
    (void)btf->tracepoint_arg_index("kmalloc", param);
    (void)btf->tracepoint_arg_index("kmem_cache_alloc", param);
  }
  for (const char* member : {"name", "size", "object_size", "align"}) {
    (void)btf->struct_member("kmem_cache", member);
  }
  return 0;
}
