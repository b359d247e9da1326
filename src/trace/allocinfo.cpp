// /proc/allocinfo parser.
#include "trace/allocinfo.h"

namespace poolscope::trace {

ParsedAllocinfo parse_allocinfo(std::string_view text) {
  ParsedAllocinfo out;
  parse::LineReader reader(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  while (reader.next(line)) {
    const std::string_view trimmed = parse::trim(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    if (trimmed.starts_with("allocinfo - version:")) {
      out.version = parse::trim(trimmed.substr(20));
      continue;
    }
    parse::split_fields(trimmed, fields);
    auto bad = [&](const char* what) { out.diagnostics.push_back({reader.line_number(), what}); };
    if (fields.size() < 4) {
      bad("expected '<bytes> <calls> <file>:<line> [module] func:<function>'");
      continue;
    }
    AllocinfoSite site;
    auto bytes = parse::parse_u64(fields[0]);
    auto calls = parse::parse_u64(fields[1]);
    if (!bytes || !calls) {
      bad("the first two columns must be the bytes and the number of calls");
      continue;
    }
    site.bytes = *bytes;
    site.calls = *calls;
    const std::string_view location = fields[2];
    const std::size_t colon = location.rfind(':');
    auto line_number = colon == std::string_view::npos
                           ? std::nullopt
                           : parse::parse_u64(location.substr(colon + 1));
    if (!line_number || *line_number > UINT32_MAX || colon == 0) {
      bad("expected the call site as <file>:<line>");
      continue;
    }
    site.file = location.substr(0, colon);
    site.line = static_cast<std::uint32_t>(*line_number);
    std::size_t next = 3;
    if (fields[next].size() >= 2 && fields[next].front() == '[' && fields[next].back() == ']') {
      site.module = fields[next].substr(1, fields[next].size() - 2);
      ++next;
    }
    if (next >= fields.size() || !fields[next].starts_with("func:") || fields[next].size() == 5) {
      bad("expected func:<function> after the call site");
      continue;
    }
    site.function = fields[next].substr(5);
    ++next;
    if (next < fields.size()) {
      const char* begin = fields[next].data();
      site.extra = parse::trim(trimmed.substr(static_cast<std::size_t>(begin - trimmed.data())));
    }
    out.sites.push_back(site);
  }
  return out;
}

}  // namespace poolscope::trace
