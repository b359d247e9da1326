// The portable part of `poolscope top`: deltas, sorting, keys, layout and the refresh loop.
#include "top/top_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>

#include "core/time_format.h"

namespace poolscope::top {

namespace {

// Smallest terminal the table is drawn in: a title, one table row and the footer need 6 lines,
// a key and one number need 24 columns.
constexpr int kMinWidth = 24;
constexpr int kMinHeight = 6;
constexpr std::size_t kHeaderLines = 4;  // title, totals, status, column headings
constexpr std::size_t kFooterLines = 1;
constexpr std::size_t kKeyMinWidth = 10;    // a key is truncated to no less than this
constexpr std::size_t kExtraMinWidth = 12;  // owner / aliases column shown only from this width
constexpr char kTruncated = '~';            // marks a key or owner cut to fit

std::string row_id(const Entry& e) {
  std::string id;
  id.reserve(e.key.name.size() + 16);
  id += static_cast<char>('0' + static_cast<int>(e.key.kind));
  id += static_cast<char>('0' + static_cast<int>(e.pool));
  if (e.session_id) id += std::to_string(*e.session_id);
  id += '\0';
  id += e.key.name;
  return id;
}

// Only printable ASCII reaches the screen, so one byte is one column.
std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b >= 0x7F) c = '?';
  }
  return out;
}

std::string fit(std::string_view s, std::size_t width) {
  if (s.size() <= width) return std::string(s);
  if (width == 0) return {};
  std::string out(s.substr(0, width - 1));
  out += kTruncated;
  return out;
}

// ---- sorting ----

// A value to sort by: missing values sort last in either direction.
struct SortValue {
  bool present = false;
  bool negative = false;
  std::uint64_t magnitude = 0;
};

SortValue unsigned_value(const std::optional<std::uint64_t>& v) {
  return v ? SortValue{true, false, *v} : SortValue{};
}

SortValue signed_value(const std::optional<std::int64_t>& v) {
  if (!v) return {};
  if (*v >= 0) return SortValue{true, false, static_cast<std::uint64_t>(*v)};
  // -(v + 1) + 1 avoids negating INT64_MIN.
  return SortValue{true, true, static_cast<std::uint64_t>(-(*v + 1)) + 1};
}

// -1, 0, 1 for a < b, equal, a > b (both present).
int compare(const SortValue& a, const SortValue& b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  if (a.magnitude == b.magnitude) return 0;
  bool less = a.magnitude < b.magnitude;
  if (a.negative) less = !less;
  return less ? -1 : 1;
}

SortValue sort_value(const Entry& e, const Delta& d, SortColumn column, bool by_change) {
  switch (column) {
    case SortColumn::kAllocs:
      return by_change ? unsigned_value(d.allocs) : unsigned_value(e.counters.allocs);
    case SortColumn::kFrees:
      return by_change ? unsigned_value(d.frees) : unsigned_value(e.counters.frees);
    case SortColumn::kOutstanding:
      return by_change ? signed_value(d.outstanding) : unsigned_value(e.counters.outstanding);
    case SortColumn::kBytes:
      return by_change ? signed_value(d.bytes) : unsigned_value(e.counters.bytes);
    case SortColumn::kPerAlloc:
      return by_change ? signed_value(d.per_alloc) : unsigned_value(per_alloc(e));
    case SortColumn::kPool:
      return SortValue{true, false, static_cast<std::uint64_t>(e.pool)};
    case SortColumn::kKey:
      break;
  }
  return {};
}

SortColumn from_sort_key(SortKey key) {
  switch (key) {
    case SortKey::kKey:
      return SortColumn::kKey;
    case SortKey::kPool:
      return SortColumn::kPool;
    case SortKey::kAllocs:
      return SortColumn::kAllocs;
    case SortKey::kFrees:
      return SortColumn::kFrees;
    case SortKey::kOutstanding:
      return SortColumn::kOutstanding;
    case SortKey::kBytes:
      return SortColumn::kBytes;
    case SortKey::kObjectSize:
      return SortColumn::kPerAlloc;
  }
  return SortColumn::kBytes;
}

bool ascending_by_default(SortColumn c) {
  return c == SortColumn::kKey || c == SortColumn::kPool;
}

// ---- columns ----

enum Col : std::size_t {
  kColKey,
  kColPool,
  kColAllocs,
  kColAllocsDelta,
  kColFrees,
  kColFreesDelta,
  kColOutstanding,
  kColOutstandingDelta,
  kColBytes,
  kColBytesDelta,
  kColPerAlloc,
  kColExtra,
  kColCount
};

// Lower is kept longer when the terminal is narrow. Deltas always go before their value.
constexpr std::array<int, kColCount> kPriority = {0, 3, 6, 9, 7, 10, 2, 5, 1, 4, 8, 11};

using Cells = std::array<std::string, kColCount>;

std::string pool_label(PoolKind pool, const std::optional<std::uint32_t>& session) {
  switch (pool) {
    case PoolKind::kPaged:
      return "Paged";
    case PoolKind::kNonPaged:
      return "Nonp";
    case PoolKind::kSession:
      return session ? "Sess" + std::to_string(*session) : "Sess";
    case PoolKind::kUnreclaimable:
      return "Unrecl";
    case PoolKind::kReclaimable:
      return "Recl";
    case PoolKind::kKernel:
      return "Kern";
    case PoolKind::kTcp:
      return "TCP";
    case PoolKind::kUdp:
      return "UDP";
  }
  return "?";
}

// Counts with thousands separators, bytes in KiB/MiB/GiB: the numbers of every other table.
std::string number(const std::optional<std::uint64_t>& v) {
  return v ? thousands(*v) : std::string("-");
}

std::string bytes_text(const std::optional<std::uint64_t>& v) {
  return v ? human_bytes(*v) : std::string("-");
}

// poolmon's "( delta)" cell; empty before there is a previous sample.
std::string unsigned_delta_text(const std::optional<std::uint64_t>& d, bool have) {
  if (!have) return {};
  return d ? "(" + thousands(*d) + ")" : std::string("(?)");
}

std::string signed_delta_text(const std::optional<std::int64_t>& d, bool have, bool bytes = false) {
  if (!have) return {};
  if (!d) return "(?)";
  if (*d == 0) return "(0)";
  const std::uint64_t size = *d < 0 ? 0 - static_cast<std::uint64_t>(*d) : *d;
  return std::string(*d < 0 ? "(-" : "(+") + (bytes ? human_bytes(size) : thousands(size)) + ")";
}

// The last column: the owner, and a Linux cache's merged names after it in parentheses.
std::string extra_text(const Entry& e) {
  if (e.aliases.empty()) return printable(e.owner);
  std::string aliases;
  for (const auto& a : e.aliases) {
    if (!aliases.empty()) aliases += ',';
    aliases += a;
  }
  return printable(e.owner.empty() ? aliases : e.owner + " (" + aliases + ")");
}

Cells make_cells(const Entry& e, const Delta& d, bool have_delta, std::string key_text,
                 std::string pool_text) {
  Cells c;
  c[kColKey] = std::move(key_text);
  c[kColPool] = std::move(pool_text);
  c[kColAllocs] = number(e.counters.allocs);
  c[kColAllocsDelta] = unsigned_delta_text(d.allocs, have_delta && e.counters.allocs);
  c[kColFrees] = number(e.counters.frees);
  c[kColFreesDelta] = unsigned_delta_text(d.frees, have_delta && e.counters.frees);
  c[kColOutstanding] = number(e.counters.outstanding);
  c[kColOutstandingDelta] = signed_delta_text(d.outstanding, have_delta && e.counters.outstanding);
  c[kColBytes] = bytes_text(e.counters.bytes);
  c[kColBytesDelta] = signed_delta_text(d.bytes, have_delta && e.counters.bytes, true);
  c[kColPerAlloc] = number(per_alloc(e));
  c[kColExtra] = extra_text(e);
  return c;
}

Style signed_style(const std::optional<std::int64_t>& d, bool changed) {
  if (!changed) return Style::kNormal;
  if (d && *d > 0) return Style::kGrew;
  if (d && *d < 0) return Style::kShrank;
  return Style::kChanged;
}

std::array<Style, kColCount> cell_styles(const Row& row) {
  std::array<Style, kColCount> s{};
  const auto& c = row.changed;
  if (c.any()) s[kColKey] = Style::kChanged;
  if (c.allocs) s[kColAllocs] = s[kColAllocsDelta] = Style::kChanged;
  if (c.frees) s[kColFrees] = s[kColFreesDelta] = Style::kChanged;
  s[kColOutstanding] = s[kColOutstandingDelta] = signed_style(row.delta.outstanding, c.outstanding);
  s[kColBytes] = s[kColBytesDelta] = signed_style(row.delta.bytes, c.bytes);
  if (c.per_alloc) s[kColPerAlloc] = Style::kChanged;
  return s;
}

// Builds one line out of cells, recording a span per styled cell.
class LineBuilder {
 public:
  explicit LineBuilder(std::size_t width) : width_(width) {}
  void text(std::string_view s, Style style = Style::kNormal) {
    if (line_.text.size() >= width_) return;
    std::string_view part = s.substr(0, width_ - line_.text.size());
    if (style != Style::kNormal && !part.empty()) {
      line_.spans.push_back(Span{line_.text.size(), part.size(), style});
    }
    line_.text += part;
  }
  std::size_t size() const { return line_.text.size(); }
  // Pads to the full width (bars) or trims trailing blanks (table rows), clipping spans.
  ScreenLine finish(bool pad, Style pad_style = Style::kNormal) {
    if (pad) {
      if (line_.text.size() < width_) {
        std::size_t from = line_.text.size();
        line_.text.append(width_ - from, ' ');
        if (pad_style != Style::kNormal)
          line_.spans.push_back(Span{from, width_ - from, pad_style});
      }
    } else {
      while (!line_.text.empty() && line_.text.back() == ' ') line_.text.pop_back();
      std::vector<Span> kept;
      for (auto sp : line_.spans) {
        if (sp.begin >= line_.text.size()) continue;
        sp.length = std::min(sp.length, line_.text.size() - sp.begin);
        kept.push_back(sp);
      }
      line_.spans = std::move(kept);
    }
    return std::move(line_);
  }

 private:
  std::size_t width_;
  ScreenLine line_;
};

ScreenLine plain_line(std::string_view text, std::size_t width, Style style = Style::kNormal,
                      bool pad = false) {
  LineBuilder b(width);
  b.text(text, style);
  return b.finish(pad, style);
}

std::string short_total_name(PoolKind pool) {
  switch (pool) {
    case PoolKind::kPaged:
      return "Paged";
    case PoolKind::kNonPaged:
      return "NonPaged";
    case PoolKind::kSession:
      return "Session";
    case PoolKind::kUnreclaimable:
      return "SUnreclaim";
    case PoolKind::kReclaimable:
      return "SReclaimable";
    case PoolKind::kKernel:
      return "Kernel";
    case PoolKind::kTcp:
      return "TCP mem";
    case PoolKind::kUdp:
      return "UDP mem";
  }
  return "?";
}

std::string file_name(std::string_view path) {
  auto slash = path.find_last_of("/\\");
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// Sums saturate rather than wrap.
void add_value(std::optional<std::uint64_t>& sum, const std::optional<std::uint64_t>& v) {
  if (!v) return;
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t s = sum.value_or(0);
  sum = s > kMax - *v ? kMax : s + *v;
}
void add_delta(std::optional<std::uint64_t>& sum, const std::optional<std::uint64_t>& d) {
  add_value(sum, d);
}
void add_delta(std::optional<std::int64_t>& sum, const std::optional<std::int64_t>& d) {
  if (!d) return;
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  std::int64_t s = sum.value_or(0);
  if (*d > 0 && s > kMax - *d) {
    s = kMax;
  } else if (*d < 0 && s < kMin - *d) {
    s = kMin;
  } else {
    s += *d;
  }
  sum = s;
}

Cells column_headings(bool linux_keys, bool owners) {
  return {linux_keys ? "Cache" : "Tag",
          linux_keys ? "Pool" : "Type",
          "Allocs",
          "",
          "Frees",
          "",
          linux_keys ? "Objects" : "Diff",
          "",
          "Bytes",
          "",
          linux_keys ? "ObjSize" : "Per Alloc",
          linux_keys ? (owners ? "Owner (aliases)" : "Aliases") : "Owner"};
}

// The column sorted by, and its change column when sorting by change (kColCount: none).
std::array<Col, 2> sorted_columns(SortColumn sort, bool by_change) {
  Col base = kColCount, delta = kColCount;
  switch (sort) {
    case SortColumn::kKey:
      base = kColKey;
      break;
    case SortColumn::kPool:
      base = kColPool;
      break;
    case SortColumn::kAllocs:
      base = kColAllocs;
      delta = kColAllocsDelta;
      break;
    case SortColumn::kFrees:
      base = kColFrees;
      delta = kColFreesDelta;
      break;
    case SortColumn::kOutstanding:
      base = kColOutstanding;
      delta = kColOutstandingDelta;
      break;
    case SortColumn::kBytes:
      base = kColBytes;
      delta = kColBytesDelta;
      break;
    case SortColumn::kPerAlloc:
      base = kColPerAlloc;
      break;
  }
  return {base, by_change ? delta : kColCount};
}

struct ColumnPlan {
  std::array<bool, kColCount> shown{};
  std::array<std::size_t, kColCount> width{};
};

// Starts with the key at its minimum width and drops columns by priority (never the sorted one)
// until the rest fits; what is left goes to the key, then to the owner / aliases column.
ColumnPlan fit_columns(const std::array<std::size_t, kColCount>& natural,
                       const std::array<bool, kColCount>& present, const std::array<Col, 2>& sorted,
                       std::size_t width) {
  ColumnPlan plan;
  plan.width = natural;
  plan.shown = present;
  plan.shown[kColExtra] = false;
  const std::size_t key_natural = natural[kColKey];
  plan.width[kColKey] = std::min(key_natural, kKeyMinWidth);
  auto used = [&plan] {
    std::size_t total = 0, n = 0;
    for (std::size_t c = 0; c < kColCount; ++c) {
      if (!plan.shown[c]) continue;
      total += plan.width[c];
      ++n;
    }
    return total + (n > 0 ? n - 1 : 0);
  };
  while (used() > width) {
    std::size_t drop = kColCount;
    for (std::size_t c = 1; c < kColCount; ++c) {
      if (!plan.shown[c] || c == sorted[0] || c == sorted[1]) continue;
      if (drop == kColCount || kPriority[c] > kPriority[drop]) drop = c;
    }
    if (drop == kColCount) break;
    plan.shown[drop] = false;
  }
  if (used() > width) {
    std::size_t others = used() - plan.width[kColKey];
    plan.width[kColKey] = others < width ? std::max<std::size_t>(1, width - others) : 1;
  }
  std::size_t left = width > used() ? width - used() : 0;
  if (plan.width[kColKey] < key_natural) {
    std::size_t grow = std::min(left, key_natural - plan.width[kColKey]);
    plan.width[kColKey] += grow;
    left -= grow;
  }
  if (present[kColExtra] && left >= 1 + kExtraMinWidth) {
    plan.shown[kColExtra] = true;
    plan.width[kColExtra] = std::min(left - 1, natural[kColExtra]);
  }
  return plan;
}

// One table line; the headings are a bar across the full width.
ScreenLine cells_line(const Cells& cells, const std::array<Style, kColCount>& styles,
                      const ColumnPlan& plan, std::size_t width, bool styled, bool bar = false) {
  LineBuilder b(width);
  bool first = true;
  for (std::size_t c = 0; c < kColCount; ++c) {
    if (!plan.shown[c]) continue;
    if (!first) b.text(" ", bar ? Style::kHeading : Style::kNormal);
    first = false;
    std::string text = fit(cells[c], plan.width[c]);
    const bool left_aligned = c == kColKey || c == kColPool || c == kColExtra;
    std::string pad(plan.width[c] - text.size(), ' ');
    b.text(left_aligned ? text + pad : pad + text, styled ? styles[c] : Style::kNormal);
  }
  return bar ? b.finish(true, Style::kHeading) : b.finish(false);
}

// Totals rows (E): one per pool among the rows shown, poolmon's ending totals.
struct TotalRow {
  Entry entry;
  Delta delta;
};

std::vector<TotalRow> pool_totals(const Snapshot& snapshot, const std::vector<Row>& rows) {
  std::vector<TotalRow> totals;
  for (const Row& r : rows) {
    const Entry& e = snapshot.entries[r.entry];
    auto it = std::find_if(totals.begin(), totals.end(),
                           [&e](const TotalRow& t) { return t.entry.pool == e.pool; });
    if (it == totals.end()) {
      TotalRow t;
      t.entry.pool = e.pool;
      totals.push_back(std::move(t));
      it = totals.end() - 1;
    }
    add_value(it->entry.counters.allocs, e.counters.allocs);
    add_value(it->entry.counters.frees, e.counters.frees);
    add_value(it->entry.counters.outstanding, e.counters.outstanding);
    add_value(it->entry.counters.bytes, e.counters.bytes);
    add_delta(it->delta.allocs, r.delta.allocs);
    add_delta(it->delta.frees, r.delta.frees);
    add_delta(it->delta.outstanding, r.delta.outstanding);
    add_delta(it->delta.bytes, r.delta.bytes);
  }
  std::sort(totals.begin(), totals.end(),
            [](const TotalRow& a, const TotalRow& b) { return a.entry.pool < b.entry.pool; });
  return totals;
}

// Source, host, time, interval, refresh count. When it does not fit: drop the program name, then
// the file's folders, then the interval.
std::string title_line(const Snapshot& snapshot, const std::string& interval, std::size_t refreshes,
                       std::size_t width) {
  const std::string source = printable(snapshot.source);
  const bool live = source.starts_with("live:");
  auto title_with = [&](bool name, const std::string& src, bool with_interval) {
    std::string t = name ? "poolscope top  " + src : src;
    if (!live && !snapshot.format.empty()) t += " (" + printable(snapshot.format) + ")";
    if (!snapshot.host.empty()) t += " on " + printable(snapshot.host);
    t += "  " + format_utc(snapshot.wall_time);
    if (with_interval) t += "  every " + interval;
    t += fmt::format("  #{}", refreshes);
    return t;
  };
  const std::string base = live ? source : file_name(source);
  std::string title;
  for (auto candidate : {title_with(true, source, true), title_with(false, source, true),
                         title_with(false, base, true), title_with(false, base, false)}) {
    title = std::move(candidate);
    if (title.size() <= width) break;
  }
  return title;
}

// Pool usage as the source reports it, and memory; limits are left out when there is no room.
std::string pool_totals_line(const Snapshot& snapshot, std::size_t width) {
  auto text = [&snapshot](bool limits) {
    std::string out;
    for (const auto& t : snapshot.totals) {
      if (!t.used_bytes && !t.limit_bytes && !t.failures) continue;
      if (!out.empty()) out += "  ";
      out += short_total_name(t.pool) + " " +
             (t.used_bytes ? human_bytes(*t.used_bytes) : std::string("-"));
      if (limits && t.limit_bytes) out += " of " + human_bytes(*t.limit_bytes);
      if (t.failures) out += fmt::format(" ({} failed)", *t.failures);
    }
    if (snapshot.memory_total_bytes || snapshot.memory_available_bytes) {
      if (!out.empty()) out += "  ";
      out += "Mem " + (snapshot.memory_total_bytes ? human_bytes(*snapshot.memory_total_bytes)
                                                   : std::string("-"));
      if (snapshot.memory_available_bytes) {
        out += " avail " + human_bytes(*snapshot.memory_available_bytes);
      }
    }
    return out;
  };
  std::string full = text(true);
  return full.size() <= width ? full : fit(text(false), width);
}

std::string footer_line(bool linux_keys, bool sessions, std::size_t width) {
  // Linux has no allocs/frees to sort by, and its words differ.
  std::string footer = linux_keys ? "Q quit  P pool  sort: B bytes  M object size  T cache  "
                                    "D objects  ( by change  (again: reverse)  E totals  "
                                    "L highlight  "
                                  : "Q quit  P pool  sort: B bytes  M per-alloc  T tag  A allocs  "
                                    "F frees  D diff  ( by change  (again: reverse)  E totals  "
                                    "L highlight  ";
  if (sessions) footer += "S session  ";
  footer += "H help  arrows/PgUp/PgDn scroll";
  if (footer.size() <= width) return footer;
  footer = linux_keys ? "Q:quit P:pool B/M/T/D:sort (:by-change E:totals L:hilite "
                      : "Q:quit P:pool B/M/T/A/F/D:sort (:by-change E:totals L:hilite ";
  if (sessions) footer += "S:session ";
  return footer + "?:help";
}

}  // namespace

std::optional<std::uint64_t> per_alloc(const Entry& entry) {
  if (entry.object_size) return entry.object_size;
  if (entry.counters.bytes && entry.counters.outstanding && *entry.counters.outstanding > 0) {
    return *entry.counters.bytes / *entry.counters.outstanding;
  }
  return std::nullopt;
}

std::int64_t signed_delta(std::uint64_t prev, std::uint64_t cur) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (cur >= prev) return static_cast<std::int64_t>(std::min(cur - prev, kMax));
  std::uint64_t down = prev - cur;
  if (down > kMax) return std::numeric_limits<std::int64_t>::min();
  return -static_cast<std::int64_t>(down);
}

std::string_view key_help() {
  return "Keys (poolmon's run-time commands, plus scrolling):\n"
         "  P         cycle the pools shown: all, nonpaged, paged\n"
         "            (Linux: all, unreclaimable, reclaimable slab)\n"
         "  B         sort by bytes\n"
         "  M         sort by bytes per allocation (Linux: object size)\n"
         "  T         sort by tag (Linux: cache name)\n"
         "  A         sort by allocations\n"
         "  F         sort by frees\n"
         "  D         sort by diff = allocations - frees (Linux: objects)\n"
         "            pressing the same sort key again reverses the order\n"
         "  ( or )    sort by the change since the last refresh instead of the value\n"
         "            (with A F D B M; press again to sort by value)\n"
         "  E         show pool totals of the rows at the bottom\n"
         "  L         highlight changed values on/off\n"
         "  S         system pools / session pools (Windows); 0-9: one session\n"
         "  H or ?    this help\n"
         "  Q or Esc  quit\n"
         "  Up/Down PgUp/PgDn Home/End  scroll\n";
}

TopModel::TopModel(TopConfig config) : config_(std::move(config)) {
  sort_ = from_sort_key(config_.selection.sort);
  reversed_ = config_.selection.ascending != ascending_by_default(sort_);
  const auto& pools = config_.selection.pools;
  auto has = [&pools](PoolKind p) {
    return std::find(pools.begin(), pools.end(), p) != pools.end();
  };
  bool paged = has(PoolKind::kPaged) || has(PoolKind::kReclaimable);
  bool nonpaged = has(PoolKind::kNonPaged) || has(PoolKind::kUnreclaimable);
  if (paged && !nonpaged) pool_view_ = PoolView::kPagedOrReclaimable;
  if (nonpaged && !paged) pool_view_ = PoolView::kNonPagedOrUnreclaimable;
}

bool TopModel::descending() const {
  return ascending_by_default(sort_) == reversed_;
}

void TopModel::update(Snapshot snapshot) {
  const bool have_previous = refreshes_ > 0;
  snapshot_ = std::move(snapshot);
  const auto& entries = snapshot_.entries;
  linux_keys_ = !entries.empty() ? entries.front().key.kind != KeyKind::kPoolTag
                                 : snapshot_.format == "slabinfo";
  deltas_.assign(entries.size(), Delta{});
  changes_.assign(entries.size(), ChangeFlags{});
  std::unordered_map<std::string, Previous> next;
  next.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    Previous cur{e.counters, per_alloc(e)};
    Delta& d = deltas_[i];
    ChangeFlags& ch = changes_[i];
    std::string id = row_id(e);
    if (have_previous) {
      auto it = previous_.find(id);
      // A key that was not there before counts from zero: it appeared since the last refresh.
      Previous prev;
      if (it != previous_.end()) {
        prev = it->second;
      } else {
        ch.is_new = true;
        prev.counters =
            Counters{e.counters.allocs ? std::optional<std::uint64_t>(0) : std::nullopt,
                     e.counters.frees ? std::optional<std::uint64_t>(0) : std::nullopt,
                     e.counters.outstanding ? std::optional<std::uint64_t>(0) : std::nullopt,
                     e.counters.bytes ? std::optional<std::uint64_t>(0) : std::nullopt};
      }
      auto cumulative = [&](const std::optional<std::uint64_t>& p,
                            const std::optional<std::uint64_t>& c,
                            std::optional<std::uint64_t>& out, bool& changed) {
        if (!p || !c) return;
        if (snapshot_.counter_width == CounterWidth::k64 && *c < *p) {
          changed = true;  // went backwards: the component restarted, the change is unknown
          return;
        }
        out = counter_delta(*p, *c, snapshot_.counter_width);
        changed = *out != 0;
      };
      auto level = [](const std::optional<std::uint64_t>& p, const std::optional<std::uint64_t>& c,
                      std::optional<std::int64_t>& out, bool& changed) {
        if (!p || !c) return;
        out = signed_delta(*p, *c);
        changed = *out != 0;
      };
      cumulative(prev.counters.allocs, e.counters.allocs, d.allocs, ch.allocs);
      cumulative(prev.counters.frees, e.counters.frees, d.frees, ch.frees);
      level(prev.counters.outstanding, e.counters.outstanding, d.outstanding, ch.outstanding);
      level(prev.counters.bytes, e.counters.bytes, d.bytes, ch.bytes);
      level(prev.per_alloc, cur.per_alloc, d.per_alloc, ch.per_alloc);
    } else if (e.change) {
      // A poolmon screen carries its own "( delta)" columns: show them until we have our own.
      // (Its parser keeps only changes that are not negative; Diff's follows from the two.)
      d.allocs = e.change->allocs;
      d.frees = e.change->frees;
      if (e.change->bytes) d.bytes = signed_delta(0, *e.change->bytes);
      if (d.allocs && d.frees) d.outstanding = signed_delta(*d.frees, *d.allocs);
      ch.allocs = d.allocs.value_or(0) != 0;
      ch.frees = d.frees.value_or(0) != 0;
      ch.bytes = d.bytes.value_or(0) != 0;
      ch.outstanding = d.outstanding.value_or(0) != 0;
    }
    next.emplace(std::move(id), std::move(cur));
  }
  previous_ = std::move(next);
  // A source with nothing but session pools (poolmon /s) starts in the session view.
  if (refreshes_ == 0 && !entries.empty() &&
      std::all_of(entries.begin(), entries.end(),
                  [](const Entry& e) { return e.pool == PoolKind::kSession; })) {
    session_view_ = true;
  }
  ++refreshes_;
  rebuild_rows();
}

void TopModel::rebuild_rows() {
  Selection sel = config_.selection;
  sel.top = 0;
  sel.sort = SortKey::kKey;
  if (session_view_) {
    sel.pools = {PoolKind::kSession};
  } else {
    switch (pool_view_) {
      case PoolView::kAll:
        sel.pools = {PoolKind::kPaged,       PoolKind::kNonPaged, PoolKind::kUnreclaimable,
                     PoolKind::kReclaimable, PoolKind::kKernel,   PoolKind::kTcp,
                     PoolKind::kUdp};
        break;
      case PoolView::kNonPagedOrUnreclaimable:
        sel.pools = {PoolKind::kNonPaged, PoolKind::kUnreclaimable, PoolKind::kKernel,
                     PoolKind::kTcp, PoolKind::kUdp};
        break;
      case PoolView::kPagedOrReclaimable:
        sel.pools = {PoolKind::kPaged, PoolKind::kReclaimable};
        break;
    }
  }
  auto indexes = select_entries(snapshot_, sel);
  rows_.clear();
  rows_.reserve(indexes.size());
  for (std::size_t i : indexes) {
    const Entry& e = snapshot_.entries[i];
    if (session_view_ && session_id_ && e.session_id != session_id_) continue;
    rows_.push_back(Row{i, deltas_[i], changes_[i]});
  }
  const auto& entries = snapshot_.entries;
  const bool desc = descending();
  std::stable_sort(rows_.begin(), rows_.end(), [&](const Row& a, const Row& b) {
    const Entry& x = entries[a.entry];
    const Entry& y = entries[b.entry];
    if (sort_ != SortColumn::kKey) {
      SortValue vx = sort_value(x, a.delta, sort_, by_change_);
      SortValue vy = sort_value(y, b.delta, sort_, by_change_);
      if (vx.present != vy.present) return vx.present;  // missing values last
      if (vx.present) {
        int c = compare(vx, vy);
        if (c != 0) return desc ? c > 0 : c < 0;
      }
      if (by_change_) {  // equal changes (often none): the larger value first
        SortValue bx = sort_value(x, a.delta, sort_, false);
        SortValue by = sort_value(y, b.delta, sort_, false);
        if (bx.present != by.present) return bx.present;
        int c = bx.present ? compare(bx, by) : 0;
        if (c != 0) return desc ? c > 0 : c < 0;
      }
      if (sort_ == SortColumn::kPool) {
        auto bx = x.counters.bytes.value_or(0), by = y.counters.bytes.value_or(0);
        if (bx != by) return bx > by;
      }
      return x.key.name < y.key.name;
    }
    if (x.key.name != y.key.name) return desc ? y.key.name < x.key.name : x.key.name < y.key.name;
    return x.pool < y.pool;
  });
  if (config_.selection.top > 0 && rows_.size() > config_.selection.top) {
    rows_.resize(config_.selection.top);
  }
  if (scroll_ > rows_.size()) scroll_ = rows_.size();
}

void TopModel::sort_on(SortColumn column) {
  if (sort_ == column) {
    reversed_ = !reversed_;
  } else {
    sort_ = column;
    reversed_ = false;
  }
  scroll_ = 0;
  rebuild_rows();
}

TopModel::KeyResult TopModel::handle_key(int key) {
  if (key == kNoKey) return KeyResult::kIgnored;
  if (key == kKeyResize) return KeyResult::kRedraw;
  message_.clear();
  int upper = (key >= 'a' && key <= 'z') ? key - 'a' + 'A' : key;
  if (help_) {
    if (upper == 'Q') return KeyResult::kQuit;
    help_ = false;  // any other key (poolmon: Esc) returns to the table
    return KeyResult::kRedraw;
  }
  const std::size_t max_scroll = rows_.size() > page_rows_ ? rows_.size() - page_rows_ : 0;
  auto has_sessions = [this] {
    return std::any_of(snapshot_.entries.begin(), snapshot_.entries.end(),
                       [](const Entry& e) { return e.pool == PoolKind::kSession; });
  };
  switch (upper) {
    case 'Q':
    case kKeyEscape:
      return KeyResult::kQuit;
    case 'P':
      if (session_view_) {
        message_ = "P chooses among the system pools; press S to leave the session pools";
        return KeyResult::kRedraw;
      }
      pool_view_ = pool_view_ == PoolView::kAll ? PoolView::kNonPagedOrUnreclaimable
                   : pool_view_ == PoolView::kNonPagedOrUnreclaimable
                       ? PoolView::kPagedOrReclaimable
                       : PoolView::kAll;
      scroll_ = 0;
      rebuild_rows();
      return KeyResult::kRedraw;
    case 'B':
      sort_on(SortColumn::kBytes);
      return KeyResult::kRedraw;
    case 'M':
      sort_on(SortColumn::kPerAlloc);
      return KeyResult::kRedraw;
    case 'T':
      sort_on(SortColumn::kKey);
      return KeyResult::kRedraw;
    case 'A':
      sort_on(SortColumn::kAllocs);
      return KeyResult::kRedraw;
    case 'F':
      sort_on(SortColumn::kFrees);
      return KeyResult::kRedraw;
    case 'D':
      sort_on(SortColumn::kOutstanding);
      return KeyResult::kRedraw;
    case '(':
    case ')':
      by_change_ = !by_change_;
      scroll_ = 0;
      rebuild_rows();
      return KeyResult::kRedraw;
    case 'E':
      show_totals_ = !show_totals_;
      return KeyResult::kRedraw;
    case 'L':
      highlight_ = !highlight_;
      return KeyResult::kRedraw;
    case 'H':
    case '?':
      help_ = true;
      return KeyResult::kRedraw;
    case 'S':
      if (!session_view_ && !has_sessions()) {
        message_ = "this source has no session pool entries";
        return KeyResult::kRedraw;
      }
      session_view_ = !session_view_;
      session_id_.reset();
      scroll_ = 0;
      rebuild_rows();
      return KeyResult::kRedraw;
    case kKeyUp:
      if (scroll_ > 0) --scroll_;
      return KeyResult::kRedraw;
    case kKeyDown:
      scroll_ = std::min(scroll_ + 1, max_scroll);
      return KeyResult::kRedraw;
    case kKeyPageUp:
      scroll_ = scroll_ > page_rows_ ? scroll_ - page_rows_ : 0;
      return KeyResult::kRedraw;
    case kKeyPageDown:
      scroll_ = std::min(scroll_ + page_rows_, max_scroll);
      return KeyResult::kRedraw;
    case kKeyHome:
      scroll_ = 0;
      return KeyResult::kRedraw;
    case kKeyEnd:
      scroll_ = max_scroll;
      return KeyResult::kRedraw;
    default:
      break;
  }
  if (upper >= '0' && upper <= '9') {
    if (!has_sessions()) {
      message_ = "this source has no session pool entries";
      return KeyResult::kRedraw;
    }
    session_view_ = true;
    session_id_ = static_cast<std::uint32_t>(upper - '0');
    scroll_ = 0;
    rebuild_rows();
    return KeyResult::kRedraw;
  }
  return KeyResult::kIgnored;
}

std::string TopModel::status_text() const {
  if (!message_.empty()) return message_;
  auto column_name = [this](SortColumn c) -> std::string {
    switch (c) {
      case SortColumn::kKey:
        return linux_keys_ ? "cache" : "tag";
      case SortColumn::kPool:
        return "pool";
      case SortColumn::kAllocs:
        return "allocs";
      case SortColumn::kFrees:
        return "frees";
      case SortColumn::kOutstanding:
        return linux_keys_ ? "objects" : "diff";
      case SortColumn::kBytes:
        return "bytes";
      case SortColumn::kPerAlloc:
        return linux_keys_ ? "object size" : "per alloc";
    }
    return "?";
  };
  const bool change = by_change_ && sort_ != SortColumn::kKey && sort_ != SortColumn::kPool;
  std::string out = "sort: " + std::string(change ? "change in " : "") + column_name(sort_);
  if (sort_ == SortColumn::kKey) {
    out += descending() ? " Z-A" : " A-Z";
  } else {
    out += descending() ? ", largest first" : ", smallest first";
  }
  out += "  pool: ";
  if (session_view_) {
    out += session_id_ ? "session " + std::to_string(*session_id_) : std::string("sessions");
  } else if (pool_view_ == PoolView::kAll) {
    out += "all";
  } else if (pool_view_ == PoolView::kNonPagedOrUnreclaimable) {
    out += linux_keys_ ? "unreclaimable" : "nonpaged";
  } else {
    out += linux_keys_ ? "reclaimable" : "paged";
  }
  if (!config_.selection.include.empty() || !config_.selection.exclude.empty()) {
    out += " (filtered)";
  }
  std::size_t changed = 0;
  for (const auto& r : rows_) changed += r.changed.any() ? 1 : 0;
  if (rows_.empty()) {
    out += "  no rows";
  } else {
    std::size_t last = std::min(rows_.size(), scroll_ + page_rows_);
    out += fmt::format("  rows {}-{} of {}", scroll_ + 1, last, rows_.size());
  }
  if (refreshes_ > 1) out += fmt::format("  {} changed", changed);
  return out;
}

Screen TopModel::layout(int width_in, int height_in) {
  Screen screen;
  if (width_in <= 0 || height_in <= 0) return screen;
  const auto width = static_cast<std::size_t>(width_in);
  const auto height = static_cast<std::size_t>(height_in);

  if (help_) {
    std::string_view text = key_help();
    std::size_t pos = 0;
    while (pos < text.size() && screen.lines.size() + 1 < height) {
      auto nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      screen.lines.push_back(
          plain_line(text.substr(pos, nl - pos), width, pos == 0 ? Style::kTitle : Style::kNormal));
      pos = nl + 1;
    }
    while (screen.lines.size() + 1 < height) screen.lines.push_back(ScreenLine{});
    screen.lines.push_back(
        plain_line("any key: back to the table   Q: quit", width, Style::kStatus, true));
    return screen;
  }
  if (width_in < kMinWidth || height_in < kMinHeight) {
    screen.lines.push_back(plain_line(fmt::format("terminal too small ({}x{}, need {}x{}); Q quits",
                                                  width_in, height_in, kMinWidth, kMinHeight),
                                      width));
    return screen;
  }

  const bool have_delta =
      refreshes_ > 1 || std::any_of(snapshot_.entries.begin(), snapshot_.entries.end(),
                                    [](const Entry& e) { return e.change; });
  std::vector<TotalRow> totals;
  if (show_totals_) {
    totals = pool_totals(snapshot_, rows_);
    // Never let totals take the last table row away.
    const std::size_t room = height - kHeaderLines - kFooterLines - 1;
    if (totals.size() > room) totals.resize(room);
  }
  page_rows_ = height - kHeaderLines - kFooterLines - totals.size();
  const std::size_t max_scroll = rows_.size() > page_rows_ ? rows_.size() - page_rows_ : 0;
  scroll_ = std::min(scroll_, max_scroll);

  // Cells of every row (so column widths do not jump while scrolling), then the visible ones.
  const bool owners = std::any_of(snapshot_.entries.begin(), snapshot_.entries.end(),
                                  [](const Entry& e) { return !e.owner.empty(); });
  const Cells headings = column_headings(linux_keys_, owners);
  std::array<std::size_t, kColCount> natural{};
  std::array<bool, kColCount> present{};
  for (std::size_t c = 0; c < kColCount; ++c) natural[c] = headings[c].size();
  auto measure = [&natural](const Cells& cells) {
    for (std::size_t c = 0; c < kColCount; ++c) natural[c] = std::max(natural[c], cells[c].size());
  };
  std::vector<Cells> visible;
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    const Row& r = rows_[i];
    const Entry& e = snapshot_.entries[r.entry];
    Cells cells = make_cells(e, r.delta, have_delta, printable(display_key(e.key)),
                             pool_label(e.pool, e.session_id));
    // Under "Owner (aliases)" merged names alone would read as an owner.
    if (owners && e.owner.empty() && !e.aliases.empty()) {
      cells[kColExtra] = "- (" + cells[kColExtra] + ")";
    }
    measure(cells);
    present[kColAllocs] = present[kColAllocs] || e.counters.allocs.has_value();
    present[kColFrees] = present[kColFrees] || e.counters.frees.has_value();
    present[kColOutstanding] = present[kColOutstanding] || e.counters.outstanding.has_value();
    present[kColBytes] = present[kColBytes] || e.counters.bytes.has_value();
    present[kColPerAlloc] = present[kColPerAlloc] || per_alloc(e).has_value();
    present[kColExtra] = present[kColExtra] || !cells[kColExtra].empty();
    if (i >= scroll_ && i < scroll_ + page_rows_) visible.push_back(std::move(cells));
  }
  std::vector<Cells> total_cells;
  for (const auto& t : totals) {
    total_cells.push_back(
        make_cells(t.entry, t.delta, have_delta, "Total", pool_label(t.entry.pool, std::nullopt)));
    total_cells.back()[kColPerAlloc].clear();
    measure(total_cells.back());
  }
  present[kColKey] = present[kColPool] = true;
  present[kColAllocsDelta] = present[kColAllocs] && have_delta;
  present[kColFreesDelta] = present[kColFrees] && have_delta;
  present[kColOutstandingDelta] = present[kColOutstanding] && have_delta;
  present[kColBytesDelta] = present[kColBytes] && have_delta;
  const auto sorted = sorted_columns(sort_, by_change_);
  const ColumnPlan plan = fit_columns(natural, present, sorted, width);

  screen.lines.push_back(plain_line(title_line(snapshot_, config_.interval_text, refreshes_, width),
                                    width, Style::kTitle));
  screen.lines.push_back(plain_line(pool_totals_line(snapshot_, width), width));
  screen.lines.push_back(plain_line(status_text(), width));
  // The sorted column (and its change column when sorting by change) stands out.
  std::array<Style, kColCount> heading_styles;
  heading_styles.fill(Style::kHeading);
  for (Col c : sorted) {
    if (c != kColCount) heading_styles[c] = Style::kSortHeading;
  }
  screen.lines.push_back(cells_line(headings, heading_styles, plan, width, true, true));

  for (std::size_t i = 0; i < visible.size(); ++i) {
    screen.lines.push_back(
        cells_line(visible[i], cell_styles(rows_[scroll_ + i]), plan, width, highlight_));
  }
  while (screen.lines.size() < kHeaderLines + page_rows_) screen.lines.push_back(ScreenLine{});
  std::array<Style, kColCount> total_styles;
  total_styles.fill(Style::kTotals);
  for (const auto& cells : total_cells) {
    screen.lines.push_back(cells_line(cells, total_styles, plan, width, true));
  }
  const bool sessions = std::any_of(snapshot_.entries.begin(), snapshot_.entries.end(),
                                    [](const Entry& e) { return e.pool == PoolKind::kSession; });
  screen.lines.push_back(
      plain_line(footer_line(linux_keys_, sessions, width), width, Style::kStatus, true));
  return screen;
}

void run_top(Source& source, TopModel& model, Terminal& terminal, const Clock& clock,
             const RunOptions& options) {
  using std::chrono::milliseconds;
  const std::int64_t interval = std::max<std::int64_t>(1, options.interval.count());
  std::size_t samples = 1;  // the model holds the first
  std::int64_t next = clock.monotonic_ns() + interval;
  auto draw = [&] {
    auto size = terminal.size();
    terminal.draw(model.layout(size.width, size.height));
  };
  draw();
  while (true) {
    std::int64_t now = clock.monotonic_ns();
    if (now >= next) {
      if (options.iterations > 0 && samples >= options.iterations) return;
      auto snapshot = source.sample();
      if (snapshot) {
        model.update(std::move(*snapshot));
      } else {
        model.set_message("refresh failed, showing the previous sample: " +
                          printable(snapshot.error().message));
      }
      ++samples;
      next += interval;
      if (next <= now) next = now + interval;  // fell behind (suspended): do not catch up
      draw();
      continue;
    }
    std::int64_t wait_ms = (next - now + 999'999) / 1'000'000;
    int key = terminal.read_key(milliseconds(wait_ms));
    if (key == kNoKey) continue;
    switch (model.handle_key(key)) {
      case TopModel::KeyResult::kQuit:
        return;
      case TopModel::KeyResult::kRedraw:
        draw();
        break;
      case TopModel::KeyResult::kIgnored:
        break;
    }
  }
}

}  // namespace poolscope::top
