// KMDF drivers' service-name tag (issue 16): the framework's rule, and the real !poolused leak of
// 'amda' owned by amdacpbus2.sys.
#include "attrib/kmdf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "attrib/driver_file.h"
#include "parse/poolused.h"
#include "test_support.h"
#include "test_paths.h"

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

}  // namespace
}  // namespace poolscope::attrib
