#include "parse/vm.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "parse/sniff.h"
#include "test_support.h"

namespace poolscope::parse {
namespace {

constexpr std::uint64_t kKb = 1024;

bool has_note(const Snapshot& s, std::string_view part) {
  return std::any_of(s.notes.begin(), s.notes.end(),
                     [&](const std::string& n) { return n.find(part) != std::string::npos; });
}

Result<ParsedSnapshot> parse_shared(const std::string& name) {
  return parse_vm(testing::read_file(testing::shared_data("windbg/" + name)));
}

Result<ParsedSnapshot> parse_fixture(const std::string& name) {
  return parse_vm(testing::read_file(testing::test_data("vm/" + name)));
}

// Windows 10/11 !vm 1: NonPagedPool + NonPagedPoolNx, dynamic maxima, wrapped commit values.
void expect_dynamic_pools(const Snapshot& s, std::uint64_t np_kb, std::uint64_t nx_kb,
                          std::uint64_t paged_kb) {
  const PoolTotal* np = find_total(s, PoolKind::kNonPaged);
  const PoolTotal* paged = find_total(s, PoolKind::kPaged);
  ASSERT_NE(np, nullptr);
  ASSERT_NE(paged, nullptr);
  EXPECT_EQ(np->used_bytes, (np_kb + nx_kb) * kKb);
  EXPECT_FALSE(np->limit_bytes.has_value());
  EXPECT_NE(np->limit_note.find("no fixed limit"), std::string::npos);
  EXPECT_NE(np->limit_note.find("4294967296 pages"), std::string::npos);
  EXPECT_EQ(paged->used_bytes, paged_kb * kKb);
  EXPECT_FALSE(paged->limit_bytes.has_value());
  EXPECT_NE(paged->limit_note.find("PagedPool Maximum"), std::string::npos);
  EXPECT_EQ(np->failures, 0u);  // !vm prints the failure line only when there are failures
  EXPECT_EQ(paged->failures, 0u);
  EXPECT_TRUE(s.entries.empty());
  EXPECT_EQ(s.format, "vm");
}

TEST(VmReal, InsightEngineeringTriage) {
  const std::string name = "vm_01_insighteng_triage_vm1.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  expect_dynamic_pools(s, 1072, 146492, 274400);
  EXPECT_EQ(s.memory_total_bytes, 8149960u * kKb);
  EXPECT_EQ(s.memory_available_bytes, 2775396u * kKb);
  // Not a pool failure, but worth showing.
  EXPECT_TRUE(has_note(s, "!vm: 351175 kernel stack PTE allocations have failed"));
  EXPECT_TRUE(has_note(s,
                       "\"PagedPool Commit\" is 18446735300397918280 pages: a negative number "
                       "(-8773311633336)"));
  EXPECT_TRUE(has_note(s, "\"Sum System Commit\""));
  EXPECT_TRUE(has_note(s,
                       "exceeds overall commit by 18446708980462741736 Kb ? (the number is a "
                       "negative value printed unsigned"));
  EXPECT_EQ(s.notes.size(), 4u);
}

TEST(VmReal, InsightEngineeringBugcheck50) {
  const std::string name = "vm_02_insighteng_bugcheck50_vm1.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  expect_dynamic_pools(parsed->snapshot, 1088, 134448, 265152);
  EXPECT_EQ(parsed->snapshot.memory_total_bytes, 11379656u * kKb);
  EXPECT_TRUE(has_note(parsed->snapshot, "!vm: 73746 kernel stack PTE allocations have failed"));
}

TEST(VmReal, InsightEngineeringBugcheck7e) {
  const std::string name = "vm_03_insighteng_bugcheck7e_vm1.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  expect_dynamic_pools(parsed->snapshot, 908, 126908, 236112);
  EXPECT_TRUE(has_note(parsed->snapshot, "!vm: 279962 kernel stack PTE allocations have failed"));
}

TEST(VmReal, RayanfamFullVmWithSubPoolsAndProcessTable) {
  const std::string name = "vm_04_rayanfam_pfn2_vm.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  expect_dynamic_pools(s, 0, 56432, 148316);  // not the "PagedPool  0:" 110528 KB sub-pool
  EXPECT_EQ(s.memory_total_bytes, 2096628u * kKb);
  EXPECT_EQ(s.memory_available_bytes, 1252248u * kKb);
  EXPECT_TRUE(s.notes.empty());
}

TEST(VmReal, LordNoteworthyWin7FixedLimits) {
  const std::string name = "vm_05_lordnoteworthy_wi6_vm.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  const PoolTotal* np = find_total(s, PoolKind::kNonPaged);
  const PoolTotal* paged = find_total(s, PoolKind::kPaged);
  ASSERT_NE(np, nullptr);
  ASSERT_NE(paged, nullptr);
  EXPECT_EQ(np->used_bytes, 36444u * kKb);
  EXPECT_EQ(np->limit_bytes, 3096560u * kKb);
  EXPECT_EQ(np->limit_note, "\"NonPagedPool Max\" from !vm");
  EXPECT_EQ(paged->used_bytes, 147968u * kKb);
  EXPECT_EQ(paged->limit_bytes, 134217728u * kKb);
  EXPECT_EQ(s.memory_total_bytes, 4193784u * kKb);
  EXPECT_EQ(s.memory_available_bytes, 3305432u * kKb);
  EXPECT_TRUE(s.notes.empty());
}

TEST(VmReal, MsDocsLegacyLayout) {
  const std::string name = "vm_06_msdocs_vm1_legacy_format.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  const PoolTotal* np = find_total(s, PoolKind::kNonPaged);
  const PoolTotal* paged = find_total(s, PoolKind::kPaged);
  ASSERT_NE(np, nullptr);
  ASSERT_NE(paged, nullptr);
  EXPECT_EQ(np->used_bytes, 3508u * kKb);
  EXPECT_EQ(np->limit_bytes, 25008u * kKb);
  EXPECT_EQ(paged->used_bytes, 6388u * kKb);  // not the "PagedPool 0 Usage:" lines
  EXPECT_EQ(paged->limit_bytes, 53248u * kKb);
  EXPECT_EQ(s.memory_total_bytes, 65080u * kKb);
  EXPECT_EQ(s.memory_available_bytes, 22172u * kKb);
  EXPECT_TRUE(s.notes.empty());  // the "*** Virtual Memory Usage ***" banner is not a warning
}

TEST(VmReal, AllThroughParsePoolText) {
  POOLSCOPE_REQUIRE_SHARED("windbg/vm_01_insighteng_triage_vm1.txt");
  for (const char* name :
       {"vm_01_insighteng_triage_vm1.txt", "vm_02_insighteng_bugcheck50_vm1.txt",
        "vm_03_insighteng_bugcheck7e_vm1.txt", "vm_04_rayanfam_pfn2_vm.txt",
        "vm_05_lordnoteworthy_wi6_vm.txt", "vm_06_msdocs_vm1_legacy_format.txt"}) {
    auto text = testing::read_file(testing::shared_data(std::string("windbg/") + name));
    EXPECT_EQ(detect_format(text), TextFormat::kVm) << name;
    auto parsed = parse_pool_text(text);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_TRUE(parsed->diagnostics.empty()) << name;
    EXPECT_EQ(parsed->snapshot.format, "vm") << name;
  }
}

// ---- own fixtures ----

TEST(Vm, DynamicPoolsWithWrappedCommitValues) {
  auto parsed = parse_fixture("win10_dynamic_pools.txt");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  expect_dynamic_pools(s, 1200, 200000, 280000);
  EXPECT_EQ(s.memory_total_bytes, 16772000u * kKb);
  EXPECT_EQ(s.memory_available_bytes, 6001000u * kKb);
  ASSERT_EQ(s.notes.size(), 4u);
  EXPECT_EQ(s.notes[0], "!vm: 1200 kernel stack PTE allocations have failed");
  EXPECT_EQ(s.notes[1],
            "!vm \"PagedPool Commit\" is 18446744073709551516 pages: a negative number (-100) "
            "printed unsigned, so it is not used");
  // The "System Region" table's "PagedPool : ffff8b8000000000" line is not a total.
}

TEST(Vm, Win7FixedLimitsIgnoreSubPoolsAndProcessTable) {
  auto parsed = parse_fixture("win7_fixed_limits.txt");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(find_total(s, PoolKind::kNonPaged)->used_bytes, 32000u * kKb);
  EXPECT_EQ(find_total(s, PoolKind::kNonPaged)->limit_bytes, 2320000u * kKb);
  EXPECT_EQ(find_total(s, PoolKind::kPaged)->used_bytes, 92000u * kKb);
  EXPECT_EQ(find_total(s, PoolKind::kPaged)->limit_bytes, 134217728u * kKb);
  EXPECT_TRUE(s.notes.empty());
}

TEST(Vm, LegacyExcessiveNonPagedAndFailedAllocations) {
  auto parsed = parse_fixture("legacy_excessive_nonpaged.txt");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  const PoolTotal* np = find_total(s, PoolKind::kNonPaged);
  const PoolTotal* paged = find_total(s, PoolKind::kPaged);
  ASSERT_NE(np, nullptr);
  ASSERT_NE(paged, nullptr);
  EXPECT_EQ(np->used_bytes, 63200u * kKb);
  EXPECT_EQ(np->limit_bytes, 65536u * kKb);
  EXPECT_EQ(np->failures, 42u);
  EXPECT_EQ(paged->used_bytes, 10000u * kKb);
  EXPECT_EQ(paged->limit_bytes, 77824u * kKb);
  EXPECT_EQ(paged->failures, 42u);  // nt!ExPoolFailures is one count for every pool type
  EXPECT_EQ(s.memory_total_bytes, 130400u * kKb);
  EXPECT_EQ(s.memory_available_bytes, 4800u * kKb);
  ASSERT_EQ(s.notes.size(), 2u);
  EXPECT_EQ(s.notes[0],
            "!vm: 42 pool allocations have failed (nt!ExPoolFailures counts every pool type, so "
            "the count is given for each pool)");
  EXPECT_EQ(s.notes[1], "!vm: Excessive NonPaged Pool Usage");
}

TEST(Vm, PoolSpecificFailureLinesGoToTheirPool) {
  auto parsed = parse_vm(
      "NonPagedPool Usage:    100 (   400 Kb)\n"
      "PagedPool Usage:       200 (   800 Kb)\n"
      "********** 5 NonPaged pool allocations have failed **********\n"
      "********** 2 paged pool allocations have failed **********\n");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(find_total(parsed->snapshot, PoolKind::kNonPaged)->failures, 5u);
  EXPECT_EQ(find_total(parsed->snapshot, PoolKind::kPaged)->failures, 2u);
}

TEST(Vm, MalformedValuesBecomeDiagnosticsWithLineNumbers) {
  auto parsed = parse_fixture("malformed.txt");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  const auto& d = parsed->diagnostics;
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].line, 3u);
  EXPECT_EQ(d[0].message,
            "expected \"NonPagedPool Usage: <pages> (<KB> Kb)\" with unsigned integers");
  EXPECT_EQ(d[1].line, 4u);  // no "(KB Kb)" part
  EXPECT_EQ(d[2].line, 6u);  // KB overflows 64 bits
  EXPECT_EQ(d[3].line, 8u);
  const Snapshot& s = parsed->snapshot;
  EXPECT_FALSE(find_total(s, PoolKind::kNonPaged)->used_bytes.has_value());
  EXPECT_EQ(find_total(s, PoolKind::kNonPaged)->limit_bytes, 400000u * kKb);
  EXPECT_FALSE(find_total(s, PoolKind::kPaged)->used_bytes.has_value());
}

TEST(Vm, OnlyLinesOfVmOutputCountWhenPromptsArePresent) {
  auto parsed = parse_vm(
      "0: kd> !vm 1\n"
      "NonPagedPool Usage:    100 (   400 Kb)\n"
      "PagedPool Usage:       200 (   800 Kb)\n"
      "0: kd> dx @$something\n"
      "PagedPool Usage:       999 (  3996 Kb)\n");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(find_total(parsed->snapshot, PoolKind::kPaged)->used_bytes, 800u * kKb);
}

TEST(Vm, TheLastOfSeveralOutputsWins) {
  auto parsed = parse_vm(
      "0: kd> !vm 1\n"
      "NonPagedPool Usage:    100 (   400 Kb)\n"
      "********** Excessive NonPaged Pool Usage *****\n"
      "0: kd> !vm 1\n"
      "NonPagedPool Usage:    150 (   600 Kb)\n");
  ASSERT_TRUE(parsed.has_value());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(find_total(s, PoolKind::kNonPaged)->used_bytes, 600u * kKb);
  EXPECT_FALSE(has_note(s, "Excessive"));  // that was the earlier output
  EXPECT_TRUE(has_note(s, "2 !vm outputs in one text: the last one is used"));
}

TEST(Vm, RejectsOtherText) {
  auto none = parse_vm("Physical Memory: 1 (4 Kb)\nhello\n");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, ErrorCode::kInput);
  EXPECT_FALSE(parse_vm("").has_value());
  EXPECT_TRUE(is_vm_line("      NonPagedPool Usage:    877   (    3508 Kb)"));
  EXPECT_TRUE(is_vm_line("*** Virtual Memory Usage ***"));
  EXPECT_TRUE(is_vm_line("0: kd> !vm 1"));
  EXPECT_FALSE(is_vm_line("0: kd> !vmx"));
  EXPECT_FALSE(is_vm_line("PagedPool  0:               27632 (     110528 Kb)"));
}

TEST(Vm, ApplyVmOverridesTotalsAndKeepsEntries) {
  auto vm = parse_fixture("legacy_excessive_nonpaged.txt");
  ASSERT_TRUE(vm.has_value());
  Snapshot s;
  s.entries.push_back(Entry{.key = tag_from_text("Leak"), .pool = PoolKind::kNonPaged});
  total_for(s, PoolKind::kNonPaged).used_bytes = 1;  // e.g. from a !poolused TOTAL line
  apply_vm(vm->snapshot, s);
  EXPECT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(find_total(s, PoolKind::kNonPaged)->used_bytes, 63200u * kKb);
  EXPECT_EQ(find_total(s, PoolKind::kNonPaged)->failures, 42u);
  EXPECT_EQ(find_total(s, PoolKind::kPaged)->limit_bytes, 77824u * kKb);
  EXPECT_EQ(s.memory_total_bytes, 130400u * kKb);
  EXPECT_EQ(s.notes.size(), 2u);
}

TEST(VmPipeline, ParsePoolTextGivesTotalsOnly) {
  auto text = testing::read_file(testing::test_data("vm/legacy_excessive_nonpaged.txt"));
  EXPECT_EQ(detect_format(text), TextFormat::kVm);
  auto parsed = parse_pool_text(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  EXPECT_EQ(parsed->snapshot.format, "vm");
  EXPECT_TRUE(parsed->snapshot.entries.empty());
  EXPECT_EQ(find_total(parsed->snapshot, PoolKind::kNonPaged)->failures, 42u);
  // Diagnostics survive the dispatcher, with their line numbers.
  auto bad = parse_pool_text(testing::read_file(testing::test_data("vm/malformed.txt")));
  ASSERT_TRUE(bad.has_value());
  ASSERT_EQ(bad->diagnostics.size(), 4u);
  EXPECT_EQ(bad->diagnostics[0].line, 3u);
}

}  // namespace
}  // namespace poolscope::parse
