// Issue 20, truthful messages: the next steps under a finding name files that exist on the running
// kernel and poolscope's own verbs first, and do not ask to find a driver the evidence names.
#include <gtest/gtest.h>

#include "detect/detector.h"
#include "detect/output.h"

namespace poolscope::detect {
namespace {

Finding finding(KeyKind kind, const std::string& name, const std::string& owner = "") {
  Finding f;
  f.key = PoolKey{kind, name};
  f.pool = kind == KeyKind::kPoolTag ? PoolKind::kNonPaged : PoolKind::kUnreclaimable;
  f.verdict = Verdict::kLeak;
  f.owner = owner;
  return f;
}

std::string steps_text(const Finding& f) {
  std::string text;
  for (const auto& step : finding_next_steps(f, "r.db")) text += step + "\n";
  return text;
}

TEST(NextStepsText, KmallocAdviceNamedSysfsAllocCallsWhichLinux514Removed) {
  const std::string text = steps_text(finding(KeyKind::kSlabCache, "kmalloc-192"));
  // poolscope's own trace first, then SLUB user tracking, which needs slub_debug=U.
  const auto trace = text.find("`poolscope trace --cache kmalloc-192` as root");
  const auto slub = text.find("slub_debug=U,kmalloc-192");
  ASSERT_NE(trace, std::string::npos) << text;
  ASSERT_NE(slub, std::string::npos) << text;
  EXPECT_LT(trace, slub) << text;
  EXPECT_NE(text.find("/sys/kernel/debug/slab/kmalloc-192/alloc_traces (debugfs, Linux 5.14+"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("alloc_calls before 5.14"), std::string::npos) << text;
}

TEST(NextStepsText, WindowsStepAskedToFindADriverTheOwnerAlreadyNamed) {
  // poolmon's Mapped_Driver column named it.
  const std::string named = steps_text(finding(KeyKind::kPoolTag, "NtfC", "[ntfs.sys  -  FCB]"));
  EXPECT_EQ(named.find("poolscope who"), std::string::npos) << named;
  EXPECT_NE(named.find("NtfC is ntfs.sys's (the owner above)"), std::string::npos) << named;
  EXPECT_NE(named.find("`poolscope trace --tag NtfC --duration 60s` as Administrator"),
            std::string::npos)
      << named;
  // "Unknown Driver" names none: then who, and still poolscope's trace before other tools.
  const std::string unknown = steps_text(finding(KeyKind::kPoolTag, "WCsc", "Unknown Driver"));
  EXPECT_NE(unknown.find("`poolscope who WCsc` on that Windows machine"), std::string::npos)
      << unknown;
  EXPECT_NE(unknown.find("`poolscope trace --tag WCsc --duration 60s` as Administrator"),
            std::string::npos)
      << unknown;
  EXPECT_EQ(unknown.find("xperf"), std::string::npos) << unknown;
}

TEST(NextStepsText, OwnerDriverIsTheFirstSysFileTheOwnerTextNames) {
  EXPECT_EQ(owner_driver("[ntfs.sys  -  FCB]"), "ntfs.sys");
  EXPECT_EQ(owner_driver("wdivnear.sys, other.sys"), "wdivnear.sys");
  EXPECT_EQ(owner_driver("Unknown Driver"), "");
  EXPECT_EQ(owner_driver("[nt!io  -  File objects]"), "");
  EXPECT_EQ(owner_driver(".sys"), "");
  EXPECT_EQ(owner_driver(""), "");
}

// Issue 20, numbers for humans: the keys table printed "4307/h" beside "1.3 MiB/h".
TEST(NextStepsText, ObjectRateOfTheKeysTableHadNoThousandsSeparators) {
  Report r;
  r.samples = 8;
  Finding f = finding(KeyKind::kPoolTag, "NtfC");
  f.rate_objects_per_hour = 4306.84;
  f.rate_bytes_per_hour = 1378189.5;
  r.findings.push_back(f);
  const std::string text = report_text(r);
  EXPECT_NE(text.find("4,307/h"), std::string::npos) << text;
  EXPECT_EQ(text.find("4307/h"), std::string::npos) << text;
}

}  // namespace
}  // namespace poolscope::detect
