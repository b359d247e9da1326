// Fuzzer for the poolmon screen / `poolmon -n` log / pooltracker parser.
#include "parse/poolmon.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "line_accounting.h"

namespace {

using poolscope::fuzz::for_each_word;

bool is_count(std::string_view word) {
  std::size_t i = !word.empty() && word[0] == '-' ? 1 : 0;
  return i < word.size() && word[i] >= '0' && word[i] <= '9';
}

// The oracle: a line with a "Nonp" or "Paged" word after its first word, followed by a count, is a
// row (well formed or not), unless it is one of poolmon's own lines (Memory/Commit/header,
// "... pool information", /e's "Total").
bool looks_like_row(std::string_view line) {
  if (poolscope::parse::is_poolmon_marker_line(line)) return false;
  std::string_view t = poolscope::parse::trim(line);
  if (t.ends_with(" pool information")) return false;
  int index = 0;
  bool pool_word = false, row = false;
  for_each_word(line, [&](std::string_view word) {
    if (index++ == 0) return word != "Total";
    if (pool_word && is_count(word)) {
      row = true;
      return false;
    }
    pool_word = word == "Nonp" || word == "Paged";
    return true;
  });
  return row;
}

std::size_t entries_and_diagnostics(
    const poolscope::Result<std::vector<poolscope::parse::ParsedSnapshot>>& all) {
  std::size_t n = 0;
  if (!all) return 0;
  for (const auto& p : *all) n += p.snapshot.entries.size() + p.diagnostics.size();
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)poolscope::parse::parse_poolmon(text);
  auto all = poolscope::parse::parse_poolmon_all(text);
  poolscope::parse::PoolmonRow row;
  std::string problem;
  (void)poolscope::parse::parse_poolmon_row(text, row, problem);
  (void)poolscope::parse::parse_poolmon_row(text, row, problem, 2);
  (void)poolscope::parse::is_poolmon_marker_line(text);

  // Every row-shaped line is an entry or a diagnostic: alone, and (outside pooltracker tables,
  // whose rows may give no entry) counted over the whole text.
  std::size_t rows = 0;
  poolscope::fuzz::for_each_line(text, [&](std::string_view line) {
    if (!looks_like_row(line)) return;
    ++rows;
    poolscope::fuzz::require(entries_and_diagnostics(poolscope::parse::parse_poolmon_all(line)) >=
                             1);
  });
  if (text.find("NpAllocs") == std::string_view::npos && rows < 900) {
    poolscope::fuzz::require(entries_and_diagnostics(all) >= rows);
  }
  return 0;
}
