// Issue 20: `who` explains the well-known caches in one line each (before: "cache filp (Linux slab
// cache)" and an owner guess, nothing on what a filp is).
#include "attrib/cache_explanations.h"

#include <gtest/gtest.h>

namespace poolscope::attrib {
namespace {

std::string line(std::string_view cache) {
  return explain_cache(cache).value_or("(none)");
}

TEST(CacheExplanations, WhoDidNotSayWhatAWellKnownCacheHolds) {
  EXPECT_NE(line("filp").find("one per open file description"), std::string::npos);
  EXPECT_NE(line("task_struct").find("one per thread"), std::string::npos);
  EXPECT_NE(line("sock_inode_cache").find("per open socket"), std::string::npos);
  EXPECT_NE(line("TCP").find("IPv4 TCP socket"), std::string::npos);
  EXPECT_NE(line("UNIX").find("AF_UNIX"), std::string::npos);
  EXPECT_NE(line("dentry").find("reclaimable"), std::string::npos);
  EXPECT_NE(line("radix_tree_node").find("page cache"), std::string::npos);
  for (const char* cache :
       {"inode_cache", "skbuff_head_cache", "pid", "eventpoll_epi", "eventpoll_pwq", "signal_cache",
        "anon_vma", "vm_area_struct", "mm_struct", "names_cache", "buffer_head", "maple_node",
        "xarray_node"}) {
    EXPECT_TRUE(explain_cache(cache)) << cache;
  }
}

TEST(CacheExplanations, KmallocFamiliesNameTheirSizeAndTheTraceThatFindsTheOwner) {
  EXPECT_EQ(line("kmalloc-192"),
            "generic kmalloc() objects of up to 192 bytes, shared by all kernel code: the cache "
            "does not name its owner; `poolscope trace --cache kmalloc-192` names the call sites "
            "that allocate them");
  EXPECT_NE(line("kmalloc-1k").find("up to 1k bytes"), std::string::npos);
  EXPECT_NE(line("kmalloc-cg-64").find("memory cgroup"), std::string::npos);
  EXPECT_NE(line("kmalloc-rcl-128").find("reclaimable"), std::string::npos);
  EXPECT_NE(line("dma-kmalloc-512").find("DMA zone"), std::string::npos);
}

TEST(CacheExplanations, FileSystemInodeCachesNameTheirFileSystem) {
  EXPECT_EQ(line("ext4_inode_cache"),
            "in-memory inodes of ext4 files; reclaimable with the dentries that pin them");
  EXPECT_NE(line("proc_inode_cache").find("of proc files"), std::string::npos);
}

TEST(CacheExplanations, AnUnknownCacheHasNoLineRatherThanAGuess) {
  EXPECT_FALSE(explain_cache("my_driver_cache"));
  EXPECT_FALSE(explain_cache("kmalloc-"));
  EXPECT_FALSE(explain_cache("kmalloc-bogus"));
  EXPECT_FALSE(explain_cache("_inode_cache"));
  EXPECT_FALSE(explain_cache(""));
}

}  // namespace
}  // namespace poolscope::attrib
