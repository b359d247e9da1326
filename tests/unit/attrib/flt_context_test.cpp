// Minifilter context tags (attrib/flt_context.h) on the mingw-built minifilter test driver.
#include "attrib/flt_context.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "attrib/driver_folder.h"
#include "test_paths.h"

namespace poolscope::attrib {
namespace {

std::optional<DriverFile> test_driver(const char* name) {
  const auto path = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / name;
  if (!std::filesystem::exists(path)) return std::nullopt;
  auto file = read_driver_file(path);
  if (!file) return std::nullopt;
  return std::move(*file);
}

TEST(FltContextTags, RegistrationArrayGivesEachContextTypesTagAtHigh) {
  auto file = test_driver("minifilter.sys");
  if (!file) GTEST_SKIP() << "minifilter test driver not built (needs mingw-w64)";
  ASSERT_TRUE(imports_flt_contexts(file->image));
  const auto tags = flt_context_tags(file->image, file->bytes);
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(display_key(tags[0].tag), "MfSc");
  EXPECT_EQ(display_key(tags[1].tag), "MfSh");
  for (const auto& tag : tags) EXPECT_EQ(tag.confidence, Confidence::kHigh);
  EXPECT_NE(tags[0].note.find("stream contexts"), std::string::npos) << tags[0].note;
  EXPECT_NE(tags[1].note.find("stream handle contexts"), std::string::npos) << tags[1].note;
  // who's question: the registration answers it though no pool call passes the tag.
  const auto found = find_tag_in_driver(file->image, file->bytes, tag_from_text("MfSh"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->confidence, Confidence::kHigh);
  EXPECT_TRUE(found->call_sites.empty());
}

TEST(FltContextTags, DriverWithoutFltAllocateContextHasNone) {
  auto file = test_driver("pool_driver.sys");
  if (!file) GTEST_SKIP() << "pool test driver not built (needs mingw-w64)";
  EXPECT_FALSE(imports_flt_contexts(file->image));
  EXPECT_TRUE(flt_context_tags(file->image, file->bytes).empty());
}

// A registration cut at the end of its section (no FLT_CONTEXT_END) is not taken for one.
TEST(FltContextTags, ArrayWithoutItsEndIsNotARegistration) {
  auto file = test_driver("minifilter.sys");
  if (!file) GTEST_SKIP() << "minifilter test driver not built (needs mingw-w64)";
  std::vector<std::byte> bytes(file->bytes.begin(), file->bytes.end());
  // Overwrite every FLT_CONTEXT_END entry's type (0xffff followed by zeros) with a bad type.
  for (std::size_t i = 0; i + 56 <= bytes.size(); i += 8) {
    if (bytes[i] == std::byte{0xFF} && bytes[i + 1] == std::byte{0xFF}) {
      bool rest_zero = true;
      for (std::size_t k = 2; k < 56 && rest_zero; ++k) rest_zero = bytes[i + k] == std::byte{0};
      if (rest_zero) bytes[i] = bytes[i + 1] = std::byte{0x77};
    }
  }
  EXPECT_TRUE(flt_context_tags(file->image, bytes).empty());
}

}  // namespace
}  // namespace poolscope::attrib
