// Kernel memory keys: construction and the page-trace decision.
#include "core/kernel_memory.h"

#include <string>

#include "core/names.h"

namespace poolscope {

PoolKey kernel_memory_key(std::string_view name) {
  PoolKey key{KeyKind::kKernelMemory, std::string(name)};
  cap_counted_name(key.name, CutName::kKernelMemory);  // a hostile file's caller (issue 21)
  return key;
}

bool wants_page_trace(const PoolKey& key) {
  if (key.kind != KeyKind::kKernelMemory) return false;
  return !std::string_view(key.name).starts_with(kAllocSitePrefix);
}

}  // namespace poolscope
