// /proc/allocinfo call sites as keys, on the fixture of real allocinfo text (this kernel has none).
#include "source/allocinfo_keys.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace poolscope {
namespace {

TEST(AllocinfoKeys, CallSitesHoldingMemoryBecomeKeys) {
  const std::string text = testing::read_file(testing::test_data("trace/allocinfo.txt"));
  Snapshot s;
  apply_allocinfo(trace::parse_allocinfo(text), s);
  ASSERT_EQ(s.entries.size(), 4u);  // the site at 0 bytes and 0 calls is left out
  EXPECT_EQ(s.entries[0].key, PoolKey(KeyKind::kKernelMemory, "alloc:fs/eventfd.c:390 do_eventfd"));
  EXPECT_EQ(s.entries[0].counters.bytes, 12288u);
  EXPECT_EQ(s.entries[0].counters.outstanding, 3u);
  EXPECT_EQ(s.entries[0].pool, PoolKind::kKernel);
  EXPECT_EQ(s.entries[2].key.name, "alloc:fs/ext4/super.c:5021 ext4_fill_super [ext4]");
}

}  // namespace
}  // namespace poolscope
