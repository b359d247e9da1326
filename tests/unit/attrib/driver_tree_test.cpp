// Driver trees: `drivers DIR` and `who --drivers DIR` descend into package subfolders (issue 16).
#include "attrib/driver_tree.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace poolscope::attrib {
namespace {

namespace fs = std::filesystem;

class DriverTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("poolscope-driver-tree-" + std::to_string(std::random_device{}()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void touch(const fs::path& relative) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << "x";
  }
  fs::path root_;
};

TEST_F(DriverTreeTest, DriverStoreLayoutIsSearchedOneFolderPerPackage) {
  touch("a.sys");
  touch("FileRepository/amdacpbus.inf_amd64_1/amdacpbus2.sys");
  touch("FileRepository/netwtw.inf_amd64_2/Netwtw10.SYS");  // extension case ignored
  touch("FileRepository/netwtw.inf_amd64_2/netwtw.inf");
  const auto tree = list_driver_tree(root_);
  ASSERT_TRUE(tree) << tree.error().message;
  ASSERT_EQ(tree->files.size(), 3u);
  EXPECT_EQ(tree->files[0].filename(), "amdacpbus2.sys");  // sorted by path
  EXPECT_EQ(tree->folders, 4u);                            // root, FileRepository, two packages
  EXPECT_EQ(tree->other_files, 1u);
  EXPECT_TRUE(tree->notes.empty());
  EXPECT_EQ(describe_driver_tree(root_, *tree).substr(0, 23), "3 .sys files in 4 folde");
}

TEST_F(DriverTreeTest, EmptyResultSaysWhatWasSearched) {
  touch("pkg/readme.txt");
  touch("pkg/driver.inf");
  const auto tree = list_driver_tree(root_);
  ASSERT_TRUE(tree);
  EXPECT_TRUE(tree->files.empty());
  const std::string text = describe_driver_tree(root_, *tree);
  EXPECT_NE(text.find("0 .sys files in 2 folders under " + root_.string()), std::string::npos)
      << text;
  EXPECT_NE(text.find("2 other files not read"), std::string::npos) << text;
}

TEST_F(DriverTreeTest, DepthIsBoundedAndSaysSo) {
  touch("1/2/3/deep.sys");
  touch("1/shallow.sys");
  DriverTreeOptions options;
  options.max_depth = 1;
  const auto tree = list_driver_tree(root_, options);
  ASSERT_TRUE(tree);
  ASSERT_EQ(tree->files.size(), 1u);
  EXPECT_EQ(tree->files[0].filename(), "shallow.sys");
  ASSERT_EQ(tree->notes.size(), 1u);
  EXPECT_NE(tree->notes[0].find("deeper than 1 levels not searched"), std::string::npos);
}

TEST_F(DriverTreeTest, SymlinkLoopIsRefusedNotFollowed) {
  touch("pkg/one.sys");
  std::error_code ec;
  fs::create_directory_symlink(root_, root_ / "pkg" / "loop", ec);
  if (ec) GTEST_SKIP() << "cannot create a directory symlink here: " << ec.message();
  const auto tree = list_driver_tree(root_);
  ASSERT_TRUE(tree);
  EXPECT_EQ(tree->files.size(), 1u);
  ASSERT_EQ(tree->notes.size(), 1u);
  EXPECT_NE(tree->notes[0].find("already searched"), std::string::npos) << tree->notes[0];
}

TEST_F(DriverTreeTest, FileCapIsANote) {
  touch("a.sys");
  touch("b.sys");
  touch("c.sys");
  DriverTreeOptions options;
  options.max_files = 2;
  const auto tree = list_driver_tree(root_, options);
  ASSERT_TRUE(tree);
  EXPECT_EQ(tree->files.size(), 2u);
  ASSERT_EQ(tree->notes.size(), 1u);
  EXPECT_NE(tree->notes[0].find("more than 2 driver files"), std::string::npos);
}

TEST_F(DriverTreeTest, NotAFolderIsAnInputError) {
  touch("file.sys");
  const auto tree = list_driver_tree(root_ / "file.sys");
  ASSERT_FALSE(tree);
  EXPECT_NE(tree.error().message.find("is not a folder of drivers"), std::string::npos);
}

}  // namespace
}  // namespace poolscope::attrib
