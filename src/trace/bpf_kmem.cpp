// BPF kmem and page records and their decoding.
#include "trace/bpf_kmem.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>

namespace poolscope::trace {

namespace {

std::uint64_t get_u64(const std::uint8_t* at) {
  std::uint64_t value;
  std::memcpy(&value, at, 8);
  return value;
}
std::uint32_t get_u32(const std::uint8_t* at) {
  std::uint32_t value;
  std::memcpy(&value, at, 4);
  return value;
}

}  // namespace

bool decode_bpf_record(std::span<const std::uint8_t> record, KmemDecoder& names, KmemEvent& out) {
  if (record.size() < kBpfRecordBytes) return false;
  const std::uint8_t* data = record.data();
  const std::uint32_t kind = get_u32(data + 32);
  if (kind > kBpfPageFreeKind) return false;
  out.kind = static_cast<KmemKind>(kind);  // KmemKind numbers the kinds as the records do
  out.time = get_u64(data);
  out.ptr = get_u64(data + 8);
  out.call_site = get_u64(data + 16);
  std::uint32_t pid = get_u32(data + 24);
  std::memcpy(&out.pid, &pid, 4);
  out.bytes = out.is_alloc() ? get_u32(data + 28) : 0;
  out.cache = kNoCache;
  if (out.kind == KmemKind::kKmalloc) {
    out.cache = names.kmalloc_cache(out.bytes);
  } else if (out.kind == KmemKind::kPageAlloc) {
    // extra: the order (set by the reader, page_sites.h); the "cache" of a page is its order.
    static constexpr std::string_view kOrders[] = {"order-0",  "order-1",  "order-2",  "order-3",
                                                   "order-4",  "order-5",  "order-6",  "order-7",
                                                   "order-8",  "order-9",  "order-10", "order-11",
                                                   "order-12", "order-13", "order-14", "order-15"};
    const std::uint32_t order = std::min<std::uint32_t>(get_u32(data + kBpfRecordExtraOffset), 15);
    out.cache = names.intern(kOrders[order]);
  } else if (out.kind == KmemKind::kCacheAlloc) {
    if (record.size() < kBpfCacheAllocRecordBytes) return false;
    std::string_view name(reinterpret_cast<const char*>(data + kBpfRecordBytes),
                          kBpfCacheNameBytes);
    name = name.substr(0, name.find('\0'));
    if (!name.empty()) out.cache = names.intern(name);
  }
  return true;
}

void append_bpf_ring_record(std::vector<std::uint8_t>& ring, const KmemEvent& event,
                            std::string_view cache_name) {
  const bool named = event.kind == KmemKind::kCacheAlloc;
  const std::size_t length = named ? kBpfCacheAllocRecordBytes : kBpfRecordBytes;
  std::uint8_t record[kBpfRingHeaderBytes + kBpfCacheAllocRecordBytes] = {};
  const auto header = static_cast<std::uint32_t>(length);
  std::memcpy(record, &header, 4);
  std::uint8_t* data = record + kBpfRingHeaderBytes;
  std::memcpy(data, &event.time, 8);
  std::memcpy(data + 8, &event.ptr, 8);
  std::memcpy(data + 16, &event.call_site, 8);
  std::memcpy(data + 24, &event.pid, 4);
  std::memcpy(data + 28, &event.bytes, 4);
  const auto kind = static_cast<std::uint32_t>(event.kind);
  std::memcpy(data + 32, &kind, 4);
  if (event.kind == KmemKind::kPageAlloc) {  // extra: the order, from bytes (4 KiB pages)
    const auto order =
        static_cast<std::uint32_t>(std::countr_zero(std::max(event.bytes, 4096u)) - 12);
    std::memcpy(data + kBpfRecordExtraOffset, &order, 4);
  }
  if (named) {
    std::memcpy(data + kBpfRecordBytes, cache_name.data(),
                std::min(cache_name.size(), kBpfCacheNameBytes - 1));
  }
  ring.insert(ring.end(), record, record + kBpfRingHeaderBytes + length);
}

}  // namespace poolscope::trace
