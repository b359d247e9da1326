// The portable parts of the tracefs session: event filters for --cache and the removal of
// instances left by killed runs (on a scratch folder, not tracefs).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "trace/linux/session.h"

namespace poolscope::trace {
namespace {

TEST(KmemFilters, NoCacheTracesEverything) {
  auto filters = kmem_filters({});
  EXPECT_FALSE(filters.kmalloc_off);
  EXPECT_FALSE(filters.kmem_cache_off);
  EXPECT_TRUE(filters.kmalloc.empty());
  EXPECT_TRUE(filters.kmem_cache_alloc.empty());
}

TEST(KmemFilters, NamedCachesAndKmallocSizes) {
  auto filters = kmem_filters({"dentry", "kmalloc-64", "kmalloc-2k", "ext4_inode_cache"});
  EXPECT_EQ(filters.kmem_cache_alloc, "name == \"dentry\" || name == \"ext4_inode_cache\"");
  EXPECT_EQ(filters.kmem_cache_free, filters.kmem_cache_alloc);
  EXPECT_EQ(filters.kmalloc, "bytes_alloc == 64 || bytes_alloc == 2048");
  EXPECT_FALSE(filters.kmalloc_off);
  auto only_named = kmem_filters({"dentry"});
  EXPECT_TRUE(only_named.kmalloc_off);
  auto only_kmalloc = kmem_filters({"kmalloc-96"});
  EXPECT_TRUE(only_kmalloc.kmem_cache_off);
}

// Address sampling filters every event, kfree too, on the pointer alone: an object is traced at
// its allocation and its free, or at neither.
TEST(KmemFilters, SamplingFiltersEveryEventOnThePointer) {
  auto all = kmem_filters({}, 0x7000);
  EXPECT_EQ(all.kmalloc, "!(ptr & 0x7000)");
  EXPECT_EQ(all.kfree, "!(ptr & 0x7000)");
  EXPECT_EQ(all.kmem_cache_alloc, "!(ptr & 0x7000)");
  EXPECT_EQ(all.kmem_cache_free, "!(ptr & 0x7000)");
  auto named = kmem_filters({"dentry", "kmalloc-64"}, 0x3000);
  EXPECT_EQ(named.kmalloc, "(bytes_alloc == 64) && !(ptr & 0x3000)");
  EXPECT_EQ(named.kmem_cache_alloc, "(name == \"dentry\") && !(ptr & 0x3000)");
  EXPECT_EQ(named.kfree, "!(ptr & 0x3000)");
  EXPECT_TRUE(kmem_filters({"dentry"}).kfree.empty());  // no sampling: kfree unfiltered
}

TEST(BufferSize, HoldsHalfASecondOfTheDesignRateOnOneCpu) {
  EXPECT_GE(default_buffer_kb_per_cpu() * 1024, kDesignEventsPerSecond * 64 / 2);
}

TEST(StaleInstances, OnlyDeadPoolscopeInstancesAreRemoved) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("poolscope-stale-" + std::to_string(getpid()));
  fs::create_directories(root / "instances");
  // A pid that cannot exist (above pid_max's hard limit of 2^22) and our own, living pid.
  fs::create_directories(root / "instances" / "poolscope-4194305");
  fs::create_directories(root / "instances" / ("poolscope-" + std::to_string(getpid())));
  fs::create_directories(root / "instances" / "someone-else-1");
  fs::create_directories(root / "instances" / "poolscope-notapid");
  auto removed = remove_stale_instances(root);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0], "poolscope-4194305");
  EXPECT_TRUE(fs::exists(root / "instances" / ("poolscope-" + std::to_string(getpid()))));
  EXPECT_TRUE(fs::exists(root / "instances" / "someone-else-1"));
  fs::remove_all(root);
}

}  // namespace
}  // namespace poolscope::trace
