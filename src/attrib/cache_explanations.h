// What the well-known Linux slab caches hold, in one line each: `who CACHE` says it first, since a
// name such as "filp" or "kmalloc-192" tells a reader little. The table is cache_explanations.cpp;
// a name not in it has no line (nullopt), never a guess.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace poolscope::attrib {

// The line for `cache`: an exact name ("filp", "task_struct", "TCP"), else the first matching
// family: "kmalloc-cg-N", "kmalloc-rcl-N", "dma-kmalloc-N", "kmalloc-N" (N filled in), and
// "<fs>_inode_cache".
std::optional<std::string> explain_cache(std::string_view cache);

}  // namespace poolscope::attrib
