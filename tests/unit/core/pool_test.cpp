#include "core/pool.h"

#include <gtest/gtest.h>

#include "core/names.h"
#include "core/select.h"
#include "core/time_format.h"
#include "parse/encoding.h"

namespace poolscope {
namespace {

// Found by fuzzing (issue 21): a long Windows image name cut in the middle of a UTF-8 character
// was no longer valid UTF-8. The cut backs off to a character boundary.
TEST(NameCap, CutUtf8NameStaysValidUtf8) {
  for (std::size_t offset = 0; offset < 3; ++offset) {
    std::string name(offset, 'a');
    for (int i = 0; i < 1000; ++i) name += "\xE2\x82\xAC";  // the euro sign, 3 bytes
    ASSERT_TRUE(cap_name(name, kMaxProcessNameBytes));
    EXPECT_LE(name.size(), kMaxProcessNameBytes);
    EXPECT_GE(name.size(), kMaxProcessNameBytes - 2);
    EXPECT_TRUE(parse::is_valid_utf8(name)) << offset;
    EXPECT_EQ(name[name.size() - 9], '~');
  }
}

TEST(PoolTag, CSourceMultiCharConstantIsShownInMemoryOrder) {
  // 'viDW' in C source is 0x76694457; little-endian memory holds "WDiv".
  EXPECT_EQ(display_key(tag_from_ulong(0x76694457u)), "WDiv");
}

TEST(PoolTag, ShortTagsArePaddedAndTrailingSpacesKept) {
  EXPECT_EQ(tag_from_text("Abc").name, "Abc ");
  EXPECT_EQ(display_key(tag_from_text("AGP")), "AGP ");
  EXPECT_EQ(display_key(tag_from_text("Dh 1")), "Dh 1");
  EXPECT_EQ(tag_from_text("Io").name.size(), 4u);
}

TEST(PoolTag, CaseMattersAndNonPrintablesAreEscaped) {
  EXPECT_NE(tag_from_text("NtFC"), tag_from_text("NtfC"));
  EXPECT_EQ(display_key(tag_from_ulong(0x00416201u)), "\\x01bA\\x00");
  EXPECT_EQ(display_key(tag_from_text("a\\bc")), "a\\\\bc");
}

TEST(PoolTag, PatternsMatchWithOrWithoutTrailingSpaces) {
  EXPECT_TRUE(key_matches(tag_from_text("Abc"), "Abc"));
  EXPECT_TRUE(key_matches(tag_from_text("Abc"), "Abc "));
  EXPECT_TRUE(key_matches(tag_from_text("NtFC"), "NtF?"));
  EXPECT_FALSE(key_matches(tag_from_text("NtfC"), "NtF?"));
  EXPECT_TRUE(key_matches(slab_cache("kmalloc-64"), "kmalloc-*"));
  EXPECT_FALSE(key_matches(slab_cache("kmalloc-64"), "kmalloc"));
  EXPECT_TRUE(key_matches(slab_cache("a*b"), "a*b"));
}

TEST(Counters, DeltaWrapsModulo32BitsWhenTheSourceSaysSo) {
  EXPECT_EQ(counter_delta(0xFFFFFFF0u, 0x10u, CounterWidth::k32), 0x20u);
  EXPECT_EQ(counter_delta(100, 150, CounterWidth::k32), 50u);
  EXPECT_EQ(counter_delta(100, 150, CounterWidth::k64), 50u);
  EXPECT_EQ(counter_delta(0xFFFFFFF0u, 0x1'0000'0010ull, CounterWidth::k64), 0x20u);
}

TEST(Select, FiltersSortsAndCuts) {
  Snapshot s;
  auto add = [&s](const char* tag, PoolKind pool, std::uint64_t bytes, std::uint64_t outstanding) {
    Entry e;
    e.key = tag_from_text(tag);
    e.pool = pool;
    e.counters.bytes = bytes;
    e.counters.outstanding = outstanding;
    s.entries.push_back(e);
  };
  add("Even", PoolKind::kNonPaged, 300, 5);
  add("MmSt", PoolKind::kPaged, 900, 1);
  add("File", PoolKind::kNonPaged, 100, 50);
  Selection sel;
  auto rows = select_entries(s, sel);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(s.entries[rows[0]].key.name, "MmSt");
  sel.pools = {PoolKind::kNonPaged};
  sel.sort = SortKey::kOutstanding;
  rows = select_entries(s, sel);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(s.entries[rows[0]].key.name, "File");
  sel.exclude = {"Fi*"};
  rows = select_entries(s, sel);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(s.entries[rows[0]].key.name, "Even");
  Selection top;
  top.top = 1;
  top.sort = SortKey::kKey;
  rows = select_entries(s, top);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(s.entries[rows[0]].key.name, "Even");
  EXPECT_FALSE(parse_sort_key("nonsense").has_value());
}

TEST(TimeFormat, RoundTripsUtc) {
  auto t = parse_utc("2026-11-21T11:40:02.250Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(format_utc(*t, true), "2026-11-21T11:40:02.250Z");
  EXPECT_EQ(format_utc(*parse_utc("1969-12-31 23:59:59")), "1969-12-31T23:59:59Z");
  EXPECT_FALSE(parse_utc("2026-13-01T00:00:00Z").has_value());
  EXPECT_FALSE(parse_utc("yesterday").has_value());
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(12), "12 B");
}

}  // namespace
}  // namespace poolscope
