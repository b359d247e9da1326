// The live Linux source against a fake /proc and /sys/kernel/slab tree: alias resolution, reclaim
// flags, caches created after start, sysfs absent. Linux only (the source is Linux only).
#if defined(__linux__)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/clock.h"
#include "source/linux/live_linux.h"

namespace poolscope {
namespace {

namespace fs = std::filesystem;

class FakeKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("poolscope_fake_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "slab");
    write("meminfo",
          "MemTotal: 1000 kB\nMemAvailable: 500 kB\nSReclaimable: 8 kB\nSUnreclaim: 12 kB\n");
    write("slabinfo",
          "slabinfo - version: 2.1\n"
          "# name <active_objs> ...\n"
          "dentry 42 42 192 21 1 : tunables 0 0 0 : slabdata 2 2 0\n"
          "kmalloc-64 128 128 64 64 1 : tunables 0 0 0 : slabdata 2 2 0\n");
    make_cache(":a-0000192", true);
    make_cache(":0000064", false);
    link("dentry", ":a-0000192");
    link("kmalloc-64", ":0000064");
    link("eventfd_ctx", ":0000064");
    link("Acpi-Namespace", ":0000064");
    paths_.slabinfo = (root_ / "slabinfo").string();
    paths_.meminfo = (root_ / "meminfo").string();
    paths_.sys_slab = (root_ / "slab").string();
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(root_ / name) << text;
  }
  void make_cache(const std::string& id, bool reclaimable) {
    fs::create_directories(root_ / "slab" / id);
    std::ofstream(root_ / "slab" / id / "reclaim_account") << (reclaimable ? "1\n" : "0\n");
  }
  void link(const std::string& name, const std::string& id) {
    fs::create_symlink(id, root_ / "slab" / name);
  }

  fs::path root_;
  LinuxPaths paths_;
  ManualClock clock_{std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000))};
};

TEST_F(FakeKernel, ResolvesMergedCachesAndReclaimFlags) {
  auto source = open_linux_source(clock_, paths_);
  ASSERT_TRUE(source.has_value()) << source.error().message;
  auto snap = (*source)->sample();
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  ASSERT_EQ(snap->entries.size(), 2u);
  const Entry& dentry = snap->entries[0];
  EXPECT_EQ(dentry.pool, PoolKind::kReclaimable);
  EXPECT_TRUE(dentry.aliases.empty());
  const Entry& kmalloc = snap->entries[1];
  EXPECT_EQ(kmalloc.pool, PoolKind::kUnreclaimable);
  std::vector<std::string> aliases = kmalloc.aliases;
  std::sort(aliases.begin(), aliases.end());
  EXPECT_EQ(aliases, (std::vector<std::string>{"Acpi-Namespace", "eventfd_ctx"}));
  EXPECT_EQ(find_total(*snap, PoolKind::kUnreclaimable)->used_bytes, 12u * 1024);
  EXPECT_EQ(find_total(*snap, PoolKind::kReclaimable)->used_bytes, 8u * 1024);
  EXPECT_EQ(snap->wall_time, clock_.wall());
  EXPECT_TRUE(snap->notes.empty());
}

TEST_F(FakeKernel, CacheCreatedAfterStartIsPickedUpOnTheNextSample) {
  auto source = open_linux_source(clock_, paths_);
  ASSERT_TRUE(source.has_value());
  ASSERT_TRUE((*source)->sample().has_value());
  make_cache(":A-0000128", true);
  link("my_module_cache", ":A-0000128");
  write("slabinfo",
        "slabinfo - version: 2.1\n"
        "dentry 42 42 192 21 1 : tunables 0 0 0 : slabdata 2 2 0\n"
        "my_module_cache 10 32 128 32 1 : tunables 0 0 0 : slabdata 1 1 0\n");
  auto snap = (*source)->sample();
  ASSERT_TRUE(snap.has_value());
  ASSERT_EQ(snap->entries.size(), 2u);
  EXPECT_EQ(snap->entries[1].key.name, "my_module_cache");
  EXPECT_EQ(snap->entries[1].pool, PoolKind::kReclaimable);
}

TEST_F(FakeKernel, WithoutSysfsReclaimIsGuessedAndSaid) {
  paths_.sys_slab = (root_ / "no-such-dir").string();
  auto source = open_linux_source(clock_, paths_);
  ASSERT_TRUE(source.has_value());
  auto snap = (*source)->sample();
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->entries[0].pool, PoolKind::kReclaimable);  // dentry, by name
  ASSERT_FALSE(snap->notes.empty());
  EXPECT_NE(snap->notes[0].find("not available"), std::string::npos);
  ASSERT_TRUE((*source)->sample().has_value());  // and no endless rescans
}

TEST_F(FakeKernel, GarbledSlabinfoIsAnErrorNotAPartialSnapshot) {
  write("slabinfo", "slabinfo - version: 2.1\ndentry 42 oops\n");
  auto source = open_linux_source(clock_, paths_);
  ASSERT_TRUE(source.has_value());
  auto snap = (*source)->sample();
  ASSERT_FALSE(snap.has_value());
  EXPECT_NE(snap.error().message.find(":2:"), std::string::npos) << snap.error().message;
}

TEST_F(FakeKernel, UnreadableFileIsAnEnvironmentError) {
  paths_.meminfo = (root_ / "missing").string();
  auto source = open_linux_source(clock_, paths_);
  ASSERT_FALSE(source.has_value());
  EXPECT_EQ(source.error().code, ErrorCode::kEnvironment);
  EXPECT_EQ(source.error().os_code, ENOENT);
}

}  // namespace
}  // namespace poolscope
#endif
