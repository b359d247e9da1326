// Choosing and ordering the entries of a snapshot: --include/--exclude, --paged/--nonpaged, --sort,
// --top.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/pool.h"
#include "core/result.h"

namespace poolscope {

enum class SortKey { kKey, kPool, kAllocs, kFrees, kOutstanding, kBytes, kObjectSize };

// Accepts "key"/"tag"/"name", "pool"/"type", "allocs", "frees", "outstanding"/"diff", "bytes",
// "size"/"per-alloc".
Result<SortKey> parse_sort_key(std::string_view name);
std::string_view sort_key_names();

struct Selection {
  std::vector<std::string> include;  // wildcard patterns; empty = all
  std::vector<std::string> exclude;
  std::vector<PoolKind> pools;  // empty = all
  SortKey sort = SortKey::kBytes;
  bool ascending = false;  // numbers sort descending by default, keys ascending
  std::size_t top = 0;     // 0 = all
};

// Indexes into snapshot.entries, filtered and ordered.
std::vector<std::size_t> select_entries(const Snapshot& snapshot, const Selection& selection);

}  // namespace poolscope
