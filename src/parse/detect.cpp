// Format detection: each format has a line that no other format has.
#include "parse/detect.h"

#include <string>

namespace poolscope::parse {

std::string_view text_format_name(TextFormat format) {
  switch (format) {
    case TextFormat::kSlabinfo:
      return "slabinfo";
    case TextFormat::kPoolmon:
      return "poolmon";
    case TextFormat::kPoolused:
      return "poolused";
    case TextFormat::kVm:
      return "vm";
    case TextFormat::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view known_formats_help() {
  return "  - a saved copy of Linux /proc/slabinfo (\"slabinfo - version: 2.1\")\n";
}

TextFormat detect_format(std::string_view text) {
  LineReader lines(text);
  std::string_view line;
  std::size_t seen = 0;
  while (lines.next(line) && seen < 200) {
    auto t = trim(line);
    if (t.empty()) continue;
    ++seen;
    if (t.starts_with("slabinfo - version:")) return TextFormat::kSlabinfo;
  }
  return TextFormat::kUnknown;
}

Result<ParsedSnapshot> parse_pool_text(std::string_view text) {
  switch (detect_format(text)) {
    case TextFormat::kSlabinfo:
      return parse_slabinfo(text, SlabinfoOptions{});
    default:
      break;
  }
  return make_error(ErrorCode::kInput, "not a format poolscope knows. Known formats:\n" +
                                           std::string(known_formats_help()));
}

}  // namespace poolscope::parse
