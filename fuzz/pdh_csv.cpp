// Fuzzer for the PDH-CSV/TSV counter log parser, with each encoding. Besides not crashing: the
// value table is rows x columns, diagnostics have line numbers, and every non-blank line after the
// header is a row kept, a row diagnosed or typeperf's console chatter.
#include "parse/pdh_csv.h"

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "line_accounting.h"
#include "parse/text.h"

namespace {

namespace fuzz = poolscope::fuzz;
namespace parse = poolscope::parse;

// The text as UTF-8 is read as it is (without a BOM), so its lines are the parser's.
void check_rows(std::string_view text, const parse::ParsedCounterLog& parsed) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  bool header_seen = false;
  std::size_t rows = 0;
  fuzz::for_each_line(text, [&](std::string_view line) {
    const std::string_view t = parse::trim(line);
    if (t.empty()) return;
    if (!header_seen) {
      header_seen = true;
      return;
    }
    if (t != "Exiting, please wait..." && t != "The command completed successfully.") ++rows;
  });
  std::set<std::size_t> diagnosed;
  for (const auto& d : parsed.diagnostics) diagnosed.insert(d.line);
  const std::size_t kept = parsed.log.times.size();
  fuzz::require(kept <= rows && kept + diagnosed.size() >= rows);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto encoding :
       {parse::TextEncoding::kAuto, parse::TextEncoding::kUtf8, parse::TextEncoding::kCp1251}) {
    auto parsed = parse::parse_pdh_csv(text, {.encoding = encoding});
    if (!parsed) continue;
    if (encoding == parse::TextEncoding::kUtf8) check_rows(text, *parsed);
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
