// Builds kmem trace records and ring-buffer pages the way the kernel writes them (little-endian),
// from the real format files in tests/data/trace: for the decoder tests, the fuzz seeds and the
// offline benchmark.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "trace/kmem_events.h"
#include "trace/tracefs_format.h"

namespace poolscope::testing {

inline trace::KmemFormats kmem_formats_from(const std::string& kmalloc, const std::string& kfree,
                                            const std::string& cache_alloc,
                                            const std::string& cache_free) {
  trace::KmemFormats formats;
  formats.kmalloc = *trace::parse_event_format(kmalloc);
  formats.kfree = *trace::parse_event_format(kfree);
  formats.cache_alloc = *trace::parse_event_format(cache_alloc);
  formats.cache_free = *trace::parse_event_format(cache_free);
  return formats;
}

class RecordBuilder {
 public:
  explicit RecordBuilder(const trace::EventFormat& format) : format_(format) {
    std::size_t size = 0;
    for (const auto& field : format.fields) size = std::max(size, field.offset + field.size);
    bytes_.assign(size, 0);
    set("common_type", format.id);
  }
  RecordBuilder& set(const std::string& name, std::uint64_t value) {
    const trace::EventField* field = trace::find_field(format_, name);
    if (field != nullptr) std::memcpy(bytes_.data() + field->offset, &value, field->size);
    return *this;
  }
  // A __data_loc string: appended after the fixed fields.
  RecordBuilder& set_string(const std::string& name, const std::string& value) {
    const trace::EventField* field = trace::find_field(format_, name);
    if (field == nullptr) return *this;
    const auto offset = static_cast<std::uint32_t>(bytes_.size());
    const auto length = static_cast<std::uint32_t>(value.size() + 1);
    bytes_.insert(bytes_.end(), value.begin(), value.end());
    bytes_.push_back(0);
    const std::uint32_t loc = offset | (length << 16);
    std::memcpy(bytes_.data() + field->offset, &loc, 4);
    return *this;
  }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  const trace::EventFormat& format_;
  std::vector<std::uint8_t> bytes_;
};

class PageBuilder {
 public:
  PageBuilder(const trace::PageLayout& layout, std::uint64_t timestamp) : layout_(layout) {
    page_.assign(layout.page_size(), 0);
    std::memcpy(page_.data() + layout.timestamp_offset, &timestamp, 8);
  }
  std::size_t room() const { return layout_.data_size - used_ - 8; }
  // A data record; false when the page has no room for it.
  bool add(std::uint32_t delta, const std::vector<std::uint8_t>& payload, bool force_long = false) {
    const std::size_t aligned = (payload.size() + 3) & ~std::size_t{3};
    const bool small = !force_long && aligned <= 4 * layout_.event.data_max_type_len && aligned > 0;
    const std::size_t total = 4 + (small ? 0 : 4) + aligned;
    if (used_ + total > layout_.data_size) return false;
    std::uint32_t word = delta << layout_.event.type_len_bits;
    if (small) word |= static_cast<std::uint32_t>(aligned / 4);
    put32(word);
    if (!small) put32(static_cast<std::uint32_t>(aligned + 4));
    std::memcpy(data() + used_, payload.data(), payload.size());
    used_ += aligned;
    return true;
  }
  void time_extend(std::uint64_t delta) {
    put32(layout_.event.time_extend_type |
          static_cast<std::uint32_t>(delta << layout_.event.type_len_bits));
    put32(static_cast<std::uint32_t>(delta >> layout_.event.time_delta_bits));
  }
  void time_stamp(std::uint64_t absolute) {
    put32(layout_.event.time_stamp_type |
          static_cast<std::uint32_t>(absolute << layout_.event.type_len_bits));
    put32(static_cast<std::uint32_t>(absolute >> layout_.event.time_delta_bits));
  }
  // A discarded event of `bytes` payload (>= 4): padding with a non-zero delta whose array[0]
  // (the first payload word) holds the payload length, as rb_event_discard() leaves it.
  void discarded(std::uint32_t bytes) {
    put32(layout_.event.padding_type | (1u << layout_.event.type_len_bits));
    put32(bytes);
    used_ += bytes - 4;
  }
  std::vector<std::uint8_t> finish(std::uint64_t flags = 0, std::uint64_t missed = 0) {
    const std::uint64_t commit = used_ | flags;
    std::memcpy(page_.data() + layout_.commit_offset, &commit, layout_.commit_size);
    if (missed != 0) std::memcpy(data() + used_, &missed, layout_.commit_size);
    return page_;
  }

 private:
  std::uint8_t* data() { return page_.data() + layout_.data_offset; }
  void put32(std::uint32_t value) {
    std::memcpy(data() + used_, &value, 4);
    used_ += 4;
  }
  const trace::PageLayout& layout_;
  std::vector<std::uint8_t> page_;
  std::size_t used_ = 0;
};

}  // namespace poolscope::testing
