// Small, allocation-free text helpers shared by the parsers: line iteration, fields, numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace poolscope::parse {

// A problem with one line of input: the caller prints it as file:line: message.
struct Diagnostic {
  std::size_t line = 0;  // 1-based; 0 when not tied to a line
  std::string message;
};

// Iterates the lines of a text; strips "\r" before "\n". Line numbers are 1-based.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  bool next(std::string_view& line);
  std::size_t line_number() const { return line_number_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_number_ = 0;
};

inline bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}
std::string_view trim(std::string_view s);
std::string_view trim_left(std::string_view s);
bool starts_with_word(std::string_view s, std::string_view word);

// Splits on runs of blanks (spaces and tabs).
void split_fields(std::string_view line, std::vector<std::string_view>& out);

// Unsigned decimal; accepts thousands separators "1,234" only when allow_commas. No sign, no
// suffix.
std::optional<std::uint64_t> parse_u64(std::string_view s, bool allow_commas = false);
std::optional<std::int64_t> parse_i64(std::string_view s);

// ASCII-only case folding (file names, DLL names, pooltag.txt keywords); locale-free.
inline char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
bool equals_ignore_case(std::string_view a, std::string_view b);

// Exactly `count` decimal digits at `at` ("2015" in "2015-01-15"), or nothing.
std::optional<unsigned> fixed_digits(std::string_view s, std::size_t at, std::size_t count);

// A number followed by K / KB / Kb / k (kibibytes), returned in bytes: "710920K" -> 727982080.
std::optional<std::uint64_t> parse_kib(std::string_view s);

}  // namespace poolscope::parse
