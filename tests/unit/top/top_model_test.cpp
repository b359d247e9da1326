#include "top/top_model.h"

#include <gtest/gtest.h>

#include <deque>

#include "parse/slabinfo.h"
#include "test_support.h"

namespace poolscope::top {
namespace {

using namespace std::chrono_literals;
constexpr std::uint64_t kMiB = 1024 * 1024;

Entry tag_entry(std::string_view tag, PoolKind pool, std::uint64_t allocs, std::uint64_t frees,
                std::uint64_t bytes) {
  Entry e;
  e.key = tag_from_text(tag);
  e.pool = pool;
  e.counters = Counters{allocs, frees, allocs - frees, bytes};
  return e;
}

Snapshot windows_snapshot(std::vector<Entry> entries) {
  Snapshot s;
  s.wall_time = std::chrono::sys_days{std::chrono::year{2026} / 11 / 21} + 11h + 40min + 2s;
  s.host = "WIN1";
  s.source = "live:windows";
  s.format = "pooltag";
  s.counter_width = CounterWidth::k32;
  s.totals.push_back(PoolTotal{PoolKind::kNonPaged, 8 * kMiB, 128 * kMiB, std::nullopt, ""});
  s.totals.push_back(PoolTotal{PoolKind::kPaged, 26 * kMiB, std::nullopt, std::nullopt, ""});
  s.memory_total_bytes = 16384 * kMiB;
  s.memory_available_bytes = 9216 * kMiB;
  s.entries = std::move(entries);
  return s;
}

// Three tags: the first sample, and the second with changes in each of them.
Snapshot first_windows_sample() {
  return windows_snapshot({tag_entry("Wait", PoolKind::kNonPaged, 3971107, 3971077, 8456),
                           tag_entry("Io", PoolKind::kNonPaged, 1021112, 1020985, 91912),
                           tag_entry("Key", PoolKind::kPaged, 954821, 953979, 87528)});
}
Snapshot second_windows_sample() {
  return windows_snapshot({tag_entry("Wait", PoolKind::kNonPaged, 3971107, 3971077, 8456),
                           tag_entry("Io", PoolKind::kNonPaged, 1021120, 1020986, 98000),
                           tag_entry("Key", PoolKind::kPaged, 954830, 953999, 86000)});
}

Snapshot slabinfo_fixture() {
  auto text = testing::read_file(testing::test_data("slabinfo/kernel_6_18_head.txt"));
  auto parsed = parse::parse_slabinfo(text, parse::SlabinfoOptions{});
  EXPECT_TRUE(parsed.has_value());
  Snapshot s = parsed->snapshot;
  s.source = "/data/kernel_6_18_head.txt";
  s.format = "slabinfo";
  s.wall_time = std::chrono::sys_days{std::chrono::year{2026} / 11 / 21} + 11h + 24min + 8s;
  return s;
}

// Heading and footer bars fill the whole width.
std::string bar(std::string text, std::size_t width) {
  text.resize(width, ' ');
  return text;
}

std::vector<std::string> texts(const Screen& screen) {
  std::vector<std::string> out;
  for (const auto& line : screen.lines) out.push_back(line.text);
  return out;
}

std::vector<std::string> keys_of(const TopModel& model) {
  std::vector<std::string> out;
  for (const auto& row : model.rows()) {
    std::string k = display_key(model.snapshot().entries[row.entry].key);
    while (!k.empty() && k.back() == ' ') k.pop_back();
    out.push_back(k);
  }
  return out;
}

const Row& row_for(const TopModel& model, std::string_view key) {
  for (const auto& row : model.rows()) {
    std::string k = display_key(model.snapshot().entries[row.entry].key);
    while (!k.empty() && k.back() == ' ') k.pop_back();
    if (k == key) return row;
  }
  ADD_FAILURE() << "no row " << key;
  static Row none;
  return none;
}

TEST(TopModel, DeltasOfWrappingCountersUseTheSnapshotsCounterWidth) {
  TopModel model({});
  // 32-bit Windows counters wrap: 0xFFFFFFF0 -> 0x10 is 32 more allocations, not a drop.
  model.update(windows_snapshot(
      {tag_entry("Abc", PoolKind::kNonPaged, 0xFFFFFFF0u, 0xFFFFFF00u, 240 * 16)}));
  Snapshot second = windows_snapshot({});
  Entry e = tag_entry("Abc", PoolKind::kNonPaged, 0x10, 0xFFFFFFF8u, 0);
  e.counters.outstanding = 24;
  e.counters.bytes = 24 * 16;
  second.entries.push_back(e);
  model.update(second);
  const Row& row = row_for(model, "Abc");
  EXPECT_EQ(row.delta.allocs, 32u);
  EXPECT_EQ(row.delta.frees, 248u);
  EXPECT_EQ(row.delta.outstanding, -216);
  EXPECT_EQ(row.delta.bytes, -3456);
  EXPECT_EQ(row.delta.per_alloc, 0);
  EXPECT_TRUE(row.changed.allocs && row.changed.frees && row.changed.outstanding);
  EXPECT_TRUE(row.changed.bytes);
  EXPECT_FALSE(row.changed.per_alloc);
  EXPECT_FALSE(row.changed.is_new);
}

TEST(TopModel, A64BitCounterThatWentBackwardsHasNoDeltaButIsMarkedChanged) {
  TopModel model({});
  Snapshot a = windows_snapshot({tag_entry("Drv", PoolKind::kNonPaged, 5000, 4000, 100)});
  a.counter_width = CounterWidth::k64;
  Snapshot b = windows_snapshot({tag_entry("Drv", PoolKind::kNonPaged, 10, 5, 100)});
  b.counter_width = CounterWidth::k64;
  model.update(a);
  model.update(b);
  const Row& row = row_for(model, "Drv");
  EXPECT_FALSE(row.delta.allocs.has_value());
  EXPECT_FALSE(row.delta.frees.has_value());
  EXPECT_TRUE(row.changed.allocs);
  EXPECT_EQ(row.delta.outstanding, -995);
  EXPECT_EQ(row.delta.bytes, 0);
}

TEST(TopModel, AKeyNewSinceTheLastRefreshCountsFromZero) {
  TopModel model({});
  model.update(first_windows_sample());
  Snapshot b = first_windows_sample();
  b.entries.push_back(tag_entry("New", PoolKind::kPaged, 7, 2, 640));
  model.update(b);
  const Row& row = row_for(model, "New");
  EXPECT_TRUE(row.changed.is_new);
  EXPECT_EQ(row.delta.allocs, 7u);
  EXPECT_EQ(row.delta.frees, 2u);
  EXPECT_EQ(row.delta.outstanding, 5);
  EXPECT_EQ(row.delta.bytes, 640);
  EXPECT_FALSE(row_for(model, "Wait").changed.any());
}

TEST(TopModel, SameTagInTwoPoolsIsTwoRowsWithTheirOwnDeltas) {
  TopModel model({});
  model.update(windows_snapshot({tag_entry("Mm", PoolKind::kNonPaged, 10, 0, 100),
                                 tag_entry("Mm", PoolKind::kPaged, 10, 0, 100)}));
  model.update(windows_snapshot({tag_entry("Mm", PoolKind::kNonPaged, 12, 0, 120),
                                 tag_entry("Mm", PoolKind::kPaged, 10, 0, 100)}));
  ASSERT_EQ(model.rows().size(), 2u);
  for (const auto& row : model.rows()) {
    bool nonpaged = model.snapshot().entries[row.entry].pool == PoolKind::kNonPaged;
    EXPECT_EQ(row.delta.allocs, nonpaged ? 2u : 0u);
    EXPECT_EQ(row.changed.any(), nonpaged);
  }
}

TEST(TopModel, FirstSampleOfAPoolmonScreenShowsItsOwnDeltaColumns) {
  TopModel model({});
  Snapshot s = first_windows_sample();
  s.entries[1].change = Counters{3, 1, std::nullopt, 640};
  s.entries[2].change = Counters{0, 4, std::nullopt, std::nullopt};  // bytes shrank: not kept
  model.update(s);
  const Row& io = row_for(model, "Io");
  EXPECT_EQ(io.delta.allocs, 3u);
  EXPECT_EQ(io.delta.frees, 1u);
  EXPECT_EQ(io.delta.outstanding, 2);
  EXPECT_EQ(io.delta.bytes, 640);
  EXPECT_TRUE(io.changed.allocs && io.changed.outstanding && io.changed.bytes);
  const Row& key = row_for(model, "Key");
  EXPECT_EQ(key.delta.outstanding, -4);
  EXPECT_EQ(key.delta.bytes, std::nullopt);
  EXPECT_EQ(model.layout(80, 25).lines[5].text,
            "Key  Paged   954,821 (0)   953,979 (4)  842 (-4) 85.5 KiB      (?)       103");
  EXPECT_EQ(row_for(model, "Wait").delta.allocs, std::nullopt);
}

TEST(TopModel, SignedDeltaSaturates) {
  EXPECT_EQ(signed_delta(5, 3), -2);
  EXPECT_EQ(signed_delta(3, 5), 2);
  EXPECT_EQ(signed_delta(0, ~0ull), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(signed_delta(~0ull, 0), std::numeric_limits<std::int64_t>::min());
}

TEST(TopModel, SortKeysAndASecondPressReversesTheOrder) {
  TopModel model({});
  model.update(first_windows_sample());
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Io", "Key", "Wait"}));  // bytes, largest
  EXPECT_EQ(model.handle_key('b'), TopModel::KeyResult::kRedraw);
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Wait", "Key", "Io"}));
  EXPECT_FALSE(model.descending());
  model.handle_key('T');
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Io", "Key", "Wait"}));
  model.handle_key('T');
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Wait", "Key", "Io"}));
  model.handle_key('A');
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Wait", "Io", "Key"}));
  model.handle_key('F');
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Wait", "Io", "Key"}));
  model.handle_key('D');  // diff: Key 842, Io 127, Wait 30
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Key", "Io", "Wait"}));
  model.handle_key('M');  // per alloc: Io 723, Wait 281, Key 103
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Io", "Wait", "Key"}));
  EXPECT_EQ(model.sort(), SortColumn::kPerAlloc);
  EXPECT_TRUE(model.descending());
}

TEST(TopModel, ParenthesisSortsByTheChangeSinceTheLastRefresh) {
  TopModel model({});
  model.update(first_windows_sample());
  model.update(second_windows_sample());
  model.handle_key('(');
  EXPECT_TRUE(model.by_change());
  // bytes change: Io +6088, Wait 0, Key -1528
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Io", "Wait", "Key"}));
  model.handle_key('D');  // diff change: Io +7, Wait 0, Key -11
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Io", "Wait", "Key"}));
  model.handle_key('D');
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Key", "Wait", "Io"}));
  model.handle_key('A');  // allocs change: Key 9, Io 8, Wait 0
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Key", "Io", "Wait"}));
  model.handle_key(')');
  EXPECT_FALSE(model.by_change());
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Wait", "Io", "Key"}));
}

TEST(TopModel, EqualChangesAreOrderedByTheValue) {
  TopModel model({});
  model.update(windows_snapshot({tag_entry("Aaa", PoolKind::kNonPaged, 1, 0, 100),
                                 tag_entry("Mmm", PoolKind::kNonPaged, 1, 0, 50),
                                 tag_entry("Zzz", PoolKind::kNonPaged, 1, 0, 900)}));
  model.update(windows_snapshot({tag_entry("Aaa", PoolKind::kNonPaged, 1, 0, 100),
                                 tag_entry("Mmm", PoolKind::kNonPaged, 2, 0, 60),
                                 tag_entry("Zzz", PoolKind::kNonPaged, 1, 0, 900)}));
  model.handle_key('(');
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Mmm", "Zzz", "Aaa"}));
  EXPECT_EQ(model.layout(80, 25).lines[2].text,
            "sort: change in bytes, largest first  pool: all  rows 1-3 of 3  1 changed");
}

TEST(TopModel, RowsWithoutTheSortedValueGoLastEitherWay) {
  TopModel model({});
  Snapshot s = first_windows_sample();
  s.entries[0].counters.bytes.reset();  // Wait
  model.update(s);
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Io", "Key", "Wait"}));
  model.handle_key('B');
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Key", "Io", "Wait"}));
}

TEST(TopModel, PCyclesAllNonpagedPagedLikePoolmon) {
  TopModel model({});
  model.update(first_windows_sample());
  EXPECT_EQ(model.pool_view(), PoolView::kAll);
  model.handle_key('p');
  EXPECT_EQ(model.pool_view(), PoolView::kNonPagedOrUnreclaimable);
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Io", "Wait"}));
  EXPECT_EQ(model.layout(80, 25).lines[2].text,
            "sort: bytes, largest first  pool: nonpaged  rows 1-2 of 2");
  model.handle_key('P');
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Key"}));
  EXPECT_EQ(model.layout(80, 25).lines[2].text,
            "sort: bytes, largest first  pool: paged  rows 1-1 of 1");
  model.handle_key('P');
  EXPECT_EQ(model.pool_view(), PoolView::kAll);
  EXPECT_EQ(model.rows().size(), 3u);
}

TEST(TopModel, PoolViewOnLinuxIsUnreclaimableThenReclaimable) {
  TopModel model({});
  model.update(slabinfo_fixture());
  EXPECT_TRUE(model.is_linux());
  model.handle_key('P');
  EXPECT_EQ(model.rows().size(), 10u);
  EXPECT_EQ(model.layout(80, 25).lines[2].text,
            "sort: bytes, largest first  pool: unreclaimable  rows 1-10 of 10");
  model.handle_key('P');
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"ext4_inode_cache", "radix_tree_node",
                                                      "dentry", "btrfs_inode"}));
}

TEST(TopModel, PagedOrNonpagedOptionStartsInThatView) {
  Selection sel;
  sel.pools = {PoolKind::kPaged, PoolKind::kSession};  // what --paged gives
  TopModel model(TopConfig{sel, "2s"});
  model.update(first_windows_sample());
  EXPECT_EQ(model.pool_view(), PoolView::kPagedOrReclaimable);
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Key"}));
}

TEST(TopModel, SessionPoolsAreTheirOwnViewAndDigitsPickOneSession) {
  TopModel model({});
  Snapshot s = first_windows_sample();
  model.update(s);
  EXPECT_EQ(model.handle_key('s'), TopModel::KeyResult::kRedraw);
  EXPECT_FALSE(model.session_view());
  EXPECT_EQ(model.layout(80, 25).lines[2].text, "this source has no session pool entries");

  Entry a = tag_entry("Gla5", PoolKind::kSession, 10, 2, 800);
  a.session_id = 1;
  Entry b = tag_entry("Gla5", PoolKind::kSession, 20, 2, 1800);
  b.session_id = 2;
  s.entries.push_back(a);
  s.entries.push_back(b);
  model.update(s);
  EXPECT_EQ(model.rows().size(), 3u);  // system pools only, like poolmon
  model.handle_key('S');
  EXPECT_TRUE(model.session_view());
  ASSERT_EQ(model.rows().size(), 2u);
  model.handle_key('1');
  ASSERT_EQ(model.rows().size(), 1u);
  EXPECT_EQ(model.snapshot().entries[model.rows()[0].entry].session_id, 1u);
  auto lines = texts(model.layout(80, 25));
  // Both session entries are new since the refresh before: they count from zero.
  EXPECT_EQ(lines[2], "sort: bytes, largest first  pool: session 1  rows 1-1 of 1  1 changed");
  EXPECT_EQ(lines[4], "Gla5 Sess1     10 (10)     2 (2)    8 (+8) 800 B (+800 B)       100");
  EXPECT_EQ(
      lines[24],
      bar("Q:quit P:pool B/M/T/A/F/D:sort (:by-change E:totals L:hilite S:session ?:help", 80));
  model.handle_key('S');
  EXPECT_FALSE(model.session_view());
  EXPECT_EQ(model.rows().size(), 3u);
}

TEST(TopModel, ASourceWithOnlySessionPoolsStartsInTheSessionView) {
  TopModel model({});
  Entry a = tag_entry("Gh05", PoolKind::kSession, 9000, 7000, 704000);
  model.update(windows_snapshot({a}));
  EXPECT_TRUE(model.session_view());
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Gh05"}));
}

TEST(TopModel, WindowsTableAt80x25MatchesPoolmonsColumns) {
  TopModel model(TopConfig{{}, "5s"});
  model.update(first_windows_sample());
  auto first = texts(model.layout(80, 25));
  ASSERT_EQ(first.size(), 25u);
  EXPECT_EQ(first[0], "poolscope top  live:windows on WIN1  2026-11-21T11:40:02Z  every 5s  #1");
  EXPECT_EQ(first[1], "NonPaged 8.0 MiB of 128.0 MiB  Paged 26.0 MiB  Mem 16.0 GiB avail 9.0 GiB");
  EXPECT_EQ(first[2], "sort: bytes, largest first  pool: all  rows 1-3 of 3");
  EXPECT_EQ(first[3], bar("Tag  Type     Allocs     Frees Diff    Bytes Per Alloc", 80));
  EXPECT_EQ(first[4], "Io   Nonp  1,021,112 1,020,985  127 89.8 KiB       723");
  EXPECT_EQ(first[5], "Key  Paged   954,821   953,979  842 85.5 KiB       103");
  EXPECT_EQ(first[6], "Wait Nonp  3,971,107 3,971,077   30  8.3 KiB       281");
  EXPECT_EQ(first[7], "");
  model.update(second_windows_sample());
  auto second = texts(model.layout(80, 25));
  EXPECT_EQ(second[0], "poolscope top  live:windows on WIN1  2026-11-21T11:40:02Z  every 5s  #2");
  EXPECT_EQ(second[2], "sort: bytes, largest first  pool: all  rows 1-3 of 3  2 changed");
  EXPECT_EQ(
      second[3],
      bar("Tag  Type     Allocs         Frees      Diff          Bytes            Per Alloc", 80));
  EXPECT_EQ(second[4],
            "Io   Nonp  1,021,120 (8) 1,020,986  (1)  134  (+7) 95.7 KiB (+5.9 KiB)       731");
  EXPECT_EQ(second[5],
            "Key  Paged   954,830 (9)   953,999 (20)  831 (-11) 84.0 KiB (-1.5 KiB)       103");
  EXPECT_EQ(second[6],
            "Wait Nonp  3,971,107 (0) 3,971,077  (0)   30   (0)  8.3 KiB        (0)       281");
  for (const auto& line : second) EXPECT_LE(line.size(), 80u);
}

TEST(TopModel, ChangedCellsAreFlaggedWithTheDirectionAndLTurnsItOff) {
  TopModel model({});
  model.update(first_windows_sample());
  model.update(second_windows_sample());
  Screen screen = model.layout(80, 25);
  // "Key  Paged  954830 (9)  953999 (20)  831 (-11) 86000 (-1528)       103"
  const ScreenLine& key = screen.lines[5];
  std::vector<std::pair<std::string, Style>> styled;
  for (const auto& span : key.spans) {
    styled.emplace_back(key.text.substr(span.begin, span.length), span.style);
  }
  EXPECT_EQ(styled, (std::vector<std::pair<std::string, Style>>{
                        {"Key ", Style::kChanged},
                        {"  954,830", Style::kChanged},
                        {"(9)", Style::kChanged},
                        {"  953,999", Style::kChanged},
                        {"(20)", Style::kChanged},
                        {" 831", Style::kShrank},
                        {"(-11)", Style::kShrank},
                        {"84.0 KiB", Style::kShrank},
                        {"(-1.5 KiB)", Style::kShrank},
                    }));
  const ScreenLine& io = screen.lines[4];
  ASSERT_GE(io.spans.size(), 9u);
  EXPECT_EQ(io.text.substr(io.spans[7].begin, io.spans[7].length), "95.7 KiB");
  EXPECT_EQ(io.spans[7].style, Style::kGrew);
  // Per Alloc changed 723 -> 731.
  EXPECT_EQ(io.text.substr(io.spans[9].begin, io.spans[9].length), "      731");
  EXPECT_EQ(io.spans[9].style, Style::kChanged);
  EXPECT_TRUE(screen.lines[6].spans.empty());  // Wait did not change
  model.handle_key('L');
  EXPECT_FALSE(model.highlight());
  EXPECT_TRUE(model.layout(80, 25).lines[5].spans.empty());
}

TEST(TopModel, NarrowTerminalDropsColumnsByPriorityAndTruncatesKeys) {
  TopModel model({});
  model.update(slabinfo_fixture());
  model.update(slabinfo_fixture());
  auto wide = texts(model.layout(80, 25));
  EXPECT_EQ(wide[3],
            "Cache                Pool   Objects         Bytes     ObjSize" + std::string(19, ' '));
  EXPECT_EQ(wide[4], "ext4_inode_cache     Recl    40,144 (0)  44.8 MiB (0)   1,128");
  auto narrow = texts(model.layout(30, 10));
  // Key, Objects and Bytes stay (the key truncated with a marker); the rest goes by priority:
  // ObjSize, the delta columns, Pool. What is left over goes to the key.
  EXPECT_EQ(narrow[3], "Cache        Objects     Bytes");
  EXPECT_EQ(narrow[4], "ext4_inode_~  40,144  44.8 MiB");
  EXPECT_EQ(narrow[5], "radix_tree_~  26,320  14.7 MiB");
  for (const auto& line : narrow) EXPECT_LE(line.size(), 30u);
  auto medium = texts(model.layout(45, 10));
  EXPECT_EQ(medium[4], "ext4_inode_~ Recl    40,144 (0)  44.8 MiB (0)");
  // The sorted column stays even when it would be dropped first.
  model.handle_key('M');
  auto by_size = texts(model.layout(30, 10));
  EXPECT_EQ(by_size[3], "Cache            Bytes ObjSize");
  EXPECT_EQ(by_size[4], "ext4_inode_~  44.8 MiB   1,128");
}

TEST(TopModel, LargeTerminalShowsAliasesAndDeltasOfEveryColumn) {
  TopModel model({});
  Snapshot s = slabinfo_fixture();
  s.entries[13].aliases = {"eventfd_ctx", "Acpi-Namespace"};  // kmalloc-64
  model.update(s);
  s.entries[13].counters.outstanding = 5400;
  model.update(s);
  auto lines = texts(model.layout(200, 60));
  ASSERT_EQ(lines.size(), 60u);
  EXPECT_EQ(lines[3].size(), 200u);
  EXPECT_EQ(lines[3],
            bar("Cache                Pool   Objects           Bytes     ObjSize Aliases", 200));
  EXPECT_EQ(lines[7],
            "kmalloc-64           Unrecl   5,400 (+42) 340.0 KiB (0)      64 "
            "eventfd_ctx,Acpi-Namespace");
  EXPECT_EQ(lines[59].substr(0, 60),
            "Q quit  P pool  sort: B bytes  M object size  T cache  D obj");
}

// Issue 20: top's screen printed raw numbers ("3971107", "47005696") where every other table shows
// thousands separators and KiB/MiB/GiB; it still fits 120 columns with every delta shown.
TEST(TopModel, ScreenShowedRawNumbersNowThousandsAndBinaryUnitsWithin120Columns) {
  TopModel model({});
  auto big = [](std::uint64_t bytes) {
    auto s = first_windows_sample();
    s.entries.push_back(tag_entry("Huge", PoolKind::kNonPaged, 123456789, 23456789, bytes));
    return s;
  };
  model.update(big(5 * 1024 * kMiB));
  model.update(big(5 * 1024 * kMiB + 3 * kMiB / 2));
  const auto lines = texts(model.layout(120, 30));
  std::string huge;
  for (const auto& line : lines) {
    EXPECT_LE(line.size(), 120u) << line;
    if (line.starts_with("Huge")) huge = line;
  }
  EXPECT_NE(huge.find("123,456,789"), std::string::npos) << huge;
  EXPECT_NE(huge.find("100,000,000"), std::string::npos) << huge;
  EXPECT_NE(huge.find("5.0 GiB (+1.5 MiB)"), std::string::npos) << huge;
  EXPECT_EQ(huge.find("5370"), std::string::npos) << huge;  // no raw byte count
}

TEST(TopModel, OwnersComeFirstWithTheAliasesInParentheses) {
  TopModel model({});
  Snapshot s = slabinfo_fixture();
  s.entries[13].aliases = {"eventfd_ctx"};  // kmalloc-64
  s.entries[13].owner = "kmalloc (generic)";
  s.entries[10].owner = "ext4";  // ext4_inode_cache
  model.update(s);
  auto lines = texts(model.layout(120, 30));
  EXPECT_EQ(lines[3],
            bar("Cache                Pool   Objects     Bytes ObjSize Owner (aliases)", 120));
  EXPECT_EQ(lines[4], "ext4_inode_cache     Recl    40,144  44.8 MiB   1,128 ext4");
  EXPECT_EQ(
      lines[7],
      "kmalloc-64           Unrecl   5,358 340.0 KiB      64 kmalloc (generic) (eventfd_ctx)");
  // Merged names without a known owner are not shown where an owner would be.
  s.entries[10].owner.clear();
  s.entries[10].aliases = {"ext4_x"};
  TopModel fresh({});
  fresh.update(s);
  lines = texts(fresh.layout(120, 30));
  EXPECT_EQ(lines[4], "ext4_inode_cache     Recl    40,144  44.8 MiB   1,128 - (ext4_x)");
}

TEST(TopModel, ETogglesPoolTotalsOfTheRowsAtTheBottom) {
  TopModel model({});
  model.update(first_windows_sample());
  model.update(second_windows_sample());
  model.handle_key('e');
  EXPECT_TRUE(model.show_totals());
  auto lines = texts(model.layout(80, 25));
  // Paged: Key; Nonp: Io + Wait. Per Alloc is left empty on totals.
  EXPECT_EQ(lines[22], "Total Paged   954,830 (9)   953,999  831 (-11)  84.0 KiB (-1.5 KiB)");
  EXPECT_EQ(lines[23], "Total Nonp  4,992,227 (8) 4,992,063  164  (+7) 104.0 KiB (+5.9 KiB)");
  EXPECT_EQ(lines[4],
            "Io    Nonp  1,021,120 (8) 1,020,986  134  (+7)  95.7 KiB (+5.9 KiB)       731");
  model.handle_key('E');
  EXPECT_EQ(texts(model.layout(80, 25))[22], "");
}

TEST(TopModel, ScrollingKeysMoveByLinePageAndToTheEnds) {
  TopModel model({});
  std::vector<Entry> entries;
  for (int i = 0; i < 50; ++i) {
    char name[5];
    std::snprintf(name, sizeof name, "T%03d", i);
    entries.push_back(tag_entry(name, PoolKind::kNonPaged, 100, 0, 1000 + i));
  }
  model.update(windows_snapshot(entries));
  model.layout(80, 25);  // 25 - 4 header - 1 footer = 20 rows
  model.handle_key(kKeyDown);
  EXPECT_EQ(model.first_row(), 1u);
  model.handle_key(kKeyPageDown);
  EXPECT_EQ(model.first_row(), 21u);
  model.handle_key(kKeyPageDown);
  EXPECT_EQ(model.first_row(), 30u);  // the last page is full, not one row
  auto lines = texts(model.layout(80, 25));
  EXPECT_EQ(lines[2], "sort: bytes, largest first  pool: all  rows 31-50 of 50");
  EXPECT_TRUE(lines[4].starts_with("T019 ")) << lines[4];
  EXPECT_TRUE(lines[23].starts_with("T000 ")) << lines[23];
  model.handle_key(kKeyUp);
  EXPECT_EQ(model.first_row(), 29u);
  model.handle_key(kKeyHome);
  EXPECT_EQ(model.first_row(), 0u);
  model.handle_key(kKeyEnd);
  EXPECT_EQ(model.first_row(), 30u);
  model.handle_key(kKeyPageUp);
  EXPECT_EQ(model.first_row(), 10u);
  // A taller terminal shows more rows: the scroll position is clamped.
  model.layout(80, 60);
  EXPECT_EQ(model.first_row(), 0u);
  model.handle_key('T');  // a new sort starts at the top
  EXPECT_EQ(model.first_row(), 0u);
}

TEST(TopModel, HelpScreenListsTheKeysAndAnyKeyReturns) {
  TopModel model({});
  model.update(first_windows_sample());
  EXPECT_EQ(model.handle_key('?'), TopModel::KeyResult::kRedraw);
  auto lines = texts(model.layout(80, 25));
  EXPECT_EQ(lines[0], "Keys (poolmon's run-time commands, plus scrolling):");
  EXPECT_EQ(lines[1], "  P         cycle the pools shown: all, nonpaged, paged");
  EXPECT_EQ(lines[24].substr(0, 36), "any key: back to the table   Q: quit");
  EXPECT_EQ(model.handle_key('B'), TopModel::KeyResult::kRedraw);
  EXPECT_FALSE(model.help_shown());
  EXPECT_EQ(model.sort(), SortColumn::kBytes);  // the key only closed the help
  model.handle_key('h');
  EXPECT_EQ(model.handle_key('q'), TopModel::KeyResult::kQuit);
}

TEST(TopModel, QuitKeysAndUnknownKeys) {
  TopModel model({});
  model.update(first_windows_sample());
  EXPECT_EQ(model.handle_key('Q'), TopModel::KeyResult::kQuit);
  EXPECT_EQ(model.handle_key(kKeyEscape), TopModel::KeyResult::kQuit);
  EXPECT_EQ(model.handle_key('z'), TopModel::KeyResult::kIgnored);
  EXPECT_EQ(model.handle_key(kKeyResize), TopModel::KeyResult::kRedraw);
}

TEST(TopModel, PoolTotalsLineLeavesOutLimitsWhenNarrow) {
  TopModel model({});
  model.update(first_windows_sample());
  EXPECT_EQ(model.layout(80, 25).lines[1].text,
            "NonPaged 8.0 MiB of 128.0 MiB  Paged 26.0 MiB  Mem 16.0 GiB avail 9.0 GiB");
  EXPECT_EQ(model.layout(60, 25).lines[1].text,
            "NonPaged 8.0 MiB  Paged 26.0 MiB  Mem 16.0 GiB avail 9.0 GiB");
  EXPECT_EQ(model.layout(40, 25).lines[1].text, "NonPaged 8.0 MiB  Paged 26.0 MiB  Mem 1~");
}

TEST(TopModel, TooSmallTerminalSaysSo) {
  TopModel model({});
  model.update(first_windows_sample());
  auto lines = texts(model.layout(30, 5));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "terminal too small (30x5, need");
  EXPECT_TRUE(model.layout(0, 0).lines.empty());
}

TEST(TopModel, LinesNeverExceedTheWidthAndSpansStayInside) {
  TopModel model({});
  Snapshot s = slabinfo_fixture();
  s.entries[13].aliases = {"a_very_long_alias_name_that_goes_on", "another_one"};
  s.source = "/a/very/long/path/to/a/directory/with/a/saved/copy/of/slabinfo.txt";
  model.update(s);
  model.update(s);
  model.handle_key('E');
  for (int w = 1; w <= 240; w += 7) {
    for (int h : {1, 5, 6, 7, 25, 60}) {
      Screen screen = model.layout(w, h);
      EXPECT_LE(screen.lines.size(), static_cast<std::size_t>(h));
      for (const auto& line : screen.lines) {
        EXPECT_LE(line.text.size(), static_cast<std::size_t>(w)) << w << "x" << h;
        std::size_t end = 0;
        for (const auto& span : line.spans) {
          EXPECT_GE(span.begin, end);
          end = span.begin + span.length;
          EXPECT_LE(end, line.text.size());
        }
      }
    }
  }
  // Without room the title drops the program name and the path's folders.
  EXPECT_EQ(model.layout(80, 25).lines[0].text,
            "slabinfo.txt (slabinfo)  2026-11-21T11:24:08Z  every 2s  #2");
}

TEST(TopModel, TopOptionLimitsTheRows) {
  Selection sel;
  sel.top = 1;
  sel.include = {"*i*", "K*"};  // Wait and Key; Key has more bytes
  TopModel model(TopConfig{sel, "2s"});
  model.update(first_windows_sample());
  EXPECT_EQ(keys_of(model), (std::vector<std::string>{"Key"}));
  EXPECT_EQ(model.layout(80, 25).lines[2].text,
            "sort: bytes, largest first  pool: all (filtered)  rows 1-1 of 1");
}

// ---- the refresh loop ----

class ScriptedSource final : public Source {
 public:
  explicit ScriptedSource(std::deque<Result<Snapshot>> samples) : samples_(std::move(samples)) {}
  Result<Snapshot> sample() override {
    ++calls;
    if (samples_.empty()) return make_error(ErrorCode::kInput, "no more samples");
    auto s = std::move(samples_.front());
    samples_.pop_front();
    return s;
  }
  std::string describe() const override { return "scripted"; }
  int calls = 0;

 private:
  std::deque<Result<Snapshot>> samples_;
};

// A terminal whose keys arrive at given times; waiting moves the manual clock.
class FakeTerminal final : public Terminal {
 public:
  FakeTerminal(ManualClock& clock, std::deque<std::pair<std::int64_t, int>> keys)
      : clock_(clock), keys_(std::move(keys)) {}
  Size size() override { return size_; }
  void draw(const Screen& screen) override { screens.push_back(screen); }
  int read_key(std::chrono::milliseconds timeout) override {
    waits.push_back(timeout);
    std::int64_t now = clock_.monotonic_ns();
    std::int64_t until = now + std::chrono::nanoseconds(timeout).count();
    if (!keys_.empty() && keys_.front().first <= until) {
      auto [at, key] = keys_.front();
      keys_.pop_front();
      if (at > now) clock_.advance(std::chrono::nanoseconds(at - now));
      return key;
    }
    clock_.advance(timeout);
    return kNoKey;
  }
  std::vector<Screen> screens;
  std::vector<std::chrono::milliseconds> waits;
  Size size_{80, 25};

 private:
  ManualClock& clock_;
  std::deque<std::pair<std::int64_t, int>> keys_;
};

TEST(RunTop, IterationsCountTheFirstSampleAndTheIntervalIsKept) {
  ManualClock clock(std::chrono::system_clock::time_point{});
  std::deque<Result<Snapshot>> samples;
  samples.push_back(second_windows_sample());
  samples.push_back(second_windows_sample());
  ScriptedSource source(std::move(samples));
  TopModel model({});
  model.update(first_windows_sample());
  FakeTerminal terminal(clock, {});
  run_top(source, model, terminal, clock, RunOptions{500ms, 3});
  EXPECT_EQ(source.calls, 2);
  EXPECT_EQ(model.refreshes(), 3u);
  EXPECT_EQ(terminal.screens.size(), 3u);
  // Three displays 0.5 s apart, then it waits out the third interval before exiting.
  EXPECT_EQ(clock.monotonic_ns(), 1'500'000'000);
  EXPECT_EQ(terminal.waits, (std::vector<std::chrono::milliseconds>{500ms, 500ms, 500ms}));
}

TEST(RunTop, KeysRedrawAtOnceAndQQuits) {
  ManualClock clock(std::chrono::system_clock::time_point{});
  ScriptedSource source({});
  TopModel model({});
  model.update(first_windows_sample());
  FakeTerminal terminal(clock, {{100'000'000, 'b'}, {200'000'000, 'z'}, {300'000'000, 'q'}});
  run_top(source, model, terminal, clock, RunOptions{2s, 0});
  EXPECT_EQ(source.calls, 0);
  EXPECT_EQ(terminal.screens.size(), 2u);  // first draw, after 'b'; 'z' is ignored
  EXPECT_EQ(model.sort(), SortColumn::kBytes);
  EXPECT_FALSE(model.descending());
  EXPECT_EQ(terminal.waits, (std::vector<std::chrono::milliseconds>{2000ms, 1900ms, 1800ms}));
}

TEST(RunTop, AFailedRefreshKeepsThePreviousSampleAndSaysWhy) {
  ManualClock clock(std::chrono::system_clock::time_point{});
  std::deque<Result<Snapshot>> samples;
  samples.push_back(make_error(ErrorCode::kEnvironment, "/proc/slabinfo: Permission denied"));
  ScriptedSource source(std::move(samples));
  TopModel model({});
  model.update(first_windows_sample());
  FakeTerminal terminal(clock, {});
  run_top(source, model, terminal, clock, RunOptions{1s, 2});
  ASSERT_EQ(terminal.screens.size(), 2u);
  EXPECT_EQ(terminal.screens[1].lines[2].text,
            "refresh failed, showing the previous sample: /proc/slabinfo: Permission denied");
  EXPECT_EQ(model.rows().size(), 3u);
}

TEST(RunTop, ResizeIsLaidOutForTheNewSize) {
  ManualClock clock(std::chrono::system_clock::time_point{});
  ScriptedSource source({});
  TopModel model({});
  model.update(first_windows_sample());
  FakeTerminal terminal(clock, {{10, kKeyResize}, {20, 'q'}});
  terminal.size_ = {120, 30};
  run_top(source, model, terminal, clock, RunOptions{1s, 0});
  ASSERT_EQ(terminal.screens.size(), 2u);
  EXPECT_EQ(terminal.screens[1].lines.size(), 30u);
  EXPECT_EQ(terminal.screens[1].lines[3].text.size(), 120u);
}

}  // namespace
}  // namespace poolscope::top
