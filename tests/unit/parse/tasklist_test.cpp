#include "parse/tasklist.h"

#include <gtest/gtest.h>

#include "core/names.h"

namespace poolscope::parse {
namespace {

// Recognised and parsed, or an empty result after a test failure.
ParsedTasklist parse_ok(const std::string& text) {
  EXPECT_TRUE(looks_like_tasklist(text));
  auto parsed = parse_tasklist(text);
  EXPECT_TRUE(parsed) << parsed.error().message;
  return parsed ? std::move(*parsed) : ParsedTasklist{};
}

// Issue 17: the Proc census needs the number of live processes beside imported poolmon screens;
// import had no way to take a process list.
TEST(Tasklist, TheTableGivesEveryProcessByItsColumns) {
  const std::string text =
      "\r\n"
      "Image Name                     PID Session Name        Session#    Mem Usage\r\n"
      "========================= ======== ================ =========== ============\r\n"
      "System Idle Process              0 Services                   0          8 K\r\n"
      "System                           4 Services                   0      2,468 K\r\n"
      "Secure System                  140 Services                   0     41,200 K\r\n"
      "amdfendrsr.exe                3312 Services                   0      5,120 K\r\n";
  const ParsedTasklist parsed = parse_ok(text);
  EXPECT_TRUE(parsed.diagnostics.empty());
  const auto& p = parsed.sample.processes;
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].name, "System Idle Process");
  EXPECT_EQ(p[0].pid, 0u);
  EXPECT_EQ(p[2].name, "Secure System");
  EXPECT_EQ(p[3].pid, 3312u);
}

TEST(Tasklist, TheCsvFormIsReadAndABadPidIsNamed) {
  const std::string text =
      "\"Image Name\",\"PID\",\"Session Name\",\"Session#\",\"Mem Usage\"\n"
      "\"System\",\"4\",\"Services\",\"0\",\"2,468 K\"\n"
      "\"a \"\"quoted\"\" name.exe\",\"812\",\"Console\",\"1\",\"1,024 K\"\n"
      "\"broken.exe\",\"x12\",\"Console\",\"1\",\"1 K\"\n";
  const ParsedTasklist parsed = parse_ok(text);
  ASSERT_EQ(parsed.sample.processes.size(), 2u);
  EXPECT_EQ(parsed.sample.processes[1].name, "a \"quoted\" name.exe");
  ASSERT_EQ(parsed.diagnostics.size(), 1u);
  EXPECT_EQ(parsed.diagnostics[0].line, 4u);
  EXPECT_NE(parsed.diagnostics[0].message.find("x12"), std::string::npos);
}

TEST(Tasklist, AHugeImageNameIsCutWhereItEnters) {
  const std::string text = "\"Image Name\",\"PID\"\n\"" + std::string(100000, 'a') + "\",\"4\"\n";
  const ParsedTasklist parsed = parse_ok(text);
  ASSERT_EQ(parsed.sample.processes.size(), 1u);
  EXPECT_EQ(parsed.sample.processes[0].name.size(), kMaxProcessNameBytes);
}

TEST(Tasklist, OtherTextIsNotTasklist) {
  EXPECT_FALSE(looks_like_tasklist("Image Name  PID\nSystem 4\n"));  // no "=" rule
  EXPECT_FALSE(looks_like_tasklist(" Tag  Type  Allocs\n"));
  EXPECT_FALSE(parse_tasklist("hello\n").has_value());
}

}  // namespace
}  // namespace poolscope::parse
