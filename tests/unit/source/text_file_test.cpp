// Bounded reading of saved inputs (issue 21 item 2): lines streamed with a cap, whole reads under a
// size cap, directories refused, and the one listing of bad lines.
#include "source/text_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace poolscope {
namespace {

namespace fs = std::filesystem;

struct TempFile {
  fs::path path = fs::temp_directory_path() /
                  ("poolscope-text-file-" +
                   std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
  explicit TempFile(const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

TEST(TextFile, LinesAreStreamedWithoutTheirEndings) {
  TempFile file("one\r\ntwo\n\nlast");
  auto text = TextFile::open(file.path.string());
  ASSERT_TRUE(text) << text.error().message;
  auto head = text->head(5);
  ASSERT_TRUE(head);
  EXPECT_EQ(*head, "one\r\n");
  std::vector<std::string> lines;
  std::string_view line;
  for (;;) {
    auto more = text->next_line(line);
    ASSERT_TRUE(more) << more.error().message;
    if (!*more) break;
    lines.emplace_back(line);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "", "last"}));
  EXPECT_EQ(text->line_number(), 4u);
}

TEST(TextFile, LineLongerThanTheCapIsAnErrorWithItsNumber) {
  TempFile file("short\n" + std::string(300 * 1024, 'x') + "\n");
  auto text = TextFile::open(file.path.string());
  ASSERT_TRUE(text);
  std::string_view line;
  ASSERT_TRUE(text->next_line(line, 100 * 1024).value());
  auto more = text->next_line(line, 100 * 1024);
  ASSERT_FALSE(more);
  EXPECT_EQ(more.error().code, ErrorCode::kInput);
  EXPECT_NE(more.error().message.find(":2: a line longer than 102400 bytes"), std::string::npos)
      << more.error().message;
}

TEST(TextFile, WholeReadHasASizeCap) {
  TempFile file(std::string(3 << 20, 'a'));
  auto text = TextFile::open(file.path.string());
  ASSERT_TRUE(text);
  auto all = text->read_all(std::uint64_t{2} << 20);
  ASSERT_FALSE(all);
  EXPECT_NE(all.error().message.find("the limit is 2 MiB"), std::string::npos)
      << all.error().message;
  auto again = TextFile::open(file.path.string());
  ASSERT_TRUE(again);
  auto whole = again->read_all(std::uint64_t{4} << 20);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->size(), std::size_t{3} << 20);
}

TEST(TextFile, DirectoryAndMissingFileAreInputErrors) {
  auto dir = TextFile::open(fs::temp_directory_path().string());
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code, ErrorCode::kInput);
  EXPECT_NE(dir.error().message.find("is a directory"), std::string::npos);
  auto missing = check_regular_file((fs::temp_directory_path() / "poolscope-no-such").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot open"), std::string::npos);
}

TEST(TextFile, DiagnosticsListShowsTheFirstAndCountsTheRest) {
  std::vector<parse::Diagnostic> kept = {{3, "bad"}, {7, "worse"}};
  EXPECT_EQ(list_diagnostics("f", kept, 1), "f:3: bad\n... and 1 more\n");
  EXPECT_EQ(list_diagnostics("f", kept, 10, 5000), "f:3: bad\nf:7: worse\n... and 4998 more\n");
}

}  // namespace
}  // namespace poolscope
