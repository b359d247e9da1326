// Format detection: each format has a line that no other format has.
#include "parse/sniff.h"

#include <algorithm>
#include <string>

#include "parse/poolmon.h"
#include "parse/poolused.h"
#include "parse/vm.h"

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
  return "  - a saved copy of Linux /proc/slabinfo (\"slabinfo - version: 2.1\")\n"
         "  - poolmon screens and `poolmon -n` logs (\"Tag Type Allocs Frees Diff Bytes Per "
         "Alloc\"), and Volatility pooltracker tables (\"Tag NpAllocs NpFrees ...\")\n"
         "  - WinDbg !poolused output, any flags (\"Tag Allocs Used Allocs Used\" or the verbose "
         "\"Tag Allocs Frees Diff Used ...\")\n"
         "  - WinDbg !vm output (\"NonPagedPool Usage:\", \"PagedPool Maximum:\"), alone or "
         "saved with !poolused\n";
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
    if (is_poolmon_marker_line(t)) return TextFormat::kPoolmon;
    if (is_poolused_header(t)) return TextFormat::kPoolused;
    if (auto command = windbg_command(t); command && starts_with_word(*command, "!poolused")) {
      return TextFormat::kPoolused;
    }
    if (is_vm_line(t)) return TextFormat::kVm;
  }
  return TextFormat::kUnknown;
}

namespace {

// `!vm 1` and `!poolused 2` are often saved together: entries come from !poolused, pool totals,
// limits and failures from !vm (which knows them; !poolused's TOTAL only sums its rows).
Result<ParsedSnapshot> parse_windbg_text(std::string_view text, TextFormat format) {
  bool has_poolused = format == TextFormat::kPoolused;
  LineReader lines(text);
  std::string_view line;
  while (!has_poolused && lines.next(line)) has_poolused = is_poolused_header(line);
  // Every !vm layout has "PagedPool Usage:" ("NonPagedPool Usage:" contains it too).
  const bool has_vm = text.find("PagedPool Usage:") != std::string_view::npos;
  if (!has_poolused) return parse_vm(text);
  auto parsed = parse_poolused(text);
  if (!parsed || !has_vm) return parsed;
  auto vm = parse_vm(text);
  if (!vm) return parsed;
  apply_vm(vm->snapshot, parsed->snapshot);
  parsed->snapshot.notes.push_back(
      "pool totals, limits and failures come from the !vm output in the same text");
  auto& diagnostics = parsed->diagnostics;
  diagnostics.insert(diagnostics.end(), vm->diagnostics.begin(), vm->diagnostics.end());
  std::stable_sort(diagnostics.begin(), diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
  return parsed;
}

}  // namespace

Result<ParsedSnapshot> parse_pool_text(std::string_view text) {
  const TextFormat format = detect_format(text);
  switch (format) {
    case TextFormat::kSlabinfo:
      return parse_slabinfo(text, SlabinfoOptions{});
    case TextFormat::kPoolmon:
      return parse_poolmon(text);
    case TextFormat::kPoolused:
    case TextFormat::kVm:
      return parse_windbg_text(text, format);
    default:
      break;
  }
  return make_error(ErrorCode::kInput, "not a format poolscope knows. Known formats:\n" +
                                           std::string(known_formats_help()));
}

}  // namespace poolscope::parse
