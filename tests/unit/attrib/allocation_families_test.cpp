// Issue 16, "every allocation family a real driver uses": each API's tag, pool type and size
// positions (docs/pool_apis.md) checked on a mingw-built driver calling it
// (tests/data/drivers/families_driver.c), and two argument setups real compilers emit that the
// walk back lost: a tag stored as the upper half of a 64-bit store filling a parameters structure,
// and a call in a block entered by one forward jump only (wdm.h's ExAllocatePoolZero).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "attrib/call_sites.h"
#include "attrib/driver_file.h"
#include "test_paths.h"

namespace poolscope::attrib {
namespace {

using Found = std::tuple<std::string, std::optional<std::uint64_t>, std::optional<std::uint64_t>>;

// api name -> (tag, pool type, size) of each call site with a tag.
std::multimap<std::string, Found> families_sites() {
  const auto driver = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / "families_driver.sys";
  std::multimap<std::string, Found> out;
  auto file = read_driver_file(driver);
  if (!file) return out;
  for (const auto& site : scan_call_sites(file->image, file->bytes).sites) {
    if (!site.tag) continue;
    out.emplace(std::string(site.api->name),
                Found{display_key(*site.tag), site.pool_type, site.size});
  }
  return out;
}

bool families_built() {
  return std::filesystem::exists(std::filesystem::path(POOLSCOPE_TEST_DRIVERS) /
                                 "families_driver.sys");
}

TEST(AllocationFamilies, EachApiGivesItsTagPoolTypeAndSize) {
  if (!families_built()) GTEST_SKIP() << "test driver families_driver.sys not built";
  const auto sites = families_sites();
  const auto one = [&sites](const std::string& api) -> Found {
    EXPECT_EQ(sites.count(api), 1u) << api;
    auto it = sites.find(api);
    return it == sites.end() ? Found{} : it->second;
  };
  EXPECT_EQ(one("ExAllocatePoolWithTagPriority"), (Found{"TPri", 512u, 48u}));
  EXPECT_EQ(one("ExInitializePagedLookasideList"), (Found{"PgLa", std::nullopt, 96u}));
  EXPECT_EQ(one("ExInitializeLookasideListEx"), (Found{"LaEx", 1u, 112u}));
  EXPECT_EQ(one("FltAllocatePoolAlignedWithTag"), (Found{"FltA", 1u, 4096u}));
  EXPECT_EQ(one("NdisAllocateMemoryWithTagPriority"), (Found{"NdPr", std::nullopt, 200u}));
  EXPECT_EQ(one("VideoPortAllocatePool"), (Found{"VidP", 0u, 24u}));
}

TEST(AllocationFamilies, TagInTheUpperHalfOfA64BitStructureStoreIsFound) {
  if (!families_built()) GTEST_SKIP() << "test driver families_driver.sys not built";
  // `movabs rax, 0x6c50624e000c0180; mov [rsp+40h], rax`: Header and PoolTag in one store.
  const auto sites = families_sites();
  auto it = sites.find("NdisAllocateNetBufferPool");
  ASSERT_NE(it, sites.end());
  EXPECT_EQ(std::get<0>(it->second), "NbPl");
}

TEST(AllocationFamilies, InlineExAllocatePoolZeroGivesTheTagAtBothCalls) {
  if (!families_built()) GTEST_SKIP() << "test driver families_driver.sys not built";
  // The ExAllocatePool2 call sits in a block entered only by `jne` after the tag was set.
  const auto sites = families_sites();
  auto with_tag = sites.find("ExAllocatePoolWithTag");
  auto pool2 = sites.find("ExAllocatePool2");
  ASSERT_NE(with_tag, sites.end());
  ASSERT_NE(pool2, sites.end());
  EXPECT_EQ(with_tag->second, (Found{"Zer0", 512u | 1024u, 72u}));
  EXPECT_EQ(pool2->second, (Found{"Zer0", 0x40u, 72u}));
}

}  // namespace
}  // namespace poolscope::attrib
