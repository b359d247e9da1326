// The live Linux source against the real kernel: totals match /proc/meminfo, aliases match sysfs.
#include "source/linux/live_linux.h"

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/cli_support.h"
#include "parse/slabinfo.h"
#include "test_support.h"
#include "test_paths.h"

namespace poolscope {
namespace {

#define REQUIRE_READABLE_SLABINFO()                                                         \
  do {                                                                                      \
    if (::access("/proc/slabinfo", R_OK) != 0) {                                            \
      GTEST_SKIP() << "/proc/slabinfo is not readable here (needs root and a SLUB kernel)"; \
    }                                                                                       \
  } while (0)

TEST(LiveLinux, TotalsMatchMeminfoAndEntriesSumToThem) {
  REQUIRE_READABLE_SLABINFO();
  SystemClock clock;
  auto source = open_live_source(clock);
  ASSERT_TRUE(source.has_value()) << source.error().message;
  auto snap = (*source)->sample();
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  auto meminfo = parse::parse_meminfo(testing::read_file("/proc/meminfo"));
  ASSERT_TRUE(meminfo.has_value());
  const PoolTotal* unreclaimable = find_total(*snap, PoolKind::kUnreclaimable);
  const PoolTotal* reclaimable = find_total(*snap, PoolKind::kReclaimable);
  ASSERT_NE(unreclaimable, nullptr);
  ASSERT_NE(reclaimable, nullptr);
  // Read a moment apart: the kernel's counters move a little between the two reads.
  auto near = [](std::uint64_t a, std::uint64_t b) {
    auto diff = a > b ? a - b : b - a;
    return diff <= std::max<std::uint64_t>(8u << 20, b / 20);
  };
  EXPECT_TRUE(near(*unreclaimable->used_bytes, *meminfo->s_unreclaim));
  EXPECT_TRUE(near(*reclaimable->used_bytes, *meminfo->s_reclaimable));
  std::uint64_t sum[2] = {0, 0};
  for (const auto& e : snap->entries) {
    if (e.pool != PoolKind::kReclaimable && e.pool != PoolKind::kUnreclaimable) continue;
    sum[e.pool == PoolKind::kReclaimable ? 1 : 0] += e.counters.bytes.value_or(0);
  }
  // Slab pages counted per cache (and slab:large-kmalloc, what SUnreclaim counts in no cache) add
  // up to the kernel's own SReclaimable / SUnreclaim; kernel memory outside slab is in other pools.
  EXPECT_TRUE(near(sum[0], *meminfo->s_unreclaim)) << sum[0] << " vs " << *meminfo->s_unreclaim;
  EXPECT_TRUE(near(sum[1], *meminfo->s_reclaimable)) << sum[1] << " vs " << *meminfo->s_reclaimable;
}

TEST(LiveLinux, MergedCachesListTheirAliasesFromSysfs) {
  REQUIRE_READABLE_SLABINFO();
  namespace fs = std::filesystem;
  if (!fs::exists("/sys/kernel/slab")) GTEST_SKIP() << "/sys/kernel/slab is absent on this kernel";
  SystemClock clock;
  auto source = open_live_source(clock);
  ASSERT_TRUE(source.has_value());
  auto snap = (*source)->sample();
  ASSERT_TRUE(snap.has_value());
  std::size_t checked = 0;
  for (const auto& e : snap->entries) {
    for (const auto& alias : e.aliases) {
      auto a = fs::read_symlink("/sys/kernel/slab/" + alias);
      auto b = fs::read_symlink("/sys/kernel/slab/" + e.key.name);
      EXPECT_EQ(a.filename(), b.filename()) << alias << " is listed as an alias of " << e.key.name;
      ++checked;
    }
    std::string reclaim = testing::read_file("/sys/kernel/slab/" + e.key.name + "/reclaim_account");
    if (!reclaim.empty()) {
      EXPECT_EQ(e.pool == PoolKind::kReclaimable, reclaim[0] == '1') << e.key.name;
    }
  }
  if (checked == 0) GTEST_SKIP() << "no merged caches on this kernel (slab_nomerge?)";
}

TEST(LiveLinux, UnreadableSlabinfoSaysRunAsRootAndExits3) {
  // A path that exists but that we cannot read, whoever we are: a directory's fd reads EISDIR,
  // so use a file with mode 000 when not root, and a missing path otherwise.
  SystemClock clock;
  LinuxPaths paths;
  paths.slabinfo = "/nonexistent/slabinfo";
  auto source = open_linux_source(clock, paths);
  ASSERT_FALSE(source.has_value());
  EXPECT_EQ(source.error().code, ErrorCode::kEnvironment);
  EXPECT_EQ(exit_code_for(source.error().code), 3);
  EXPECT_NE(source.error().message.find("/nonexistent/slabinfo"), std::string::npos);
}

TEST(LiveLinux, NonRootUserGetsAClearMessage) {
  if (!testing::is_root()) {
    auto r = testing::run_poolscope("snapshot");
    if (::access("/proc/slabinfo", R_OK) != 0) {
      EXPECT_EQ(r.exit_code, 3);
      EXPECT_NE(r.out.find("run poolscope as root"), std::string::npos) << r.out;
    }
    return;
  }
  // As root: drop to nobody in a child via setpriv when available, else skip.
  if (::system("command -v setpriv >/dev/null 2>&1") != 0) GTEST_SKIP() << "setpriv not installed";
  std::string cmd = std::string("setpriv --reuid=65534 --regid=65534 --clear-groups ") +
                    POOLSCOPE_BINARY + " snapshot 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[512];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = ::pclose(pipe);
  EXPECT_EQ(WEXITSTATUS(status), 3) << out;
  EXPECT_NE(out.find("run poolscope as root"), std::string::npos) << out;
}

TEST(Cli, SnapshotJsonHasTheDocumentedShape) {
  REQUIRE_READABLE_SLABINFO();
  auto r = testing::run_poolscope("snapshot --format json --top 5");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["source"], "live:linux");
  EXPECT_TRUE(j["totals"].contains("unreclaimable_bytes"));
  EXPECT_TRUE(j["totals"].contains("reclaimable_bytes"));
  ASSERT_EQ(j["entries"].size(), 5u);
  for (const auto& e : j["entries"]) {
    for (const char* k : {"key", "pool", "allocs", "frees", "outstanding", "bytes"}) {
      EXPECT_TRUE(e.contains(k)) << k;
    }
    EXPECT_TRUE(e["pool"] == "unreclaimable" || e["pool"] == "reclaimable");
  }
  EXPECT_GE(j["entries"][0]["bytes"].get<std::uint64_t>(),
            j["entries"][1]["bytes"].get<std::uint64_t>());
}

TEST(Cli, UnknownFileFormatListsFormatsAndExits2) {
  auto path = std::filesystem::temp_directory_path() / "poolscope_unknown_format.txt";
  {
    std::ofstream out(path);
    out << "this is not a pool dump\n";
  }
  auto r = testing::run_poolscope("snapshot --source " + path.string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("Known formats"), std::string::npos) << r.out;
  std::filesystem::remove(path);
}

TEST(Cli, MalformedLineGivesFileAndLineAndNothingPartial) {
  auto path = std::filesystem::temp_directory_path() / "poolscope_bad_slabinfo.txt";
  {
    std::ofstream out(path);
    out << "slabinfo - version: 2.1\n"
           "dentry 10 21 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n"
           "kmalloc-64 x 5440 64 64 1 : tunables 0 0 0 : slabdata 85 85 0\n";
  }
  auto r = testing::run_poolscope("snapshot --source " + path.string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(path.string() + ":3:"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("dentry"), std::string::npos) << "a partial table was printed: " << r.out;
  auto lenient = testing::run_poolscope("snapshot --allow-bad-lines --source " + path.string());
  EXPECT_EQ(lenient.exit_code, 0) << lenient.out;
  EXPECT_NE(lenient.out.find("dentry"), std::string::npos);
  EXPECT_NE(lenient.out.find("1 malformed line(s) skipped"), std::string::npos);
  std::filesystem::remove(path);
}

TEST(Cli, UsageErrorsExit2) {
  EXPECT_EQ(testing::run_poolscope("snapshot --sort nonsense --source /dev/null").exit_code, 2);
  EXPECT_EQ(testing::run_poolscope("frobnicate").exit_code, 2);
  EXPECT_EQ(testing::run_poolscope("").exit_code, 2);
}

}  // namespace
}  // namespace poolscope
