// Kernel memory keys: construction and the page-trace decision.
#include "core/kernel_memory.h"

#include <string>

namespace poolscope {

PoolKey kernel_memory_key(std::string_view name) {
  return PoolKey{KeyKind::kKernelMemory, std::string(name)};
}

bool wants_page_trace(const PoolKey& key) {
  if (key.kind != KeyKind::kKernelMemory) return false;
  return !std::string_view(key.name).starts_with(kAllocSitePrefix);
}

}  // namespace poolscope
