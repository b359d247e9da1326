// Parsers for Linux /proc/slabinfo (version 2.1) and /proc/meminfo text.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/pool.h"
#include "core/result.h"
#include "parse/text.h"

namespace poolscope::parse {

// What /sys/kernel/slab tells about a cache and that slabinfo does not.
struct SlabAttributes {
  bool reclaimable = false;          // reclaim_account == 1 (SLAB_RECLAIM_ACCOUNT)
  std::vector<std::string> aliases;  // other names merged into the same cache
};
// Hashed with heterogeneous lookup: the live hot path looks names up as string_views, no copies.
struct SlabNameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view name) const {
    return std::hash<std::string_view>{}(name);
  }
};
using SlabAttributeMap =
    std::unordered_map<std::string, SlabAttributes, SlabNameHash, std::equal_to<>>;

struct SlabinfoOptions {
  std::uint64_t page_size = 4096;
  // From /sys/kernel/slab when live; when null (a saved copy), reclaimability is guessed from
  // well-known cache names and a note says so.
  const SlabAttributeMap* attributes = nullptr;
  // Out: how many caches were not in `attributes` (a cache created after the sysfs scan).
  std::size_t* unknown_caches = nullptr;
  // Optional, for the live hot path: the attributes found for each line of the previous parse.
  // slabinfo lists caches in the same order every time, so a line whose name matches its
  // remembered entry skips the hash lookup. Clear it whenever `attributes` changes.
  std::vector<const SlabAttributeMap::value_type*>* line_memo = nullptr;
};

struct ParsedSnapshot {
  Snapshot snapshot;
  std::vector<Diagnostic> diagnostics;  // malformed lines; the caller decides if fatal
  // A poolmon screen with "( delta)" columns: the same rows as poolmon's previous refresh showed
  // them (current - delta), with no time and no totals. Empty for every other text.
  std::optional<Snapshot> previous_refresh;
};

// Returns an error when the text is not slabinfo at all (no "slabinfo - version:" header).
// Fills entries (outstanding = active_objs, bytes = slabs * pages per slab * page size) and the
// per-pool sums of entry bytes as totals.
Result<ParsedSnapshot> parse_slabinfo(std::string_view text, const SlabinfoOptions& options);

// Same, but appends into an existing snapshot (reused buffers on the live hot path).
Result<void> parse_slabinfo_into(std::string_view text, const SlabinfoOptions& options,
                                 Snapshot& snapshot, std::vector<Diagnostic>& diagnostics);

// Guess for saved copies: dentry, inode caches, buffer_head, radix_tree_node, ... are reclaimable.
bool is_usually_reclaimable(std::string_view cache_name);

// /proc/meminfo as name -> bytes (values given in kB are converted; counts stay as they are).
struct Meminfo {
  std::optional<std::uint64_t> mem_total, mem_available, slab, s_reclaimable, s_unreclaim;
  // The rest of the categories the kernel-memory keys need (parse/kmem.h).
  std::optional<std::uint64_t> mem_free, active, inactive, unevictable, kernel_stack, page_tables,
      sec_page_tables, vmalloc_used, percpu, hugetlb, zswap, hardware_corrupted, unaccepted,
      hugepages_total, hugepage_size;
};
Result<Meminfo> parse_meminfo(std::string_view text);

// Sets totals (unreclaimable/reclaimable used bytes from SUnreclaim/SReclaimable; memory limits).
void apply_meminfo(const Meminfo& meminfo, Snapshot& snapshot);

}  // namespace poolscope::parse
