// KMDF drivers' service-name tag (issue 16): the framework's rule, and the real !poolused leak of
// 'amda' owned by amdacpbus2.sys.
#include "attrib/kmdf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "attrib/driver_file.h"
#include "parse/poolused.h"
#include "test_paths.h"
#include "test_support.h"

namespace poolscope::attrib {
namespace {

TEST(KmdfDefaultTag, FirstFourCharactersOfTheServiceName) {
  EXPECT_EQ(kmdf_default_tag("amdacpbus2"), "amda");
  EXPECT_EQ(kmdf_default_tag("WinDivert1.2"), "WinD");
}

TEST(KmdfDefaultTag, WdfPrefixIsSkippedInAnyCase) {
  EXPECT_EQ(kmdf_default_tag("WdfTestDrv"), "Test");
  EXPECT_EQ(kmdf_default_tag("wdfsample"), "samp");
}

TEST(KmdfDefaultTag, FewerThanFourCharactersLeftIsFxDr) {
  EXPECT_EQ(kmdf_default_tag("Wdf12"), "FxDr");
  EXPECT_EQ(kmdf_default_tag("abc"), "FxDr");
  EXPECT_EQ(kmdf_default_tag(""), "FxDr");
}

TEST(KmdfServiceTag, RealPoolusedAmdaLeakIsOwnedByAmdacpbus2AtMediumConfidence) {
  const auto poolused =
      poolscope::testing::shared_data("windbg/poolused_01_nickkuo_amda_acpwdfworkitem_leak.txt");
  if (!std::filesystem::exists(poolused)) GTEST_SKIP() << "needs " << poolused;
  const auto driver = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / "kmdf" / "amdacpbus2.sys";
  if (!std::filesystem::exists(driver)) {
    GTEST_SKIP() << "KMDF test driver not built (needs x86_64-w64-mingw32-gcc): " << driver;
  }
  const auto parsed = parse::parse_poolused(poolscope::testing::read_file(poolused));
  ASSERT_TRUE(parsed) << parsed.error().message;
  // The leak: the largest NonPaged user.
  const auto& entries = parsed->snapshot.entries;
  const auto top =
      std::max_element(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        return a.counters.bytes.value_or(0) < b.counters.bytes.value_or(0);
      });
  ASSERT_NE(top, entries.end());
  EXPECT_EQ(display_key(top->key), "amda");
  EXPECT_EQ(top->counters.bytes, 1938325232u);

  auto file = read_driver_file(driver);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_TRUE(imports_wdf(file->image));
  const auto tag = kmdf_service_tag(file->image, driver.stem().string(), true);
  ASSERT_TRUE(tag);
  EXPECT_EQ(tag->tag, top->key);
  EXPECT_EQ(tag->confidence, Confidence::kMedium);
  EXPECT_NE(tag->note.find("KMDF driver (imports WdfVersionBind)"), std::string::npos);
  EXPECT_NE(tag->note.find("standing in for the service name"), std::string::npos);
}

TEST(KmdfServiceTag, DriverWithoutWdfVersionBindHasNone) {
  const auto driver = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / "pool_driver.sys";
  if (!std::filesystem::exists(driver)) GTEST_SKIP() << "test driver not built: " << driver;
  auto file = read_driver_file(driver);
  ASSERT_TRUE(file);
  EXPECT_FALSE(kmdf_service_tag(file->image, "pool_driver", true));
}

// A KMDF driver whose DriverEntry sets WDF_DRIVER_CONFIG.DriverPoolTag: that tag, high, from the
// store in its code; the service-name rule ("samp") does not apply.
TEST(KmdfDriverPoolTag, RecoveredFromDriverEntryAsHigh) {
  const auto driver = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / "kmdf" / "wdfsample.sys";
  if (!std::filesystem::exists(driver)) GTEST_SKIP() << "test driver not built: " << driver;
  auto file = read_driver_file(driver);
  ASSERT_TRUE(file);
  const auto own = kmdf_driver_pool_tag(file->image, file->bytes);
  ASSERT_TRUE(own);
  EXPECT_EQ(display_key(own->tag), "KTag");
  EXPECT_NE(own->rva, 0u);
  const auto tag = kmdf_tag(file->image, file->bytes, "wdfsample", true);
  ASSERT_TRUE(tag);
  EXPECT_EQ(display_key(tag->tag), "KTag");
  EXPECT_EQ(tag->confidence, Confidence::kHigh);
  EXPECT_NE(tag->note.find("DriverPoolTag = 'KTag'"), std::string::npos) << tag->note;
}

// Without a DriverPoolTag store the framework's rule stays medium; a driver without the framework
// gets nothing, even when its code has the same byte pattern.
TEST(KmdfDriverPoolTag, AbsentMeansTheServiceNameRuleAndNoFrameworkMeansNothing) {
  const auto kmdf = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / "kmdf" / "amdacpbus2.sys";
  const auto plain = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / "pool_driver.sys";
  if (!std::filesystem::exists(kmdf) || !std::filesystem::exists(plain)) {
    GTEST_SKIP() << "test drivers not built";
  }
  auto file = read_driver_file(kmdf);
  ASSERT_TRUE(file);
  EXPECT_FALSE(kmdf_driver_pool_tag(file->image, file->bytes));
  const auto tag = kmdf_tag(file->image, file->bytes, "amdacpbus2", true);
  ASSERT_TRUE(tag);
  EXPECT_EQ(display_key(tag->tag), "amda");
  EXPECT_EQ(tag->confidence, Confidence::kMedium);
  auto other = read_driver_file(plain);
  ASSERT_TRUE(other);
  EXPECT_FALSE(kmdf_tag(other->image, other->bytes, "pool_driver", true));
}

// Issue 16: a KMDF driver's WdfMemoryCreate / WdfLookasideListCreate calls go through its
// WdfFunctions table (indexes 192 / 198), not an import: the tags they pass were not found.
const CallSite* site_with_tag(const CallSiteScan& scan, std::string_view tag) {
  for (const auto& site : scan.sites) {
    if (site.tag && display_key(*site.tag) == tag) return &site;
  }
  return nullptr;
}

// A test driver under build/test_drivers, read and scanned; nullopt when it was not built (the
// test then skips, saying so).
struct ScannedDriver {
  DriverFile file;
  CallSiteScan scan;
};
std::optional<ScannedDriver> scanned_test_driver(const std::filesystem::path& relative) {
  const auto path = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / relative;
  if (!std::filesystem::exists(path)) return std::nullopt;
  auto file = read_driver_file(path);
  if (!file) return std::nullopt;
  ScannedDriver out{std::move(*file), {}};
  out.scan = scan_call_sites(out.file.image, out.file.bytes);
  return out;
}

TEST(WdfTableAllocations, FunctionTableGlobalIsFoundFromTheBindInfo) {
  const auto driver = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / "kmdf" / "wdfsample.sys";
  const auto plain = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / "kmdf" / "amdacpbus2.sys";
  if (!std::filesystem::exists(driver) || !std::filesystem::exists(plain)) {
    GTEST_SKIP() << "test drivers not built";
  }
  auto file = read_driver_file(driver);
  ASSERT_TRUE(file);
  const auto table = wdf_function_table(file->image, file->bytes);
  ASSERT_TRUE(table);
  EXPECT_EQ(table->function_count, 444u);
  EXPECT_NE(table->global_rva, 0u);
  // A bind info without L"KmdfLibrary" (amdacpbus2's is a bare buffer) is not taken.
  auto other = read_driver_file(plain);
  ASSERT_TRUE(other);
  EXPECT_FALSE(wdf_function_table(other->image, other->bytes));
}

TEST(WdfTableAllocations, MemoryCreateAndLookasideTagsAreHighWithTheirCallSites) {
  const auto driver = scanned_test_driver("kmdf/wdfsample.sys");
  if (!driver) GTEST_SKIP() << "test driver not built: kmdf/wdfsample.sys";
  const auto& scan = driver->scan;
  const CallSite* memory = site_with_tag(scan, "KMem");
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(memory->api->name, "WdfMemoryCreate");
  EXPECT_EQ(memory->confidence, Confidence::kHigh);
  EXPECT_NE(memory->rva, 0u);
  EXPECT_EQ(memory->size, 256u);
  EXPECT_EQ(memory->pool_type, 0u);
  EXPECT_TRUE(memory->via.empty());
  const CallSite* lookaside = site_with_tag(scan, "KLsd");
  ASSERT_NE(lookaside, nullptr);
  EXPECT_EQ(lookaside->api->name, "WdfLookasideListCreate");
  EXPECT_EQ(lookaside->size, 512u);
  // WdfDriverCreate (index 116) is no allocation: nothing reported for it.
  for (const auto& site : scan.sites) {
    EXPECT_TRUE(site.api->name == "WdfMemoryCreate" || site.api->name == "WdfLookasideListCreate")
        << site.api->name;
  }
}

TEST(WdfTableAllocations, WrapperOfWdfMemoryCreateGivesEachCallersTag) {
  const auto driver = scanned_test_driver("kmdf/wdfsample.sys");
  if (!driver) GTEST_SKIP() << "test driver not built: kmdf/wdfsample.sys";
  const auto& scan = driver->scan;
  for (const char* tag : {"KWrp", "KWr2"}) {
    const CallSite* site = site_with_tag(scan, tag);
    ASSERT_NE(site, nullptr) << tag;
    EXPECT_EQ(site->api->name, "WdfMemoryCreate");
    EXPECT_EQ(site->via.size(), 2u) << tag;  // the caller's call, then the table call
  }
  ASSERT_EQ(scan.wrappers.size(), 1u);
  EXPECT_EQ(scan.wrappers[0].parameter, 0);
  EXPECT_EQ(scan.wrappers[0].api->name, "WdfMemoryCreate");
}

TEST(WdfTableAllocations, CfgDispatchOfATableEntryIsFollowed) {
  const auto driver = scanned_test_driver("kmdf/wdfsample.sys");
  if (!driver) GTEST_SKIP() << "test driver not built: kmdf/wdfsample.sys";
  const auto& scan = driver->scan;
  const CallSite* site = site_with_tag(scan, "KCfg");
  ASSERT_NE(site, nullptr);
  EXPECT_EQ(site->api->name, "WdfMemoryCreate");
  EXPECT_EQ(site->size, 128u);
  // And `who KCfg` finds it in this driver at high confidence.
  const auto found =
      find_tag_in_driver(driver->file.image, driver->file.bytes, tag_from_text("KCfg"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->confidence, Confidence::kHigh);
  EXPECT_EQ(found->call_sites.size(), 1u);
}

TEST(WdfTableAllocations, X86TableCallsWithStackArgumentsGiveTheSameTags) {
  const auto driver = scanned_test_driver("kmdf_x86/wdfsample_x86.sys");
  if (!driver) GTEST_SKIP() << "x86 test driver not built (needs i686-w64-mingw32-gcc)";
  const auto table = wdf_function_table(driver->file.image, driver->file.bytes);
  ASSERT_TRUE(table);
  EXPECT_EQ(table->function_count, 444u);
  const auto& scan = driver->scan;
  std::vector<std::string> tags;
  for (const auto& tag : driver_tags(scan)) tags.push_back(display_key(tag.tag));
  EXPECT_EQ(tags, (std::vector<std::string>{"KLsd", "KMem", "KWr2", "KWrp"}));
  const CallSite* lookaside = site_with_tag(scan, "KLsd");
  ASSERT_NE(lookaside, nullptr);
  EXPECT_EQ(lookaside->api->name, "WdfLookasideListCreate");
  EXPECT_EQ(lookaside->size, 512u);
}

// The same table offsets in a driver that does not bind to the framework are not WDF calls.
TEST(WdfTableAllocations, NoFrameworkBindMeansNoTableCalls) {
  const auto driver = scanned_test_driver("pattern_driver.sys");
  if (!driver) GTEST_SKIP() << "test driver not built: pattern_driver.sys";
  EXPECT_FALSE(imports_wdf(driver->file.image));
  for (const auto& site : driver->scan.sites) EXPECT_EQ(site.api->wdf_table_index, -1);
}

}  // namespace
}  // namespace poolscope::attrib
