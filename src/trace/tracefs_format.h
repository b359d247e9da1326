// Parsers for the layout files of the kernel's trace ring buffer (tracefs): an event's `format`
// file (fields with offset, size, signedness), events/header_page (the buffer_data_page header)
// and events/header_event (the compressed event header: type_len / time_delta bits and the
// special types). Nothing here assumes a kernel version: every offset is read from these texts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace poolscope::trace {

// One "field:<declaration>;\toffset:N;\tsize:N;\tsigned:N;" line.
struct EventField {
  std::string type;  // "unsigned long", "const void *", "__data_loc char[]"
  std::string name;  // "call_site"
  std::size_t offset = 0;
  std::size_t size = 0;
  bool is_signed = false;
  // "__data_loc" fields hold a u32: low 16 bits the offset of the data in the record, high 16
  // bits its length (a string includes its NUL).
  bool data_loc = false;
};

struct EventFormat {
  std::string system;  // "kmem" when the caller knows it (the file does not say)
  std::string name;    // "kmalloc"
  std::uint32_t id = 0;
  std::vector<EventField> fields;  // common_* first, in file order
};

// Fails (kInput) when the text has no "name:", no "ID:" or no field line; unknown lines (print
// fmt) are ignored.
Result<EventFormat> parse_event_format(std::string_view text);
const EventField* find_field(const EventFormat& format, std::string_view name);

// events/header_event: "type_len : 5 bits", "time_delta : 27 bits", "padding : type == 29", ...
struct EventHeaderLayout {
  unsigned type_len_bits = 5;
  unsigned time_delta_bits = 27;
  unsigned padding_type = 29;
  unsigned time_extend_type = 30;
  unsigned time_stamp_type = 31;
  unsigned data_max_type_len = 28;
};
Result<EventHeaderLayout> parse_header_event(std::string_view text);

// events/header_page: the buffer_data_page fields (timestamp, commit, data).
struct PageLayout {
  std::size_t timestamp_offset = 0, timestamp_size = 8;
  std::size_t commit_offset = 8, commit_size = 8;
  std::size_t data_offset = 16, data_size = 4080;
  std::size_t page_size() const { return data_offset + data_size; }
  EventHeaderLayout event;
};
// Both texts together; fails when a field is missing or sizes do not fit a ring-buffer page.
Result<PageLayout> parse_page_layout(std::string_view header_page, std::string_view header_event);

}  // namespace poolscope::trace
