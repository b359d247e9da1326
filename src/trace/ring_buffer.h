// Decoder of one page of the kernel's trace ring buffer as read from
// per_cpu/cpuN/trace_pipe_raw: the buffer_data_page header (timestamp, commit and its
// missed-events flags) and the compressed event headers (data records, padding, time extends and
// absolute time stamps). Layout from events/header_page and header_event (tracefs_format.h).
// Little-endian kernels only (x86, arm64): the bit fields are read as the kernel lays them out
// there.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "trace/tracefs_format.h"

namespace poolscope::trace {

struct PageInfo {
  std::uint64_t timestamp = 0;     // the page's base time (trace clock, ns for mono/local/global)
  std::size_t data_bytes = 0;      // commit without its flags
  bool missed_events = false;      // events were lost before this page (RB_MISSED_EVENTS)
  std::uint64_t missed_count = 0;  // how many, when the kernel stored the count (RB_MISSED_STORED)
  std::size_t records = 0;         // data records passed to the visitor
  bool truncated = false;          // commit or an event ran past the page: the rest was skipped
};

namespace detail {
inline std::uint32_t load_u32(const std::uint8_t* at) {
  std::uint32_t value;
  std::memcpy(&value, at, 4);
  return value;
}
inline std::uint64_t load_u64(const std::uint8_t* at) {
  std::uint64_t value;
  std::memcpy(&value, at, 8);
  return value;
}
inline constexpr std::uint64_t kMissedEvents = 1ull << 31;
inline constexpr std::uint64_t kMissedStored = 1ull << 30;
// Absolute time stamps keep only 59 bits; the top bits come from the page (rb_fix_abs_ts).
inline constexpr std::uint64_t kTimeStampMsb = 0xf8ull << 56;
}  // namespace detail

// The bytes of events a page holds (its commit without the missed-events flags); 0 for a page
// shorter than its header.
inline std::size_t page_data_bytes(std::span<const std::uint8_t> page, const PageLayout& layout) {
  if (page.size() < layout.data_offset) return 0;
  const std::uint64_t commit = layout.commit_size == 8
                                   ? detail::load_u64(page.data() + layout.commit_offset)
                                   : detail::load_u32(page.data() + layout.commit_offset);
  return static_cast<std::size_t>(commit & (detail::kMissedStored - 1));
}

// A page the writer had finished: no more than one large event's room left unused. Reading the
// page the writer is still on returns only what it has so far (often an event or two) and takes
// that part away; the live reader leaves such pages for its next round.
inline bool page_is_full(std::span<const std::uint8_t> page, const PageLayout& layout) {
  constexpr std::size_t kLargestUnusedTail = 256;
  return page_data_bytes(page, layout) + kLargestUnusedTail >= layout.data_size;
}

// Calls visit(timestamp, record) for every data record of the page, in order; the record is the
// event's payload (common_type first). Never reads outside `page`; a malformed page ends early
// with truncated set.
template <class Visitor>
PageInfo decode_page(std::span<const std::uint8_t> page, const PageLayout& layout,
                     Visitor&& visit) {
  using detail::load_u32;
  using detail::load_u64;
  PageInfo info;
  if (page.size() < layout.data_offset) {
    info.truncated = !page.empty();
    return info;
  }
  info.timestamp = load_u64(page.data() + layout.timestamp_offset);
  const std::uint64_t commit = layout.commit_size == 8
                                   ? load_u64(page.data() + layout.commit_offset)
                                   : load_u32(page.data() + layout.commit_offset);
  info.missed_events = (commit & detail::kMissedEvents) != 0;
  std::uint64_t length = commit & (detail::kMissedStored - 1);
  const std::size_t available = page.size() - layout.data_offset;
  const std::uint8_t* data = page.data() + layout.data_offset;
  if (length > available) {
    length = available;
    info.truncated = true;
  }
  info.data_bytes = static_cast<std::size_t>(length);
  if ((commit & detail::kMissedStored) != 0 && info.data_bytes + layout.commit_size <= available) {
    info.missed_count = layout.commit_size == 8 ? load_u64(data + info.data_bytes)
                                                : load_u32(data + info.data_bytes);
  }

  const EventHeaderLayout& header = layout.event;
  const std::uint32_t type_mask = (1u << header.type_len_bits) - 1;
  std::uint64_t time = info.timestamp;
  std::size_t at = 0;
  const std::size_t end = info.data_bytes;
  while (at + 4 <= end) {
    const std::uint32_t word = load_u32(data + at);
    const std::uint32_t type_len = word & type_mask;
    const std::uint64_t delta = word >> header.type_len_bits;
    if (type_len == header.padding_type) {
      if (delta == 0) break;  // the rest of the page is empty
      if (at + 8 > end) break;
      const std::uint32_t skip = load_u32(data + at + 4);
      if (skip > end - at - 4) {
        info.truncated = true;
        break;
      }
      at += 4 + std::size_t{skip};  // a discarded event
      continue;
    }
    if (type_len == header.time_extend_type || type_len == header.time_stamp_type) {
      if (at + 8 > end) {
        info.truncated = true;
        break;
      }
      const std::uint64_t value =
          (std::uint64_t{load_u32(data + at + 4)} << header.time_delta_bits) + delta;
      if (type_len == header.time_extend_type) {
        time += value;
      } else {
        time = value | (info.timestamp & detail::kTimeStampMsb);
      }
      at += 8;
      continue;
    }
    std::size_t payload_at = at + 4;
    std::size_t payload_size;
    if (type_len == 0) {
      if (at + 8 > end) {
        info.truncated = true;
        break;
      }
      const std::uint32_t stored = load_u32(data + at + 4);  // includes its own 4 bytes
      if (stored < 4) {
        info.truncated = true;
        break;
      }
      payload_at = at + 8;
      payload_size = ((std::size_t{stored} - 4) + 3) & ~std::size_t{3};
    } else if (type_len <= header.data_max_type_len) {
      payload_size = std::size_t{type_len} * 4;
    } else {
      info.truncated = true;  // a type this layout does not define
      break;
    }
    if (payload_size > end - payload_at) {
      info.truncated = true;
      break;
    }
    time += delta;
    visit(time, std::span<const std::uint8_t>(data + payload_at, payload_size));
    ++info.records;
    at = payload_at + payload_size;
  }
  return info;
}

}  // namespace poolscope::trace
