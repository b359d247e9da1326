// export/driver_output: the `drivers` and `who TAG` answers over the test drivers built with mingw.
#include "render/driver_output.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_paths.h"

namespace poolscope {
namespace {

std::optional<attrib::DriverTree> test_driver_tree() {
  auto tree = attrib::list_driver_tree(POOLSCOPE_TEST_DRIVERS);
  if (!tree || tree->files.empty()) return std::nullopt;
  return std::move(*tree);
}

TEST(DriverOutput, DriversTableListsEachDriversHighTagsAndTheKmdfRule) {
  auto tree = test_driver_tree();
  if (!tree) GTEST_SKIP() << "test drivers not built (needs mingw-w64): " << POOLSCOPE_TEST_DRIVERS;
  const DriversReport table = drivers_report(POOLSCOPE_TEST_DRIVERS, *tree, false);
  EXPECT_NE(table.text.find("pool_driver.sys"), std::string::npos) << table.text;
  EXPECT_NE(table.text.find("stQt"), std::string::npos) << table.text;
  EXPECT_NE(table.text.find("amda(medium, KMDF)"), std::string::npos) << table.text;
  EXPECT_NE(table.text.find("read as PE files"), std::string::npos) << table.text;
  // localtag.txt: one line per high tag, naming its driver.
  EXPECT_NE(table.localtag.find("stQt - pool_driver.sys - found by poolscope"), std::string::npos)
      << table.localtag;
  const DriversReport json = drivers_report(POOLSCOPE_TEST_DRIVERS, *tree, true);
  const auto doc = nlohmann::json::parse(json.text);
  EXPECT_EQ(doc["files_read"].get<std::size_t>(), tree->files.size());
  bool kmdf_medium = false;
  for (const auto& driver : doc["drivers"]) {
    for (const auto& tag : driver["tags"]) {
      if (tag["tag"] == "amda") kmdf_medium = tag["confidence"] == "medium";
    }
  }
  EXPECT_TRUE(kmdf_medium) << json.text;
}

TEST(DriverOutput, WhoNamesTheDriverWhosePoolCallPassesTheTagHighFirst) {
  auto tree = test_driver_tree();
  if (!tree) GTEST_SKIP() << "test drivers not built (needs mingw-w64): " << POOLSCOPE_TEST_DRIVERS;
  TagOwnerSearch search;
  search.folders = 1;
  search.groups.emplace_back(POOLSCOPE_TEST_DRIVERS, std::move(*tree));
  const std::string json = who_tag_report(tag_from_text("stQt"), std::nullopt, search, true);
  const auto doc = nlohmann::json::parse(json);
  ASSERT_FALSE(doc["owners"].empty()) << json;
  EXPECT_EQ(doc["owners"][0]["confidence"], "high") << json;
  EXPECT_NE(doc["owners"][0]["file"].get<std::string>().find("pool_driver"), std::string::npos);
  EXPECT_FALSE(doc["owners"][0]["call_sites"].empty());
}

TEST(DriverOutput, WhoWithNothingFoundSaysWhatWasSearchedAndWhatToTry) {
  TagOwnerSearch search;
  search.folders = 0;
  search.drivers_given = true;  // the folders given did not exist
  search.searched.push_back("C:\\Windows\\System32\\drivers does not exist");
  const std::string text = who_tag_report(tag_from_text("Zzzz"), std::nullopt, search, false);
  EXPECT_NE(text.find("no owner found in 0 folder(s)"), std::string::npos) << text;
  EXPECT_NE(text.find("searched: C:\\Windows\\System32\\drivers does not exist"), std::string::npos)
      << text;
  EXPECT_NE(text.find("try: pass --pooltag FILE"), std::string::npos) << text;
  EXPECT_NE(text.find("pooltag.txt: not loaded"), std::string::npos) << text;
  // No folder given and none on this system (Linux): said as such, not as a failed search.
  search.drivers_given = false;
  const std::string linux_text = who_tag_report(tag_from_text("Zzzz"), std::nullopt, search, false);
  EXPECT_NE(linux_text.find("drivers: not searched"), std::string::npos) << linux_text;
}

}  // namespace
}  // namespace poolscope
