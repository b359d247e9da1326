// The BPF backend of `trace` (portable part): the four kmem tracepoints traced by small BPF
// programs attached as raw tracepoints instead of through a tracefs instance. A raw tracepoint
// runs the program with the tracepoint's C arguments; nothing else is done per event, so the cost
// of an event that is not sampled is a few instructions (README, "Benchmarks": the tracefs events
// cost more before a single one is written).
//
// Here: the record the programs (src/trace/linux/poolscope.bpf.c) write to the BPF ring buffer and
// its decoding, the walk over the ring's records, and the address-hash sampling the programs do.
// The programs are loaded by libbpf in linux/bpf_session.*.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "trace/kmem_events.h"

namespace poolscope::trace {

// One ring-buffer record, little-endian: u64 time (CLOCK_MONOTONIC ns), u64 ptr, u64 call_site,
// u32 pid (the thread), u32 bytes (bytes_alloc; 0 for frees), u32 kind (KmemKind), i32 extra; a
// kmem_cache_alloc record adds the cache's name, NUL-padded to 32 bytes. Frees carry no call site
// and no pid (0: pairing needs the pointer only). Pointers up to 16 (NULL, ZERO_SIZE_PTR) are not
// written. Page records (`trace --pages`): ptr is the struct page pointer, bytes PAGE_SIZE <<
// order, extra the id of the kernel stack in the programs' stack map (negative: none); the reader
// replaces call_site with the stack's first frame outside the page allocator (page_sites.h) before
// the record is processed or saved, and sets extra to the order. Kind 4 page alloc, 5 page free.
inline constexpr std::size_t kBpfRecordBytes = 40;
inline constexpr std::size_t kBpfCacheNameBytes = 32;
inline constexpr std::size_t kBpfCacheAllocRecordBytes = kBpfRecordBytes + kBpfCacheNameBytes;

// The BPF ring buffer's record header (include/uapi/linux/bpf.h): u32 length with these two
// flags, u32 page offset; the data follows and every record is padded to 8 bytes.
inline constexpr std::uint32_t kBpfRingBusyBit = 1u << 31;
inline constexpr std::uint32_t kBpfRingDiscardBit = 1u << 30;
inline constexpr std::size_t kBpfRingHeaderBytes = 8;
inline constexpr std::uint32_t kBpfPageAllocKind = 4, kBpfPageFreeKind = 5;
inline constexpr std::size_t kBpfRecordKindOffset = 32, kBpfRecordExtraOffset = 36;
inline constexpr std::size_t kBpfRecordCallSiteOffset = 16, kBpfRecordBytesOffset = 28;
// Frames kept per page allocation stack (the programs' stack map value).
inline constexpr std::size_t kBpfStackDepth = 24;

// Address sampling, as the programs do it (poolscope.bpf.c, sampled()): an object is traced when
// the top `shift` bits of ptr * 2^64/phi (Fibonacci hashing) are zero, i.e. 1 object in 2^shift,
// decided by its address alone, so at its allocation and at its free alike. Unlike a mask on
// address bits, objects that share a page are sampled independently: every traced object stands
// for 2^shift objects whatever its size or alignment (tracker: TrackerOptions::address_hash).
inline bool address_sampled(std::uint64_t ptr, unsigned shift) {
  if (shift == 0) return true;
  return ((ptr * 0x9E3779B97F4A7C15ull) >> (64 - shift)) == 0;
}

struct BpfRingWalk {
  std::size_t consumed = 0;   // bytes of whole, committed records
  std::size_t records = 0;    // committed records handed to the visitor
  std::size_t discarded = 0;  // records a program discarded
  bool busy = false;          // stopped at a record still being written
  bool truncated = false;     // stopped at a header that claims more than the bytes given
};

// Walks the records at the start of `bytes` (a run of ring-buffer memory from the consumer
// position on) and calls on_record(data) for each committed one, until a busy record, the end, or
// a header longer than what is left.
template <typename Visitor>
BpfRingWalk walk_bpf_ring(std::span<const std::uint8_t> bytes, Visitor&& on_record);

// Decodes one record written by the programs; false when it is too short or of an unknown kind.
// Cache names are interned in `names`; a kmalloc is named for its size ("kmalloc-64").
bool decode_bpf_record(std::span<const std::uint8_t> record, KmemDecoder& names, KmemEvent& out);

// Appends one committed ring-buffer record (header and the record above, padded to 8 bytes) as
// the programs would write it for `event`; `cache_name` for a kmem_cache_alloc. For tests,
// benchmarks and the fuzzer's corpus.
void append_bpf_ring_record(std::vector<std::uint8_t>& ring, const KmemEvent& event,
                            std::string_view cache_name = {});

// ---------------------------------------------------------------------------------------------

template <typename Visitor>
BpfRingWalk walk_bpf_ring(std::span<const std::uint8_t> bytes, Visitor&& on_record) {
  BpfRingWalk walk;
  while (bytes.size() - walk.consumed >= kBpfRingHeaderBytes) {
    const std::uint8_t* at = bytes.data() + walk.consumed;
    const std::uint32_t header = load_le32(at);
    if (header & kBpfRingBusyBit) {
      walk.busy = true;
      break;
    }
    const std::size_t length = header & ~(kBpfRingBusyBit | kBpfRingDiscardBit);
    const std::size_t total = (length + kBpfRingHeaderBytes + 7) & ~std::size_t{7};
    if (total > bytes.size() - walk.consumed) {
      walk.truncated = true;
      break;
    }
    if (header & kBpfRingDiscardBit) {
      ++walk.discarded;
    } else {
      on_record(bytes.subspan(walk.consumed + kBpfRingHeaderBytes, length));
      ++walk.records;
    }
    walk.consumed += total;
  }
  return walk;
}

}  // namespace poolscope::trace
