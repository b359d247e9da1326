// The live Linux source against a fake /proc and /sys/kernel/slab tree: alias resolution, reclaim
// flags, caches created after start, sysfs absent. Linux only (the source is Linux only).
#if defined(__linux__)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>

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
    paths_.kernel_memory = false;  // the slab tests; KernelMemoryFilesAbsentOrPresent turns it on
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

// Kernel memory files: the ones present give keys, the absent ones notes, never an error.
TEST_F(FakeKernel, KernelMemoryFilesAbsentOrPresent) {
  write("meminfo",
        "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 500 kB\nActive: 300 kB\n"
        "Inactive: 200 kB\nSlab: 20 kB\nSReclaimable: 8 kB\nSUnreclaim: 12 kB\n"
        "KernelStack: 16 kB\nPageTables: 40 kB\nVmallocUsed: 60 kB\nPercpu: 4 kB\n");
  write("sockstat",
        "sockets: used 3\nTCP: inuse 1 orphan 0 tw 0 alloc 1 mem 2\nUDP: inuse 0 mem 0\n");
  write("tcp_mem", "10\t20\t30\n");
  write("vmallocinfo",
        "0x1-0x2   20480 kernel_clone+0xb8/0x400 pages=4 vmalloc N0=4\n"
        "0x2-0x3    8192 acpi_os_map_iomem+0x1bc/0x1e0 phys=0x00000000000a0000 ioremap\n");
  paths_.kernel_memory = true;
  paths_.vmallocinfo = (root_ / "vmallocinfo").string();
  paths_.zoneinfo = (root_ / "no_zoneinfo").string();
  paths_.sockstat = (root_ / "sockstat").string();
  paths_.sockstat6 = (root_ / "no_sockstat6").string();
  paths_.tcp_mem = (root_ / "tcp_mem").string();
  paths_.udp_mem = (root_ / "no_udp_mem").string();
  paths_.dmabuf_bufinfo = (root_ / "no_bufinfo").string();
  paths_.dmabuf_sysfs = (root_ / "no_dmabuf").string();
  paths_.allocinfo = (root_ / "no_allocinfo").string();
  auto source = open_linux_source(clock_, paths_);
  ASSERT_TRUE(source.has_value()) << source.error().message;
  auto snap = (*source)->sample();
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  auto bytes = [&](std::string_view name) -> std::optional<std::uint64_t> {
    for (const Entry& e : snap->entries) {
      if (e.key.kind == KeyKind::kKernelMemory && e.key.name == name) return e.counters.bytes;
    }
    return std::nullopt;
  };
  EXPECT_EQ(bytes("mem:KernelStack"), 16u * 1024);
  // 1000 - 100 - (300 + 200) - 20 - 40 - 60 - 4 kB (the stacks are inside VmallocUsed).
  EXPECT_EQ(bytes("mem:unaccounted"), 276u * 1024);
  EXPECT_EQ(bytes("slab:large-kmalloc"), 12u * 1024 - 8u * 1024);  // SUnreclaim - kmalloc-64
  EXPECT_EQ(bytes("vmalloc:kernel_clone"), 4u * 4096);
  EXPECT_FALSE(bytes("vmalloc:acpi_os_map_iomem").has_value());  // ioremap is not memory
  EXPECT_TRUE(bytes("sock:TCP").has_value());
  const PoolTotal* tcp = find_total(*snap, PoolKind::kTcp);
  ASSERT_NE(tcp, nullptr);
  EXPECT_TRUE(tcp->limit_bytes.has_value());
  std::string notes;
  for (const auto& n : snap->notes) notes += n + "\n";
  EXPECT_NE(notes.find("no_sockstat6 is absent"), std::string::npos) << notes;
  EXPECT_NE(notes.find("DMA-BUF per exporter unknown"), std::string::npos) << notes;
  EXPECT_NE(notes.find("CONFIG_MEM_ALLOC_PROFILING"), std::string::npos) << notes;
  EXPECT_TRUE((*source)->sample().has_value());
}

}  // namespace
}  // namespace poolscope
#endif
