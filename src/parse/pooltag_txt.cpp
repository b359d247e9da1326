// pooltag.txt parser.
#include "parse/pooltag_txt.h"

#include <algorithm>

#include "parse/text.h"

namespace poolscope::parse {

namespace {

constexpr std::size_t kMaxTagBytes = 4;
constexpr std::size_t kMaxShownText = 60;

bool ends_with_ignore_case(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         equals_ignore_case(s.substr(s.size() - suffix.size()), suffix);
}

// The position of the first '-' in s at or after from that has a blank before it and a blank or the
// end after it; npos when none. "Afd-x" is one word, "Afd - x" two fields.
std::size_t find_separator(std::string_view s, std::size_t from) {
  for (std::size_t i = from; i < s.size(); ++i) {
    if (s[i] != '-' || i == 0 || !is_blank(s[i - 1])) continue;
    if (i + 1 == s.size() || is_blank(s[i + 1])) return i;
  }
  return std::string_view::npos;
}

bool is_comment(std::string_view trimmed) {
  if (trimmed.substr(0, 2) == "//") return true;
  if (trimmed.size() < 3 || !equals_ignore_case(trimmed.substr(0, 3), "rem")) return false;
  if (trimmed.size() == 3) return true;
  if (!is_blank(trimmed[3])) return false;  // "ReMo - refs.sys" is a tag
  // "rem  - x.sys - ..." would be the short tag "rem": an entry, not a comment.
  std::string_view rest = trim_left(trimmed.substr(3));
  return !(rest.size() >= 1 && rest[0] == '-' && (rest.size() == 1 || is_blank(rest[1])));
}

// A lone word in the second of two fields names a binary when it looks like one.
bool looks_like_binary(std::string_view word) {
  if (word.empty()) return false;
  for (char c : word) {
    if (is_blank(c)) return false;
  }
  if (word.front() == '<' && word.back() == '>') return true;
  if (word.find('!') != std::string_view::npos) return true;
  return ends_with_ignore_case(word, ".sys") || ends_with_ignore_case(word, ".dll") ||
         ends_with_ignore_case(word, ".exe");
}

void add_module(std::string_view alternative, std::vector<PoolTagModule>& modules) {
  alternative = trim(alternative);
  if (alternative.size() >= 2 && alternative.front() == '<' && alternative.back() == '>') {
    alternative = trim(alternative.substr(1, alternative.size() - 2));
  }
  if (alternative.empty()) return;
  auto bang = alternative.find('!');
  if (bang == std::string_view::npos) {
    modules.push_back({std::string(alternative), {}});
  } else {
    modules.push_back({std::string(trim(alternative.substr(0, bang))),
                       std::string(alternative.substr(bang + 1))});
  }
}

// "nt!store or rdyboost.sys" and "netvsc50.sys/netvsc60.sys" name alternatives.
void classify_binary(PoolTagLine& entry) {
  std::string_view binary = entry.binary;
  if (binary.empty()) {
    entry.owner_kind = PoolTagOwnerKind::kMissing;
    return;
  }
  if (equals_ignore_case(binary, "<unknown>")) {
    entry.owner_kind = PoolTagOwnerKind::kUnknown;
    return;
  }
  if (equals_ignore_case(binary, "<multiple>")) {
    entry.owner_kind = PoolTagOwnerKind::kMultiple;
    return;
  }
  entry.owner_kind = PoolTagOwnerKind::kNamed;
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < binary.size()) {
    std::size_t skip = 0;
    if (binary[i] == '/' || binary[i] == ',') {
      skip = 1;
    } else if (i > 0 && is_blank(binary[i - 1]) && i + 2 < binary.size() &&
               equals_ignore_case(binary.substr(i, 2), "or") && is_blank(binary[i + 2])) {
      skip = 2;
    }
    if (skip == 0) {
      ++i;
      continue;
    }
    add_module(binary.substr(start, i - start), entry.modules);
    i += skip;
    start = i;
  }
  add_module(binary.substr(start), entry.modules);
}

std::string shown(std::string_view text) {
  if (text.size() <= kMaxShownText) return std::string(text);
  return std::string(text.substr(0, kMaxShownText)) + "...";
}

template <bool kIgnoreCase>
bool glob(std::string_view pattern, std::string_view text) {
  // Patterns are at most 4 bytes, so plain backtracking is cheap.
  if (pattern.empty()) return text.empty();
  if (pattern[0] == '*') {
    for (std::size_t skip = 0; skip <= text.size(); ++skip) {
      if (glob<kIgnoreCase>(pattern.substr(1), text.substr(skip))) return true;
    }
    return false;
  }
  if (text.empty()) return false;
  bool same = pattern[0] == '?' || (kIgnoreCase ? ascii_lower(pattern[0]) == ascii_lower(text[0])
                                                : pattern[0] == text[0]);
  return same && glob<kIgnoreCase>(pattern.substr(1), text.substr(1));
}

template <bool kIgnoreCase>
bool pattern_matches(std::string_view pattern, std::string_view tag_bytes) {
  if (pattern.size() > kMaxTagBytes) return false;
  if (pattern.find('*') == std::string_view::npos && pattern.size() < kMaxTagBytes) {
    char padded[kMaxTagBytes] = {' ', ' ', ' ', ' '};
    for (std::size_t i = 0; i < pattern.size(); ++i) padded[i] = pattern[i];
    return glob<kIgnoreCase>(std::string_view(padded, kMaxTagBytes), tag_bytes);
  }
  return glob<kIgnoreCase>(pattern, tag_bytes);
}

}  // namespace

bool pooltag_pattern_matches(std::string_view pattern, std::string_view tag_bytes) {
  return pattern_matches<false>(pattern, tag_bytes);
}

bool pooltag_pattern_matches_ignore_case(std::string_view pattern, std::string_view tag_bytes) {
  return pattern_matches<true>(pattern, tag_bytes);
}

Result<ParsedPoolTags> parse_pooltag_txt(std::string_view text) {
  ParsedPoolTags out;
  // Nearly every line of the real file is an entry: one allocation instead of a dozen regrowths
  // (capped, so a hostile text of empty lines cannot make us reserve much).
  constexpr std::size_t kMaxReserve = 65536;
  out.entries.reserve(std::min<std::size_t>(
      kMaxReserve, static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1));
  LineReader lines(text);
  std::string_view line;
  while (lines.next(line)) {
    if (lines.line_number() == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    std::string_view trimmed = trim(line);
    if (trimmed.empty()) continue;
    if (trimmed[0] == '\x1a') break;  // DOS end-of-file marker: nothing after it is text
    if (is_comment(trimmed)) continue;
    std::size_t sep = find_separator(line, 0);
    if (sep == std::string_view::npos) {
      out.prose.push_back({lines.line_number(), std::string(trimmed)});
      continue;
    }
    std::string_view tag_field = trim(line.substr(0, sep));
    if (tag_field.empty() || tag_field.size() > kMaxTagBytes) {
      out.diagnostics.push_back(
          {lines.line_number(), "expected a pool tag of 1 to 4 characters before \" - \", got \"" +
                                    shown(tag_field) + "\""});
      continue;
    }
    PoolTagLine entry;
    entry.line = lines.line_number();
    entry.pattern = std::string(tag_field);
    entry.wildcard = tag_field.find_first_of("?*") != std::string_view::npos;
    entry.tag = tag_from_text(tag_field);
    std::string_view rest = line.substr(sep + 1);
    std::size_t second = find_separator(rest, 0);
    if (second != std::string_view::npos) {
      entry.binary = std::string(trim(rest.substr(0, second)));
      entry.description = std::string(trim(rest.substr(second + 1)));
    } else {
      std::string_view only = trim(rest);
      if (looks_like_binary(only)) {
        entry.binary = std::string(only);
      } else {
        entry.description = std::string(only);
      }
    }
    classify_binary(entry);
    out.entries.push_back(std::move(entry));
  }
  if (out.entries.empty()) {
    return make_error(ErrorCode::kInput,
                      "not a pooltag.txt: no \"<Tag> - <binary> - <Description>\" lines");
  }
  return out;
}

}  // namespace poolscope::parse
