// The four kmem trace events poolscope pairs (kmalloc, kfree, kmem_cache_alloc, kmem_cache_free):
// field offsets resolved once from their `format` files, then each ring-buffer record decoded into
// a compact event. Cache names are interned (a small table; one id per name).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "trace/tracefs_format.h"

namespace poolscope::trace {

// kPageAlloc / kPageFree: the page allocator (mm_page_alloc / mm_page_free, `trace --pages`, BPF
// backend only). The numbers are those of the BPF records (bpf_kmem.h).
enum class KmemKind : std::uint8_t {
  kKmalloc,
  kKfree,
  kCacheAlloc,
  kCacheFree,
  kPageAlloc,
  kPageFree,
  kOther
};
std::string_view kmem_kind_name(KmemKind kind);  // "kmalloc", ...

inline constexpr std::uint16_t kNoCache = 0xffff;

struct KmemEvent {
  std::uint64_t time = 0;  // trace clock, ns
  std::uint64_t ptr = 0;
  std::uint64_t call_site = 0;
  std::uint32_t bytes = 0;  // bytes_alloc (what the object really occupies); 0 for frees
  std::int32_t pid = 0;
  std::uint16_t cache = kNoCache;  // KmemDecoder::cache_name(); kmalloc: "kmalloc-<bytes>"
  KmemKind kind = KmemKind::kOther;
  bool is_alloc() const {
    return kind == KmemKind::kKmalloc || kind == KmemKind::kCacheAlloc ||
           kind == KmemKind::kPageAlloc;
  }
  bool is_free() const {
    return kind == KmemKind::kKfree || kind == KmemKind::kCacheFree || kind == KmemKind::kPageFree;
  }
};

// The formats of the four events, as read from events/kmem/<event>/format.
struct KmemFormats {
  EventFormat kmalloc, kfree, cache_alloc, cache_free;
};

class KmemDecoder {
 public:
  // A decoder without formats decodes no tracefs record; it still names caches (the BPF backend's
  // records carry the name or the size, not a tracefs layout).
  KmemDecoder() = default;
  // Fails when a format lacks a field poolscope needs (common_type, common_pid, call_site, ptr;
  // bytes_alloc for allocations; name for kmem_cache_alloc) or two events share an id.
  static Result<KmemDecoder> create(const KmemFormats& formats);

  // Decodes one record (the payload given by decode_page); false when it is not one of the four
  // events or too short for its fields.
  bool decode(std::uint64_t time, std::span<const std::uint8_t> record, KmemEvent& out);

  std::string_view cache_name(std::uint16_t id) const;
  std::size_t cache_count() const { return cache_names_.size(); }
  // The id of a cache name (kNoCache once 65,535 names are taken), and of the generic cache a
  // kmalloc of `bytes_alloc` comes from.
  std::uint16_t intern(std::string_view name);
  std::uint16_t kmalloc_cache(std::uint32_t bytes_alloc);

 private:
  struct Field {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;  // 0: the event has no such field
  };
  struct Layout {
    KmemKind kind = KmemKind::kOther;
    std::uint32_t min_size = 0;  // bytes the record must have for all fields below
    Field call_site, ptr, bytes_alloc, name;
  };
  static Result<Layout> layout_of(const EventFormat& format, KmemKind kind);

  std::uint32_t id_of_[4] = {};
  Layout layouts_[4];
  Field common_type_, common_pid_;
  std::vector<std::string> cache_names_;
  std::unordered_map<std::string, std::uint16_t> cache_ids_;
  std::uint16_t last_cache_ = kNoCache;
  std::vector<std::uint16_t> kmalloc_cache_by_size_;  // bytes -> id, for the generic caches
};

// "kmalloc-<bytes>" for a kmalloc of that bytes_alloc (SLUB serves kmalloc from the generic cache
// of that size; above 8 KiB it comes from the page allocator: "kmalloc-large").
std::string kmalloc_cache_for(std::uint32_t bytes_alloc);
// The other way: the bytes_alloc of a generic kmalloc cache name ("kmalloc-64" 64, "kmalloc-2k"
// 2048); 0 for any other name ("dentry", "kmalloc-large").
std::uint64_t kmalloc_size_of(std::string_view cache);

}  // namespace poolscope::trace
