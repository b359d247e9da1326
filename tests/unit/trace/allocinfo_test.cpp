#include "trace/allocinfo.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace poolscope::trace {
namespace {

// This machine's kernel (6.18 without CONFIG_MEM_ALLOC_PROFILING) has no /proc/allocinfo: the
// fixture follows the format of lib/alloc_tag.c (allocinfo_show / codetag_to_text).
TEST(Allocinfo, ReadsSitesWithAndWithoutModule) {
  // The views point into the text: it must outlive the result.
  const std::string text = testing::read_file(testing::test_data("trace/allocinfo.txt"));
  auto parsed = parse_allocinfo(text);
  EXPECT_EQ(parsed.version, "1.0");
  EXPECT_TRUE(parsed.diagnostics.empty());
  ASSERT_EQ(parsed.sites.size(), 5u);
  EXPECT_EQ(parsed.sites[0].bytes, 0u);
  EXPECT_EQ(parsed.sites[1].bytes, 12288u);
  EXPECT_EQ(parsed.sites[1].calls, 3u);
  EXPECT_EQ(parsed.sites[1].file, "fs/eventfd.c");
  EXPECT_EQ(parsed.sites[1].line, 390u);
  EXPECT_EQ(parsed.sites[1].function, "do_eventfd");
  EXPECT_EQ(parsed.sites[1].module, "");
  EXPECT_EQ(parsed.sites[3].module, "ext4");
  EXPECT_EQ(parsed.sites[3].function, "ext4_fill_super");
  EXPECT_EQ(parsed.sites[4].extra, "accurate:no");
}

TEST(Allocinfo, MalformedLinesAreDiagnostics) {
  auto parsed = parse_allocinfo(
      "allocinfo - version: 1.0\n12 x mm/a.c:1 func:f\n"
      "1 2 mm/a.c func:f\n1 2 mm/a.c:3 nofunc\n1 2 mm/a.c:3 func:ok\n");
  EXPECT_EQ(parsed.sites.size(), 1u);
  ASSERT_EQ(parsed.diagnostics.size(), 3u);
  EXPECT_EQ(parsed.diagnostics[0].line, 2u);
  EXPECT_TRUE(parse_allocinfo("").sites.empty());
}

}  // namespace
}  // namespace poolscope::trace
