// The BPF backend of `trace` (portable part): the four kmem tracepoints traced by small BPF
// programs attached as raw tracepoints instead of through a tracefs instance. A raw tracepoint
// runs the program with the tracepoint's C arguments; nothing else is done per event, so the cost
// of an event that is not sampled is a few instructions (README, "Benchmarks": the tracefs events
// cost more before a single one is written).
//
// Here: the record the programs write to the BPF ring buffer and its decoding, the walk over the
// ring's records, and the programs themselves, assembled from the argument positions and the
// `struct kmem_cache` fields read from the kernel's BTF (KmemBpfLayout). The bpf(2) calls are in
// linux/bpf_session.*.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "trace/kmem_events.h"

namespace poolscope::trace {

class Btf;

// One ring-buffer record, little-endian: u64 time (CLOCK_MONOTONIC ns), u64 ptr, u64 call_site,
// u32 pid (the thread), u32 bytes (bytes_alloc; 0 for frees), u32 kind (KmemKind), u32 zero; a
// kmem_cache_alloc record adds the cache's name, NUL-padded to 32 bytes. Frees carry no call site
// and no pid (0: pairing needs the pointer only). Pointers up to 16 (NULL, ZERO_SIZE_PTR) are not
// written.
inline constexpr std::size_t kBpfRecordBytes = 40;
inline constexpr std::size_t kBpfCacheNameBytes = 32;
inline constexpr std::size_t kBpfCacheAllocRecordBytes = kBpfRecordBytes + kBpfCacheNameBytes;

// The BPF ring buffer's record header (include/uapi/linux/bpf.h): u32 length with these two
// flags, u32 page offset; the data follows and every record is padded to 8 bytes.
inline constexpr std::uint32_t kBpfRingBusyBit = 1u << 31;
inline constexpr std::uint32_t kBpfRingDiscardBit = 1u << 30;
inline constexpr std::size_t kBpfRingHeaderBytes = 8;

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

// One instruction, as bpf(2) takes it: opcode, dst (low nibble) and src (high nibble) registers,
// offset, immediate.
struct BpfInsn {
  std::uint8_t code = 0;
  std::uint8_t regs = 0;
  std::int16_t off = 0;
  std::int32_t imm = 0;
};
static_assert(sizeof(BpfInsn) == 8);

// What the programs need to know about this kernel: the position of each argument in the raw
// tracepoint's argument array (from the `btf_trace_<event>` prototypes), and where `struct
// kmem_cache` keeps the name pointer and the object size.
struct KmemBpfLayout {
  std::uint32_t kmalloc_call_site = 0, kmalloc_ptr = 0, kmalloc_bytes_alloc = 0;
  std::uint32_t kfree_call_site = 0, kfree_ptr = 0;
  std::uint32_t cache_alloc_call_site = 0, cache_alloc_ptr = 0, cache_alloc_cache = 0;
  std::uint32_t cache_free_call_site = 0, cache_free_ptr = 0;
  std::uint32_t cache_name_offset = 0;  // struct kmem_cache: const char *name
  std::uint32_t cache_size_offset = 0;  // unsigned int size (what each object occupies)
};

// Reads the layout from the kernel's BTF; kEnvironment when an event, argument or field is missing
// or of an unexpected size (the BPF backend then cannot be used and tracefs is).
Result<KmemBpfLayout> kmem_bpf_layout(const Btf& btf);

struct KmemProgramParams {
  int ring_fd = -1;               // BPF_MAP_TYPE_RINGBUF
  int lost_fd = -1;               // BPF_MAP_TYPE_ARRAY, one u64: records the ring had no room for
  std::uint64_t sample_mask = 0;  // trace only pointers with (ptr & mask) == 0; 0: all
  // kmalloc only: write only allocations of these bytes_alloc (`--cache kmalloc-64`); empty: all.
  std::vector<std::uint32_t> kmalloc_sizes;
};

// The program for one event (kmalloc, kfree, kmem_cache_alloc or kmem_cache_free): loads the
// pointer; returns at once unless it is sampled (and, for kmalloc, of a size asked for); writes
// one record with BPF_RB_NO_WAKEUP (the
// reader polls; no wake-up per event); counts a record the ring had no room for.
std::vector<BpfInsn> kmem_program(KmemKind kind, const KmemBpfLayout& layout,
                                  const KmemProgramParams& params);

// Checks what the kernel's verifier would reject first in a program built here: a jump out of the
// program, a register above r10, a two-slot load cut in half, no exit at the end. Used by the
// tests; the kernel verifies every program again when it is loaded.
Result<void> check_program_shape(std::span<const BpfInsn> program);

// ---------------------------------------------------------------------------------------------

template <typename Visitor>
BpfRingWalk walk_bpf_ring(std::span<const std::uint8_t> bytes, Visitor&& on_record) {
  BpfRingWalk walk;
  while (bytes.size() - walk.consumed >= kBpfRingHeaderBytes) {
    const std::uint8_t* at = bytes.data() + walk.consumed;
    const std::uint32_t header =
        static_cast<std::uint32_t>(at[0]) | static_cast<std::uint32_t>(at[1]) << 8 |
        static_cast<std::uint32_t>(at[2]) << 16 | static_cast<std::uint32_t>(at[3]) << 24;
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
