// poolmon screen / `poolmon -n` log parser (and Volatility pooltracker tables).
#include "parse/poolmon.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <utility>

namespace poolscope::parse {

namespace {

constexpr std::size_t kNoColumn = std::string_view::npos;
constexpr std::uint64_t kMask32 = 0xFFFFFFFFull;
constexpr std::string_view kRowShape =
    "expected a poolmon row \"Tag Type Allocs [( delta)] Frees [( delta)] Diff Bytes [( delta)] "
    "PerAlloc [Mapped_Driver]\": ";
constexpr std::string_view kTrackerShape =
    "expected a pooltracker row \"Tag NpAllocs NpFrees NpBytes PgAllocs PgFrees PgBytes "
    "[Driver Reason]\": ";
// Hostile input can put megabytes on one line; a diagnostic quotes only the start of a token.
constexpr std::size_t kMaxQuoted = 32;
// Entries are big (~260 bytes) and growing the vector copies them all: reserving from the line
// count doubles the speed on a large screen. The cap keeps a big text that is mostly prose (or
// hostile newlines) from reserving more than ~70 MB up front; beyond it the vector just grows.
constexpr std::size_t kMaxReserve = std::size_t{1} << 18;
constexpr std::size_t kMaxKeptDiagnostics = 1000;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::size_t skip_blanks(std::string_view s, std::size_t i) {
  while (i < s.size() && is_blank(s[i])) ++i;
  return i;
}

std::size_t skip_word(std::string_view s, std::size_t i) {
  while (i < s.size() && !is_blank(s[i])) ++i;
  return i;
}

std::string quoted_token(std::string_view s, std::size_t start) {
  std::size_t end = skip_word(s, start);
  std::string out = "\"";
  for (char c : s.substr(start, std::min(end - start, kMaxQuoted))) {
    out += (c >= 0x20 && c < 0x7F) ? c : '?';  // keep control bytes off the user's terminal
  }
  if (end - start > kMaxQuoted) out += "...";
  out += '"';
  return out;
}

// The len bytes at start can be a tag: no tab or other non-space blank among them (a tab is
// never printed inside a tag, only pasted between columns), not all spaces, and followed by a
// blank or the end of the line.
bool tag_fits(std::string_view line, std::size_t start, std::size_t len) {
  if (len == 0 || start + len > line.size()) return false;
  bool printable = false;
  for (std::size_t i = start; i < start + len; ++i) {
    char c = line[i];
    if (c == ' ') continue;
    if (is_blank(c) || c == '\n') return false;
    printable = true;
  }
  return printable && (start + len == line.size() || is_blank(line[start + len]));
}

// A line that has a poolmon row's shape after its first column: a "Nonp" or "Paged" word followed
// by a count, with something before it. tag_end is where that something ends. /e's "Total" lines
// have that shape and are no row.
bool looks_like_row_with_bad_tag(std::string_view line, std::size_t& tag_end) {
  std::size_t start = skip_blanks(line, 0);
  if (start >= line.size()) return false;
  if (std::size_t first = skip_word(line, start); line.substr(start, first - start) == "Total") {
    return false;
  }
  for (std::size_t i = start; i < line.size();) {
    std::size_t word_start = skip_blanks(line, i);
    if (word_start >= line.size()) return false;
    std::size_t word_end = skip_word(line, word_start);
    std::string_view word = line.substr(word_start, word_end - word_start);
    if (word_start > start && (word == "Nonp" || word == "Paged")) {
      std::size_t n = skip_blanks(line, word_end);
      if (n < line.size() && line[n] == '-' && n + 1 < line.size()) ++n;
      if (n > word_end && n < line.size() && is_digit(line[n])) {
        tag_end = word_start;
        while (tag_end > start && is_blank(line[tag_end - 1])) --tag_end;
        return true;
      }
    }
    i = word_end;
  }
  return false;
}

// In a pooltracker table: something, then the six counts of a row.
bool looks_like_tracker_row_with_bad_tag(std::string_view line, std::size_t& tag_end) {
  std::size_t start = skip_blanks(line, 0);
  for (std::size_t i = start; i < line.size();) {
    std::size_t word_start = skip_blanks(line, i);
    if (word_start >= line.size()) return false;
    if (word_start > start && is_digit(line[word_start])) {
      std::size_t counts = 0;
      for (std::size_t j = word_start; counts < 6;) {
        std::size_t w = skip_blanks(line, j);
        if (w >= line.size() || !is_digit(line[w])) break;
        ++counts;
        j = skip_word(line, w);
      }
      if (counts < 6) return false;
      tag_end = word_start;
      while (tag_end > start && is_blank(line[tag_end - 1])) --tag_end;
      return true;
    }
    i = skip_word(line, word_start);
  }
  return false;
}

// The bytes before the pool type, escaped as display_key does ("L\xc3\xa9ak").
std::string bad_tag_problem(std::string_view line, std::size_t tag_end) {
  std::size_t start = skip_blanks(line, 0);
  std::string_view tag = line.substr(start, tag_end - start);
  std::string shown =
      display_key(PoolKey{KeyKind::kPoolTag, std::string(tag.substr(0, kMaxQuoted))});
  if (tag.size() > kMaxQuoted) shown += "...";
  return "the tag \"" + shown + "\" is " + std::to_string(tag.size()) +
         " bytes; a pool tag is at most 4 plain characters (non-ASCII text, a control or escape "
         "byte, or a longer word is not a tag poolmon prints)";
}

enum class Follow { kPoolType, kNumber };

// Whether what follows a tag ending at end starts a row: poolmon's Type word, or (pooltracker) a
// number. next is where the columns after it start.
bool row_follows(std::string_view line, std::size_t end, Follow follow, PoolKind& pool,
                 std::size_t& next) {
  std::size_t i = skip_blanks(line, end);
  if (i == end && end != line.size()) return false;
  if (follow == Follow::kNumber) {
    next = i;
    return i < line.size() && is_digit(line[i]);
  }
  std::size_t j = skip_word(line, i);
  std::string_view word = line.substr(i, j - i);
  if (word == "Nonp") {
    pool = PoolKind::kNonPaged;
  } else if (word == "Paged") {
    pool = PoolKind::kPaged;
  } else {
    return false;
  }
  next = j;
  return true;
}

// The tag is the 4 bytes at the first non-blank; failing that the 4 bytes under the header's "Tag"
// (a tag with leading spaces); failing that a 1-3 byte first field, because whitespace-collapsed
// text turns "Io   Nonp" into "Io Nonp".
bool find_tag(std::string_view line, std::size_t tag_column, Follow follow, std::string_view& tag,
              PoolKind& pool, std::size_t& next) {
  std::size_t p = skip_blanks(line, 0);
  if (p >= line.size()) return false;
  if (tag_fits(line, p, 4) && row_follows(line, p + 4, follow, pool, next)) {
    tag = line.substr(p, 4);
    return true;
  }
  if (tag_column != kNoColumn && tag_column < p && tag_fits(line, tag_column, 4) &&
      row_follows(line, tag_column + 4, follow, pool, next)) {
    tag = line.substr(tag_column, 4);
    return true;
  }
  std::size_t field_end = skip_word(line, p);
  if (field_end - p < 4 && row_follows(line, field_end, follow, pool, next)) {
    tag = line.substr(p, field_end - p);
    return true;
  }
  return false;
}

// Digits with optional thousands separators ("51,231,806" in pasted tables), ending at a blank,
// "(" or the end. A leading "-" only where 32-bit poolmon printed a ULONG with %ld: read back
// modulo 2^32.
bool read_count(std::string_view s, std::size_t& i, std::string_view column, bool negative_wraps,
                std::uint64_t& value, bool& printed_negative, std::string& problem) {
  i = skip_blanks(s, i);
  const std::size_t start = i;
  if (i >= s.size()) {
    problem = std::string(column) + " is missing (the row ends early)";
    return false;
  }
  bool negative = false;
  if (s[i] == '-') {
    negative = true;
    ++i;
  }
  const std::size_t digits = i;
  bool commas = false;
  while (i < s.size() && (is_digit(s[i]) || s[i] == ',')) {
    commas = commas || s[i] == ',';
    ++i;
  }
  if (i == digits || (i < s.size() && !is_blank(s[i]) && s[i] != '(')) {
    problem = std::string(column) + " " + quoted_token(s, start) + " is not a number";
    return false;
  }
  std::string_view token = s.substr(digits, i - digits);
  std::uint64_t magnitude = 0;
  if (commas) {
    auto parsed = parse_u64(token, true);
    if (!parsed) {
      problem = std::string(column) + " " + quoted_token(s, start) +
                " has misplaced thousands separators or does not fit 64 bits";
      return false;
    }
    magnitude = *parsed;
  } else {
    auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), magnitude);
    if (ec != std::errc() || ptr != token.data() + token.size()) {
      problem = std::string(column) + " " + quoted_token(s, start) + " does not fit 64 bits";
      return false;
    }
  }
  if (negative) {
    if (!negative_wraps || magnitude > (kMask32 + 1) / 2) {
      problem = std::string(column) + " " + quoted_token(s, start) + " is negative";
      return false;
    }
    value = (kMask32 + 1 - magnitude) & kMask32;
    printed_negative = printed_negative || magnitude != 0;
    return true;
  }
  value = magnitude;
  return true;
}

// "( 177)", "(  -184)", "(12345)": a signed change since poolmon's previous refresh.
bool read_change(std::string_view s, std::size_t& i, std::string_view column, std::int64_t& value,
                 std::string& problem) {
  ++i;  // '('
  i = skip_blanks(s, i);
  bool negative = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
    negative = s[i] == '-';
    ++i;
  }
  const std::size_t digits = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  std::uint64_t magnitude = 0;
  auto [ptr, ec] = std::from_chars(s.data() + digits, s.data() + i, magnitude);
  if (i > digits &&
      (ec == std::errc::result_out_of_range || magnitude > static_cast<std::uint64_t>(INT64_MAX))) {
    problem = "the change after " + std::string(column) + " does not fit 64 bits";
    return false;
  }
  i = skip_blanks(s, i);
  if (i == digits || ec != std::errc() || i >= s.size() || s[i] != ')' ||
      (i + 1 < s.size() && !is_blank(s[i + 1]))) {
    problem = "the change after " + std::string(column) + " is not \"( <number>)\"";
    return false;
  }
  ++i;  // ')'
  value = negative ? -static_cast<std::int64_t>(magnitude) : static_cast<std::int64_t>(magnitude);
  return true;
}

bool read_optional_change(std::string_view s, std::size_t& i, std::string_view column,
                          std::int64_t& value, int& changes, std::string& problem) {
  std::size_t j = skip_blanks(s, i);
  if (j >= s.size() || s[j] != '(') return true;
  i = j;
  if (!read_change(s, i, column, value, problem)) return false;
  ++changes;
  return true;
}

// What follows the last count: the Mapped_Driver / Driver text. poolmon always prints it as
// "[...]" or "Unknown Driver", so a number there means the columns are shifted.
bool read_owner(std::string_view s, std::size_t i, std::string_view after, std::string_view& owner,
                std::string& problem) {
  if (i < s.size() && !is_blank(s[i])) {
    problem = "unexpected " + quoted_token(s, i) + " right after " + std::string(after);
    return false;
  }
  owner = trim_left(s.substr(i));
  if (!owner.empty() &&
      (is_digit(owner[0]) || (owner[0] == '-' && owner.size() > 1 && is_digit(owner[1])))) {
    problem = "unexpected number " + quoted_token(owner, 0) + " after " + std::string(after) +
              " (too many columns)";
    return false;
  }
  return true;
}

// Volatility pooltracker: "Tag NpAllocs NpFrees NpBytes PgAllocs PgFrees PgBytes [Driver Reason]".
struct TrackerRow {
  std::string_view tag;
  std::uint64_t counts[6] = {};  // np allocs, frees, bytes, pg allocs, frees, bytes
  std::string_view owner;
};

RowStatus parse_tracker_row(std::string_view line, TrackerRow& row, std::string& problem,
                            std::size_t tag_column) {
  PoolKind unused = PoolKind::kNonPaged;
  std::size_t i = 0;
  if (!find_tag(line, tag_column, Follow::kNumber, row.tag, unused, i)) return RowStatus::kNotARow;
  static constexpr std::string_view kColumns[6] = {"NpAllocs", "NpFrees", "NpBytes",
                                                   "PgAllocs", "PgFrees", "PgBytes"};
  bool negative = false;
  for (int c = 0; c < 6; ++c) {
    if (!read_count(line, i, kColumns[c], false, row.counts[c], negative, problem)) {
      return RowStatus::kMalformed;
    }
    if (i < line.size() && line[i] == '(') {
      problem = "unexpected \"(\" after " + std::string(kColumns[c]);
      return RowStatus::kMalformed;
    }
  }
  if (!read_owner(line, i, "PgBytes", row.owner, problem)) return RowStatus::kMalformed;
  return RowStatus::kRow;
}

std::optional<std::uint64_t> kib_after(std::string_view line, std::string_view key,
                                       std::size_t from, std::size_t* end = nullptr) {
  std::size_t pos = line.find(key, from);
  if (pos == std::string_view::npos) return std::nullopt;
  std::size_t i = skip_blanks(line, pos + key.size());
  std::size_t j = skip_word(line, i);
  if (end) *end = j;
  return parse_kib(line.substr(i, j - i));
}

enum class Section : std::uint8_t { kSystem, kAllSessions, kOneSession };
enum class Table : std::uint8_t { kPoolmon, kTracker };

bool has_data(const Snapshot& s) {
  return !s.entries.empty() || !s.totals.empty() || s.memory_total_bytes.has_value() ||
         s.memory_available_bytes.has_value();
}

class Parser {
 public:
  Parser(bool keep_all, std::size_t line_count)
      : keep_all_(keep_all), next_reserve_(std::min(line_count, kMaxReserve)) {
    reset_snapshot(1);
  }

  void line(std::string_view line, std::size_t number);
  // All snapshots (keep_all) or only the last.
  std::vector<ParsedSnapshot> finish();
  bool recognized() const { return recognized_; }
  std::size_t snapshot_count() const { return snapshot_count_; }
  std::size_t last_first_line() const { return last_first_line_; }
  std::vector<Diagnostic>& earlier_diagnostics() { return earlier_diagnostics_; }

 private:
  void reset_snapshot(std::size_t first_line);
  void new_snapshot(std::size_t first_line);
  void close_snapshot();
  void add_row(const PoolmonRow& row);
  void add_previous_row(const PoolmonRow& row, const Entry& now);
  void add_tracker_row(const TrackerRow& row);
  void memory_line(std::string_view t, std::size_t number);
  void commit_line(std::string_view t, std::size_t number);
  bool header_line(std::string_view line, std::string_view t, std::size_t number);
  bool section_line(std::string_view t, std::size_t number);
  void diagnose(std::size_t number, std::string message) {
    // A hostile file can be nothing but bad rows: keep the first ones, count them all.
    if (diagnostic_count_++ < kMaxKeptDiagnostics) {
      cur_.diagnostics.push_back({number, std::move(message)});
    } else if (diagnostic_count_ == kMaxKeptDiagnostics + 1) {
      first_unkept_line_ = number;
    }
  }

 public:
  std::size_t diagnostic_count() const { return diagnostic_count_; }
  // Snapshots completed so far (keep_all): the caller writes them and they leave memory.
  std::vector<ParsedSnapshot> take_completed() {
    std::vector<ParsedSnapshot> out = std::move(done_);
    done_.clear();
    return out;
  }

 private:
  std::size_t diagnostic_count_ = 0;
  std::size_t first_unkept_line_ = 0;

  bool keep_all_;
  std::size_t next_reserve_;
  std::vector<Entry> spare_entries_;  // a dropped snapshot's storage, reused when !keep_all_
  std::vector<ParsedSnapshot> done_;
  ParsedSnapshot cur_;
  std::vector<Diagnostic> earlier_diagnostics_;  // of snapshots dropped when !keep_all_
  std::size_t snapshot_count_ = 0;
  std::size_t cur_first_line_ = 1;
  std::size_t last_first_line_ = 1;
  bool recognized_ = false;

  // Where we are in the current screen.
  bool has_memory_ = false;
  bool has_commit_ = false;
  bool has_header_ = false;
  std::size_t rows_since_marker_ = 0;  // rows since the last Memory/Commit/section/header line
  std::size_t rows_in_section_ = 0;
  Section section_ = Section::kSystem;
  std::uint32_t session_id_ = 0;
  Table table_ = Table::kPoolmon;
  std::size_t tag_column_ = kNoColumn;

  // For the snapshot's notes.
  std::size_t negative_rows_ = 0;
  std::size_t diff_mismatches_ = 0;
  std::string first_mismatch_;
  bool tracker_rows_ = false;

  // Reused for every line: no allocation per good row.
  PoolmonRow row_;
  TrackerRow tracker_row_;
  std::string problem_;
};

void Parser::reset_snapshot(std::size_t first_line) {
  // Reuse storage rather than free and reserve again: hostile text can reset empty snapshots on
  // every line.
  std::vector<Entry> storage = std::move(cur_.snapshot.entries);
  if (storage.capacity() == 0) storage = std::move(spare_entries_);
  storage.clear();
  cur_ = ParsedSnapshot{};
  cur_.snapshot.entries = std::move(storage);
  cur_.snapshot.entries.reserve(next_reserve_);
  cur_.snapshot.format = "poolmon";
  cur_.snapshot.counter_width = CounterWidth::k32;
  cur_first_line_ = first_line;
  has_memory_ = has_commit_ = has_header_ = false;
  rows_since_marker_ = rows_in_section_ = 0;
  negative_rows_ = diff_mismatches_ = 0;
  first_mismatch_.clear();
  tracker_rows_ = false;
}

void Parser::close_snapshot() {
  Snapshot& s = cur_.snapshot;
  if (negative_rows_ > 0) {
    s.notes.push_back(std::to_string(negative_rows_) +
                      " row(s) show a negative Allocs, Frees or Diff: 32-bit poolmon prints its "
                      "unsigned 32-bit counts as signed, so they were read modulo 2^32");
  }
  if (diff_mismatches_ > 0) {
    s.notes.push_back(std::to_string(diff_mismatches_) +
                      " row(s) have a Diff that is not Allocs - Frees (first: " + first_mismatch_ +
                      "); the printed Diff is kept as outstanding, but the text was probably "
                      "edited or mis-transcribed");
  }
  if (tracker_rows_) {
    s.notes.push_back(
        "pooltracker shows no Diff: outstanding is allocs - frees (modulo 2^32); a pool with no "
        "allocations, frees or bytes for a tag is left out");
  }
  if (!has_data(s)) {
    // Nothing but headers or bad lines: its diagnostics go with the next snapshot.
    return;
  }
  // The next screen is likely the same size as this one.
  next_reserve_ = std::min(s.entries.size() + s.entries.size() / 8, kMaxReserve);
  // A kept snapshot holds only what it uses: a log of many small screens must not keep the first
  // screen's line-count reservation (or any reservation at all for an empty screen).
  if (s.entries.capacity() > s.entries.size() + s.entries.size() / 4) s.entries.shrink_to_fit();
  if (!keep_all_ && !done_.empty()) {
    auto& dropped = done_.back().diagnostics;
    earlier_diagnostics_.insert(earlier_diagnostics_.end(), dropped.begin(), dropped.end());
    spare_entries_ = std::move(done_.back().snapshot.entries);
    spare_entries_.clear();
    done_.clear();
  }
  ++snapshot_count_;
  last_first_line_ = cur_first_line_;
  done_.push_back(std::move(cur_));
  cur_ = ParsedSnapshot{};
}

void Parser::new_snapshot(std::size_t first_line) {
  close_snapshot();
  // An empty snapshot leaves its diagnostics (and notes) behind in cur_.
  std::vector<Diagnostic> carried = std::move(cur_.diagnostics);
  reset_snapshot(first_line);
  cur_.diagnostics = std::move(carried);
}

std::vector<ParsedSnapshot> Parser::finish() {
  close_snapshot();
  if (diagnostic_count_ > kMaxKeptDiagnostics) {
    cur_.diagnostics.push_back(
        {first_unkept_line_, "... and " + std::to_string(diagnostic_count_ - kMaxKeptDiagnostics) +
                                 " more bad line(s) from here on, not listed"});
  }
  if (!cur_.diagnostics.empty()) {
    if (done_.empty()) {
      done_.push_back(std::move(cur_));  // only bad rows: the caller sees them
    } else {
      auto& d = done_.back().diagnostics;
      d.insert(d.end(), cur_.diagnostics.begin(), cur_.diagnostics.end());
    }
  } else if (done_.empty() && snapshot_count_ == 0) {
    cur_.snapshot.notes.push_back("the text has poolmon headers but no tag rows");
    done_.push_back(std::move(cur_));
  }
  return std::move(done_);
}

void Parser::add_row(const PoolmonRow& row) {
  Entry& e = cur_.snapshot.entries.emplace_back();
  e.key = tag_from_text(row.tag);
  if (section_ == Section::kSystem) {
    e.pool = row.pool;
  } else {
    e.pool = PoolKind::kSession;
    if (section_ == Section::kOneSession) e.session_id = session_id_;
  }
  e.counters.allocs = row.allocs;
  e.counters.frees = row.frees;
  e.counters.outstanding = row.outstanding;
  e.counters.bytes = row.bytes;
  if (row.outstanding > 0) e.object_size = row.per_alloc;
  if (row.has_changes) {
    Counters& c = e.change.emplace();
    if (row.allocs_change >= 0) c.allocs = static_cast<std::uint64_t>(row.allocs_change);
    if (row.frees_change >= 0) c.frees = static_cast<std::uint64_t>(row.frees_change);
    if (row.bytes_change >= 0) c.bytes = static_cast<std::uint64_t>(row.bytes_change);
  }
  if (!row.owner.empty()) e.owner.assign(row.owner);
  if (row.has_changes) add_previous_row(row, e);
  if (row.printed_negative) ++negative_rows_;
  if (((row.allocs - row.frees) & kMask32) != (row.outstanding & kMask32)) {
    if (diff_mismatches_++ == 0) {
      first_mismatch_ = "'" + display_key(e.key) + "' " + std::string(pool_kind_name(row.pool)) +
                        ": " + std::to_string(row.allocs) + " - " + std::to_string(row.frees) +
                        " = " + std::to_string(row.allocs - row.frees) + ", Diff " +
                        std::to_string(row.outstanding);
    }
  }
}

// The row as poolmon's previous refresh showed it: each count minus its change, modulo 2^32
// (SYSTEM_POOLTAG's counts are ULONG and wrap); Diff minus (allocs change - frees change); Bytes
// minus its change, left out when the change is larger than Bytes (no wrap: SIZE_T). A tag with no
// allocations or frees then was not there yet.
void Parser::add_previous_row(const PoolmonRow& row, const Entry& now) {
  const auto minus = [](std::uint64_t value, std::int64_t change) {
    return (value - static_cast<std::uint64_t>(change)) & kMask32;
  };
  const std::uint64_t allocs = minus(row.allocs, row.allocs_change);
  const std::uint64_t frees = minus(row.frees, row.frees_change);
  if (allocs == 0 && frees == 0) return;
  if (!cur_.previous_refresh) {
    cur_.previous_refresh.emplace();
    cur_.previous_refresh->format = "poolmon";
    cur_.previous_refresh->counter_width = CounterWidth::k32;
  }
  Snapshot& prev = *cur_.previous_refresh;
  Entry& e = prev.entries.emplace_back();
  e.key = now.key;
  e.pool = now.pool;
  e.session_id = now.session_id;
  e.owner = now.owner;
  e.counters.allocs = allocs;
  e.counters.frees = frees;
  e.counters.outstanding = minus(row.outstanding, row.allocs_change - row.frees_change);
  if (row.bytes_change <= 0 || static_cast<std::uint64_t>(row.bytes_change) <= row.bytes) {
    e.counters.bytes = row.bytes - static_cast<std::uint64_t>(row.bytes_change);
    if (*e.counters.outstanding > 0) e.object_size = *e.counters.bytes / *e.counters.outstanding;
  }
}

void Parser::add_tracker_row(const TrackerRow& row) {
  tracker_rows_ = true;
  for (int half = 0; half < 2; ++half) {
    const std::uint64_t* c = row.counts + half * 3;
    if (c[0] == 0 && c[1] == 0 && c[2] == 0) continue;
    Entry& e = cur_.snapshot.entries.emplace_back();
    e.key = tag_from_text(row.tag);
    e.pool = half == 0 ? PoolKind::kNonPaged : PoolKind::kPaged;
    e.counters.allocs = c[0];
    e.counters.frees = c[1];
    e.counters.outstanding = counter_delta(c[1], c[0], CounterWidth::k32);
    e.counters.bytes = c[2];
    if (!row.owner.empty()) e.owner.assign(row.owner);
  }
}

void Parser::memory_line(std::string_view t, std::size_t number) {
  new_snapshot(number);
  has_memory_ = true;
  section_ = Section::kSystem;
  table_ = Table::kPoolmon;
  tag_column_ = kNoColumn;
  auto memory = kib_after(t, "Memory:", 0);
  auto avail = kib_after(t, "Avail:", 0);
  if (!memory || !avail) {
    diagnose(number, "expected poolmon's \"Memory: <n>K Avail: <n>K ...\" header with sizes in K");
  }
  cur_.snapshot.memory_total_bytes = memory;
  cur_.snapshot.memory_available_bytes = avail;
}

void Parser::commit_line(std::string_view t, std::size_t number) {
  // It belongs to the current screen only right after that screen's Memory line.
  if (!has_memory_ || has_commit_ || has_header_ || rows_since_marker_ > 0) new_snapshot(number);
  has_commit_ = true;
  rows_since_marker_ = 0;
  std::size_t end = 0;
  auto nonpaged = kib_after(t, "Pool N:", 0, &end);
  auto paged = nonpaged ? kib_after(t, "P:", end) : std::nullopt;
  if (!nonpaged || !paged) {
    diagnose(number,
             "expected \"Pool N:<n>K P:<n>K\" (nonpaged and paged pool in K) at the end "
             "of poolmon's Commit line");
    return;
  }
  // poolmon's N is nonpaged and P paged (Intel's mfd-network-adapter parser swaps them).
  for (auto [pool, used] :
       {std::pair{PoolKind::kNonPaged, *nonpaged}, std::pair{PoolKind::kPaged, *paged}}) {
    PoolTotal& total = total_for(cur_.snapshot, pool);
    total.used_bytes = used;
    total.limit_note = "poolmon shows no pool limit";
  }
}

bool Parser::header_line(std::string_view line, std::string_view t, std::size_t number) {
  std::size_t i = skip_blanks(t, 3);
  std::size_t j = skip_word(t, i);
  std::string_view second = t.substr(i, j - i);
  Table table;
  if (second == "Type" && t.find("Allocs", j) != std::string_view::npos) {
    table = Table::kPoolmon;
  } else if (second == "NpAllocs") {
    table = Table::kTracker;
  } else {
    return false;
  }
  if (rows_since_marker_ > 0) {
    // A new table without Memory lines: `poolmon -n` without summary appends just this.
    Section section = section_;
    std::uint32_t session = session_id_;
    new_snapshot(number);
    section_ = section;
    session_id_ = session;
  }
  has_header_ = true;
  rows_since_marker_ = 0;
  table_ = table;
  tag_column_ = static_cast<std::size_t>(t.data() - line.data());
  cur_.snapshot.format = table == Table::kTracker ? "pooltracker" : "poolmon";
  return true;
}

bool Parser::section_line(std::string_view t, std::size_t number) {
  constexpr std::string_view kSuffix = " pool information";
  if (!t.ends_with(kSuffix)) return false;
  std::string_view what = t.substr(0, t.size() - kSuffix.size());
  Section section;
  std::uint32_t id = 0;
  if (what == "System") {
    section = Section::kSystem;
  } else if (what == "All sessions") {
    section = Section::kAllSessions;
  } else if (what.starts_with("Session ")) {
    std::string_view digits = trim(what.substr(8));
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) {
      diagnose(number, "expected \"Session <id> pool information\" with a decimal session id");
      return true;
    }
    section = Section::kOneSession;
  } else {
    return false;
  }
  if (rows_in_section_ > 0 && section == section_ && id == session_id_) {
    new_snapshot(number);  // the same table again: a new screen pasted without its Memory lines
  }
  section_ = section;
  session_id_ = id;
  rows_in_section_ = 0;
  rows_since_marker_ = 0;
  return true;
}

void Parser::line(std::string_view line, std::size_t number) {
  if (line.empty()) return;
  if (table_ == Table::kTracker) {
    switch (parse_tracker_row(line, tracker_row_, problem_, tag_column_)) {
      case RowStatus::kRow:
        recognized_ = true;
        ++rows_since_marker_;
        ++rows_in_section_;
        add_tracker_row(tracker_row_);
        return;
      case RowStatus::kMalformed:
        recognized_ = true;
        diagnose(number, std::string(kTrackerShape) + problem_);
        return;
      case RowStatus::kNotARow:
        break;
    }
  }
  switch (parse_poolmon_row(line, row_, problem_, tag_column_)) {
    case RowStatus::kRow:
      recognized_ = true;
      ++rows_since_marker_;
      ++rows_in_section_;
      add_row(row_);
      return;
    case RowStatus::kMalformed:
      recognized_ = true;
      diagnose(number, std::string(kRowShape) + problem_);
      return;
    case RowStatus::kNotARow:
      break;
  }
  std::string_view t = trim(line);
  if (t.empty()) return;
  if (t.starts_with("Memory:") && t.find("Avail:") != std::string_view::npos) {
    recognized_ = true;
    memory_line(t, number);
  } else if (t.starts_with("Commit:") && t.find("Pool N:") != std::string_view::npos) {
    recognized_ = true;
    commit_line(t, number);
  } else if (starts_with_word(t, "Tag") && header_line(line, t, number)) {
    recognized_ = true;
  } else if (section_line(t, number)) {
    recognized_ = true;
  } else if (std::size_t tag_end = 0;
             looks_like_row_with_bad_tag(line, tag_end) ||
             (table_ == Table::kTracker && looks_like_tracker_row_with_bad_tag(line, tag_end))) {
    // Not a row only because of its tag (non-ASCII, an escape sequence, a longer word): skipping
    // it would lose a tag without a word, so it is a bad line.
    recognized_ = true;
    diagnose(number, std::string(table_ == Table::kTracker ? kTrackerShape : kRowShape) +
                         bad_tag_problem(line, tag_end));
  }
  // Anything else is prose, "[snip]", "...", a command line or a /e "Total" line.
}

}  // namespace

RowStatus parse_poolmon_row(std::string_view line, PoolmonRow& row, std::string& problem,
                            std::size_t tag_column) {
  std::size_t i = 0;
  if (!find_tag(line, tag_column, Follow::kPoolType, row.tag, row.pool, i)) {
    return RowStatus::kNotARow;
  }
  row.printed_negative = false;
  row.has_changes = false;
  row.allocs_change = row.frees_change = row.bytes_change = 0;
  int changes = 0;
  if (!read_count(line, i, "Allocs", true, row.allocs, row.printed_negative, problem) ||
      !read_optional_change(line, i, "Allocs", row.allocs_change, changes, problem) ||
      !read_count(line, i, "Frees", true, row.frees, row.printed_negative, problem) ||
      !read_optional_change(line, i, "Frees", row.frees_change, changes, problem) ||
      !read_count(line, i, "Diff", true, row.outstanding, row.printed_negative, problem)) {
    return RowStatus::kMalformed;
  }
  if (std::size_t j = skip_blanks(line, i); j < line.size() && line[j] == '(') {
    problem = "unexpected \"(\" after Diff (poolmon shows no change for Diff)";
    return RowStatus::kMalformed;
  }
  bool unused = false;
  if (!read_count(line, i, "Bytes", false, row.bytes, unused, problem) ||
      !read_optional_change(line, i, "Bytes", row.bytes_change, changes, problem) ||
      !read_count(line, i, "Per Alloc", false, row.per_alloc, unused, problem) ||
      !read_owner(line, i, "Per Alloc", row.owner, problem)) {
    return RowStatus::kMalformed;
  }
  if (changes != 0 && changes != 3) {
    problem = "the \"( delta)\" columns must follow all of Allocs, Frees and Bytes or none";
    return RowStatus::kMalformed;
  }
  row.has_changes = changes == 3;
  return RowStatus::kRow;
}

bool is_poolmon_marker_line(std::string_view line) {
  std::string_view t = trim(line);
  if (t.starts_with("Memory:")) return t.find("Avail:") != std::string_view::npos;
  if (t.starts_with("Commit:")) return t.find("Pool N:") != std::string_view::npos;
  if (!starts_with_word(t, "Tag")) return false;
  std::size_t i = skip_blanks(t, 3);
  std::string_view second = t.substr(i, skip_word(t, i) - i);
  return (second == "Type" && t.find("Allocs") != std::string_view::npos) || second == "NpAllocs";
}

namespace {

Error not_poolmon() {
  return Error{ErrorCode::kInput, 0,
               "not poolmon output: no \"Tag Type Allocs Frees Diff Bytes Per Alloc\" "
               "header, no \"Memory:\"/\"Commit: ... Pool N:\" lines and no rows like "
               "\"Tag Nonp|Paged <allocs> <frees> <diff> <bytes> <per alloc>\""};
}

Result<std::vector<ParsedSnapshot>> run(std::string_view text, Parser& parser) {
  LineReader lines(text);
  std::string_view line;
  while (lines.next(line)) parser.line(line, lines.line_number());
  if (!parser.recognized()) return unexpected(not_poolmon());
  return parser.finish();
}

std::size_t count_lines(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

}  // namespace

Result<std::vector<ParsedSnapshot>> parse_poolmon_all(std::string_view text) {
  Parser parser(true, count_lines(text));
  return run(text, parser);
}

namespace {

Result<ParsedSnapshot> last_snapshot(Parser& parser, Result<std::vector<ParsedSnapshot>> all) {
  if (!all) return unexpected(std::move(all.error()));
  ParsedSnapshot out = std::move(all->back());
  auto& earlier = parser.earlier_diagnostics();
  if (!earlier.empty()) {
    earlier.insert(earlier.end(), out.diagnostics.begin(), out.diagnostics.end());
    out.diagnostics = std::move(earlier);
  }
  if (parser.snapshot_count() > 1) {
    out.snapshot.notes.push_back("the text holds " + std::to_string(parser.snapshot_count()) +
                                 " poolmon snapshots; this is the last one (from line " +
                                 std::to_string(parser.last_first_line()) + ")");
  }
  return out;
}

constexpr std::size_t kStreamReserve = 1024;

}  // namespace

Result<ParsedSnapshot> parse_poolmon(std::string_view text) {
  Parser parser(false, count_lines(text));
  return last_snapshot(parser, run(text, parser));
}

struct PoolmonLineParser::State {
  explicit State(bool keep_all) : parser(keep_all, kStreamReserve) {}
  Parser parser;
};

PoolmonLineParser::PoolmonLineParser(bool keep_all) : state_(std::make_unique<State>(keep_all)) {}
PoolmonLineParser::~PoolmonLineParser() = default;

void PoolmonLineParser::line(std::string_view line, std::size_t number) {
  state_->parser.line(line, number);
}

std::vector<ParsedSnapshot> PoolmonLineParser::take_completed() {
  return state_->parser.take_completed();
}

std::size_t PoolmonLineParser::diagnostic_count() const {
  return state_->parser.diagnostic_count();
}

Result<std::vector<ParsedSnapshot>> PoolmonLineParser::finish() {
  if (!state_->parser.recognized()) return unexpected(not_poolmon());
  return state_->parser.finish();
}

Result<ParsedSnapshot> PoolmonLineParser::finish_last() {
  if (!state_->parser.recognized()) return unexpected(not_poolmon());
  return last_snapshot(state_->parser, state_->parser.finish());
}

}  // namespace poolscope::parse
