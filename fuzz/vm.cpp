// Fuzzer for the WinDbg !vm parser and its merge into a !poolused snapshot. Besides not crashing:
// !vm gives totals and no entries, and a line with a label the parser reads ("PagedPool Usage:",
// "Physical Memory:", ...) is used, noted or diagnosed, never nothing.
#include "parse/vm.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "line_accounting.h"
#include "parse/poolused.h"  // windbg_command

namespace {

namespace fuzz = poolscope::fuzz;
namespace parse = poolscope::parse;

constexpr std::array<std::string_view, 5> kPoolLabels = {"NonPagedPool Usage",
                                                         "NonPagedPoolNx Usage", "NonPagedPool Max",
                                                         "PagedPool Usage", "PagedPool Maximum"};
constexpr std::array<std::string_view, 2> kMemoryLabels = {"Physical Memory", "Available Pages"};

template <std::size_t N>
bool labelled(std::string_view t, const std::array<std::string_view, N>& labels) {
  const std::size_t colon = t.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view label = parse::trim(t.substr(0, colon));
  for (std::string_view l : labels) {
    if (l == label) return true;
  }
  return false;
}

void check_line(std::string_view line) {
  const std::string_view t = parse::trim(line);
  if (t.empty() || t[0] == '*' || parse::windbg_command(t)) return;
  if (labelled(t, kPoolLabels)) {
    auto parsed = parse::parse_vm(line);
    fuzz::require(parsed && (!parsed->snapshot.totals.empty() || !parsed->diagnostics.empty() ||
                             !parsed->snapshot.notes.empty()));
  } else if (labelled(t, kMemoryLabels)) {
    auto parsed = parse::parse_vm("PagedPool Usage: 1 ( 4 Kb)\n" + std::string(line));
    fuzz::require(parsed &&
                  (parsed->snapshot.memory_total_bytes || parsed->snapshot.memory_available_bytes ||
                   !parsed->diagnostics.empty() || !parsed->snapshot.notes.empty()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = parse::parse_vm(text)) {
    poolscope::Snapshot merged;
    parse::apply_vm(parsed->snapshot, merged);
    if (!parsed->snapshot.entries.empty()) __builtin_trap();  // !vm has totals only
  }
  (void)parse::is_vm_line(text);
  std::size_t checked = 0;
  fuzz::for_each_line(text, [&](std::string_view line) {
    if (checked++ < 64) check_line(line);  // bounded: each check parses again
  });
  return 0;
}
