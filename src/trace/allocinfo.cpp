// /proc/allocinfo parser.
#include "trace/allocinfo.h"

#include <fmt/printf.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/csv.h"
#include "core/time_format.h"

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

std::string render_allocinfo(const ParsedAllocinfo& parsed, const std::string& source,
                             const std::string& format, std::size_t top) {
  std::vector<const AllocinfoSite*> sites;
  for (const auto& site : parsed.sites) {
    if (site.calls > 0) sites.push_back(&site);
  }
  std::sort(sites.begin(), sites.end(), [](const auto* a, const auto* b) {
    return a->bytes != b->bytes ? a->bytes > b->bytes : a->function < b->function;
  });
  const std::size_t shown = std::min(top == 0 ? sites.size() : top, sites.size());
  if (format == "json") {
    auto out = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < shown; ++i) {
      const auto& site = *sites[i];
      out.push_back({{"function", std::string(site.function)},
                     {"module", site.module.empty() ? "vmlinux" : std::string(site.module)},
                     {"file", std::string(site.file)},
                     {"line", site.line},
                     {"bytes", site.bytes},
                     {"calls", site.calls}});
    }
    nlohmann::ordered_json j;
    j["source"] = source;
    j["sites"] = out;
    j["sites_total"] = sites.size();
    j["malformed_lines"] = parsed.diagnostics.size();
    return j.dump(2) + "\n";
  }
  if (format == "csv") {
    std::string out = csv_line({"function", "module", "file", "line", "bytes", "calls"});
    for (std::size_t i = 0; i < shown; ++i) {
      const auto& site = *sites[i];
      out += csv_line({std::string(site.function),
                       site.module.empty() ? std::string("vmlinux") : std::string(site.module),
                       std::string(site.file), std::to_string(site.line),
                       std::to_string(site.bytes), std::to_string(site.calls)});
    }
    return out;
  }
  std::string text = fmt::sprintf(
      "%s: %zu allocation sites with live allocations (bytes allocated now, counted by the "
      "kernel)\n\n",
      source, sites.size());
  text +=
      fmt::sprintf("%-40s %-10s %12s %10s  %s\n", "Function", "Module", "Bytes", "Calls", "Source");
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& site = *sites[i];
    text += fmt::sprintf("%-40s %-10s %12s %10s  %s:%u\n", std::string(site.function),
                         site.module.empty() ? std::string("vmlinux") : std::string(site.module),
                         human_bytes(site.bytes), thousands(site.calls), std::string(site.file),
                         site.line);
  }
  if (shown < sites.size()) text += fmt::sprintf("(%zu of %zu sites shown)\n", shown, sites.size());
  return text;
}

}  // namespace poolscope::trace
