#include "parse/slabinfo.h"

#include <gtest/gtest.h>

#include "parse/sniff.h"
#include "test_support.h"

namespace poolscope::parse {
namespace {

TEST(Slabinfo, ParsesKernel618Lines) {
  auto text = testing::read_file(testing::test_data("slabinfo/kernel_6_18_head.txt"));
  auto parsed = parse_slabinfo(text, SlabinfoOptions{});
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const auto& entries = parsed->snapshot.entries;
  ASSERT_EQ(entries.size(), 14u);
  const Entry& dentry = entries[11];
  EXPECT_EQ(dentry.key, slab_cache("dentry"));
  EXPECT_EQ(dentry.counters.outstanding, 58905u);
  EXPECT_EQ(dentry.counters.bytes, 2805u * 1 * 4096);
  EXPECT_EQ(dentry.object_size, 192u);
  EXPECT_EQ(dentry.pool, PoolKind::kReclaimable);  // guessed from the name for a saved copy
  EXPECT_FALSE(dentry.counters.allocs.has_value());
  EXPECT_EQ(entries[13].pool, PoolKind::kUnreclaimable);    // kmalloc-64
  EXPECT_EQ(entries[10].counters.bytes, 2869u * 4 * 4096);  // ext4_inode_cache, 4 pages per slab
  const PoolTotal* reclaimable = find_total(parsed->snapshot, PoolKind::kReclaimable);
  ASSERT_NE(reclaimable, nullptr);
  EXPECT_EQ(reclaimable->used_bytes, (2869u * 4 + 2805u + 1880u * 2) * 4096);
  EXPECT_EQ(detect_format(text), TextFormat::kSlabinfo);
}

TEST(Slabinfo, AttributesFromSysfsDecideThePoolAndAliases) {
  SlabAttributeMap attributes;
  attributes["kmalloc-64"] = SlabAttributes{false, {"eventfd_ctx", "Acpi-Namespace"}};
  attributes["dentry"] = SlabAttributes{true, {}};
  auto parsed = parse_slabinfo(
      "slabinfo - version: 2.1\n"
      "dentry 10 21 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n"
      "kmalloc-64 5358 5440 64 64 1 : tunables 0 0 0 : slabdata 85 85 0\n",
      SlabinfoOptions{.page_size = 16384, .attributes = &attributes});
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->snapshot.entries.size(), 2u);
  EXPECT_EQ(parsed->snapshot.entries[0].pool, PoolKind::kReclaimable);
  EXPECT_EQ(parsed->snapshot.entries[1].aliases.size(), 2u);
  EXPECT_EQ(parsed->snapshot.entries[1].counters.bytes, 85u * 16384);
  EXPECT_TRUE(parsed->snapshot.notes.empty());
}

// The live path remembers each line's attributes; a cache that moves, appears or disappears
// between two reads must still get its own attributes.
TEST(Slabinfo, LineMemoFollowsCachesThatMoveAppearOrDisappear) {
  SlabAttributeMap attributes;
  attributes["kmalloc-64"] = SlabAttributes{false, {"eventfd_ctx"}};
  attributes["dentry"] = SlabAttributes{true, {}};
  attributes["filp"] = SlabAttributes{false, {"a", "b", "c"}};
  std::vector<const SlabAttributeMap::value_type*> memo;
  const SlabinfoOptions options{.attributes = &attributes, .line_memo = &memo};
  const auto parse = [&](std::string_view body) {
    auto parsed =
        parse_slabinfo(std::string("slabinfo - version: 2.1\n") + std::string(body), options);
    EXPECT_TRUE(parsed.has_value());
    return parsed->snapshot.entries;
  };
  auto first = parse(
      "dentry 10 21 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n"
      "kmalloc-64 5 64 64 64 1 : tunables 0 0 0 : slabdata 1 1 0\n");
  ASSERT_EQ(first.size(), 2u);
  ASSERT_EQ(memo.size(), 2u);
  EXPECT_EQ(first[0].pool, PoolKind::kReclaimable);
  EXPECT_EQ(first[1].aliases, std::vector<std::string>{"eventfd_ctx"});
  auto second = parse(
      "filp 1 2 256 16 1 : tunables 0 0 0 : slabdata 1 1 0\n"
      "dentry 10 21 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n"
      "kmalloc-64 5 64 64 64 1 : tunables 0 0 0 : slabdata 1 1 0\n"
      "new_cache 1 1 8 1 1 : tunables 0 0 0 : slabdata 1 1 0\n");
  ASSERT_EQ(second.size(), 4u);
  EXPECT_EQ(second[0].aliases.size(), 3u);  // filp took dentry's remembered line
  EXPECT_EQ(second[0].pool, PoolKind::kUnreclaimable);
  EXPECT_EQ(second[1].pool, PoolKind::kReclaimable);
  EXPECT_EQ(second[2].aliases, std::vector<std::string>{"eventfd_ctx"});
  EXPECT_TRUE(second[3].aliases.empty());
  EXPECT_EQ(memo.size(), 4u);
  EXPECT_EQ(memo[3], nullptr);  // not in the attributes: remembered as unknown
}

TEST(Slabinfo, MalformedLinesBecomeDiagnosticsWithLineNumbers) {
  auto parsed = parse_slabinfo(
      "slabinfo - version: 2.1\n"
      "# name ...\n"
      "dentry 10 21 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n"
      "broken 1 2 3\n"
      "neg -1 21 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n",
      SlabinfoOptions{});
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->diagnostics.size(), 2u);
  EXPECT_EQ(parsed->diagnostics[0].line, 4u);
  EXPECT_EQ(parsed->diagnostics[1].line, 5u);
  EXPECT_EQ(parsed->snapshot.entries.size(), 1u);
}

TEST(Slabinfo, RejectsOtherTextAndOtherVersions) {
  EXPECT_FALSE(parse_slabinfo("hello\n", SlabinfoOptions{}).has_value());
  EXPECT_FALSE(parse_slabinfo("", SlabinfoOptions{}).has_value());
  auto v1 = parse_slabinfo("slabinfo - version: 1.1\n", SlabinfoOptions{});
  ASSERT_FALSE(v1.has_value());
  EXPECT_NE(v1.error().message.find("1.1"), std::string::npos);
}

TEST(Meminfo, GivesSlabTotalsInBytes) {
  auto info = parse_meminfo(
      "MemTotal:       24684084 kB\nMemAvailable:   24348640 kB\nSlab:              39380 kB\n"
      "SReclaimable:      19580 kB\nSUnreclaim:        19800 kB\nHugePages_Total:       0\n");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->s_unreclaim, 19800u * 1024);
  EXPECT_EQ(info->s_reclaimable, 19580u * 1024);
  Snapshot s;
  apply_meminfo(*info, s);
  EXPECT_EQ(find_total(s, PoolKind::kUnreclaimable)->used_bytes, 19800u * 1024);
  EXPECT_EQ(find_total(s, PoolKind::kUnreclaimable)->limit_bytes, 24684084ull * 1024);
  EXPECT_EQ(s.memory_available_bytes, 24348640ull * 1024);
  EXPECT_FALSE(parse_meminfo("nothing here").has_value());
}

TEST(Detect, UnknownTextListsTheKnownFormats) {
  auto parsed = parse_pool_text("just some words\n");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code, ErrorCode::kInput);
  EXPECT_NE(parsed.error().message.find("slabinfo"), std::string::npos);
}

}  // namespace
}  // namespace poolscope::parse

namespace poolscope::parse {
namespace {
TEST(Slabinfo, ByteCountsThatWouldOverflowAreDiagnosed) {
  auto parsed = parse_slabinfo(
      "slabinfo - version: 2.1\n"
      "x 1 2 3 4 5 : tunables 0 0 0 : slabdata 1 9999999999999999999 0\n",
      SlabinfoOptions{});
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->diagnostics.size(), 1u);
  EXPECT_TRUE(parsed->snapshot.entries.empty());
}
}  // namespace
}  // namespace poolscope::parse
