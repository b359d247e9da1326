// Fuzzer for the PDH-CSV/TSV counter log parser, with each encoding. Besides not crashing: the
// value table is rows x columns, and diagnostics have line numbers.
#include "parse/pdh_csv.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace parse = poolscope::parse;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto encoding :
       {parse::TextEncoding::kAuto, parse::TextEncoding::kUtf8, parse::TextEncoding::kCp1251}) {
    auto parsed = parse::parse_pdh_csv(text, {.encoding = encoding});
    if (!parsed) continue;
    const auto& log = parsed->log;
    if (log.values.size() != log.times.size() * log.counters.size()) std::abort();
    for (const auto& d : parsed->diagnostics) {
      if (d.line == 0) std::abort();
    }
    for (const auto& path : log.counters) (void)parse::counter_kind(path);
    if (!log.times.empty() && !log.counters.empty()) {
      (void)parse::counter_value(log, log.times.size() - 1, log.counters.size() - 1);
    }
  }
  (void)parse::parse_counter_path(text);
  return 0;
}
