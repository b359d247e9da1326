// `poolscope top` without a terminal: rows, deltas between refreshes, sorting, keys, layout into
// lines of text for a given terminal size, and the refresh loop. The front ends (curses, Windows
// console) only read keys and draw the lines this file produces.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/pool.h"
#include "core/result.h"
#include "core/select.h"
#include "source/source.h"

namespace poolscope::top {

// Keys as the front ends report them: printable ASCII as itself, the rest as these codes.
inline constexpr int kNoKey = -1;
inline constexpr int kKeyEscape = 27;
inline constexpr int kKeyUp = 0x101;
inline constexpr int kKeyDown = 0x102;
inline constexpr int kKeyPageUp = 0x103;
inline constexpr int kKeyPageDown = 0x104;
inline constexpr int kKeyHome = 0x105;
inline constexpr int kKeyEnd = 0x106;
inline constexpr int kKeyResize = 0x107;  // the terminal changed size: lay out again

// What a row is sorted by. kPerAlloc is poolmon's "Per Alloc" (bytes / diff) or a slab's object
// size.
enum class SortColumn { kKey, kPool, kAllocs, kFrees, kOutstanding, kBytes, kPerAlloc };

// P cycles through these like poolmon: both pools, nonpaged only, paged only. On Linux the two
// pools are unreclaimable and reclaimable slab.
enum class PoolView { kAll, kNonPagedOrUnreclaimable, kPagedOrReclaimable };

// How a piece of a line is drawn. The front end maps each to attributes or colours.
enum class Style : std::uint8_t {
  kNormal,
  kTitle,        // first header line
  kHeading,      // column headings (reverse)
  kSortHeading,  // the heading of the column the table is sorted by
  kChanged,      // a value that changed since the last refresh (bold)
  kGrew,         // outstanding / bytes went up (bold red where colour exists)
  kShrank,       // outstanding / bytes went down (bold green)
  kTotals,       // the pool totals rows of E
  kStatus,       // the footer with key help, messages (reverse)
};

struct Span {
  std::size_t begin = 0;
  std::size_t length = 0;
  Style style = Style::kNormal;
};

// One terminal line: printable ASCII only (so one byte is one column), never longer than the
// width it was laid out for; spans are sorted and do not overlap.
struct ScreenLine {
  std::string text;
  std::vector<Span> spans;
};

struct Screen {
  std::vector<ScreenLine> lines;  // at most the height it was laid out for
};

// Change of one entry since the previous sample; empty where a counter is missing or, for a
// 64-bit cumulative counter, went backwards (the component was restarted).
struct Delta {
  std::optional<std::uint64_t> allocs;
  std::optional<std::uint64_t> frees;
  std::optional<std::int64_t> outstanding;
  std::optional<std::int64_t> bytes;
  std::optional<std::int64_t> per_alloc;
};

// Which cells of a row changed since the previous sample.
struct ChangeFlags {
  bool allocs = false, frees = false, outstanding = false, bytes = false, per_alloc = false;
  bool is_new = false;  // the key was not in the previous sample
  bool any() const { return allocs || frees || outstanding || bytes || per_alloc || is_new; }
};

struct Row {
  std::size_t entry = 0;  // index into snapshot().entries
  Delta delta;
  ChangeFlags changed;
};

struct TopConfig {
  Selection selection;               // --include/--exclude, --paged/--nonpaged, --sort, --top
  std::string interval_text = "2s";  // shown in the title
};

// poolmon's per-alloc figure: the slab object size, or bytes / outstanding.
std::optional<std::uint64_t> per_alloc(const Entry& entry);
// cur - prev as a signed number, saturating instead of overflowing.
std::int64_t signed_delta(std::uint64_t prev, std::uint64_t cur);

// The keys and what they do, for --help and the help screen.
std::string_view key_help();

class TopModel {
 public:
  explicit TopModel(TopConfig config);

  // A new sample: computes each entry's change against the previous sample.
  void update(Snapshot snapshot);
  // Shows a message in the status line until the next key (e.g. a failed refresh).
  void set_message(std::string message) { message_ = std::move(message); }

  enum class KeyResult { kIgnored, kRedraw, kQuit };
  KeyResult handle_key(int key);

  // Lays the current state out for a terminal of this size; clamps the scroll position.
  Screen layout(int width, int height);

  // State, for the front ends and tests.
  const Snapshot& snapshot() const { return snapshot_; }
  const std::vector<Row>& rows() const { return rows_; }  // filtered and sorted
  SortColumn sort() const { return sort_; }
  bool descending() const;
  bool by_change() const { return by_change_; }
  PoolView pool_view() const { return pool_view_; }
  bool session_view() const { return session_view_; }
  bool show_totals() const { return show_totals_; }
  bool highlight() const { return highlight_; }
  bool help_shown() const { return help_; }
  std::size_t first_row() const { return scroll_; }  // scrolled to
  std::size_t refreshes() const { return refreshes_; }
  bool is_linux() const { return linux_keys_; }

 private:
  struct Previous {
    Counters counters;
    std::optional<std::uint64_t> per_alloc;
  };
  void rebuild_rows();
  void sort_on(SortColumn column);  // a second press of the same column reverses
  std::string status_text() const;

  TopConfig config_;
  Snapshot snapshot_;
  std::vector<Delta> deltas_;  // parallel to snapshot_.entries
  std::vector<ChangeFlags> changes_;
  std::unordered_map<std::string, Previous> previous_;
  std::vector<Row> rows_;
  std::size_t refreshes_ = 0;
  bool linux_keys_ = false;

  SortColumn sort_ = SortColumn::kBytes;
  bool reversed_ = false;  // a second press of the same sort key flips the order
  bool by_change_ = false;
  PoolView pool_view_ = PoolView::kAll;
  bool session_view_ = false;
  std::optional<std::uint32_t> session_id_;  // with session_view_: one session, or all
  bool show_totals_ = false;
  bool highlight_ = true;
  bool help_ = false;
  std::size_t scroll_ = 0;
  std::size_t page_rows_ = 1;  // table rows that fit, from the last layout
  std::string message_;
};

// What a front end provides: the terminal size, drawing a screen, reading a key.
class Terminal {
 public:
  virtual ~Terminal() = default;
  struct Size {
    int width = 80;
    int height = 25;
  };
  virtual Size size() = 0;
  virtual void draw(const Screen& screen) = 0;
  // Waits up to timeout for a key; kNoKey when none came.
  virtual int read_key(std::chrono::milliseconds timeout) = 0;
};

struct RunOptions {
  std::chrono::nanoseconds interval = std::chrono::seconds(2);
  std::size_t iterations = 0;  // exit after this many samples (counting the first); 0 = until Q
};

// Draws, waits for keys, and samples again every interval until Q or the iterations are done.
// The model must already hold the first sample. A failed refresh keeps the previous sample on
// screen and says why in the status line.
void run_top(Source& source, TopModel& model, Terminal& terminal, const Clock& clock,
             const RunOptions& options);

// Implemented by the front end of this platform (top_curses.cpp, top_console_windows.cpp).
bool stdout_is_terminal();
Result<std::unique_ptr<Terminal>> open_terminal();
std::optional<std::uint64_t> peak_resident_kib();  // VmHWM / PeakWorkingSetSize

}  // namespace poolscope::top
