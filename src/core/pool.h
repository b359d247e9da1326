// The pool model: keys (pool tags / slab caches), counters, snapshots. No OS headers, no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace poolscope {

// Which pool an entry or a total belongs to. Windows: paged, nonpaged, session; Linux slab caches
// are unreclaimable or reclaimable (SLAB_RECLAIM_ACCOUNT), matching SUnreclaim / SReclaimable.
// Linux kernel memory outside the slab caches (stacks, page tables, vmalloc, pages nobody
// accounts for, ...) is kKernel; socket buffer memory, which has the kernel's own limits
// (net.ipv4.tcp_mem, udp_mem), is kTcp and kUdp.
enum class PoolKind : std::uint8_t {
  kPaged,
  kNonPaged,
  kSession,
  kUnreclaimable,
  kReclaimable,
  kKernel,
  kTcp,
  kUdp
};

std::string_view pool_kind_name(PoolKind kind);  // "paged", "nonpaged", ...
std::optional<PoolKind> parse_pool_kind(std::string_view name);

enum class KeyKind : std::uint8_t {
  kPoolTag,    // 4 raw bytes, memory order
  kSlabCache,  // a Linux slab cache name
  // Linux kernel memory outside the slab caches, bytes only: "mem:KernelStack", "mem:unaccounted",
  // "slab:large-kmalloc", "vmalloc:CALLER", "sock:TCP", "dmabuf:EXPORTER", "alloc:FILE:LINE FUNC"
  // (core/kernel_memory.h, docs/kernel-memory.md).
  kKernelMemory,
};

// What is counted. A pool tag keeps its 4 raw bytes exactly (case, trailing spaces,
// non-printables); display_key() renders it. A slab cache keeps its name; merged caches list the
// names sharing it.
struct PoolKey {
  KeyKind kind = KeyKind::kPoolTag;
  std::string name;  // raw bytes for a tag (always 4), cache name for a slab cache

  friend bool operator==(const PoolKey&, const PoolKey&) = default;
  friend auto operator<=>(const PoolKey&, const PoolKey&) = default;
};

// A tag from the ULONG as C source writes it ('viDW' -> bytes "WDiv" on little-endian).
PoolKey tag_from_ulong(std::uint32_t value);
// A tag from its displayed text ("Abc", "Io", "Dh 1"): padded with spaces to 4 bytes.
PoolKey tag_from_text(std::string_view text);
PoolKey slab_cache(std::string_view name);

// Display: tags show their 4 bytes in memory order; bytes outside printable ASCII become \xNN and a
// backslash becomes "\\". Trailing spaces are kept.
std::string display_key(const PoolKey& key);
// True if pattern (with * and ? wildcards, case-sensitive) matches the displayed key, or, for a
// tag, the displayed key with trailing spaces removed ("Abc" matches "Abc ").
bool key_matches(const PoolKey& key, std::string_view pattern);

// Each counter is optional: Linux slabinfo has no allocs/frees, !poolused has no frees, ...
struct Counters {
  std::optional<std::uint64_t> allocs;
  std::optional<std::uint64_t> frees;
  std::optional<std::uint64_t> outstanding;  // allocs - frees, poolmon's "Diff"
  std::optional<std::uint64_t> bytes;

  friend bool operator==(const Counters&, const Counters&) = default;
};

// Width of a source's cumulative allocs/frees counters: Windows' SYSTEM_POOLTAG counts are ULONG
// and wrap at 2^32; Linux has none. Deltas use modular arithmetic of this width.
enum class CounterWidth : std::uint8_t { k32, k64 };

// Difference cur - prev of a cumulative counter, modulo 2^32 where the width says it wraps.
std::uint64_t counter_delta(std::uint64_t prev, std::uint64_t cur, CounterWidth width);

struct Entry {
  PoolKey key;
  PoolKind pool = PoolKind::kNonPaged;
  std::optional<std::uint32_t> session_id;  // for PoolKind::kSession when the source says
  Counters counters;
  std::optional<Counters> change;  // poolmon's "( delta)" columns: change since its last refresh
  std::optional<std::uint64_t> object_size;  // slab object size; poolmon's Per Alloc
  std::vector<std::string> aliases;          // Linux: other cache names merged into this one
  std::string owner;                         // Mapped_Driver / !poolused description, when given
};

// One pool's usage, limit and failures as the source reports them.
struct PoolTotal {
  PoolKind pool = PoolKind::kNonPaged;
  std::optional<std::uint64_t> used_bytes;
  std::optional<std::uint64_t> limit_bytes;
  std::optional<std::uint64_t> failures;  // failed allocations, where reported
  std::string limit_note;                 // why the limit is what it is, or why unknown
  // Linux socket memory: where the kernel starts shrinking buffers (tcp_mem / udp_mem's second
  // number), below the hard limit.
  std::optional<std::uint64_t> pressure_bytes;
};

struct Snapshot {
  std::chrono::system_clock::time_point wall_time{};
  std::optional<std::int64_t> monotonic_ns;
  std::string host;
  std::string source;  // "live:linux", "live:windows", or the file path
  std::string format;  // "slabinfo", "poolmon", "poolused", "vm", ...
  CounterWidth counter_width = CounterWidth::k64;
  std::vector<PoolTotal> totals;
  std::optional<std::uint64_t> memory_total_bytes;      // physical memory, where known
  std::optional<std::uint64_t> memory_available_bytes;  // MemAvailable / poolmon's Avail
  std::vector<Entry> entries;
  // Failures the source reports outside the pools' counts, as it words them: !vm's "351175
  // kernel stack PTE allocations have failed". Each one is a failure for `summary --check`.
  std::vector<std::string> other_failures;
  std::vector<std::string>
      notes;  // facts the source printed that are worth showing (e.g. !vm warnings)
};

const PoolTotal* find_total(const Snapshot& snapshot, PoolKind pool);
PoolTotal& total_for(Snapshot& snapshot, PoolKind pool);  // finds or appends

}  // namespace poolscope
