// WinDbg !poolused parser: a line state machine (preamble, table) that reads rows in place, without
// per-line allocations beyond the entries it produces.
#include "parse/poolused.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/forward_error.h"

namespace poolscope::parse {

namespace {

enum class Column : std::uint8_t { kAllocs, kFrees, kDiff, kUsed };
constexpr std::size_t kMaxColumns = 8;  // verbose layout: 4 per pool, 2 pools
constexpr std::size_t kTagBytes = 4;
constexpr std::size_t kMaxReserve = 1 << 19;
constexpr std::size_t kSortBelow =
    4096;                             // first outputs this small are checked for repeats by sort
constexpr unsigned kBitmapBits = 21;  // 256 KiB: stays in cache

std::optional<Column> column_named(std::string_view word) {
  if (word == "Allocs") return Column::kAllocs;
  if (word == "Frees") return Column::kFrees;
  if (word == "Diff") return Column::kDiff;
  if (word == "Used") return Column::kUsed;
  return std::nullopt;
}

// Where the columns of one output are, from its header line. Numbers are right-aligned under their
// titles, so a column ends where its title ends.
struct Layout {
  std::size_t tag_col = 0;
  std::size_t columns = 0;   // numbers in a row
  std::size_t per_pool = 0;  // numbers per pool
  std::size_t pools = 0;     // 1 or 2
  std::array<Column, kMaxColumns> kind{};
  std::array<std::size_t, kMaxColumns> end{};
  std::array<PoolKind, 2> pool{PoolKind::kNonPaged, PoolKind::kPaged};
  // Verbose layout (Frees/Diff present): Allocs counts every allocation ever made. In the summary
  // layout it is the number outstanding now.
  bool cumulative_allocs = false;
};

bool parse_header(std::string_view line, Layout& layout) {
  const std::size_t n = line.size();
  std::size_t i = 0;
  std::size_t words = 0;
  bool tag_seen = false;
  while (i < n) {
    while (i < n && is_blank(line[i])) ++i;
    if (i >= n) break;
    const std::size_t start = i;
    while (i < n && !is_blank(line[i])) ++i;
    std::string_view word = line.substr(start, i - start);
    if (!tag_seen) {
      if (word != "Tag") return false;
      layout.tag_col = start;
      tag_seen = true;
      continue;
    }
    auto column = column_named(word);
    if (!column || words == kMaxColumns) return false;
    layout.kind[words] = *column;
    layout.end[words] = i;
    ++words;
  }
  if (!tag_seen || words == 0) return false;
  layout.columns = words;
  bool halves_equal = words % 2 == 0;
  for (std::size_t k = 0; halves_equal && k < words / 2; ++k) {
    halves_equal = layout.kind[k] == layout.kind[k + words / 2];
  }
  layout.pools = halves_equal ? 2 : 1;
  layout.per_pool = words / layout.pools;
  // Each pool's group names every column once and has a Used column.
  bool seen[4] = {false, false, false, false};
  for (std::size_t k = 0; k < layout.per_pool; ++k) {
    auto index = static_cast<std::size_t>(layout.kind[k]);
    if (seen[index]) return false;
    seen[index] = true;
  }
  if (!seen[static_cast<std::size_t>(Column::kUsed)]) return false;
  layout.cumulative_allocs = seen[static_cast<std::size_t>(Column::kFrees)] ||
                             seen[static_cast<std::size_t>(Column::kDiff)];
  return true;
}

// " NonPaged   Paged": which pool each half of the columns belongs to. Returns how many pools the
// line names (0 when it is not such a line).
std::size_t parse_pool_groups(std::string_view line, std::array<PoolKind, 2>& order) {
  std::size_t count = 0;
  std::array<PoolKind, 2> found{};
  const std::size_t n = line.size();
  std::size_t i = 0;
  while (i < n) {
    while (i < n && is_blank(line[i])) ++i;
    if (i >= n) break;
    const std::size_t start = i;
    while (i < n && !is_blank(line[i])) ++i;
    std::string_view word = line.substr(start, i - start);
    if (count == 2) return 0;
    if (word == "NonPaged") {
      found[count++] = PoolKind::kNonPaged;
    } else if (word == "Paged") {
      found[count++] = PoolKind::kPaged;
    } else {
      return 0;
    }
  }
  if (count == 2 && found[0] == found[1]) return 0;
  if (count > 0) order = found;
  return count;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::optional<std::uint64_t> digits_value(std::string_view digits) {
  std::uint64_t value = 0;
  for (char c : digits) {
    auto d = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - d) / 10) return std::nullopt;
    value = value * 10 + d;
  }
  return value;
}

// The 4-byte tag of a row: at the header's Tag column when the row is aligned with it (so "Vad "
// and "Dh 1" keep their spaces), else the first word if it has at most 4 characters.
std::string_view take_tag(std::string_view line, std::size_t tag_col, std::size_t& pos) {
  if (line.size() >= tag_col + kTagBytes) {
    bool aligned = !is_blank(line[tag_col]);
    for (std::size_t k = 0; aligned && k < tag_col; ++k) aligned = is_blank(line[k]);
    for (std::size_t k = 0; aligned && k < kTagBytes; ++k) {
      aligned = line[tag_col + k] != '\t';
    }
    const std::size_t after = tag_col + kTagBytes;
    if (aligned && (after == line.size() || is_blank(line[after]))) {
      pos = after;
      return line.substr(tag_col, kTagBytes);
    }
  }
  std::size_t i = 0;
  while (i < line.size() && is_blank(line[i])) ++i;
  const std::size_t start = i;
  while (i < line.size() && !is_blank(line[i])) ++i;
  if (i == start || i - start > kTagBytes) return {};
  pos = i;
  return line.substr(start, i - start);
}

enum class RowError { kNone, kMissingNumber, kNotANumber, kTooLarge };

// Reads layout.columns numbers from pos, then the description. The last number may have the
// description glued to it with no blank ("0UNKNOWN pooltag", "3944PS/2 kb"); when the description
// itself starts with digits ("01394 OHCI"), the header says where the number ends.
RowError parse_numbers(std::string_view line, std::size_t pos, const Layout& layout,
                       std::array<std::uint64_t, kMaxColumns>& values,
                       std::string_view& description) {
  const std::size_t n = line.size();
  std::ptrdiff_t shift = 0;  // how far this row's columns sit right of the header's
  for (std::size_t c = 0; c < layout.columns; ++c) {
    while (pos < n && is_blank(line[pos])) ++pos;
    const std::size_t start = pos;
    while (pos < n && is_digit(line[pos])) ++pos;
    if (pos == start) return pos < n ? RowError::kNotANumber : RowError::kMissingNumber;
    std::size_t end = pos;
    if (c + 1 < layout.columns) {
      if (end < n && !is_blank(line[end])) return RowError::kNotANumber;
      shift = static_cast<std::ptrdiff_t>(end) - static_cast<std::ptrdiff_t>(layout.end[c]);
    } else if (end + 1 < n && line[end] == ' ' && !is_blank(line[end + 1])) {
      const std::ptrdiff_t expected = static_cast<std::ptrdiff_t>(layout.end[c]) + shift;
      if (static_cast<std::ptrdiff_t>(start) < expected &&
          static_cast<std::ptrdiff_t>(end) > expected) {
        end = static_cast<std::size_t>(expected);
      }
    }
    auto value = digits_value(line.substr(start, end - start));
    if (!value) return RowError::kTooLarge;
    values[c] = *value;
    pos = end;
  }
  description = trim(line.substr(pos));
  return RowError::kNone;
}

bool only_dots(std::string_view trimmed) {
  if (trimmed.empty()) return false;
  for (char c : trimmed) {
    if (c != '.') return false;
  }
  return true;
}

// Open addressing from (tag, pool) to the entry index: one allocation per resize, none per row.
// Keys sit in their own compact array (bit 63 marks a used slot) because the probe is a cache miss.
class EntryIndex {
 public:
  void reserve(std::size_t entries) {
    std::size_t capacity = 16;
    while (capacity < entries * 2) capacity *= 2;
    if (capacity > keys_.size()) rehash(capacity);
  }
  // Returns the slot of key; found tells whether it holds an entry already.
  std::size_t find(std::uint64_t key, bool& found) const {
    const std::uint64_t stored = key | kUsed;
    const std::size_t mask = keys_.size() - 1;
    // Fibonacci hashing: the top bits of the product depend on every bit of the key.
    std::size_t i = static_cast<std::size_t>((key * kMultiplier) >> shift_);
    while (keys_[i] != 0) {
      if (keys_[i] == stored) {
        found = true;
        return i;
      }
      i = (i + 1) & mask;
    }
    found = false;
    return i;
  }
  // Starts loading key's first slot while the row's numbers are read: the probe is a cache miss.
  void prefetch(std::uint64_t key) const {
    __builtin_prefetch(&keys_[static_cast<std::size_t>((key * kMultiplier) >> shift_)]);
  }
  std::size_t entry_at(std::size_t slot) const { return entries_[slot]; }
  std::size_t& value_at(std::size_t slot) { return entries_[slot]; }
  void insert_at(std::size_t slot, std::uint64_t key, std::size_t entry) {
    keys_[slot] = key | kUsed;
    entries_[slot] = entry;
    if (++size_ * 2 > keys_.size()) rehash(keys_.size() * 2);
  }

 private:
  static constexpr std::uint64_t kUsed = 1ull << 63;
  static constexpr std::uint64_t kMultiplier = 0x9E3779B97F4A7C15ull;
  void rehash(std::size_t capacity) {
    std::vector<std::uint64_t> old_keys = std::move(keys_);
    std::vector<std::size_t> old_entries = std::move(entries_);
    keys_.assign(capacity, 0);
    entries_.assign(capacity, 0);
    shift_ = 64;
    for (std::size_t c = capacity; c > 1; c >>= 1) --shift_;
    size_ = 0;
    for (std::size_t k = 0; k < old_keys.size(); ++k) {
      if (old_keys[k] == 0) continue;
      bool found = false;
      const std::size_t slot = find(old_keys[k] & ~kUsed, found);
      keys_[slot] = old_keys[k];
      entries_[slot] = old_entries[k];
      ++size_;
    }
  }
  std::vector<std::uint64_t> keys_ = std::vector<std::uint64_t>(16);
  std::vector<std::size_t> entries_ = std::vector<std::size_t>(16);
  unsigned shift_ = 60;  // 64 - log2(keys_.size())
  std::size_t size_ = 0;
};

std::uint64_t index_key(std::string_view tag, PoolKind pool) {
  std::uint64_t key = static_cast<std::uint64_t>(pool) << 32;
  for (std::size_t k = 0; k < kTagBytes; ++k) {
    auto byte =
        k < tag.size() ? static_cast<unsigned char>(tag[k]) : static_cast<unsigned char>(' ');
    key |= static_cast<std::uint64_t>(byte) << (8 * k);
  }
  return key;
}

std::optional<std::uint64_t> checked_add(std::optional<std::uint64_t> a,
                                         std::optional<std::uint64_t> b, bool& overflow) {
  if (!a) return b;
  if (!b) return a;
  if (*a > UINT64_MAX - *b) {
    overflow = true;
    return UINT64_MAX;
  }
  return *a + *b;
}

// What the kd prompt line of one output asked for.
struct Command {
  std::uint64_t flags = 0;
  bool session = false;
  std::string_view tag_filter;
  std::string_view top_option;
  std::size_t line = 0;
};

Command parse_command(std::string_view args, std::size_t line) {
  Command command;
  command.line = line;
  std::vector<std::string_view> words;
  split_fields(args, words);
  bool flags_seen = false;
  for (std::string_view word : words) {
    if (word[0] == '/' || word[0] == '-') {
      if (word.size() >= 2 && (word[1] == 't' || word[1] == 'T')) command.top_option = word;
      continue;
    }
    if (!flags_seen) {
      // Extension arguments are read in the debugger's default radix, 16.
      std::string_view digits = word;
      if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
        digits.remove_prefix(2);
      }
      std::uint64_t value = 0;
      bool ok = !digits.empty() && digits.size() <= 16;
      for (char c : digits) {
        int d = is_digit(c)              ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0) {
          ok = false;
          break;
        }
        value = value * 16 + static_cast<std::uint64_t>(d);
      }
      if (ok) {
        command.flags = value;
        command.session = (value & 0x8) != 0;
        flags_seen = true;
        continue;
      }
    }
    command.tag_filter = word;
  }
  return command;
}

std::string join_lines(const std::vector<std::size_t>& lines) {
  std::string out;
  for (std::size_t i = 0; i < lines.size() && i < 10; ++i) {
    if (i) out += ", ";
    out += std::to_string(lines[i]);
  }
  if (lines.size() > 10) out += ", ...";
  return out;
}

class PoolusedParser {
 public:
  PoolusedParser(Snapshot& snapshot, std::vector<Diagnostic>& diagnostics)
      : snapshot_(snapshot), diagnostics_(diagnostics) {}

  Result<void> run(std::string_view text) {
    std::size_t line_count = 1;
    for (const char* p = text.data();
         const void* nl =
             std::memchr(p, '\n', static_cast<std::size_t>(text.data() + text.size() - p));) {
      p = static_cast<const char*>(nl) + 1;
      ++line_count;
    }
    // Up to two entries per line (one per pool). Untouched reserved memory costs nothing, but
    // hostile text can have many lines, so the reservation is bounded.
    const std::size_t expected = std::min({line_count * 2, text.size() / 16 + 16, kMaxReserve});
    snapshot_.entries.reserve(snapshot_.entries.size() + expected);
    first_keys_.reserve(expected);
    first_new_entry_ = snapshot_.entries.size();

    LineReader lines(text);
    std::string_view line;
    while (lines.next(line)) handle(line, lines.line_number());
    finish_block();
    if (blocks_ == 0) {
      return make_error(ErrorCode::kInput,
                        "not !poolused output: no \"Tag  Allocs  Used  Allocs  Used\" column "
                        "header line");
    }
    snapshot_.format = "poolused";
    snapshot_.counter_width = CounterWidth::k32;
    add_notes();
    return {};
  }

 private:
  enum class State { kOutside, kTable };

  void handle(std::string_view line, std::size_t number) {
    std::string_view t = trim(line);
    if (t.empty()) return;
    if (auto command = windbg_command(t)) {
      finish_block();
      order_count_ = 0;
      if (starts_with_word(*command, "!poolused")) {
        pending_ = parse_command(command->substr(9), number);
        pending_set_ = true;
      } else {
        pending_set_ = false;  // another command's output follows: not ours
      }
      return;
    }
    if (t.starts_with("Tag")) {
      Layout layout;  // not on the row path: zeroing it costs as much as reading a row
      if (parse_header(line, layout)) {
        finish_block();
        start_block(layout, number);
        return;
      }
    }
    std::array<PoolKind, 2> order = order_;
    if (std::size_t named = parse_pool_groups(t, order)) {
      finish_block();
      order_ = order;
      order_count_ = named;
      return;
    }
    if (state_ != State::kTable) return;  // preamble, or another command's output
    if (t.starts_with("Sorting by") || t == "Pool Used:") {
      finish_block();
      return;
    }
    if (only_dots(t)) {
      elided_lines_.push_back(number);
      block_elided_ = true;
      return;
    }
    if (starts_with_word(t, "TOTAL")) {
      parse_total(line, number);
      return;
    }
    parse_row(line, number);
  }

  void start_block(const Layout& layout, std::size_t number) {
    layout_ = layout;
    layout_.pool = {PoolKind::kNonPaged, PoolKind::kPaged};
    if (layout_.pools == 2 && order_count_ == 2) layout_.pool = order_;
    if (layout_.pools == 1) layout_.pool[0] = order_count_ == 1 ? order_[0] : PoolKind::kNonPaged;
    command_ = pending_set_ ? pending_ : Command{};
    pending_set_ = false;
    if (command_.session) {
      session_lines_.push_back(command_.line);
    } else if (layout_.pools == 1 && order_count_ != 1) {
      // One group of columns and no line saying which pool: assume NonPaged, and say so.
      single_pool_lines_.push_back(number);
    }
    if (!command_.tag_filter.empty()) filtered_lines_.push_back(command_.line);
    if (!command_.top_option.empty()) top_lines_.push_back(command_.line);
    state_ = State::kTable;
    if (blocks_ == 1 && !indexing_) start_indexing();
    ++blocks_;
    block_elided_ = false;
    block_sum_ = {0, 0};
    block_sum_overflow_ = false;
    build_expectation();
  }

  void finish_block() {
    if (state_ != State::kTable) return;
    state_ = State::kOutside;
    if (!indexing_) merge_repeats_in_first_output();
  }

  // The first output's entries are appended without a lookup (a hash probe per row is a cache
  // miss, and WinDbg lists each tag once); one check afterwards finds the rare repeats.
  void merge_repeats_in_first_output() {
    if (!first_output_has_repeats()) return;
    EntryIndex seen;
    seen.reserve(first_keys_.size());
    auto& entries = snapshot_.entries;
    std::size_t kept = first_new_entry_;
    bool overflow = false;
    for (std::size_t i = 0; i < first_keys_.size(); ++i) {
      const std::size_t at = first_new_entry_ + i;
      bool found = false;
      const std::size_t slot = seen.find(first_keys_[i], found);
      if (found) {
        add_counters(entries[seen.entry_at(slot)].counters, entries[at].counters, overflow);
        repeated_tags_.push_back(display_key(entries[at].key) + " (" +
                                 std::string(pool_kind_name(entries[at].pool)) + ")");
        continue;
      }
      seen.insert_at(slot, first_keys_[i], kept);
      first_keys_[kept - first_new_entry_] = first_keys_[i];
      if (kept != at) entries[kept] = std::move(entries[at]);
      ++kept;
    }
    entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(kept), entries.end());
    first_keys_.resize(kept - first_new_entry_);
    if (overflow) {
      diagnostics_.push_back({0,
                              "the counters of a tag listed twice in one !poolused output add up "
                              "to more than 64 bits"});
    }
  }

  bool first_output_has_repeats() {
    if (first_keys_.size() < 2) return false;
    if (first_keys_.size() < kSortBelow) {
      scratch_keys_.assign(first_keys_.begin(), first_keys_.end());
      std::sort(scratch_keys_.begin(), scratch_keys_.end());
      return std::adjacent_find(scratch_keys_.begin(), scratch_keys_.end()) != scratch_keys_.end();
    }
    // Large outputs: a bitmap that fits in cache flags the few keys that may repeat (their bit
    // was set before), then a second pass counts only those.
    std::vector<std::uint64_t> bits((std::size_t{1} << kBitmapBits) / 64, 0);
    scratch_keys_.clear();
    for (std::uint64_t key : first_keys_) {
      const auto h = static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - kBitmapBits));
      const std::uint64_t bit = std::uint64_t{1} << (h & 63);
      if (bits[h >> 6] & bit) {
        scratch_keys_.push_back(key);
      } else {
        bits[h >> 6] |= bit;
      }
    }
    if (scratch_keys_.empty()) return false;
    EntryIndex counts;
    counts.reserve(scratch_keys_.size());
    for (std::uint64_t key : scratch_keys_) {
      bool found = false;
      const std::size_t slot = counts.find(key, found);
      if (!found) counts.insert_at(slot, key, 0);
    }
    for (std::uint64_t key : first_keys_) {
      bool found = false;
      const std::size_t slot = counts.find(key, found);
      if (found && ++counts.value_at(slot) > 1) return true;
    }
    return false;
  }

  // From the second output on, each row looks its tag up: a tag listed again replaces its entry.
  void start_indexing() {
    indexing_ = true;
    index_.reserve(first_keys_.size());
    for (std::size_t i = 0; i < first_keys_.size(); ++i) {
      bool found = false;
      const std::size_t slot = index_.find(first_keys_[i], found);
      index_.insert_at(slot, first_keys_[i], first_new_entry_ + i);
    }
    entry_block_.assign(first_keys_.size(), 1);
    first_keys_.clear();
    first_keys_.shrink_to_fit();
  }

  void build_expectation() {
    static constexpr std::string_view kNames[] = {"Allocs", "Frees", "Diff", "Used"};
    expectation_ = "expected a !poolused row: a tag of at most 4 characters, then ";
    for (std::size_t p = 0; p < layout_.pools; ++p) {
      if (p) expectation_ += ", then ";
      expectation_ += command_.session                         ? "Session"
                      : layout_.pool[p] == PoolKind::kNonPaged ? "NonPaged"
                                                               : "Paged";
      for (std::size_t k = 0; k < layout_.per_pool; ++k) {
        expectation_ += ' ';
        expectation_ += kNames[static_cast<std::size_t>(layout_.kind[p * layout_.per_pool + k])];
      }
    }
    expectation_ += " as unsigned integers, then an optional description";
  }

  void diagnose(std::size_t number, RowError error) {
    std::string message = expectation_;
    if (error == RowError::kTooLarge) message += " (a number does not fit in 64 bits)";
    diagnostics_.push_back({number, std::move(message)});
  }

  void parse_row(std::string_view line, std::size_t number) {
    std::size_t pos = 0;
    std::string_view tag = take_tag(line, layout_.tag_col, pos);
    if (tag.empty()) {
      diagnostics_.push_back({number, expectation_ + " (no tag of at most 4 characters)"});
      return;
    }
    if (indexing_) {
      if (command_.session) {
        index_.prefetch(index_key(tag, PoolKind::kSession));
      } else {
        for (std::size_t p = 0; p < layout_.pools; ++p) {
          index_.prefetch(index_key(tag, layout_.pool[p]));
        }
      }
    }
    std::string_view description;
    RowError error = parse_numbers(line, pos, layout_, values_, description);
    if (error != RowError::kNone) {
      diagnose(number, error);
      return;
    }
    if (command_.session) {
      Counters sum;
      bool overflow = false;
      for (std::size_t p = 0; p < layout_.pools; ++p) {
        Counters c = counters_for(p);
        sum.allocs = checked_add(sum.allocs, c.allocs, overflow);
        sum.frees = checked_add(sum.frees, c.frees, overflow);
        sum.outstanding = checked_add(sum.outstanding, c.outstanding, overflow);
        sum.bytes = checked_add(sum.bytes, c.bytes, overflow);
      }
      if (overflow) {
        diagnostics_.push_back({number,
                                "the session pool's NonPaged and Paged numbers add up to "
                                "more than 64 bits"});
        return;
      }
      add_to_block_sum(0, sum.bytes);
      if (any_nonzero(sum)) add_entry(tag, PoolKind::kSession, sum, description, number);
      return;
    }
    for (std::size_t p = 0; p < layout_.pools; ++p) {
      Counters c = counters_for(p);
      add_to_block_sum(p, c.bytes);
      if (any_nonzero(c)) add_entry(tag, layout_.pool[p], c, description, number);
    }
  }

  static bool any_nonzero(const Counters& c) {
    return c.allocs.value_or(0) || c.frees.value_or(0) || c.outstanding.value_or(0) ||
           c.bytes.value_or(0);
  }

  Counters counters_for(std::size_t pool_index) const {
    Counters c;
    for (std::size_t k = 0; k < layout_.per_pool; ++k) {
      const std::size_t column = pool_index * layout_.per_pool + k;
      const std::uint64_t v = values_[column];
      switch (layout_.kind[column]) {
        case Column::kAllocs:
          (layout_.cumulative_allocs ? c.allocs : c.outstanding) = v;
          break;
        case Column::kFrees:
          c.frees = v;
          break;
        case Column::kDiff:
          c.outstanding = v;
          break;
        case Column::kUsed:
          c.bytes = v;
          break;
      }
    }
    return c;
  }

  void add_to_block_sum(std::size_t p, std::optional<std::uint64_t> bytes) {
    bool overflow = false;
    block_sum_[p] = *checked_add(block_sum_[p], bytes, overflow);
    block_sum_overflow_ = block_sum_overflow_ || overflow;
  }

  void add_entry(std::string_view tag, PoolKind pool, const Counters& counters,
                 std::string_view description, std::size_t number) {
    const std::uint64_t key = index_key(tag, pool);
    if (!indexing_) {
      first_keys_.push_back(key);
      append_entry(tag, pool, counters, description);
      return;
    }
    bool found = false;
    const std::size_t slot = index_.find(key, found);
    if (found) {
      const std::size_t at = index_.entry_at(slot);
      Entry& entry = snapshot_.entries[at];
      if (entry_block_[at - first_new_entry_] == blocks_) {
        // Twice in one output: tags that differ only in bytes WinDbg displays alike. Add them.
        bool overflow = false;
        add_counters(entry.counters, counters, overflow);
        if (overflow) {
          diagnostics_.push_back({number,
                                  "the counters of a tag listed twice in one !poolused "
                                  "output add up to more than 64 bits"});
        }
        repeated_tags_.push_back(display_key(entry.key) + " (" + std::string(pool_kind_name(pool)) +
                                 ")");
      } else {
        if (entry.counters != counters) ++replaced_with_other_values_;
        entry.counters = counters;
        entry.owner.assign(description);
        entry_block_[at - first_new_entry_] = blocks_;
      }
      return;
    }
    index_.insert_at(slot, key, snapshot_.entries.size());
    append_entry(tag, pool, counters, description);
    entry_block_.push_back(blocks_);
  }

  void append_entry(std::string_view tag, PoolKind pool, const Counters& counters,
                    std::string_view description) {
    Entry& entry = snapshot_.entries.emplace_back();
    entry.key.kind = KeyKind::kPoolTag;
    entry.key.name.assign(tag);  // what tag_from_text does, into the entry's own buffer
    entry.key.name.resize(kTagBytes, ' ');
    entry.pool = pool;
    entry.counters = counters;
    entry.owner.assign(description);
  }

  static void add_counters(Counters& to, const Counters& from, bool& overflow) {
    to.allocs = checked_add(to.allocs, from.allocs, overflow);
    to.frees = checked_add(to.frees, from.frees, overflow);
    to.outstanding = checked_add(to.outstanding, from.outstanding, overflow);
    to.bytes = checked_add(to.bytes, from.bytes, overflow);
  }

  void parse_total(std::string_view line, std::size_t number) {
    const std::size_t pos = line.find("TOTAL") + 5;
    std::string_view rest;
    RowError error = parse_numbers(line, pos, layout_, values_, rest);
    if (error != RowError::kNone || !rest.empty()) {
      diagnostics_.push_back(
          {number, "expected \"TOTAL\" and the same numbers as a row, without a description"});
      return;
    }
    std::array<std::uint64_t, 2> used = {0, 0};
    for (std::size_t p = 0; p < layout_.pools; ++p) used[p] = counters_for(p).bytes.value_or(0);
    if (command_.session) {
      bool overflow = false;
      auto sum = checked_add(used[0], layout_.pools == 2 ? used[1] : 0, overflow);
      total_for(snapshot_, PoolKind::kSession).used_bytes = sum;
      if (!block_elided_ && command_.tag_filter.empty() && command_.top_option.empty() &&
          !block_sum_overflow_ && *sum != block_sum_[0]) {
        total_mismatch(number, PoolKind::kSession, *sum, block_sum_[0]);
      }
      return;
    }
    for (std::size_t p = 0; p < layout_.pools; ++p) {
      total_for(snapshot_, layout_.pool[p]).used_bytes = used[p];
      if (!block_elided_ && command_.tag_filter.empty() && command_.top_option.empty() &&
          !block_sum_overflow_ && used[p] != block_sum_[p]) {
        total_mismatch(number, layout_.pool[p], used[p], block_sum_[p]);
      }
    }
  }

  void total_mismatch(std::size_t number, PoolKind pool, std::uint64_t total, std::uint64_t sum) {
    snapshot_.notes.push_back("line " + std::to_string(number) + ": TOTAL gives " +
                              std::to_string(total) + " bytes of " +
                              std::string(pool_kind_name(pool)) + " pool but the rows add up to " +
                              std::to_string(sum) + "; rows may be missing from this listing");
  }

  void add_notes() {
    if (!elided_lines_.empty()) {
      snapshot_.notes.push_back("rows were left out of this !poolused listing (\"...\" at line " +
                                join_lines(elided_lines_) +
                                "): the entries are the largest or selected tags, not all");
    }
    if (!filtered_lines_.empty()) {
      snapshot_.notes.push_back("!poolused was given a tag filter (line " +
                                join_lines(filtered_lines_) + "): only matching tags are listed");
    }
    if (!top_lines_.empty()) {
      snapshot_.notes.push_back("!poolused was asked for the top tags only (/t, line " +
                                join_lines(top_lines_) + "): the listing is not complete");
    }
    if (!session_lines_.empty()) {
      snapshot_.notes.push_back(
          "!poolused flag 8 (session pool, line " + join_lines(session_lines_) +
          "): each tag's NonPaged and Paged columns are added into one session-pool entry");
    }
    if (!single_pool_lines_.empty()) {
      snapshot_.notes.push_back(
          "!poolused header with one pool's columns and no NonPaged/Paged line above it (line " +
          join_lines(single_pool_lines_) + "): taken as NonPaged pool");
    }
    if (!repeated_tags_.empty()) {
      std::string tags;
      for (std::size_t i = 0; i < repeated_tags_.size() && i < 10; ++i) {
        tags += (i ? ", " : "") + repeated_tags_[i];
      }
      if (repeated_tags_.size() > 10) tags += ", ...";
      snapshot_.notes.push_back(
          "tags listed twice in one !poolused output, probably tags that differ only in bytes "
          "WinDbg displays alike, have their counters added: " +
          tags);
    }
    if (blocks_ > 1) {
      std::string note = std::to_string(blocks_) +
                         " !poolused outputs in one text: entries are their union, one per tag "
                         "and pool";
      if (replaced_with_other_values_ > 0) {
        note += "; " + std::to_string(replaced_with_other_values_) +
                " listed again with other values keep the later output's values";
      }
      snapshot_.notes.push_back(std::move(note));
    }
  }

  Snapshot& snapshot_;
  std::vector<Diagnostic>& diagnostics_;
  State state_ = State::kOutside;
  Layout layout_;
  std::array<PoolKind, 2> order_{PoolKind::kNonPaged, PoolKind::kPaged};
  std::size_t order_count_ = 0;  // pools named by the "NonPaged  Paged" line of this output
  Command pending_;
  bool pending_set_ = false;
  Command command_;
  std::size_t blocks_ = 0;
  bool block_elided_ = false;
  std::array<std::uint64_t, 2> block_sum_{0, 0};
  bool block_sum_overflow_ = false;
  std::array<std::uint64_t, kMaxColumns> values_{};
  std::string expectation_;
  EntryIndex index_;
  std::size_t first_new_entry_ = 0;
  std::vector<std::size_t> entry_block_;  // which output each new entry last came from
  std::vector<std::size_t> elided_lines_, filtered_lines_, top_lines_, session_lines_,
      single_pool_lines_;
  std::vector<std::string> repeated_tags_;  // "rx.. (nonpaged)"
  bool indexing_ = false;                   // from the second output on
  std::vector<std::uint64_t> first_keys_;   // index keys of the first output's entries, in order
  std::vector<std::uint64_t> scratch_keys_;
  std::size_t replaced_with_other_values_ = 0;
};

}  // namespace

bool is_poolused_header(std::string_view line) {
  Layout layout;
  return parse_header(line, layout);
}

std::optional<std::string_view> windbg_command(std::string_view line) {
  std::string_view t = trim_left(line);
  // Optional processor number: "0: kd>", "12: kd>".
  std::size_t i = 0;
  while (i < t.size() && is_digit(t[i])) ++i;
  if (i > 0) {
    if (i >= t.size() || t[i] != ':') return std::nullopt;
    ++i;
    while (i < t.size() && t[i] == ' ') ++i;
  }
  t.remove_prefix(i);
  if (t.starts_with("lkd>")) {
    t.remove_prefix(4);
  } else if (t.starts_with("kd>")) {
    t.remove_prefix(3);
  } else {
    return std::nullopt;
  }
  if (!t.empty() && !is_blank(t[0])) return std::nullopt;
  return trim(t);
}

Result<void> parse_poolused_into(std::string_view text, Snapshot& snapshot,
                                 std::vector<Diagnostic>& diagnostics) {
  PoolusedParser parser(snapshot, diagnostics);
  return parser.run(text);
}

Result<ParsedSnapshot> parse_poolused(std::string_view text) {
  ParsedSnapshot out;
  auto ok = parse_poolused_into(text, out.snapshot, out.diagnostics);
  if (!ok) return forward_error(ok);
  return out;
}

}  // namespace poolscope::parse
