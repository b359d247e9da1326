#include "parse/poolmon.h"

#include <gtest/gtest.h>

#include <string>

#include "parse/sniff.h"
#include "test_support.h"

namespace poolscope::parse {
namespace {

constexpr std::uint64_t kK = 1024;

std::string real(const std::string& name) {
  return testing::read_file(testing::shared_data("poolmon/" + name));
}

ParsedSnapshot parse_ok(std::string_view text) {
  auto parsed = parse_poolmon(text);
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().message);
  return parsed ? std::move(*parsed) : ParsedSnapshot{};
}

std::vector<ParsedSnapshot> parse_all_ok(std::string_view text) {
  auto parsed = parse_poolmon_all(text);
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().message);
  return parsed ? std::move(*parsed) : std::vector<ParsedSnapshot>{};
}

const Entry* find(const Snapshot& s, std::string_view tag, PoolKind pool) {
  for (const auto& e : s.entries) {
    if (e.key == tag_from_text(tag) && e.pool == pool) return &e;
  }
  return nullptr;
}

void expect_counts(const Entry* e, std::uint64_t allocs, std::uint64_t frees,
                   std::uint64_t outstanding, std::uint64_t bytes) {
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->counters.allocs, allocs);
  EXPECT_EQ(e->counters.frees, frees);
  EXPECT_EQ(e->counters.outstanding, outstanding);
  EXPECT_EQ(e->counters.bytes, bytes);
}

std::optional<std::uint64_t> used(const Snapshot& s, PoolKind pool) {
  const PoolTotal* t = find_total(s, pool);
  return t ? t->used_bytes : std::nullopt;
}

// --- Real samples (../shared/data/real/poolmon) ---------------------------------------------

TEST(PoolmonReal, IntelSnapshotLogPoolNIsNonpagedAndPIsPaged) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/01_intel_mfd_poolsnap_n_log.txt");
  auto p = parse_ok(real("01_intel_mfd_poolsnap_n_log.txt"));
  const Snapshot& s = p.snapshot;
  EXPECT_TRUE(p.diagnostics.empty());
  EXPECT_TRUE(s.notes.empty());
  EXPECT_EQ(s.format, "poolmon");
  EXPECT_EQ(s.counter_width, CounterWidth::k32);
  // "Pool N:710920K P:983564K": Intel's own parser swaps these; poolmon's N is nonpaged.
  EXPECT_EQ(used(s, PoolKind::kNonPaged), 710920 * kK);
  EXPECT_EQ(used(s, PoolKind::kPaged), 983564 * kK);
  EXPECT_EQ(s.memory_total_bytes, 16468560 * kK);
  EXPECT_EQ(s.memory_available_bytes, 12072536 * kK);
  ASSERT_EQ(s.entries.size(), 13u);
  expect_counts(&s.entries[0], 6394, 4056, 2338, 163418368);  // EtwB, the largest
  EXPECT_EQ(s.entries[0].key, tag_from_text("EtwB"));
  EXPECT_EQ(s.entries[0].object_size, 69896u);
  EXPECT_FALSE(s.entries[0].change.has_value());  // -n logs have no delta columns
  expect_counts(find(s, "MmSt", PoolKind::kPaged), 2269405, 2095404, 174001, 156097152);
  expect_counts(find(s, "IXGB", PoolKind::kNonPaged), 37377, 12508, 24869, 55749008);
  expect_counts(find(s, "CM25", PoolKind::kPaged), 4849, 0, 4849, 21708800);
}

TEST(PoolmonReal, ServerfaultCollapsedRowsBetweenProse) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/02_serverfault_52125_ntfr_ntfn_no_leak.txt");
  auto p = parse_ok(real("02_serverfault_52125_ntfr_ntfn_no_leak.txt"));
  EXPECT_TRUE(p.diagnostics.empty());
  ASSERT_EQ(p.snapshot.entries.size(), 4u);
  expect_counts(find(p.snapshot, "Ntfr", PoolKind::kNonPaged), 2690737, 2528557, 162180, 10379976);
  expect_counts(find(p.snapshot, "File", PoolKind::kNonPaged), 13789939, 13704656, 85283, 13203912);
  EXPECT_EQ(find(p.snapshot, "File", PoolKind::kNonPaged)->object_size, 154u);
  EXPECT_TRUE(p.snapshot.totals.empty());
}

// Issue 17 item 7: a poolmon screen's ( delta ) columns are a second sample. They were parsed and
// then dropped: one screen could never show growth.
TEST(PoolmonReal, AScreensDeltaColumnsAreItsPreviousRefresh) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/03_msdocs_example4_drsd_printer_leak_before.txt");
  POOLSCOPE_REQUIRE_SHARED("poolmon/10_aomf_notes_poolmon_b_win7_tabbed.txt");
  auto drsd = parse_ok(real("03_msdocs_example4_drsd_printer_leak_before.txt"));
  ASSERT_TRUE(drsd.previous_refresh.has_value());
  // 560 ( 177) 539 ( 171) 21 17472 ( 4992): 383 allocs, 368 frees, 15 held in 12,480 bytes.
  const Entry* before = find(*drsd.previous_refresh, "Drsd", PoolKind::kPaged);
  expect_counts(before, 383, 368, 15, 12480);
  EXPECT_EQ(before->object_size, 832u);
  EXPECT_EQ(drsd.previous_refresh->counter_width, CounterWidth::k32);
  EXPECT_TRUE(drsd.previous_refresh->totals.empty());  // the pool totals then are not shown

  // A negative delta: MmSt's bytes shrank by 184, its Diff by one (16 allocs, 17 frees).
  auto tabbed = parse_ok(real("10_aomf_notes_poolmon_b_win7_tabbed.txt"));
  ASSERT_TRUE(tabbed.previous_refresh.has_value());
  ASSERT_EQ(tabbed.previous_refresh->entries.size(), 3u);
  expect_counts(find(*tabbed.previous_refresh, "MmSt", PoolKind::kPaged), 673600, 656032, 17568,
                28286856);
  expect_counts(find(*tabbed.previous_refresh, "CM31", PoolKind::kPaged), 169392, 153744, 15648,
                74838016);

  // A poolmon -n log has no delta columns: no previous refresh.
  auto log = parse_ok(real("01_intel_mfd_poolsnap_n_log.txt"));
  EXPECT_FALSE(log.previous_refresh.has_value());
}

TEST(Poolmon, ATagNewSinceThePreviousRefreshIsNotInIt) {
  const std::string text =
      "Tag  Type        Allocs           Frees           Diff  Bytes           Per Alloc\n"
      "Drsd Paged       560 ( 177)       539 ( 171)       21   17472 (  4992)    832\n"
      "Newt Nonp          3 (   3)         1 (   1)        2     128 (   128)     64\n"
      "Wrap Nonp          5 (  10)         0 (   0)        5     320 (   640)     64\n";
  auto p = parse_ok(text);
  ASSERT_TRUE(p.previous_refresh.has_value());
  EXPECT_EQ(find(*p.previous_refresh, "Newt", PoolKind::kNonPaged), nullptr);
  // The 32-bit Allocs wrapped since: 5 - 10 modulo 2^32; Bytes cannot be 320 - 640.
  const Entry* wrap = find(*p.previous_refresh, "Wrap", PoolKind::kNonPaged);
  ASSERT_NE(wrap, nullptr);
  EXPECT_EQ(wrap->counters.allocs, 0xFFFFFFFBu);
  EXPECT_FALSE(wrap->counters.bytes.has_value());
}

TEST(PoolmonReal, DrsdPrinterLeakBeforeAndAfter) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/03_msdocs_example4_drsd_printer_leak_before.txt");
  POOLSCOPE_REQUIRE_SHARED("poolmon/04_msdocs_example4_drsd_printer_leak_after.txt");
  auto before = parse_ok(real("03_msdocs_example4_drsd_printer_leak_before.txt"));
  auto after = parse_ok(real("04_msdocs_example4_drsd_printer_leak_after.txt"));
  EXPECT_TRUE(before.diagnostics.empty());
  EXPECT_TRUE(after.diagnostics.empty());
  ASSERT_EQ(before.snapshot.entries.size(), 1u);
  ASSERT_EQ(after.snapshot.entries.size(), 1u);
  const Entry* b = find(before.snapshot, "Drsd", PoolKind::kPaged);
  const Entry* a = find(after.snapshot, "Drsd", PoolKind::kPaged);
  expect_counts(b, 560, 539, 21, 17472);
  expect_counts(a, 737, 710, 27, 22464);
  EXPECT_EQ(b->object_size, 832u);
  EXPECT_EQ(a->object_size, 832u);
  ASSERT_TRUE(b->change.has_value());
  EXPECT_EQ(*b->change, (Counters{.allocs = 177, .frees = 171, .bytes = 4992}));
  EXPECT_EQ(*a->change, (Counters{.allocs = 0, .frees = 0, .bytes = 0}));
  // Six blocks, 4,992 bytes leaked by one print job.
  EXPECT_EQ(*a->counters.bytes - *b->counters.bytes, 4992u);
  EXPECT_EQ(used(before.snapshot, PoolKind::kPaged), 8004 * kK);
  EXPECT_EQ(used(after.snapshot, PoolKind::kPaged), 8012 * kK);
  EXPECT_EQ(used(after.snapshot, PoolKind::kNonPaged), 2224 * kK);
  EXPECT_EQ(after.snapshot.memory_available_bytes, 91808 * kK);
}

TEST(PoolmonReal, NtfsMappedDriverOwners) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/05_msdocs_example2_ntf_mapped_driver.txt");
  auto p = parse_ok(real("05_msdocs_example2_ntf_mapped_driver.txt"));
  const Snapshot& s = p.snapshot;
  EXPECT_TRUE(p.diagnostics.empty());
  ASSERT_EQ(s.entries.size(), 13u);
  EXPECT_EQ(s.entries[0].key, tag_from_text("NtFA"));
  EXPECT_EQ(s.entries[0].owner, "[ntfs.sys  -  AttrSup.c]");
  EXPECT_FALSE(s.entries[0].object_size.has_value());  // Diff 0: Per Alloc 0 is no size
  EXPECT_EQ(s.entries[1].owner, "[ntfs.sys  -  BitmpSup.c]");
  // NtFS (SecurSup.c, paged) and NtFs (StrucSup.c, nonpaged) differ only by case.
  const Entry* upper = find(s, "NtFS", PoolKind::kPaged);
  const Entry* lower = find(s, "NtFs", PoolKind::kNonPaged);
  expect_counts(upper, 2915, 2614, 301, 80192);
  expect_counts(lower, 48825, 47226, 1599, 64536);
  EXPECT_EQ(upper->owner, "[ntfs.sys  -  SecurSup.c]");
  EXPECT_EQ(lower->owner, "[ntfs.sys  -  StrucSup.c]");
  EXPECT_EQ(s.entries.back().owner, "[ntfs.sys  -  ViewSup.c]");
  EXPECT_EQ(used(s, PoolKind::kPaged), 33024 * kK);  // "P:33024K", glued
  EXPECT_EQ(used(s, PoolKind::kNonPaged), 8500 * kK);
  EXPECT_EQ(s.memory_total_bytes, 260620 * kK);
}

TEST(PoolmonReal, UnknownDriverFragmentAndCombinedLocalTags) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/06a_msdocs_example2_mem_unknown_driver.txt");
  POOLSCOPE_REQUIRE_SHARED("poolmon/06b_msdocs_example2_ip_localtag_and_pooltag.txt");
  auto mem = parse_ok(real("06a_msdocs_example2_mem_unknown_driver.txt"));
  EXPECT_TRUE(mem.diagnostics.empty());
  ASSERT_EQ(mem.snapshot.entries.size(), 3u);
  for (const auto& e : mem.snapshot.entries) EXPECT_EQ(e.owner, "Unknown Driver");
  expect_counts(&mem.snapshot.entries[2], 3, 0, 3, 248);
  EXPECT_EQ(mem.snapshot.entries[2].key, tag_from_text("3MEM"));
  EXPECT_EQ(mem.snapshot.entries[2].object_size, 82u);
  EXPECT_TRUE(mem.snapshot.totals.empty());  // a header-less fragment

  auto ip = parse_ok(real("06b_msdocs_example2_ip_localtag_and_pooltag.txt"));
  EXPECT_TRUE(ip.diagnostics.empty());
  ASSERT_EQ(ip.snapshot.entries.size(), 8u);
  EXPECT_EQ(ip.snapshot.entries[0].owner, "[ipsec][ipsec.sys    -  event queue]");
  EXPECT_EQ(find(ip.snapshot, "IpIO", PoolKind::kNonPaged)->owner, "[ipsec]");
  expect_counts(find(ip.snapshot, "IpSI", PoolKind::kNonPaged), 1027, 0, 1027, 53272);
}

TEST(PoolmonReal, AllSessionsPoolRowsAreSessionPool) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/07_msdocs_example5_all_sessions_pool.txt");
  auto p = parse_ok(real("07_msdocs_example5_all_sessions_pool.txt"));
  const Snapshot& s = p.snapshot;
  EXPECT_TRUE(p.diagnostics.empty());  // the trailing "..." is skipped
  ASSERT_EQ(s.entries.size(), 16u);
  for (const auto& e : s.entries) {
    EXPECT_EQ(e.pool, PoolKind::kSession);
    EXPECT_FALSE(e.session_id.has_value());  // all sessions: no single id
  }
  expect_counts(find(s, "Bmfd", PoolKind::kSession), 361, 336, 25, 57832);
  expect_counts(find(s, "Dh 1", PoolKind::kSession), 24, 24, 0, 0);
  EXPECT_EQ(s.entries[3].key.name, "Dh 1");
  EXPECT_EQ(*find(s, "GTmp", PoolKind::kSession)->change,
            (Counters{.allocs = 1, .frees = 1, .bytes = 0}));
  EXPECT_EQ(used(s, PoolKind::kNonPaged), 14332 * kK);  // "Limit:1279764K" glued before it
  EXPECT_EQ(used(s, PoolKind::kPaged), 18644 * kK);
}

TEST(PoolmonReal, ShortTagsKeepTheirTrailingSpaces) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/08_msdocs_display_sorted_by_allocs.txt");
  auto p = parse_ok(real("08_msdocs_display_sorted_by_allocs.txt"));
  EXPECT_TRUE(p.diagnostics.empty());
  ASSERT_EQ(p.snapshot.entries.size(), 8u);
  EXPECT_EQ(p.snapshot.entries[4].key.name, "Io  ");
  EXPECT_EQ(p.snapshot.entries[6].key.name, "Key ");
  expect_counts(find(p.snapshot, "Io", PoolKind::kNonPaged), 1021112, 1020985, 127, 91912);
  expect_counts(find(p.snapshot, "Key", PoolKind::kPaged), 954821, 953979, 842, 87528);
  expect_counts(find(p.snapshot, "Wait", PoolKind::kNonPaged), 3971107, 3971077, 30, 8456);
}

TEST(PoolmonReal, HidX64TwoPoolsAndTruncatedOwner) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/09_msdocs_hid_mapped_driver_x64_truncated.txt");
  auto p = parse_ok(real("09_msdocs_hid_mapped_driver_x64_truncated.txt"));
  const Snapshot& s = p.snapshot;
  EXPECT_TRUE(p.diagnostics.empty());
  ASSERT_EQ(s.entries.size(), 3u);
  const Entry* paged = find(s, "HidC", PoolKind::kPaged);
  const Entry* nonpaged = find(s, "HidC", PoolKind::kNonPaged);
  expect_counts(paged, 1667, 1659, 8, 896);
  expect_counts(nonpaged, 17375, 17256, 119, 19808);
  EXPECT_EQ(paged->object_size, 112u);
  EXPECT_EQ(nonpaged->owner, "[hidclass.sys - HID Class d ");  // cut by the console width
  EXPECT_EQ(find(s, "HidP", PoolKind::kNonPaged)->owner, "[hidparse.sys - HID Parser]");
  EXPECT_EQ(used(s, PoolKind::kNonPaged), 1023400 * kK);
  EXPECT_EQ(used(s, PoolKind::kPaged), 1955448 * kK);
  EXPECT_EQ(s.memory_total_bytes, 33473120 * kK);
}

TEST(PoolmonReal, TabMangledPasteWithNegativeDelta) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/10_aomf_notes_poolmon_b_win7_tabbed.txt");
  std::string text = real("10_aomf_notes_poolmon_b_win7_tabbed.txt");
  auto p = parse_ok(text);
  const Snapshot& s = p.snapshot;
  EXPECT_TRUE(p.diagnostics.empty());  // the command line and "[snip]" are skipped
  ASSERT_EQ(s.entries.size(), 3u);
  const Entry* cm31 = find(s, "CM31", PoolKind::kPaged);
  expect_counts(cm31, 169392, 153744, 15648, 74838016);  // "169392( 0)": no space before "("
  EXPECT_EQ(cm31->object_size, 4782u);
  const Entry* mmst = find(s, "MmSt", PoolKind::kPaged);
  expect_counts(mmst, 673616, 656049, 17567, 28286672);
  ASSERT_TRUE(mmst->change.has_value());
  EXPECT_EQ(mmst->change->allocs, 16u);
  EXPECT_EQ(mmst->change->frees, 17u);
  EXPECT_FALSE(mmst->change->bytes.has_value());  // -184 does not fit the unsigned model
  EXPECT_EQ(used(s, PoolKind::kNonPaged), 43452 * kK);
  EXPECT_EQ(used(s, PoolKind::kPaged), 187796 * kK);

  // The row itself keeps the signed delta.
  std::size_t at = text.find("\tMmSt");
  ASSERT_NE(at, std::string::npos);
  std::string line = text.substr(at, text.find('\n', at) - at);
  PoolmonRow row;
  std::string problem;
  ASSERT_EQ(parse_poolmon_row(line, row, problem), RowStatus::kRow) << problem;
  EXPECT_EQ(row.tag, "MmSt");
  EXPECT_TRUE(row.has_changes);
  EXPECT_EQ(row.allocs_change, 16);
  EXPECT_EQ(row.frees_change, 17);
  EXPECT_EQ(row.bytes_change, -184);
  EXPECT_EQ(row.per_alloc, 1610u);
}

TEST(PoolmonReal, VolatilityPooltrackerGivesNonpagedEntries) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/11_aomf_notes_volatility_pooltracker.txt");
  auto p = parse_ok(real("11_aomf_notes_volatility_pooltracker.txt"));
  const Snapshot& s = p.snapshot;
  EXPECT_TRUE(p.diagnostics.empty());
  EXPECT_EQ(s.format, "pooltracker");
  ASSERT_EQ(s.entries.size(), 4u);  // the paged halves are all 0
  expect_counts(find(s, "Thre", PoolKind::kNonPaged), 614895, 614419, 476, 606688);
  expect_counts(find(s, "File", PoolKind::kNonPaged), 75346601, 75336591, 10010, 3350912);
  expect_counts(find(s, "Driv", PoolKind::kNonPaged), 143, 6, 137, 67504);
  ASSERT_EQ(s.notes.size(), 1u);
  EXPECT_NE(s.notes[0].find("no Diff"), std::string::npos);
}

TEST(PoolmonReal, X64MappedDriverFixture) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/12_measurepoolmon_fixture_x64_mapped_driver.txt");
  auto p = parse_ok(real("12_measurepoolmon_fixture_x64_mapped_driver.txt"));
  EXPECT_TRUE(p.diagnostics.empty());
  ASSERT_EQ(p.snapshot.entries.size(), 2u);
  const Entry* cont = find(p.snapshot, "ConT", PoolKind::kNonPaged);
  expect_counts(cont, 3097, 2409, 688, 42770432);
  EXPECT_EQ(cont->object_size, 62166u);
  EXPECT_EQ(cont->owner, "Unknown Driver");
  EXPECT_EQ(find(p.snapshot, "Thre", PoolKind::kNonPaged)->owner, "[nt!ps - Thread objects]");
}

TEST(PoolmonReal, EveryPoolmonFileIsDetected) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/INDEX.md");
  for (const char* name :
       {"01_intel_mfd_poolsnap_n_log.txt", "02_serverfault_52125_ntfr_ntfn_no_leak.txt",
        "03_msdocs_example4_drsd_printer_leak_before.txt",
        "04_msdocs_example4_drsd_printer_leak_after.txt",
        "05_msdocs_example2_ntf_mapped_driver.txt", "06a_msdocs_example2_mem_unknown_driver.txt",
        "06b_msdocs_example2_ip_localtag_and_pooltag.txt",
        "07_msdocs_example5_all_sessions_pool.txt", "08_msdocs_display_sorted_by_allocs.txt",
        "09_msdocs_hid_mapped_driver_x64_truncated.txt", "10_aomf_notes_poolmon_b_win7_tabbed.txt",
        "11_aomf_notes_volatility_pooltracker.txt",
        "12_measurepoolmon_fixture_x64_mapped_driver.txt"}) {
    std::string text = real(name);
    EXPECT_EQ(detect_format(text), TextFormat::kPoolmon) << name;
    auto parsed = parse_pool_text(text);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_TRUE(parsed->diagnostics.empty()) << name;
    EXPECT_FALSE(parsed->snapshot.entries.empty()) << name;
  }
}

TEST(PoolmonReal, IncidentEvenTagKeepsTheReportedDiff) {
  const std::string kIncident = "../../context/incident-1-even-tag-503s.txt";
  POOLSCOPE_REQUIRE_SHARED(kIncident);
  std::string text = testing::read_file(testing::shared_data(kIncident));
  // The whole pipeline: detection, then the poolmon parser, past pages of prose and PowerShell.
  EXPECT_EQ(detect_format(text), TextFormat::kPoolmon);
  auto parsed = parse_pool_text(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  ASSERT_EQ(parsed->snapshot.entries.size(), 1u);
  const Entry& even = parsed->snapshot.entries[0];
  EXPECT_EQ(even.key, tag_from_text("Even"));
  EXPECT_EQ(even.pool, PoolKind::kNonPaged);
  // Allocs - Frees would be 598,273; the report says 684,922 and that is what is kept.
  expect_counts(&even, 51231806, 50633533, 684922, 32878688);
  EXPECT_EQ(even.object_size, 48u);
  ASSERT_EQ(parsed->snapshot.notes.size(), 1u);
  EXPECT_NE(parsed->snapshot.notes[0].find("598273, Diff 684922"), std::string::npos);
}

// --- Own fixtures (tests/data/poolmon) ---------------------------------------------------------

std::string fixture(const std::string& name) {
  return testing::read_file(testing::test_data("poolmon/" + name));
}

TEST(Poolmon, TwoScreensWithDeltasTotalsLinesAndEllipsis) {
  std::string text = fixture("screen_32bit_deltas.txt");
  auto all = parse_all_ok(text);
  ASSERT_EQ(all.size(), 2u);
  for (const auto& p : all) {
    EXPECT_TRUE(p.diagnostics.empty());  // /e "Total" lines and " ..." are skipped
    ASSERT_EQ(p.snapshot.entries.size(), 5u);
    EXPECT_EQ(p.snapshot.entries[0].key.name, "Io  ");
    EXPECT_EQ(p.snapshot.entries[1].key.name, "Key ");
    EXPECT_EQ(p.snapshot.entries[2].key.name, "Ob 1");
    EXPECT_EQ(used(p.snapshot, PoolKind::kNonPaged), 14332 * kK);
  }
  const Entry* first_leak = find(all[0].snapshot, "Leak", PoolKind::kNonPaged);
  const Entry* last_leak = find(all[1].snapshot, "Leak", PoolKind::kNonPaged);
  expect_counts(first_leak, 1200, 200, 1000, 1024000);
  expect_counts(last_leak, 1300, 200, 1100, 1126400);
  EXPECT_EQ(*last_leak->change, (Counters{.allocs = 100, .frees = 0, .bytes = 102400}));
  EXPECT_FALSE(find(all[0].snapshot, "MmSt", PoolKind::kPaged)->change->bytes.has_value());
  EXPECT_EQ(find(all[1].snapshot, "MmSt", PoolKind::kPaged)->change->bytes, 4096u);

  auto last = parse_ok(text);
  expect_counts(find(last.snapshot, "Leak", PoolKind::kNonPaged), 1300, 200, 1100, 1126400);
  ASSERT_EQ(last.snapshot.notes.size(), 1u);
  EXPECT_EQ(last.snapshot.notes[0],
            "the text holds 2 poolmon snapshots; this is the last one (from line 15)");
}

TEST(Poolmon, AppendedX64SnapshotLogWithCrlfAndOneRunWithoutSummary) {
  std::string text = fixture("snap_log_x64_crlf.txt");
  auto all = parse_all_ok(text);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(used(all[0].snapshot, PoolKind::kNonPaged), 1023400 * kK);
  EXPECT_TRUE(all[1].snapshot.totals.empty());  // -n without summary: header and rows only
  EXPECT_FALSE(all[1].snapshot.memory_total_bytes.has_value());
  EXPECT_EQ(used(all[2].snapshot, PoolKind::kNonPaged), 1026100 * kK);
  EXPECT_EQ(all[2].snapshot.memory_available_bytes, 20053132 * kK);
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Snapshot& s = all[i].snapshot;
    EXPECT_TRUE(all[i].diagnostics.empty());
    ASSERT_EQ(s.entries.size(), 3u);
    EXPECT_EQ(s.entries[0].owner, "Unknown Driver");  // no "\r" left from CRLF
    EXPECT_EQ(s.entries[1].owner, "[ntfs.sys  -  StrucSup.c]");
    EXPECT_EQ(s.entries[2].owner, "[nt!ps - Thread objects]");
    EXPECT_FALSE(s.entries[0].change.has_value());
    expect_counts(&s.entries[0], 3097 + 100 * i, 2409, 688 + 100 * i, 42770432 + 1382400 * i);
  }
  auto last = parse_ok(text);
  expect_counts(&last.snapshot.entries[0], 3297, 2409, 888, 45535232);
  EXPECT_EQ(last.snapshot.notes.back(),
            "the text holds 3 poolmon snapshots; this is the last one (from line 17)");
}

TEST(Poolmon, TabsBetweenColumnsAndShortTags) {
  auto p = parse_ok(fixture("tabbed_paste.txt"));
  const Snapshot& s = p.snapshot;
  EXPECT_TRUE(p.diagnostics.empty());
  ASSERT_EQ(s.entries.size(), 4u);
  EXPECT_EQ(s.entries[2].key.name, "Io  ");  // "Io   \tNonp"
  EXPECT_EQ(s.entries[3].key.name, "Fs  ");  // "Fs\tNonp": the tab is not part of the tag
  expect_counts(&s.entries[3], 77, 70, 7, 448);
  expect_counts(find(s, "CM31", PoolKind::kPaged), 200000, 180000, 20000, 95000000);
  EXPECT_EQ(find(s, "MmSt", PoolKind::kPaged)->change->frees, 25u);
  EXPECT_EQ(used(s, PoolKind::kPaged), 210000 * kK);
  EXPECT_EQ(s.memory_total_bytes, 4193848 * kK);
}

TEST(Poolmon, WhitespaceCollapsedRowsWithThousandsSeparators) {
  auto p = parse_ok(fixture("collapsed_commas.txt"));
  const Snapshot& s = p.snapshot;
  EXPECT_TRUE(p.diagnostics.empty());
  ASSERT_EQ(s.entries.size(), 3u);
  EXPECT_EQ(s.entries[1].key.name, "Io  ");  // "Io Nonp": collapsing lost the padding
  expect_counts(&s.entries[0], 51000000, 50400000, 700000, 33600000);
  expect_counts(&s.entries[2], 180351, 176602, 3749, 13179648);
  EXPECT_EQ(s.entries[2].object_size, 3515u);
  ASSERT_EQ(s.notes.size(), 1u);
  EXPECT_EQ(s.notes[0],
            "1 row(s) have a Diff that is not Allocs - Frees (first: 'Even' nonpaged: 51000000 - "
            "50400000 = 600000, Diff 700000); the printed Diff is kept as outstanding, but the "
            "text was probably edited or mis-transcribed");
}

TEST(Poolmon, SessionScreensNameTheirSession) {
  auto all = parse_all_ok(fixture("session_pool.txt"));
  ASSERT_EQ(all.size(), 2u);
  const Snapshot& one = all[0].snapshot;
  const Snapshot& every = all[1].snapshot;
  ASSERT_EQ(one.entries.size(), 2u);
  ASSERT_EQ(every.entries.size(), 2u);
  for (const auto& e : one.entries) {
    EXPECT_EQ(e.pool, PoolKind::kSession);
    EXPECT_EQ(e.session_id, 2u);
  }
  for (const auto& e : every.entries) {
    EXPECT_EQ(e.pool, PoolKind::kSession);
    EXPECT_FALSE(e.session_id.has_value());
  }
  expect_counts(find(one, "Gh05", PoolKind::kSession), 5000, 4000, 1000, 352000);
  expect_counts(find(every, "Usqm", PoolKind::kSession), 77, 70, 7, 672);
  EXPECT_EQ(used(every, PoolKind::kPaged), 500020 * kK);
}

TEST(Poolmon, NegativeCountsFrom32BitPoolmonAreReadModulo2To32) {
  auto p = parse_ok(fixture("wrapped_32bit.txt"));
  ASSERT_EQ(p.snapshot.entries.size(), 1u);
  expect_counts(&p.snapshot.entries[0], 3000000000u, 2999999000u, 1000, 64000);
  EXPECT_EQ(p.snapshot.entries[0].key.name, "Fat ");
  ASSERT_EQ(p.snapshot.notes.size(), 1u);
  EXPECT_NE(p.snapshot.notes[0].find("modulo 2^32"), std::string::npos);
}

TEST(Poolmon, MalformedRowsBecomeDiagnosticsWithLineNumbers) {
  auto p = parse_ok(fixture("malformed.txt"));
  ASSERT_EQ(p.snapshot.entries.size(), 2u);
  EXPECT_EQ(p.snapshot.entries[0].key.name, "Good");
  EXPECT_EQ(p.snapshot.entries[1].key.name, "Fine");
  ASSERT_EQ(p.diagnostics.size(), 5u);
  const std::string shape =
      "expected a poolmon row \"Tag Type Allocs [( delta)] Frees [( delta)] Diff Bytes [( "
      "delta)] PerAlloc [Mapped_Driver]\": ";
  EXPECT_EQ(p.diagnostics[0].line, 4u);
  EXPECT_EQ(p.diagnostics[0].message, shape + "Allocs \"12x\" is not a number");
  EXPECT_EQ(p.diagnostics[1].line, 5u);
  EXPECT_EQ(p.diagnostics[1].message, shape + "Bytes is missing (the row ends early)");
  EXPECT_EQ(p.diagnostics[2].line, 6u);
  EXPECT_EQ(p.diagnostics[2].message, shape + "the change after Allocs is not \"( <number>)\"");
  EXPECT_EQ(p.diagnostics[3].line, 7u);
  EXPECT_EQ(p.diagnostics[3].message, shape + "Bytes \"-100\" is negative");
  EXPECT_EQ(p.diagnostics[4].line, 9u);  // prose that starts like a row is reported, not dropped
  EXPECT_EQ(p.diagnostics[4].message, shape + "Allocs \"rows\" is not a number");
}

TEST(Poolmon, PooltrackerWithDriverColumnsGivesBothPools) {
  auto p = parse_ok(fixture("pooltracker.txt"));
  const Snapshot& s = p.snapshot;
  EXPECT_TRUE(p.diagnostics.empty());
  EXPECT_EQ(s.format, "pooltracker");
  EXPECT_EQ(s.counter_width, CounterWidth::k32);
  ASSERT_EQ(s.entries.size(), 5u);
  expect_counts(find(s, "Proc", PoolKind::kNonPaged), 4193, 4154, 39, 51728);
  EXPECT_EQ(find(s, "Proc", PoolKind::kPaged), nullptr);  // all 0
  EXPECT_EQ(find(s, "Io", PoolKind::kNonPaged), nullptr);
  expect_counts(find(s, "Io", PoolKind::kPaged), 120000, 119000, 1000, 160000);
  expect_counts(find(s, "Even", PoolKind::kNonPaged), 1000500, 400500, 600000, 28800000);
  expect_counts(find(s, "Even", PoolKind::kPaged), 12, 10, 2, 1024);
  EXPECT_EQ(find(s, "Even", PoolKind::kPaged)->owner, "nt!ex                Event objects");
  EXPECT_EQ(find(s, "Thre", PoolKind::kNonPaged)->owner, "");
}

// --- Inline cases -------------------------------------------------------------------------------

TEST(Poolmon, RowWithoutSpaceBeforeParenAndNegativeDelta) {
  PoolmonRow row;
  std::string problem;
  ASSERT_EQ(parse_poolmon_row(" MmSt Paged 169392( 0) 153744(12) 15648 74838016(-4096) 4782", row,
                              problem),
            RowStatus::kRow)
      << problem;
  EXPECT_EQ(row.tag, "MmSt");
  EXPECT_EQ(row.pool, PoolKind::kPaged);
  EXPECT_EQ(row.allocs, 169392u);
  EXPECT_EQ(row.frees, 153744u);
  EXPECT_EQ(row.outstanding, 15648u);
  EXPECT_EQ(row.bytes, 74838016u);
  EXPECT_EQ(row.per_alloc, 4782u);
  EXPECT_EQ(row.frees_change, 12);
  EXPECT_EQ(row.bytes_change, -4096);
  EXPECT_EQ(row.owner, "");
}

TEST(Poolmon, HeaderColumnPlacesATagWithLeadingSpace) {
  PoolmonRow row;
  std::string problem;
  const std::string_view line = "  Abc Nonp 1 0 1 8 8";
  ASSERT_EQ(parse_poolmon_row(line, row, problem, 1), RowStatus::kRow);
  EXPECT_EQ(row.tag, " Abc");
  ASSERT_EQ(parse_poolmon_row(line, row, problem), RowStatus::kRow);
  EXPECT_EQ(row.tag, "Abc");  // no header: read as a collapsed short tag
}

TEST(Poolmon, LinesThatAreNotRows) {
  PoolmonRow row;
  std::string problem;
  for (std::string_view line :
       {"", "   ", " Tag  Type     Allocs            Frees            Diff   Bytes", "[snip]",
        "...", "C:\\WinDDK\\tools> poolmon.exe -b", "Total  Nonp 1 (0) 1 (0) 0 0 (0) 0",
        " System pool information", "Memory: 1K Avail: 1K", "So that would mean the Ntfs driver",
        "Tag NpAllocs", "Abcd", "Abcd Type 1 1 0 0 0", "Abcdef Nonp 1 1 0 0 0",
        "Ab\tc Nonp 1 1 0 0 0"}) {
    EXPECT_EQ(parse_poolmon_row(line, row, problem), RowStatus::kNotARow) << line;
  }
}

TEST(Poolmon, BadNumbersAreDiagnosedNotWrapped) {
  PoolmonRow row;
  std::string problem;
  EXPECT_EQ(parse_poolmon_row("Abcd Nonp 18446744073709551616 0 0 0 0", row, problem),
            RowStatus::kMalformed);
  EXPECT_EQ(problem, "Allocs \"18446744073709551616\" does not fit 64 bits");
  EXPECT_EQ(parse_poolmon_row("Abcd Nonp -2147483649 0 0 0 0", row, problem),
            RowStatus::kMalformed);
  EXPECT_EQ(problem, "Allocs \"-2147483649\" is negative");
  EXPECT_EQ(parse_poolmon_row("Abcd Nonp 1 (99999999999999999999) 0 (0) 1 0 (0) 0", row, problem),
            RowStatus::kMalformed);
  EXPECT_EQ(problem, "the change after Allocs does not fit 64 bits");
  EXPECT_EQ(parse_poolmon_row("Abcd Nonp 1 0 1 8 8 9", row, problem), RowStatus::kMalformed);
  EXPECT_EQ(problem, "unexpected number \"9\" after Per Alloc (too many columns)");
  EXPECT_EQ(parse_poolmon_row("Abcd Nonp 1 0 1 (0) 8 8", row, problem), RowStatus::kMalformed);
  EXPECT_EQ(problem, "unexpected \"(\" after Diff (poolmon shows no change for Diff)");
  EXPECT_EQ(parse_poolmon_row("Abcd Nonp 1,0000 0 1 8 8", row, problem), RowStatus::kMalformed);
  EXPECT_EQ(parse_poolmon_row("Abcd Nonp", row, problem), RowStatus::kMalformed);
  EXPECT_EQ(problem, "Allocs is missing (the row ends early)");
}

TEST(Poolmon, SecondTableDiagnosticsStayWithTheirSnapshotAndAllReachTheLast) {
  const std::string text =
      "Tag Type Allocs Frees Diff Bytes Per Alloc\n"
      "Aaaa Nonp 2 1 1 16 16\n"
      "Bbbb Nonp x 1 1 16 16\n"
      "Tag Type Allocs Frees Diff Bytes Per Alloc\n"
      "Aaaa Nonp 3 1 2 32 16\n"
      "Cccc Paged 1 1\n";
  auto all = parse_all_ok(text);
  ASSERT_EQ(all.size(), 2u);
  ASSERT_EQ(all[0].diagnostics.size(), 1u);
  EXPECT_EQ(all[0].diagnostics[0].line, 3u);
  ASSERT_EQ(all[1].diagnostics.size(), 1u);
  EXPECT_EQ(all[1].diagnostics[0].line, 6u);
  auto last = parse_ok(text);
  ASSERT_EQ(last.diagnostics.size(), 2u);  // a bad line anywhere makes the file bad
  EXPECT_EQ(last.diagnostics[0].line, 3u);
  EXPECT_EQ(last.diagnostics[1].line, 6u);
  expect_counts(&last.snapshot.entries[0], 3, 1, 2, 32);
}

TEST(Poolmon, RepeatedSectionWithoutMemoryLinesIsANewScreen) {
  auto all = parse_all_ok(
      " System pool information\n"
      " Aaaa Nonp 2 1 1 16 16\n"
      " System pool information\n"
      " Aaaa Nonp 4 1 3 48 16\n"
      " Session 1 pool information\n"
      " Aaaa Paged 4 1 3 48 16\n");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].snapshot.entries.size(), 1u);
  ASSERT_EQ(all[1].snapshot.entries.size(), 2u);
  EXPECT_EQ(all[1].snapshot.entries[0].pool, PoolKind::kNonPaged);
  EXPECT_EQ(all[1].snapshot.entries[1].pool, PoolKind::kSession);
  EXPECT_EQ(all[1].snapshot.entries[1].session_id, 1u);
}

TEST(Poolmon, BadHeaderNumbersAreDiagnosed) {
  auto p = parse_ok(
      " Memory: lots Avail: 5K\n"
      " Commit: 1K Limit: 2K Peak: 3K Pool N: many P: 4K\n"
      " Aaaa Nonp 2 1 1 16 16\n");
  ASSERT_EQ(p.diagnostics.size(), 2u);
  EXPECT_EQ(p.diagnostics[0].line, 1u);
  EXPECT_EQ(p.diagnostics[1].line, 2u);
  EXPECT_TRUE(p.snapshot.totals.empty());
  EXPECT_EQ(p.snapshot.memory_available_bytes, 5 * kK);
  EXPECT_EQ(p.snapshot.entries.size(), 1u);
}

TEST(Poolmon, RejectsTextWithoutAnythingPoolmon) {
  for (std::string_view text : {"", "hello\nworld\n", "slabinfo - version: 2.1\n",
                                "| Tag | NP MB |\n|---|---|\n| NtFC | 21353.2 |\n"}) {
    auto parsed = parse_poolmon(text);
    ASSERT_FALSE(parsed.has_value()) << text;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInput);
    EXPECT_NE(parsed.error().message.find("not poolmon output"), std::string::npos);
    EXPECT_FALSE(parse_poolmon_all(text).has_value());
  }
}

TEST(Poolmon, HeaderOnlyIsAnEmptySnapshotThatSaysSo) {
  auto p = parse_ok(" Tag  Type     Allocs            Frees            Diff   Bytes  Per Alloc\n");
  EXPECT_TRUE(p.snapshot.entries.empty());
  EXPECT_TRUE(p.diagnostics.empty());
  ASSERT_EQ(p.snapshot.notes.size(), 1u);
  EXPECT_EQ(p.snapshot.notes[0], "the text has poolmon headers but no tag rows");
}

TEST(Poolmon, DetectionAndDispatch) {
  EXPECT_TRUE(is_poolmon_marker_line(" Tag  Type     Allocs            Frees"));
  EXPECT_TRUE(is_poolmon_marker_line("\tTag \tType \tAllocs"));
  EXPECT_TRUE(is_poolmon_marker_line("Tag    NpAllocs NpFrees"));
  EXPECT_TRUE(is_poolmon_marker_line(" Memory:16468560K Avail:12072536K  PageFlts:1"));
  EXPECT_TRUE(is_poolmon_marker_line("Commit:4100436K Limit:1K Peak:1K Pool N:710920K P:9K"));
  EXPECT_FALSE(is_poolmon_marker_line("Memory Tag Analysis:"));
  EXPECT_FALSE(is_poolmon_marker_line(" Tag    Allocs     Used    Allocs     Used"));  // !poolused
  EXPECT_FALSE(is_poolmon_marker_line("Tag Type"));
  EXPECT_NE(known_formats_help().find("poolmon"), std::string_view::npos);

  auto parsed = parse_pool_text(fixture("snap_log_x64_crlf.txt"));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->snapshot.format, "poolmon");
  EXPECT_EQ(parsed->snapshot.entries.size(), 3u);
  EXPECT_EQ(used(parsed->snapshot, PoolKind::kPaged), 1955448 * kK);
}

}  // namespace
}  // namespace poolscope::parse

namespace poolscope::parse {
namespace {

constexpr std::string_view kHeader =
    " Tag  Type     Allocs            Frees               Diff            Bytes      Per Alloc\n";

// Issue 21 item 1: rows whose tag is not 4 plain characters were skipped as prose.
TEST(PoolmonHostile, RowWithNonAsciiTagIsADiagnosticNotProse) {
  const std::string text = std::string(kHeader) +
                           " L\xc3\xa9"
                           "ak Nonp    1000    0    1000   1024000   1024\n"
                           " \x1b[31mLeak\x1b[0m Paged  5 4 1 64 64\n"
                           " Leaks  Nonp   1 0 1 64 64\n"
                           " Good  Nonp    2 1 1 64 64\n"
                           "Total  Nonp    3 1 2 128 64\n";
  auto parsed = parse_poolmon(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->snapshot.entries.size(), 1u);
  EXPECT_EQ(parsed->snapshot.entries[0].key.name, "Good");
  ASSERT_EQ(parsed->diagnostics.size(), 3u);
  EXPECT_EQ(parsed->diagnostics[0].line, 2u);
  EXPECT_NE(parsed->diagnostics[0].message.find("the tag \"L\\xc3\\xa9ak\" is 5 bytes"),
            std::string::npos)
      << parsed->diagnostics[0].message;
  EXPECT_NE(parsed->diagnostics[1].message.find("\\x1b[31mLeak\\x1b[0m"), std::string::npos)
      << parsed->diagnostics[1].message;
  EXPECT_NE(parsed->diagnostics[2].message.find("\"Leaks\" is 5 bytes"), std::string::npos);
}

TEST(PoolmonHostile, PooltrackerRowWithLongTagIsADiagnostic) {
  const std::string text =
      "Tag    NpAllocs    NpFrees     NpBytes     PgAllocs    PgFrees     PgBytes\n"
      "L\xc3\xa9"
      "ak   10 2 512 0 0 0\n"
      "Good   10 2 512 0 0 0\n";
  auto parsed = parse_poolmon(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->snapshot.entries.size(), 1u);
  ASSERT_EQ(parsed->diagnostics.size(), 1u);
  EXPECT_EQ(parsed->diagnostics[0].line, 2u);
}

// The line-by-line parser (files streamed with bounded memory) gives what the whole-text one does.
TEST(PoolmonHostile, LineParserGivesTheSameSnapshotsAsTheWholeText) {
  const std::string text =
      testing::read_file(testing::test_data("store/poolmon_n_log_3_screens.txt"));
  auto whole = parse_poolmon_all(text);
  ASSERT_TRUE(whole) << whole.error().message;
  PoolmonLineParser streamed(true);
  std::vector<ParsedSnapshot> got;
  LineReader lines(text);
  std::string_view line;
  while (lines.next(line)) {
    streamed.line(line, lines.line_number());
    for (auto& s : streamed.take_completed()) got.push_back(std::move(s));
  }
  auto rest = streamed.finish();
  ASSERT_TRUE(rest) << rest.error().message;
  for (auto& s : *rest) got.push_back(std::move(s));
  ASSERT_EQ(got.size(), whole->size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].snapshot.entries.size(), (*whole)[i].snapshot.entries.size());
    EXPECT_EQ(got[i].snapshot.notes, (*whole)[i].snapshot.notes);
  }
  // Bad lines past the first 1000 are counted, not kept.
  PoolmonLineParser bad(false);
  bad.line(kHeader, 1);
  for (std::size_t n = 2; n < 3002; ++n) bad.line(" Leaks Nonp 1 0 1 64 64", n);
  auto last = bad.finish_last();
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_EQ(bad.diagnostic_count(), 3000u);
  ASSERT_EQ(last->diagnostics.size(), 1001u);
  EXPECT_NE(last->diagnostics.back().message.find("2000 more"), std::string::npos);
}

}  // namespace
}  // namespace poolscope::parse
