// Parser for poolmon screens and `poolmon -n` snapshot logs (and Volatility pooltracker tables).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/pool.h"
#include "core/result.h"
#include "parse/slabinfo.h"  // ParsedSnapshot
#include "parse/text.h"

namespace poolscope::parse {

// What poolmon text gives, and how it lands in the model:
// - "Memory: ...K Avail: ...K" -> memory_total_bytes / memory_available_bytes; "Commit: ... Pool
//   N:<n>K P:<p>K" -> nonpaged used_bytes = n * 1024, paged used_bytes = p * 1024. Values may be
//   glued to their label ("P:19560K").
// - Rows "Tag Type Allocs [(delta)] Frees [(delta)] Diff Bytes [(delta)] PerAlloc [Mapped_Driver]":
//   the tag is the 4 bytes at the row's first non-blank (trailing spaces kept: "Io  ", "Dh 1");
//   Nonp -> kNonPaged, Paged -> kPaged, and every row under "All sessions pool information" or
//   "Session N pool information" is kSession (with session_id for "Session N").
// - outstanding is the printed Diff, never recomputed; a snapshot note lists rows whose Diff is
//   not Allocs - Frees (modulo 2^32) because such text has been edited or mis-transcribed.
// - object_size is Per Alloc (Bytes / Diff) when Diff > 0; poolmon prints Bytes there when Diff is
//   0, which is no size.
// - change holds the "( delta)" columns (change since poolmon's previous refresh). The model's
//   counters are unsigned, so a negative delta (Bytes shrank: "( -184)") leaves that one field
//   empty; the others are kept. parse_poolmon_row gives the signed values.
// - A screen with "( delta)" columns is two samples: ParsedSnapshot::previous_refresh holds its
//   rows as poolmon's previous refresh showed them (signed deltas, counts modulo 2^32; a tag with
//   no allocations or frees then is left out). poolmon does not print its refresh interval, so
//   the previous screen has no time: import places it (--refresh-interval, docs/detection.md).
// - 32-bit poolmon prints its ULONG Allocs/Frees/Diff with %ld, so counts >= 2^31 appear negative;
//   they are read back modulo 2^32 and a note says so. counter_width is k32.
// - Mapped_Driver text goes to owner as printed, leading blanks removed and trailing ones kept (a
//   description cut by the console width ends where the console cut it: "[hidclass.sys - HID
//   Class d ").
// - Blank lines, prose, "[snip]", "...", command lines and /e "Total" lines are skipped. A line
//   that starts like a row (tag + Nonp/Paged) and then does not parse is a Diagnostic.
// - Volatility's pooltracker table ("Tag NpAllocs NpFrees NpBytes PgAllocs PgFrees PgBytes
//   [Driver Reason]") is read too: each row gives a nonpaged and a paged entry (a half with all
//   counts 0 is left out, as poolmon does); outstanding = allocs - frees modulo 2^32, since the
//   table has no Diff; format is "pooltracker".

// One data row as printed.
struct PoolmonRow {
  std::string_view tag;  // 4 bytes; 1-3 when whitespace-collapsed text lost the tag's padding
  PoolKind pool = PoolKind::kNonPaged;
  std::uint64_t allocs = 0;
  std::uint64_t frees = 0;
  std::uint64_t outstanding = 0;  // Diff
  std::uint64_t bytes = 0;
  std::uint64_t per_alloc = 0;
  bool has_changes = false;  // the three "( delta)" columns were present
  std::int64_t allocs_change = 0;
  std::int64_t frees_change = 0;
  std::int64_t bytes_change = 0;
  std::string_view owner;         // Mapped_Driver text; empty when absent
  bool printed_negative = false;  // a count was printed as a negative 32-bit value
};

enum class RowStatus { kNotARow, kRow, kMalformed };

// Reads one poolmon data row. kNotARow: the line does not start with a tag and a pool type.
// kMalformed: it does, and problem says what was wrong (problem is only written then, so a reused
// string costs nothing per good row). tag_column is where the column header's "Tag" starts, if
// known: it lets a tag with leading spaces be read by position.
RowStatus parse_poolmon_row(std::string_view line, PoolmonRow& row, std::string& problem,
                            std::size_t tag_column = std::string_view::npos);

// True for a line only poolmon-style text has: the "Tag Type Allocs" or "Tag NpAllocs" column
// header, "Memory: ... Avail:" or "Commit: ... Pool N:". For format detection.
bool is_poolmon_marker_line(std::string_view line);

// Every screen/snapshot in order: a "Memory:" header starts a new one, and so does a column header
// that follows rows (poolmon -n without summary lines appends just a header and rows) or the same
// "... pool information" line again after rows. Each
// snapshot carries the diagnostics of its own lines. An error when the text has no poolmon
// header and no poolmon row at all.
Result<std::vector<ParsedSnapshot>> parse_poolmon_all(std::string_view text);

// The last snapshot, with the diagnostics of the whole text (a bad line anywhere means a bad
// file); a note says when earlier snapshots were left out.
Result<ParsedSnapshot> parse_poolmon(std::string_view text);

// The same, fed line by line (a file streamed with bounded memory). keep_all: every snapshot,
// taken as they complete; else only the last is kept, as parse_poolmon. Diagnostics past the first
// 1000 are counted, not kept (the last one kept says how many more).
class PoolmonLineParser {
 public:
  explicit PoolmonLineParser(bool keep_all);
  ~PoolmonLineParser();
  PoolmonLineParser(const PoolmonLineParser&) = delete;
  PoolmonLineParser& operator=(const PoolmonLineParser&) = delete;

  void line(std::string_view line, std::size_t number);
  // The snapshots completed so far (keep_all), each with its own diagnostics; they leave the
  // parser.
  std::vector<ParsedSnapshot> take_completed();
  // Bad lines so far, kept or not.
  std::size_t diagnostic_count() const;
  // The rest (keep_all), as parse_poolmon_all; or the last snapshot, as parse_poolmon.
  Result<std::vector<ParsedSnapshot>> finish();
  Result<ParsedSnapshot> finish_last();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace poolscope::parse
