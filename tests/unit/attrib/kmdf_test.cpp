// KMDF drivers' service-name tag (issue 16): the framework's rule, and the real !poolused leak of
// 'amda' owned by amdacpbus2.sys.
#include "attrib/kmdf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

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

}  // namespace
}  // namespace poolscope::attrib
