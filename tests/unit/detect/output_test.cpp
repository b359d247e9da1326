// The text report: the "Largest consumers" table has the OWNER column that snapshot and top have.
#include "detect/output.h"

#include <gtest/gtest.h>

#include <string>

namespace poolscope::detect {
namespace {

Consumer consumer(PoolKey key, PoolKind pool, double outstanding, double bytes, std::string owner) {
  Consumer c;
  c.key = std::move(key);
  c.pool = pool;
  c.outstanding = outstanding;
  c.bytes = bytes;
  c.owner = std::move(owner);
  return c;
}

// The line of the consumers table that starts with key.
std::string line_of(const std::string& text, const std::string& key) {
  const auto table = text.find("Largest consumers now:");
  if (table == std::string::npos) return "";
  const auto at = text.find("\n  " + key + " ", table);
  if (at == std::string::npos) return "";
  return text.substr(at + 1, text.find('\n', at + 1) - at - 1);
}

TEST(ReportText, LargestConsumersShowTheOwner) {
  Report r;
  r.samples = 2;
  r.top.push_back(consumer(tag_from_text("Drsd"), PoolKind::kPaged, 27, 22400, "drsd.sys"));
  r.top.push_back(consumer(slab_cache("kcopyd_job"), PoolKind::kUnreclaimable, 8, 3000, ""));
  r.top.push_back(consumer(slab_cache("kmalloc-64"), PoolKind::kUnreclaimable, 5524, 353536,
                           "kmalloc (generic)"));
  const std::string text = report_text(r);
  const std::string header = line_of(text, "KEY");
  EXPECT_NE(header.find("OWNER"), std::string::npos) << text;
  const std::string drsd = line_of(text, "Drsd");
  EXPECT_TRUE(drsd.ends_with("  drsd.sys")) << text;
  EXPECT_NE(drsd.find("21.9 KiB"), std::string::npos) << drsd;
  // A key nothing names says so with a dash, not an empty cell.
  EXPECT_TRUE(line_of(text, "kcopyd_job").ends_with("  -")) << text;
  EXPECT_TRUE(line_of(text, "kmalloc-64").ends_with("  kmalloc (generic)")) << text;
  // The owner starts in the same column on every line.
  EXPECT_EQ(header.find("OWNER"), drsd.find("drsd.sys"));
}

TEST(ReportText, NoOwnerColumnWhenNothingNamesOne) {
  Report r;
  r.samples = 2;
  r.top.push_back(consumer(tag_from_text("Drsd"), PoolKind::kPaged, 27, 22400, ""));
  const std::string text = report_text(r);
  EXPECT_EQ(text.find("OWNER"), std::string::npos) << text;
  EXPECT_TRUE(line_of(text, "Drsd").ends_with("21.9 KiB")) << text;
}

}  // namespace
}  // namespace poolscope::detect

namespace poolscope::detect {
namespace {

// Issue 20: `watch` lines ran past 400 characters; every line it prints goes through wrap_text.
TEST(WatchLines, FitIn120Columns) {
  const std::string head =
      "2026-12-07T12:00:00Z leak kmalloc-256: grew 52,000 objects (12.7 MiB) in 5m 0s at a steady "
      "rate (r=0.998) while every other cache stayed flat; the kernel never gave them back under "
      "the memory pressure the test applied, and the process that ran while it grew is "
      "leaker (pid 4242, started 12:00:01), which also holds 52,000 sockets";
  const std::string text = wrap_text(head, 120, "    ");
  std::size_t start = 0, lines = 0;
  std::string rejoined;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    const std::string line = text.substr(start, end - start);
    EXPECT_LE(line.size(), 120u) << line;
    if (lines > 0) {
      EXPECT_EQ(line.rfind("    ", 0), 0u) << line;
      rejoined += " " + line.substr(4);
    } else {
      rejoined = line;
    }
    ++lines;
    start = end + 1;
  }
  EXPECT_GE(lines, 3u);
  EXPECT_EQ(rejoined, head);  // nothing lost, only broken between words
}

}  // namespace
}  // namespace poolscope::detect
