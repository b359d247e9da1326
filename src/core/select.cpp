// Entry selection and ordering.
#include "core/select.h"

#include <algorithm>

namespace poolscope {

Result<SortKey> parse_sort_key(std::string_view name) {
  if (name == "key" || name == "tag" || name == "name") return SortKey::kKey;
  if (name == "pool" || name == "type") return SortKey::kPool;
  if (name == "allocs") return SortKey::kAllocs;
  if (name == "frees") return SortKey::kFrees;
  if (name == "outstanding" || name == "diff") return SortKey::kOutstanding;
  if (name == "bytes") return SortKey::kBytes;
  if (name == "size" || name == "per-alloc") return SortKey::kObjectSize;
  return make_error(ErrorCode::kUsage, "unknown sort key \"" + std::string(name) +
                                           "\"; use one of: " + std::string(sort_key_names()));
}

std::string_view sort_key_names() {
  return "key, pool, allocs, frees, outstanding, bytes, size";
}

namespace {
std::uint64_t sort_value(const Entry& e, SortKey key) {
  switch (key) {
    case SortKey::kAllocs:
      return e.counters.allocs.value_or(0);
    case SortKey::kFrees:
      return e.counters.frees.value_or(0);
    case SortKey::kOutstanding:
      return e.counters.outstanding.value_or(0);
    case SortKey::kBytes:
      return e.counters.bytes.value_or(0);
    case SortKey::kObjectSize:
      return e.object_size.value_or(0);
    case SortKey::kPool:
      return static_cast<std::uint64_t>(e.pool);
    case SortKey::kKey:
      break;
  }
  return 0;
}
}  // namespace

std::vector<std::size_t> select_entries(const Snapshot& snapshot, const Selection& selection) {
  std::vector<std::size_t> out;
  out.reserve(snapshot.entries.size());
  for (std::size_t i = 0; i < snapshot.entries.size(); ++i) {
    const Entry& e = snapshot.entries[i];
    if (!selection.pools.empty() && std::find(selection.pools.begin(), selection.pools.end(),
                                              e.pool) == selection.pools.end()) {
      continue;
    }
    auto matches = [&e](const std::string& p) {
      if (key_matches(e.key, p)) return true;
      return std::any_of(e.aliases.begin(), e.aliases.end(), [&p](const std::string& alias) {
        return key_matches(slab_cache(alias), p);
      });
    };
    if (!selection.include.empty() &&
        std::none_of(selection.include.begin(), selection.include.end(), matches)) {
      continue;
    }
    if (std::any_of(selection.exclude.begin(), selection.exclude.end(), matches)) continue;
    out.push_back(i);
  }
  const auto& entries = snapshot.entries;
  const SortKey key = selection.sort;
  const bool ascending = selection.ascending || key == SortKey::kKey;
  std::stable_sort(out.begin(), out.end(), [&](std::size_t a, std::size_t b) {
    const Entry& x = entries[a];
    const Entry& y = entries[b];
    if (key == SortKey::kKey) {
      return ascending ? x.key.name < y.key.name : y.key.name < x.key.name;
    }
    auto vx = sort_value(x, key), vy = sort_value(y, key);
    if (vx != vy) return ascending ? vx < vy : vx > vy;
    if (key == SortKey::kPool) {
      auto bx = x.counters.bytes.value_or(0), by = y.counters.bytes.value_or(0);
      if (bx != by) return bx > by;
    }
    return x.key.name < y.key.name;
  });
  if (selection.top > 0 && out.size() > selection.top) out.resize(selection.top);
  return out;
}

}  // namespace poolscope
