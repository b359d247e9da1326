// kmem trace event decoding.
#include "trace/kmem_events.h"

#include <cstring>

#include "core/forward_error.h"
#include "parse/text.h"

namespace poolscope::trace {

std::string_view kmem_kind_name(KmemKind kind) {
  switch (kind) {
    case KmemKind::kKmalloc:
      return "kmalloc";
    case KmemKind::kKfree:
      return "kfree";
    case KmemKind::kCacheAlloc:
      return "kmem_cache_alloc";
    case KmemKind::kCacheFree:
      return "kmem_cache_free";
    case KmemKind::kPageAlloc:
      return "mm_page_alloc";
    case KmemKind::kPageFree:
      return "mm_page_free";
    case KmemKind::kOther:
      break;
  }
  return "other";
}

std::string kmalloc_cache_for(std::uint32_t bytes_alloc) {
  if (bytes_alloc > 8192) return "kmalloc-large";
  if (bytes_alloc >= 1024 && bytes_alloc % 1024 == 0) {
    return "kmalloc-" + std::to_string(bytes_alloc / 1024) + "k";
  }
  return "kmalloc-" + std::to_string(bytes_alloc);
}

std::uint64_t kmalloc_size_of(std::string_view cache) {
  if (!cache.starts_with("kmalloc-")) return 0;
  cache.remove_prefix(8);
  std::uint64_t scale = 1;
  if (cache.ends_with("k")) {
    cache.remove_suffix(1);
    scale = 1024;
  }
  auto n = parse::parse_u64(cache);
  return n && *n <= (std::uint64_t{1} << 32) ? *n * scale : 0;
}

Result<KmemDecoder::Layout> KmemDecoder::layout_of(const EventFormat& format, KmemKind kind) {
  Layout layout;
  layout.kind = kind;
  auto get = [&](std::string_view name, bool required, bool data_loc, Field& out) -> Result<void> {
    const EventField* field = find_field(format, name);
    if (field == nullptr) {
      if (!required) return {};
      return make_error(ErrorCode::kEnvironment,
                        "the kmem:" + format.name + " trace event has no '" + std::string(name) +
                            "' field: this kernel's kmem events are not the ones poolscope reads");
    }
    const bool size_ok = data_loc ? field->size == 4 : (field->size == 4 || field->size == 8);
    if (!size_ok || field->data_loc != data_loc) {
      return make_error(ErrorCode::kEnvironment,
                        "the kmem:" + format.name + " field '" + std::string(name) +
                            "' has an unexpected type or size (" + field->type + ", " +
                            std::to_string(field->size) + " bytes)");
    }
    out.offset = static_cast<std::uint32_t>(field->offset);
    out.size = static_cast<std::uint32_t>(field->size);
    layout.min_size = std::max<std::uint32_t>(layout.min_size, out.offset + out.size);
    return {};
  };
  const bool alloc = kind == KmemKind::kKmalloc || kind == KmemKind::kCacheAlloc;
  if (auto r = get("call_site", true, false, layout.call_site); !r) return forward_error(r);
  if (auto r = get("ptr", true, false, layout.ptr); !r) return forward_error(r);
  if (auto r = get("bytes_alloc", alloc, false, layout.bytes_alloc); !r) {
    return forward_error(r);
  }
  if (auto r = get("name", kind == KmemKind::kCacheAlloc, true, layout.name); !r) {
    return forward_error(r);
  }
  return layout;
}

Result<KmemDecoder> KmemDecoder::create(const KmemFormats& formats) {
  KmemDecoder decoder;
  const EventFormat* all[4] = {&formats.kmalloc, &formats.kfree, &formats.cache_alloc,
                               &formats.cache_free};
  const KmemKind kinds[4] = {KmemKind::kKmalloc, KmemKind::kKfree, KmemKind::kCacheAlloc,
                             KmemKind::kCacheFree};
  const EventField* type = find_field(formats.kmalloc, "common_type");
  const EventField* pid = find_field(formats.kmalloc, "common_pid");
  if (type == nullptr || pid == nullptr || type->size != 2 || pid->size != 4) {
    return make_error(ErrorCode::kEnvironment,
                      "the kmem:kmalloc trace event lacks the common_type (2 bytes) or "
                      "common_pid (4 bytes) field");
  }
  decoder.common_type_ = {static_cast<std::uint32_t>(type->offset), 2};
  decoder.common_pid_ = {static_cast<std::uint32_t>(pid->offset), 4};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < i; ++j) {
      if (all[i]->id == all[j]->id) {
        return make_error(ErrorCode::kInput,
                          "two kmem trace events share the id " + std::to_string(all[i]->id));
      }
    }
    auto layout = layout_of(*all[i], kinds[i]);
    if (!layout) return forward_error(layout);
    decoder.id_of_[i] = all[i]->id;
    decoder.layouts_[i] = *layout;
  }
  return decoder;
}

namespace {
inline std::uint64_t load(const std::uint8_t* at, std::uint32_t size) {
  if (size == 8) {
    std::uint64_t value;
    std::memcpy(&value, at, 8);
    return value;
  }
  std::uint32_t value;
  std::memcpy(&value, at, 4);
  return value;
}
}  // namespace

std::uint16_t KmemDecoder::intern(std::string_view name) {
  // The last name looked up is usually the next one (bursts from one cache).
  if (last_cache_ < cache_names_.size() && cache_names_[last_cache_] == name) return last_cache_;
  auto it = cache_ids_.find(std::string(name));
  if (it != cache_ids_.end()) return last_cache_ = it->second;
  if (cache_names_.size() >= kNoCache) return kNoCache;
  const auto id = static_cast<std::uint16_t>(cache_names_.size());
  cache_names_.emplace_back(name);
  cache_ids_.emplace(std::string(name), id);
  return last_cache_ = id;
}

std::uint16_t KmemDecoder::kmalloc_cache(std::uint32_t bytes_alloc) {
  const std::uint32_t bucket = bytes_alloc > 8192 ? 8193 : bytes_alloc;
  if (bucket >= kmalloc_cache_by_size_.size()) kmalloc_cache_by_size_.resize(bucket + 1, kNoCache);
  if (kmalloc_cache_by_size_[bucket] == kNoCache) {
    kmalloc_cache_by_size_[bucket] = intern(kmalloc_cache_for(bytes_alloc));
  }
  return kmalloc_cache_by_size_[bucket];
}

std::string_view KmemDecoder::cache_name(std::uint16_t id) const {
  return id < cache_names_.size() ? std::string_view(cache_names_[id]) : std::string_view();
}

bool KmemDecoder::decode(std::uint64_t time, std::span<const std::uint8_t> record, KmemEvent& out) {
  if (record.size() < common_pid_.offset + 4u || record.size() < common_type_.offset + 2u) {
    return false;
  }
  std::uint16_t type;
  std::memcpy(&type, record.data() + common_type_.offset, 2);
  int index = 0;
  while (index < 4 && id_of_[index] != type) ++index;
  if (index == 4) return false;
  const Layout& layout = layouts_[index];
  if (record.size() < layout.min_size) return false;
  const std::uint8_t* data = record.data();
  out.time = time;
  out.kind = layout.kind;
  std::memcpy(&out.pid, data + common_pid_.offset, 4);
  out.call_site = load(data + layout.call_site.offset, layout.call_site.size);
  out.ptr = load(data + layout.ptr.offset, layout.ptr.size);
  out.bytes = 0;
  out.cache = kNoCache;
  if (layout.bytes_alloc.size != 0) {
    const std::uint64_t bytes = load(data + layout.bytes_alloc.offset, layout.bytes_alloc.size);
    out.bytes = bytes > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(bytes);
  }
  if (layout.kind == KmemKind::kCacheAlloc) {
    std::uint32_t loc;
    std::memcpy(&loc, data + layout.name.offset, 4);
    const std::uint32_t offset = loc & 0xffff, length = loc >> 16;
    if (offset + std::size_t{length} <= record.size() && length > 0) {
      std::string_view name(reinterpret_cast<const char*>(data + offset), length);
      const std::size_t nul = name.find('\0');
      if (nul != std::string_view::npos) name = name.substr(0, nul);
      out.cache = intern(name);
    }
  } else if (layout.kind == KmemKind::kKmalloc) {
    out.cache = kmalloc_cache(out.bytes);
  }
  return true;
}

}  // namespace poolscope::trace
