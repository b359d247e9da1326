// /proc/kallsyms, %pS locations and SLUB allocation traces.
#include "parse/kallsyms.h"

namespace poolscope::parse {

namespace {

std::optional<std::uint64_t> parse_hex(std::string_view s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.empty() || s.size() > 16) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    unsigned digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    value = (value << 4) | digit;
  }
  return value;
}

bool is_type_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '?';
}

// "[ext4]" -> "ext4"; nullopt when not a bracketed name.
std::optional<std::string_view> bracketed(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return std::nullopt;
  return s.substr(1, s.size() - 2);
}

}  // namespace

bool is_text_symbol(char type) {
  switch (type) {
    case 'T':
    case 't':
    case 'W':
    case 'w':
      return true;
    default:
      return false;
  }
}

bool is_data_symbol(char type) {
  switch (type) {
    case 'D':
    case 'd':
    case 'B':
    case 'b':
    case 'R':
    case 'r':
    case 'G':
    case 'g':
    case 'S':
    case 's':
    case 'V':
    case 'v':
      return true;
    default:
      return false;
  }
}

Result<ParsedKallsyms> parse_kallsyms(std::string_view text) {
  ParsedKallsyms out;
  LineReader lines(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  bool any_address = false;
  while (lines.next(line)) {
    split_fields(line, fields);
    if (fields.empty()) continue;
    // "address type name" and, for a module's symbols, "\t[module]".
    const auto address = fields.size() >= 3 ? parse_hex(fields[0]) : std::nullopt;
    if (!address || fields[1].size() != 1 || !is_type_letter(fields[1][0]) || fields.size() > 4) {
      out.diagnostics.push_back({lines.line_number(),
                                 "expected \"address type name [module]\" (hex address, one "
                                 "type letter)"});
      continue;
    }
    KernelSymbol symbol;
    symbol.address = *address;
    symbol.type = fields[1][0];
    symbol.name = fields[2];
    if (fields.size() == 4) {
      auto module = bracketed(fields[3]);
      if (!module) {
        out.diagnostics.push_back(
            {lines.line_number(), "expected the module name in brackets after the symbol name"});
        continue;
      }
      symbol.module = *module;
    }
    any_address |= *address != 0;
    out.symbols.push_back(symbol);
  }
  if (out.symbols.empty()) {
    return make_error(ErrorCode::kInput,
                      out.diagnostics.empty()
                          ? "empty kallsyms: the kernel lists no symbols (CONFIG_KALLSYMS off?)"
                          : "not /proc/kallsyms: no line is \"address type name [module]\"");
  }
  out.addresses_hidden = !any_address;
  return out;
}

std::optional<KernelLocation> parse_kernel_location(std::string_view text) {
  // A sysfs file (ctor) ends in a newline.
  while (!text.empty() && (text.back() == '\n' || is_blank(text.back()))) text.remove_suffix(1);
  text = trim(text);
  if (text.empty()) return std::nullopt;
  KernelLocation out;
  // A module name follows the symbol after one blank: "func+0x1/0x2 [ext4]".
  const auto blank = text.find_first_of(" \t");
  std::string_view symbol = text.substr(0, blank);
  if (blank != std::string_view::npos) {
    auto module = bracketed(trim(text.substr(blank)));
    if (!module) return std::nullopt;
    out.module = *module;
  }
  out.function = symbol;
  const auto plus = symbol.rfind('+');
  const auto slash = symbol.rfind('/');
  if (plus != std::string_view::npos && plus > 0 && slash != std::string_view::npos &&
      slash > plus) {
    auto offset = parse_hex(symbol.substr(plus + 1, slash - plus - 1));
    auto size = parse_hex(symbol.substr(slash + 1));
    if (offset && size) {
      out.function = symbol.substr(0, plus);
      out.offset = offset;
      out.function_size = size;
    }
  }
  return out;
}

ParsedSlabCallers parse_slab_callers(std::string_view text) {
  ParsedSlabCallers out;
  LineReader lines(text);
  std::string_view line;
  while (lines.next(line)) {
    const std::string_view body = trim(line);
    if (body.empty()) continue;
    if (body == "No data") {
      out.no_data = true;
      continue;
    }
    // A caller line starts with its count; a stack frame line is only a location.
    std::size_t digits = 0;
    while (digits < body.size() && body[digits] >= '0' && body[digits] <= '9') ++digits;
    if (digits > 0 && digits < body.size() && is_blank(body[digits])) {
      SlabCaller caller;
      auto count = parse_u64(body.substr(0, digits));
      std::string_view rest = trim_left(body.substr(digits));
      // The location ends where the first "key=value" detail starts.
      std::size_t end = rest.size();
      for (std::size_t at = 0; at < rest.size();) {
        const auto next = rest.find(' ', at);
        const std::string_view word =
            rest.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at);
        if (at > 0 && word.find('=') != std::string_view::npos) {
          end = at;
          break;
        }
        if (next == std::string_view::npos) break;
        at = next + 1;
      }
      auto location = parse_kernel_location(rest.substr(0, end));
      if (!count || !location) {
        out.diagnostics.push_back(
            {lines.line_number(), "expected \"count function+0xoff/0xsize [module] age=...\""});
        continue;
      }
      caller.count = *count;
      caller.location = *location;
      caller.details = trim(rest.substr(end));
      out.callers.push_back(std::move(caller));
      continue;
    }
    auto frame = parse_kernel_location(body);
    if (!frame || out.callers.empty() || !is_blank(line.empty() ? 'x' : line[0])) {
      out.diagnostics.push_back(
          {lines.line_number(),
           "expected a caller (\"count function+0xoff/0xsize ...\") or an indented stack frame"});
      continue;
    }
    out.callers.back().stack.push_back(*frame);
  }
  return out;
}

}  // namespace poolscope::parse
