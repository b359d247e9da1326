// Portable decoders for the buffers NtQuerySystemInformation returns about kernel pools (classes
// 22, 67, 66 and 2), for x86 and x64 layouts. No Windows headers: tested and fuzzed on any OS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/pool.h"
#include "core/result.h"
#include "parse/slabinfo.h"  // ParsedSnapshot

namespace poolscope::parse {

// Size of SIZE_T / PVOID in the process that made the call: it decides padding and field widths.
// A 32-bit poolscope on 64-bit Windows (WOW64) gets the x86 layout.
enum class PointerWidth : std::uint8_t { k32, k64 };

// Layouts, as phnt (ntexapi.h) declares them; byte offsets from the start of each structure.
//   SYSTEM_POOLTAG { UCHAR Tag[4]; ULONG PagedAllocs; ULONG PagedFrees; SIZE_T PagedUsed;
//                    ULONG NonPagedAllocs; ULONG NonPagedFrees; SIZE_T NonPagedUsed; }
//     x64: 0, 4, 8, 16, 24, 28, 32; 40 bytes.   x86: 0, 4, 8, 12, 16, 20, 24; 28 bytes.
//   SYSTEM_POOLTAG_INFORMATION { ULONG Count; SYSTEM_POOLTAG TagInfo[]; }  array at 8 / 4.
//   SYSTEM_SESSION_POOLTAG_INFORMATION { SIZE_T NextEntryOffset; ULONG SessionId; ULONG Count;
//                                        SYSTEM_POOLTAG TagInfo[]; }  x64 0, 8, 12, 16; x86 0, 4,
//                                        8, 12. NextEntryOffset counts from the record itself.
//   SYSTEM_BIGPOOL_ENTRY { PVOID VirtualAddress (bit 0 = NonPaged); SIZE_T SizeInBytes;
//                          UCHAR Tag[4]; }  x64 0, 8, 16; 24 bytes.  x86 0, 4, 8; 12 bytes.
//   SYSTEM_BIGPOOL_INFORMATION { ULONG Count; SYSTEM_BIGPOOL_ENTRY AllocatedInfo[]; } at 8 / 4.
//   SYSTEM_PERFORMANCE_INFORMATION: 4 LARGE_INTEGERs then ULONGs, the same on x86 and x64;
//     AvailablePages 44, PagedPoolPages 112, NonPagedPoolPages 116, PagedPoolAllocs 120,
//     PagedPoolFrees 124, NonPagedPoolAllocs 128, NonPagedPoolFrees 132 (312 bytes before
//     Windows 10, 344 since).
struct PoolTagLayout {
  std::size_t header_size;          // offset of TagInfo[0] in SYSTEM_POOLTAG_INFORMATION
  std::size_t entry_size;           // sizeof(SYSTEM_POOLTAG)
  std::size_t session_header_size;  // offset of TagInfo[0] in a session record
  std::size_t bigpool_header_size;  // offset of AllocatedInfo[0]
  std::size_t bigpool_entry_size;   // sizeof(SYSTEM_BIGPOOL_ENTRY)
};
PoolTagLayout pooltag_layout(PointerWidth width);

// SystemPoolTagInformation (22). Appends to snapshot.entries one Entry per tag per pool (paged,
// nonpaged) where that pool has any allocs, frees or bytes: allocs and frees as the kernel's
// 32-bit counters, outstanding = allocs - frees modulo 2^32, bytes = PagedUsed / NonPagedUsed.
// A tag listed twice is merged (and a note says so). Sets format "pooltag" and counter_width k32;
// totals are left alone (they come from SystemPerformanceInformation). Bytes after the Count
// entries are ignored (the caller's buffer is usually larger than the data); a Count that does
// not fit in the buffer is ErrorCode::kInput and nothing is appended.
Result<void> decode_pooltag_into(std::span<const std::byte> buffer, PointerWidth width,
                                 Snapshot& snapshot);
// Same, into a fresh snapshot. diagnostics stay empty: a binary buffer is all or nothing.
Result<ParsedSnapshot> decode_pooltag_buffer(std::span<const std::byte> buffer, PointerWidth width);

// SystemSessionPoolTagInformation (67): a chain of per-session records. Appends one Entry per tag
// per session with pool kSession and session_id set; a session record's paged and nonpaged
// columns are added together (session pool is one pool per session in the model; the counters
// stay modulo 2^32). A NextEntryOffset that leaves the buffer, goes backwards (x86 wrap) or
// overlaps the record is ErrorCode::kInput, so a crafted chain cannot loop. An empty buffer is
// no sessions.
Result<void> decode_session_pooltag_into(std::span<const std::byte> buffer, PointerWidth width,
                                         Snapshot& snapshot);

// SystemBigPoolInformation (66): allocations of a page or more, one record per allocation. On
// Windows they are already counted in the class-22 table, so they are never added to a snapshot;
// this is the extra detail "how much of this tag is in big allocations". Sorted by key, then pool.
struct BigPoolUsage {
  PoolKey key;
  PoolKind pool = PoolKind::kNonPaged;
  std::uint64_t allocations = 0;
  std::uint64_t bytes = 0;

  friend bool operator==(const BigPoolUsage&, const BigPoolUsage&) = default;
};
Result<std::vector<BigPoolUsage>> decode_bigpool_buffer(std::span<const std::byte> buffer,
                                                        PointerWidth width);

// SystemPerformanceInformation (2): the pool-wide counters.
struct PoolPerformance {
  std::uint32_t available_pages = 0;
  std::uint32_t paged_pool_pages = 0;
  std::uint32_t nonpaged_pool_pages = 0;
  std::uint32_t paged_pool_allocs = 0;
  std::uint32_t paged_pool_frees = 0;
  std::uint32_t nonpaged_pool_allocs = 0;
  std::uint32_t nonpaged_pool_frees = 0;

  friend bool operator==(const PoolPerformance&, const PoolPerformance&) = default;
};
inline constexpr std::size_t kPerformanceInformationMinSize = 136;  // through NonPagedPoolFrees
Result<PoolPerformance> decode_performance_buffer(std::span<const std::byte> buffer,
                                                  PointerWidth width);

// Paged and nonpaged used_bytes = pages * page_size; memory_available_bytes likewise.
void apply_pool_performance(const PoolPerformance& performance, std::uint64_t page_size,
                            Snapshot& snapshot);

}  // namespace poolscope::parse
