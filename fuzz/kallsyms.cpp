// Fuzzer for the kernel symbol parsers: /proc/kallsyms, %pS locations, SLUB allocation traces.
// Besides not crashing: every line with a word is a symbol or a diagnostic (kallsyms), and every
// non-blank line is a caller, a stack frame, "No data" or a diagnostic (SLUB traces).
#include "parse/kallsyms.h"

#include <cstdint>
#include <string_view>

#include "line_accounting.h"

namespace fuzz = poolscope::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace parse = poolscope::parse;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::size_t worded = fuzz::count_lines_if(text, [](std::string_view line) {
    bool any = false;
    fuzz::for_each_word(line, [&](std::string_view) { return !(any = true); });
    return any;
  });
  if (auto kallsyms = parse::parse_kallsyms(text)) {
    fuzz::require(kallsyms->symbols.size() + kallsyms->diagnostics.size() == worded);
  }
  const auto callers = parse::parse_slab_callers(text);
  std::size_t accounted = callers.diagnostics.size();
  for (const auto& caller : callers.callers) accounted += 1 + caller.stack.size();
  accounted += fuzz::count_lines_if(
      text, [](std::string_view line) { return parse::trim(line) == "No data"; });
  fuzz::require(accounted == worded);
  (void)parse::parse_kernel_location(text);
  return 0;
}
