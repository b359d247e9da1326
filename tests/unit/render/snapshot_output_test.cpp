#include "render/snapshot_output.h"

#include <gtest/gtest.h>

namespace poolscope {
namespace {

Snapshot linux_snapshot() {
  Snapshot s;
  s.source = "live:linux";
  s.format = "slabinfo";
  Entry ext4;
  ext4.key = slab_cache("ext4_inode_cache");
  ext4.pool = PoolKind::kReclaimable;
  ext4.counters.outstanding = 10;
  ext4.counters.bytes = 11280;
  ext4.object_size = 1128;
  ext4.owner = "ext4";
  Entry kmalloc;
  kmalloc.key = slab_cache("kmalloc-64");
  kmalloc.pool = PoolKind::kUnreclaimable;
  kmalloc.counters.outstanding = 2;
  kmalloc.counters.bytes = 4096;
  kmalloc.object_size = 64;
  kmalloc.aliases = {"a_cache", "b_cache"};
  kmalloc.owner = "kmalloc (generic)";
  Entry bare;
  bare.key = slab_cache("TCP");
  bare.pool = PoolKind::kUnreclaimable;
  bare.counters.outstanding = 1;
  bare.counters.bytes = 2048;
  bare.object_size = 2048;
  bare.aliases = {"TCPv4"};
  s.entries = {ext4, kmalloc, bare};
  return s;
}

TEST(SnapshotOutput, MergedCacheAliasesAreNamedAsMergedInTheTable) {
  const auto s = linux_snapshot();
  const std::string table = render_table(s, {0, 1, 2});
  const auto body = table.substr(table.find("Cache"));
  EXPECT_EQ(body,
            "Cache             Pool           Objects     Bytes  ObjSize  Owner (merged names)\n"
            "ext4_inode_cache  reclaimable         10  11.0 KiB    1,128  ext4\n"
            "kmalloc-64        unreclaimable        2   4.0 KiB       64  kmalloc (generic) "
            "(merged: a_cache, b_cache)\n"
            "TCP               unreclaimable        1   2.0 KiB    2,048  - (merged: TCPv4)\n");
}

TEST(SnapshotOutput, TableWithoutOwnersNamesTheMergedCaches) {
  auto s = linux_snapshot();
  for (auto& e : s.entries) e.owner.clear();
  const std::string table = render_table(s, {1});
  EXPECT_NE(table.find("ObjSize  Merged names\n"), std::string::npos) << table;
  EXPECT_NE(table.find("64  (merged: a_cache, b_cache)\n"), std::string::npos) << table;
}

TEST(SnapshotOutput, CsvHasOwnerAndAliasesColumns) {
  const auto s = linux_snapshot();
  const std::string csv = render_csv(s, {0, 1});
  EXPECT_EQ(csv,
            "time,source,key,pool,session_id,allocs,frees,outstanding,bytes,object_size,owner,"
            "aliases\n"
            "1970-01-01T00:00:00.000Z,live:linux,ext4_inode_cache,reclaimable,,,,10,11280,1128,"
            "ext4,\n"
            "1970-01-01T00:00:00.000Z,live:linux,kmalloc-64,unreclaimable,,,,2,4096,64,kmalloc "
            "(generic),a_cache b_cache\n");
}

TEST(SnapshotOutput, JsonHasTheOwner) {
  const auto s = linux_snapshot();
  const std::string json = render_json(s, {1});
  EXPECT_NE(json.find("\"aliases\": [\n        \"a_cache\",\n        \"b_cache\"\n      ],\n"
                      "      \"owner\": \"kmalloc (generic)\"\n"),
            std::string::npos)
      << json;
}

TEST(SnapshotOutput, WindowsOwnerColumn) {
  Snapshot s;
  s.source = "poolmon.txt";
  s.format = "poolmon";
  Entry e;
  e.key = tag_from_text("NtFc");
  e.pool = PoolKind::kPaged;
  e.counters.allocs = 5;
  e.counters.frees = 3;
  e.counters.outstanding = 2;
  e.counters.bytes = 256;
  e.owner = "ntfs.sys";
  s.entries = {e};
  const std::string table = render_table(s, {0});
  EXPECT_NE(table.find("Tag   Pool   Allocs  Frees  Diff  Bytes  PerAlloc  Owner\n"
                       "NtFc  paged       5      3     2  256 B       128  ntfs.sys\n"),
            std::string::npos)
      << table;
}

}  // namespace
}  // namespace poolscope
