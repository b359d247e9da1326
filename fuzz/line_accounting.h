// The property every text-parser fuzzer checks (issue 21): a line is an entry, a diagnostic or a
// recognised non-data line, never nothing. Each fuzzer names which lines look like data (a simple
// oracle, independent of the parser) and checks that such a line, alone and in its text, is
// accounted for as an entry or a diagnostic.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace poolscope::fuzz {

// Calls fn(line) for each line ("\n"-separated, "\r" before it removed).
inline void for_each_line(std::string_view text, const std::function<void(std::string_view)>& fn) {
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

inline std::size_t count_lines_if(std::string_view text,
                                  const std::function<bool(std::string_view)>& pred) {
  std::size_t n = 0;
  for_each_line(text, [&](std::string_view line) { n += pred(line) ? 1 : 0; });
  return n;
}

// Fails the run (libFuzzer reports it as a crash with the input saved).
inline void require(bool accounted) {
  if (!accounted) __builtin_trap();
}

// The blank-separated words of a line.
inline void for_each_word(std::string_view line, const std::function<bool(std::string_view)>& fn) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && blank(line[i])) ++i;
    std::size_t start = i;
    while (i < line.size() && !blank(line[i])) ++i;
    if (i > start && !fn(line.substr(start, i - start))) return;
  }
}

}  // namespace poolscope::fuzz
