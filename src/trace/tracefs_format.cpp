// tracefs format, header_page and header_event parsers.
#include "trace/tracefs_format.h"

#include "core/forward_error.h"
#include "parse/text.h"

namespace poolscope::trace {

namespace {

bool is_identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// The value of "key:N;" in a field line, or nullopt.
std::optional<std::uint64_t> keyed_number(std::string_view line, std::string_view key) {
  std::size_t at = 0;
  while ((at = line.find(key, at)) != std::string_view::npos) {
    // A whole key: at the start or after a blank/semicolon.
    if (at == 0 || parse::is_blank(line[at - 1]) || line[at - 1] == ';') break;
    at += key.size();
  }
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(at + key.size());
  const std::size_t end = rest.find(';');
  if (end == std::string_view::npos) return std::nullopt;
  return parse::parse_u64(parse::trim(rest.substr(0, end)));
}

// "field:unsigned long call_site;\toffset:8;\tsize:8;\tsigned:0;" (header_page has a blank
// after "field:").
std::optional<EventField> parse_field_line(std::string_view line) {
  line = parse::trim(line);
  if (!line.starts_with("field:")) return std::nullopt;
  std::string_view rest = line.substr(6);
  const std::size_t semicolon = rest.find(';');
  if (semicolon == std::string_view::npos) return std::nullopt;
  std::string_view declaration = parse::trim(rest.substr(0, semicolon));
  const std::string_view numbers = rest.substr(semicolon + 1);
  auto offset = keyed_number(numbers, "offset:");
  auto size = keyed_number(numbers, "size:");
  if (!offset || !size || *offset > (1u << 20) || *size > (1u << 20)) return std::nullopt;
  auto is_signed = keyed_number(numbers, "signed:");

  EventField field;
  field.offset = static_cast<std::size_t>(*offset);
  field.size = static_cast<std::size_t>(*size);
  field.is_signed = is_signed.value_or(0) != 0;
  // "char comm[16]": the array part is not part of the name.
  std::string_view head = declaration;
  std::string array;
  if (!head.empty() && head.back() == ']') {
    const std::size_t open = head.rfind('[');
    if (open == std::string_view::npos) return std::nullopt;
    array = std::string(head.substr(open));
    head = parse::trim(head.substr(0, open));
  }
  std::size_t name_start = head.size();
  while (name_start > 0 && is_identifier_char(head[name_start - 1])) --name_start;
  if (name_start == head.size()) return std::nullopt;
  field.name = std::string(head.substr(name_start));
  const std::string_view type = parse::trim(head.substr(0, name_start));
  if (type.empty()) return std::nullopt;  // "field:int;": no name
  field.type = std::string(type) + array;
  field.data_loc = field.type.starts_with("__data_loc");
  return field;
}

}  // namespace

Result<EventFormat> parse_event_format(std::string_view text) {
  EventFormat format;
  bool have_name = false, have_id = false;
  parse::LineReader reader(text);
  std::string_view line;
  while (reader.next(line)) {
    const std::string_view trimmed = parse::trim(line);
    if (trimmed.starts_with("name:")) {
      format.name = std::string(parse::trim(trimmed.substr(5)));
      have_name = !format.name.empty();
    } else if (trimmed.starts_with("ID:")) {
      auto id = parse::parse_u64(parse::trim(trimmed.substr(3)));
      if (id && *id <= 0xffff) {
        format.id = static_cast<std::uint32_t>(*id);
        have_id = true;
      }
    } else if (trimmed.starts_with("field:")) {
      auto field = parse_field_line(trimmed);
      if (!field) {
        return make_error(ErrorCode::kInput,
                          "tracefs event format, line " + std::to_string(reader.line_number()) +
                              ": expected 'field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;'");
      }
      format.fields.push_back(std::move(*field));
    } else if (trimmed.starts_with("print fmt:")) {
      break;  // the rest is the kernel's printf, not layout
    }
  }
  if (!have_name || !have_id || format.fields.empty()) {
    return make_error(ErrorCode::kInput,
                      "not a tracefs event format file (needs 'name:', 'ID:' and 'field:' lines; "
                      "read events/<system>/<event>/format)");
  }
  return format;
}

const EventField* find_field(const EventFormat& format, std::string_view name) {
  for (const auto& field : format.fields) {
    if (field.name == name) return &field;
  }
  return nullptr;
}

Result<EventHeaderLayout> parse_header_event(std::string_view text) {
  EventHeaderLayout layout;
  bool have_type_len = false, have_delta = false;
  parse::LineReader reader(text);
  std::string_view line;
  auto number_after = [](std::string_view s, std::string_view marker) -> std::optional<unsigned> {
    const std::size_t at = s.find(marker);
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view rest = parse::trim(s.substr(at + marker.size()));
    std::size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    auto value = parse::parse_u64(rest.substr(0, digits));
    if (!value || *value > 64) return std::nullopt;
    return static_cast<unsigned>(*value);
  };
  while (reader.next(line)) {
    const std::string_view trimmed = parse::trim(line);
    const std::size_t colon = trimmed.find(':');
    const std::string_view key =
        parse::trim(colon == std::string_view::npos ? trimmed : trimmed.substr(0, colon));
    if (key == "type_len") {
      if (auto bits = number_after(trimmed, ":"))
        layout.type_len_bits = *bits, have_type_len = true;
    } else if (key == "time_delta") {
      if (auto bits = number_after(trimmed, ":")) layout.time_delta_bits = *bits, have_delta = true;
    } else if (key == "padding") {
      if (auto type = number_after(trimmed, "==")) layout.padding_type = *type;
    } else if (key == "time_extend") {
      if (auto type = number_after(trimmed, "==")) layout.time_extend_type = *type;
    } else if (key == "time_stamp") {
      if (auto type = number_after(trimmed, "==")) layout.time_stamp_type = *type;
    } else if (trimmed.starts_with("data max type_len")) {
      if (auto type = number_after(trimmed, "==")) layout.data_max_type_len = *type;
    }
  }
  if (!have_type_len || !have_delta || layout.type_len_bits + layout.time_delta_bits != 32 ||
      layout.type_len_bits == 0 || layout.type_len_bits > 8) {
    return make_error(ErrorCode::kInput,
                      "not a ring-buffer event header description (events/header_event needs "
                      "'type_len : N bits' and 'time_delta : M bits' with N + M = 32)");
  }
  const unsigned max_type = (1u << layout.type_len_bits) - 1;
  if (layout.padding_type > max_type || layout.time_extend_type > max_type ||
      layout.time_stamp_type > max_type || layout.data_max_type_len >= layout.padding_type) {
    return make_error(ErrorCode::kInput, "events/header_event: special types out of range for a " +
                                             std::to_string(layout.type_len_bits) +
                                             "-bit type_len");
  }
  return layout;
}

Result<PageLayout> parse_page_layout(std::string_view header_page, std::string_view header_event) {
  PageLayout layout;
  auto event = parse_header_event(header_event);
  if (!event) return forward_error(event);
  layout.event = *event;
  bool have_timestamp = false, have_commit = false, have_data = false;
  parse::LineReader reader(header_page);
  std::string_view line;
  while (reader.next(line)) {
    auto field = parse_field_line(line);
    if (!field) continue;
    if (field->name == "timestamp") {
      layout.timestamp_offset = field->offset, layout.timestamp_size = field->size;
      have_timestamp = true;
    } else if (field->name == "commit") {
      layout.commit_offset = field->offset, layout.commit_size = field->size;
      have_commit = true;
    } else if (field->name == "data") {
      layout.data_offset = field->offset, layout.data_size = field->size;
      have_data = true;
    }
  }
  if (!have_timestamp || !have_commit || !have_data) {
    return make_error(ErrorCode::kInput,
                      "not a ring-buffer page header description (events/header_page needs the "
                      "timestamp, commit and data fields)");
  }
  const bool sizes_ok = layout.timestamp_size == 8 &&
                        (layout.commit_size == 4 || layout.commit_size == 8) &&
                        layout.timestamp_offset + 8 <= layout.data_offset &&
                        layout.commit_offset + layout.commit_size <= layout.data_offset &&
                        layout.data_size >= 16 && layout.page_size() <= (1u << 20);
  if (!sizes_ok) {
    return make_error(ErrorCode::kInput,
                      "events/header_page: field sizes or offsets do not describe a ring-buffer "
                      "page (8-byte timestamp, 4- or 8-byte commit, data after both)");
  }
  return layout;
}

}  // namespace poolscope::trace
