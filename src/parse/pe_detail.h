// Internal to the PE reader (pe.cpp, pe_version.cpp, pe_authenticode.cpp): byte readers, the RVA
// mapper and the two parts that read their own directories. Not for other modules: they use pe.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "parse/pe.h"

namespace poolscope::parse::pe_detail {

// True if [offset, offset + length) lies within size bytes (no overflow).
inline bool fits(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
  return offset <= size && length <= size - offset;
}

// "0x" and lower-case hex digits, for problem messages.
std::string hex(std::uint64_t value);

// Maps RVAs to file bytes. Sections are turned into disjoint virtual intervals sorted by address
// (where sections overlap, the one with the lower address keeps the overlap), so every lookup is a
// binary search whatever the section count.
class Mapper {
 public:
  Mapper(const PeImage& image, ByteSpan data) : data_(data) {
    std::vector<std::size_t> order(image.sections.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return image.sections[a].virtual_address < image.sections[b].virtual_address;
    });
    std::uint64_t covered = 0;
    for (std::size_t index : order) {
      const PeSection& s = image.sections[index];
      const std::uint64_t vsize = s.virtual_size != 0 ? s.virtual_size : s.raw_size;
      const std::uint64_t begin = std::max<std::uint64_t>(s.virtual_address, covered);
      const std::uint64_t end = static_cast<std::uint64_t>(s.virtual_address) + vsize;
      if (begin >= end) continue;
      // Bytes of the section that the file really holds (the rest is zero-filled when mapped).
      std::uint64_t raw = 0;
      if (s.raw_offset < data.size()) {
        raw = std::min<std::uint64_t>(s.raw_size, data.size() - s.raw_offset);
      }
      raw = std::min(raw, vsize);
      intervals_.push_back({begin, end, s.virtual_address, s.raw_offset, raw});
      covered = end;
    }
    headers_ = std::min<std::uint64_t>(image.size_of_headers, data.size());
    if (!intervals_.empty()) headers_ = std::min(headers_, intervals_.front().begin);
  }

  // The file bytes from rva to the end of the region that holds it (empty when not file-backed).
  ByteSpan from(std::uint64_t rva) const {
    if (rva < headers_) return data_.subspan(rva, headers_ - rva);
    auto it = std::upper_bound(intervals_.begin(), intervals_.end(), rva,
                               [](std::uint64_t v, const Interval& i) { return v < i.begin; });
    if (it == intervals_.begin()) return {};
    --it;
    if (rva >= it->end) return {};
    const std::uint64_t delta = rva - it->section_va;
    if (delta >= it->raw) return {};
    return data_.subspan(it->raw_offset + delta, it->raw - delta);
  }

  // Exactly [rva, rva + size), or empty when not all of it is file-backed.
  ByteSpan at(std::uint64_t rva, std::uint64_t size) const {
    ByteSpan s = from(rva);
    if (s.size() < size) return {};
    return s.first(size);
  }

  std::optional<std::uint64_t> offset(std::uint64_t rva, std::uint64_t size) const {
    ByteSpan s = at(rva, size == 0 ? 1 : size);
    if (s.empty()) return std::nullopt;
    return static_cast<std::uint64_t>(s.data() - data_.data());
  }

 private:
  struct Interval {
    std::uint64_t begin, end;  // virtual range this section answers for
    std::uint64_t section_va;
    std::uint64_t raw_offset;
    std::uint64_t raw;  // file-backed bytes from section_va
  };
  ByteSpan data_;
  std::uint64_t headers_ = 0;
  std::vector<Interval> intervals_;
};

// Where the parts report what they could not read (PeImage::problems, capped by the parser).
using Problem = std::function<void(std::string)>;

// The version resource (RT_VERSION) of the resource directory: image.version, or problems.
void read_version(const Mapper& mapper, PeImage& image, const Problem& problem);

// The Authenticode signature of the security directory: image.signature, or problems.
void read_signature(ByteSpan data, PeImage& image, const Problem& problem);

}  // namespace poolscope::parse::pe_detail
