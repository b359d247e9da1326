// Text helpers for the parsers.
#include "parse/text.h"

#include <charconv>
#include <cstring>

namespace poolscope::parse {

bool LineReader::next(std::string_view& line) {
  if (pos_ >= text_.size()) return false;
  const char* start = text_.data() + pos_;
  const void* nl = std::memchr(start, '\n', text_.size() - pos_);
  std::size_t len =
      nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - start) : text_.size() - pos_;
  pos_ += len + (nl ? 1 : 0);
  if (len > 0 && start[len - 1] == '\r') --len;
  line = std::string_view(start, len);
  ++line_number_;
  return true;
}

std::string_view trim_left(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_blank(s[i])) ++i;
  return s.substr(i);
}

std::string_view trim(std::string_view s) {
  s = trim_left(s);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

bool starts_with_word(std::string_view s, std::string_view word) {
  return s.substr(0, word.size()) == word && (s.size() == word.size() || is_blank(s[word.size()]));
}

void split_fields(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t i = 0;
  const std::size_t n = line.size();
  while (i < n) {
    while (i < n && is_blank(line[i])) ++i;
    if (i >= n) break;
    std::size_t start = i;
    while (i < n && !is_blank(line[i])) ++i;
    out.emplace_back(line.data() + start, i - start);
  }
}

std::optional<std::uint64_t> parse_u64(std::string_view s, bool allow_commas) {
  if (s.empty()) return std::nullopt;
  if (allow_commas && s.find(',') != std::string_view::npos) {
    // Groups of three digits after the first group: "1,234,567".
    std::uint64_t value = 0;
    std::size_t group = 0;
    bool first = true;
    for (char c : s) {
      if (c == ',') {
        if ((first && (group == 0 || group > 3)) || (!first && group != 3)) return std::nullopt;
        first = false;
        group = 0;
        continue;
      }
      if (c < '0' || c > '9') return std::nullopt;
      if (value > (UINT64_MAX - 9) / 10) return std::nullopt;
      value = value * 10 + static_cast<std::uint64_t>(c - '0');
      ++group;
    }
    if (group != 3) return std::nullopt;
    return value;
  }
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> parse_i64(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::optional<unsigned> fixed_digits(std::string_view s, std::size_t at, std::size_t count) {
  if (at > s.size() || count > s.size() - at) return std::nullopt;
  unsigned value = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return value;
}

std::optional<std::uint64_t> parse_kib(std::string_view s) {
  for (std::string_view suffix : {"KB", "Kb", "kB", "kb", "K", "k"}) {
    if (s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix) {
      auto value = parse_u64(s.substr(0, s.size() - suffix.size()), true);
      if (!value || *value > UINT64_MAX / 1024) return std::nullopt;
      return *value * 1024;
    }
  }
  return std::nullopt;
}

}  // namespace poolscope::parse
