#include "parse/poolused.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "parse/sniff.h"
#include "test_support.h"

namespace poolscope::parse {
namespace {

const Entry* find_entry(const Snapshot& s, std::string_view tag, PoolKind pool) {
  const PoolKey key = tag_from_text(tag);
  for (const auto& e : s.entries) {
    if (e.key == key && e.pool == pool) return &e;
  }
  return nullptr;
}

std::size_t count_key(const Snapshot& s, std::string_view tag) {
  const PoolKey key = tag_from_text(tag);
  return static_cast<std::size_t>(std::count_if(s.entries.begin(), s.entries.end(),
                                                [&](const Entry& e) { return e.key == key; }));
}

bool has_note(const Snapshot& s, std::string_view part) {
  return std::any_of(s.notes.begin(), s.notes.end(),
                     [&](const std::string& n) { return n.find(part) != std::string::npos; });
}

Result<ParsedSnapshot> parse_shared(const std::string& name) {
  return parse_poolused(testing::read_file(testing::shared_data("windbg/" + name)));
}

Result<ParsedSnapshot> parse_fixture(const std::string& name) {
  return parse_poolused(testing::read_file(testing::test_data("poolused/" + name)));
}

// ---- real samples (../shared/data/real/windbg) ----

TEST(PoolusedReal, NickKuoAmdaLeakSortedByNonPaged) {
  const std::string name = "poolused_01_nickkuo_amda_acpwdfworkitem_leak.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.format, "poolused");
  EXPECT_EQ(s.counter_width, CounterWidth::k32);
  EXPECT_EQ(s.entries.size(), 12u);  // 8 rows, 4 with paged usage too
  const Entry* amda = find_entry(s, "amda", PoolKind::kNonPaged);
  ASSERT_NE(amda, nullptr);
  EXPECT_EQ(amda->counters.outstanding, 5768754u);
  EXPECT_EQ(amda->counters.bytes, 1938325232u);
  EXPECT_FALSE(amda->counters.allocs.has_value());  // !poolused counts what is outstanding only
  EXPECT_FALSE(amda->counters.frees.has_value());
  EXPECT_EQ(amda->owner, "UNKNOWN pooltag 'amda', please update pooltag.txt");
  const Entry* amda_paged = find_entry(s, "amda", PoolKind::kPaged);
  ASSERT_NE(amda_paged, nullptr);
  EXPECT_EQ(amda_paged->counters.outstanding, 32u);
  EXPECT_EQ(amda_paged->counters.bytes, 9360u);
  const Entry* iowi = find_entry(s, "IoWI", PoolKind::kNonPaged);
  ASSERT_NE(iowi, nullptr);
  EXPECT_EQ(iowi->counters.outstanding, 5769999u);
  EXPECT_EQ(iowi->counters.bytes, 646239888u);
  EXPECT_EQ(iowi->owner, "Io work items , Binary: nt!io");
  EXPECT_EQ(find_entry(s, "IoWI", PoolKind::kPaged), nullptr);  // 0 / 0 paged: no entry
  EXPECT_TRUE(s.notes.empty());
}

TEST(PoolusedReal, TwoOutputsInOneTextAreTheirUnion) {
  const std::string name = "poolused_02_lordnoteworthy_wi6_poolused2_and_4.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.entries.size(), 14u);
  const Entry* cont = find_entry(s, "Cont", PoolKind::kNonPaged);
  ASSERT_NE(cont, nullptr);
  EXPECT_EQ(cont->counters.bytes, 6525216u);
  EXPECT_EQ(cont->owner, "Contiguous physical memory allocations for device drivers");
  const Entry* cm31 = find_entry(s, "CM31", PoolKind::kPaged);
  ASSERT_NE(cm31, nullptr);
  EXPECT_EQ(cm31->counters.outstanding, 19797u);
  EXPECT_EQ(cm31->counters.bytes, 91705344u);
  EXPECT_EQ(find_entry(s, "CM31", PoolKind::kNonPaged), nullptr);
  const Entry* ntff = find_entry(s, "Ntff", PoolKind::kNonPaged);
  ASSERT_NE(ntff, nullptr);
  EXPECT_EQ(ntff->counters.bytes, 1600u);
  EXPECT_EQ(count_key(s, "EtwB"), 2u);  // one per pool
  EXPECT_TRUE(has_note(s, "\"...\" at line 25, 41"));
  EXPECT_TRUE(has_note(s, "2 !poolused outputs in one text"));
}

TEST(PoolusedReal, Win10VmWithPreambleAndThreeCharacterTag) {
  const std::string name = "poolused_03_cn_notes_win10vm_poolused2.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.entries.size(), 21u);
  const Entry* vad = find_entry(s, "Vad", PoolKind::kNonPaged);
  ASSERT_NE(vad, nullptr);
  EXPECT_EQ(vad->key.name, "Vad ");
  EXPECT_EQ(vad->counters.outstanding, 13703u);
  EXPECT_EQ(vad->counters.bytes, 2192480u);
  const Entry* ntxf = find_entry(s, "NtxF", PoolKind::kNonPaged);
  ASSERT_NE(ntxf, nullptr);
  EXPECT_EQ(
      ntxf->owner,
      "FCB_NONPAGED                      NtfsFcbNonpagedDataLookasideList , Binary: ntfs.sys");
  const Entry* file = find_entry(s, "File", PoolKind::kNonPaged);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->owner, "File objects");  // trailing space removed
  const Entry* cont = find_entry(s, "ConT", PoolKind::kNonPaged);
  ASSERT_NE(cont, nullptr);
  EXPECT_EQ(cont->counters.bytes, 5935104u);
}

TEST(PoolusedReal, MsDocsIndentedAbcLeak) {
  const std::string name = "poolused_04_msdocs_poolused4_abc_leak.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.entries.size(), 6u);
  const Entry* abc = find_entry(s, "Abc ", PoolKind::kPaged);
  ASSERT_NE(abc, nullptr);
  EXPECT_EQ(abc->key.name, "Abc ");
  EXPECT_EQ(abc->counters.outstanding, 36405u);
  EXPECT_EQ(abc->counters.bytes, 33930272u);
  EXPECT_EQ(abc->owner, "");
  EXPECT_EQ(find_entry(s, "Abc ", PoolKind::kNonPaged), nullptr);
  const Entry* ggb = find_entry(s, "Ggb", PoolKind::kPaged);
  ASSERT_NE(ggb, nullptr);
  EXPECT_EQ(ggb->counters.bytes, 828384u);
  const Entry* gla5 = find_entry(s, "Gla5", PoolKind::kNonPaged);
  ASSERT_NE(gla5, nullptr);
  EXPECT_EQ(gla5->counters.bytes, 128u);
}

TEST(PoolusedReal, MsDocsSortedByTagWithGluedDescriptions) {
  const std::string name = "poolused_05_msdocs_poolused_sorted_by_tag.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.entries.size(), 40u);
  const Entry* t1394 = find_entry(s, "1394", PoolKind::kNonPaged);
  ASSERT_NE(t1394, nullptr);
  EXPECT_EQ(t1394->counters.bytes, 520u);
  EXPECT_EQ(t1394->owner, "UNKNOWN pooltag '1394', please update pooltag.txt");
  const Entry* i8042 = find_entry(s, "8042", PoolKind::kNonPaged);
  ASSERT_NE(i8042, nullptr);
  EXPECT_EQ(i8042->counters.outstanding, 4u);
  EXPECT_EQ(i8042->counters.bytes, 3944u);
  EXPECT_EQ(i8042->owner, "PS/2 kb and mouse , Binary: i8042prt.sys");
  // "0        01394 OHCI host controller driver": Paged Used 0, then a description starting with
  // digits; the header's columns split them.
  const Entry* ohci = find_entry(s, "ohci", PoolKind::kNonPaged);
  ASSERT_NE(ohci, nullptr);
  EXPECT_EQ(ohci->counters.bytes, 136u);
  EXPECT_EQ(ohci->owner, "1394 OHCI host controller driver");
  EXPECT_EQ(find_entry(s, "ohci", PoolKind::kPaged), nullptr);
  const Entry* agp = find_entry(s, "AGP ", PoolKind::kPaged);
  ASSERT_NE(agp, nullptr);
  EXPECT_EQ(agp->counters.outstanding, 2u);
  EXPECT_EQ(agp->counters.bytes, 384u);
  // A row one column left of the header ("rx.." as the docs page prints it).
  const Entry* rx = find_entry(s, "rx..", PoolKind::kNonPaged);
  ASSERT_NE(rx, nullptr);
  EXPECT_EQ(rx->counters.outstanding, 3u);
  EXPECT_EQ(rx->counters.bytes, 1248u);
  EXPECT_EQ(rx->owner, "UNKNOWN pooltag '  rx', please update pooltag.txt");
  const Entry* vprt = find_entry(s, "vPrt", PoolKind::kPaged);
  ASSERT_NE(vprt, nullptr);
  EXPECT_EQ(vprt->counters.bytes, 68160u);
  // TOTAL gives the totals; the rows do not add up to it because the author elided some ("...").
  const PoolTotal* np = find_total(s, PoolKind::kNonPaged);
  const PoolTotal* paged = find_total(s, PoolKind::kPaged);
  ASSERT_NE(np, nullptr);
  ASSERT_NE(paged, nullptr);
  EXPECT_EQ(np->used_bytes, 209120008u);
  EXPECT_EQ(paged->used_bytes, 13066104u);
  EXPECT_FALSE(np->limit_bytes.has_value());
  EXPECT_TRUE(has_note(s, "\"...\" at line 22"));
  EXPECT_FALSE(has_note(s, "rows add up to"));  // no cross-check on an elided listing
}

TEST(PoolusedReal, InsightEngineeringVerboseLayout) {
  const std::string name = "poolused_06_insighteng_verbose_snippet.txt";
  POOLSCOPE_REQUIRE_SHARED("windbg/" + name);
  auto parsed = parse_shared(name);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.entries.size(), 5u);
  const Entry* appt = find_entry(s, "APpt", PoolKind::kNonPaged);
  ASSERT_NE(appt, nullptr);
  EXPECT_EQ(appt->counters.allocs, 968u);
  EXPECT_EQ(appt->counters.frees, 0u);
  EXPECT_EQ(appt->counters.outstanding, 968u);
  EXPECT_EQ(appt->counters.bytes, 124112u);
  const Entry* appt_paged = find_entry(s, "APpt", PoolKind::kPaged);
  ASSERT_NE(appt_paged, nullptr);
  EXPECT_EQ(appt_paged->counters.allocs, 109457u);
  EXPECT_EQ(appt_paged->counters.frees, 107115u);
  EXPECT_EQ(appt_paged->counters.outstanding, 2342u);
  EXPECT_EQ(appt_paged->counters.bytes, 255952u);
  const Entry* dash = find_entry(s, "-UMD", PoolKind::kNonPaged);
  ASSERT_NE(dash, nullptr);
  EXPECT_EQ(dash->counters.bytes, 48u);
  const Entry* dot = find_entry(s, ".UMD", PoolKind::kNonPaged);
  ASSERT_NE(dot, nullptr);
  EXPECT_EQ(dot->counters.bytes, 144u);
}

// ---- own fixtures, one per quirk ----

TEST(Poolused, TabDescriptionsPreambleAndZeroPools) {
  auto parsed = parse_fixture("sorted_by_nonpaged_tab.txt");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.entries.size(), 10u);
  const Entry* lk = find_entry(s, "Lk01", PoolKind::kNonPaged);
  ASSERT_NE(lk, nullptr);
  EXPECT_EQ(lk->counters.outstanding, 4120331u);
  EXPECT_EQ(lk->counters.bytes, 1318505920u);
  const Entry* vad = find_entry(s, "Vad ", PoolKind::kNonPaged);
  ASSERT_NE(vad, nullptr);
  EXPECT_EQ(vad->counters.bytes, 1459200u);
  const Entry* ntxf = find_entry(s, "NtxF", PoolKind::kNonPaged);
  ASSERT_NE(ntxf, nullptr);
  EXPECT_EQ(
      ntxf->owner,
      "FCB_NONPAGED                      NtfsFcbNonpagedDataLookasideList , Binary: ntfs.sys");
  // NonPaged 0/0 with paged data: only the paged entry.
  EXPECT_EQ(find_entry(s, "Ntff", PoolKind::kNonPaged), nullptr);
  const Entry* ntff = find_entry(s, "Ntff", PoolKind::kPaged);
  ASSERT_NE(ntff, nullptr);
  EXPECT_EQ(ntff->counters.outstanding, 1880u);
  EXPECT_EQ(ntff->counters.bytes, 2436480u);
  // All zero: no entry at all.
  EXPECT_EQ(count_key(s, "Zero"), 0u);
  ASSERT_NE(find_entry(s, "-Drv", PoolKind::kPaged), nullptr);
  EXPECT_EQ(find_entry(s, "-Drv", PoolKind::kPaged)->counters.bytes, 64u);
  ASSERT_NE(find_entry(s, ".Drv", PoolKind::kNonPaged), nullptr);
  const Entry* nodesc = find_entry(s, "Nodc", PoolKind::kNonPaged);
  ASSERT_NE(nodesc, nullptr);
  EXPECT_EQ(nodesc->owner, "");
  EXPECT_TRUE(s.totals.empty());  // no TOTAL line: totals unknown, not a sum of a listing
}

TEST(Poolused, GluedDescriptionsUseTheHeaderColumns) {
  auto parsed = parse_fixture("sorted_by_tag_glued.txt");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.entries.size(), 12u);
  const Entry* ohci = find_entry(s, "ohci", PoolKind::kNonPaged);
  ASSERT_NE(ohci, nullptr);
  EXPECT_EQ(ohci->owner, "1394 OHCI host controller driver");
  EXPECT_EQ(count_key(s, "ohci"), 1u);
  // "       72 port hub context": Paged Used 7, description "2 port hub context".
  const Entry* usbh = find_entry(s, "usbh", PoolKind::kPaged);
  ASSERT_NE(usbh, nullptr);
  EXPECT_EQ(usbh->counters.bytes, 7u);
  EXPECT_EQ(usbh->owner, "2 port hub context");
  // A 9-digit Used pushes the rest of the row one column right; still read right.
  const Entry* big = find_entry(s, "Big9", PoolKind::kNonPaged);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->counters.bytes, 123456789u);
  EXPECT_EQ(big->owner, "UNKNOWN pooltag 'Big9', please update pooltag.txt");
  EXPECT_EQ(find_entry(s, "Big9", PoolKind::kPaged), nullptr);
  const Entry* i8042 = find_entry(s, "8042", PoolKind::kNonPaged);
  ASSERT_NE(i8042, nullptr);
  EXPECT_EQ(i8042->counters.bytes, 3944u);
  EXPECT_EQ(i8042->owner, "PS/2 kb and mouse , Binary: i8042prt.sys");
  const Entry* agp = find_entry(s, "AGP", PoolKind::kNonPaged);
  ASSERT_NE(agp, nullptr);
  EXPECT_EQ(agp->key.name, "AGP ");
  // TOTAL matches the rows here: no mismatch note.
  ASSERT_NE(find_total(s, PoolKind::kNonPaged), nullptr);
  EXPECT_EQ(find_total(s, PoolKind::kNonPaged)->used_bytes, 123465397u);
  EXPECT_EQ(find_total(s, PoolKind::kPaged)->used_bytes, 40047u);
  EXPECT_TRUE(s.notes.empty());
}

TEST(Poolused, IndentedBlockSortedByPaged) {
  auto parsed = parse_fixture("indented_sorted_by_paged.txt");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.entries.size(), 6u);
  const Entry* lkp = find_entry(s, "Lkp", PoolKind::kPaged);
  ASSERT_NE(lkp, nullptr);
  EXPECT_EQ(lkp->key.name, "Lkp ");
  EXPECT_EQ(lkp->counters.outstanding, 41210u);
  EXPECT_EQ(lkp->counters.bytes, 38410240u);
  const Entry* gh = find_entry(s, "Gh", PoolKind::kPaged);
  ASSERT_NE(gh, nullptr);
  EXPECT_EQ(gh->key.name, "Gh  ");
  EXPECT_EQ(gh->counters.bytes, 811904u);
}

TEST(Poolused, VerboseLayoutWithoutCommandEcho) {
  auto parsed = parse_fixture("verbose.txt");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.entries.size(), 5u);
  const Entry* gpu = find_entry(s, "Gpu1", PoolKind::kPaged);
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->counters.allocs, 88000u);
  EXPECT_EQ(gpu->counters.frees, 86500u);
  EXPECT_EQ(gpu->counters.outstanding, 1500u);
  EXPECT_EQ(gpu->counters.bytes, 196608u);
  // Allocated and freed, nothing outstanding: still churn worth keeping.
  const Entry* dot = find_entry(s, ".Abc", PoolKind::kNonPaged);
  ASSERT_NE(dot, nullptr);
  EXPECT_EQ(dot->counters.allocs, 2u);
  EXPECT_EQ(dot->counters.outstanding, 0u);
  const Entry* pg = find_entry(s, "Pg0 ", PoolKind::kPaged);
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(pg->owner, "paged only");
  EXPECT_EQ(find_entry(s, "Pg0 ", PoolKind::kNonPaged), nullptr);
}

TEST(Poolused, TwoOutputsKeepOneEntryPerTagAndPoolWithTheLaterValues) {
  auto parsed = parse_fixture("two_outputs.txt");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.entries.size(), 6u);
  EXPECT_EQ(count_key(s, "EtwB"), 2u);
  const Entry* etwb = find_entry(s, "EtwB", PoolKind::kNonPaged);
  ASSERT_NE(etwb, nullptr);
  EXPECT_EQ(etwb->counters.bytes, 4194304u);  // not doubled
  const Entry* ntfx = find_entry(s, "Ntfx", PoolKind::kPaged);
  ASSERT_NE(ntfx, nullptr);
  EXPECT_EQ(ntfx->counters.outstanding, 310u);  // from the second output
  EXPECT_EQ(ntfx->counters.bytes, 93000u);
  EXPECT_EQ(find_entry(s, "Ntfx", PoolKind::kNonPaged)->counters.bytes, 8200u);
  EXPECT_TRUE(has_note(s, "2 listed again with other values keep the later output's values"));
  EXPECT_TRUE(has_note(s, "\"...\" at line 11, 23"));
}

TEST(Poolused, MalformedRowsBecomeDiagnosticsWithLineNumbers) {
  auto parsed = parse_fixture("malformed.txt");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  const auto& d = parsed->diagnostics;
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].line, 8u);  // "x1234567"
  EXPECT_EQ(d[1].line, 9u);  // numbers missing
  EXPECT_EQ(d[2].line, 10u);
  EXPECT_NE(d[2].message.find("no tag of at most 4 characters"), std::string::npos);
  EXPECT_EQ(d[3].line, 11u);
  EXPECT_NE(d[3].message.find("does not fit in 64 bits"), std::string::npos);
  EXPECT_NE(d[0].message.find("NonPaged Allocs Used, then Paged Allocs Used"), std::string::npos);
  EXPECT_EQ(parsed->snapshot.entries.size(), 2u);  // Good and Last
}

TEST(Poolused, SessionPoolFlagAddsBothColumnsIntoOneSessionEntry) {
  auto parsed = parse_poolused(
      "0: kd> !poolused 8\n"
      "   Sorting by  Tag\n"
      "\n"
      "  Pool Used:\n"
      "            NonPaged            Paged\n"
      " Tag    Allocs     Used    Allocs     Used\n"
      " Gla1        1      100        10     1000Gdi handle\n"
      " Usti        0        0         4      512Win32k thread info\n");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(s.entries[0].pool, PoolKind::kSession);
  EXPECT_EQ(s.entries[0].counters.outstanding, 11u);
  EXPECT_EQ(s.entries[0].counters.bytes, 1100u);
  EXPECT_EQ(s.entries[0].owner, "Gdi handle");
  EXPECT_EQ(s.entries[1].counters.bytes, 512u);
  EXPECT_TRUE(has_note(s, "flag 8 (session pool, line 1)"));
}

TEST(Poolused, TotalThatDisagreesWithTheRowsIsNoted) {
  auto parsed = parse_poolused(
      " Tag    Allocs     Used    Allocs     Used\n"
      " Aaaa        1      100         0        0\n"
      " Bbbb        2      200         1       16\n"
      " TOTAL       3      999         1       16\n");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(find_total(s, PoolKind::kNonPaged)->used_bytes, 999u);
  EXPECT_EQ(find_total(s, PoolKind::kPaged)->used_bytes, 16u);
  ASSERT_EQ(s.notes.size(), 1u);
  EXPECT_EQ(s.notes[0],
            "line 4: TOTAL gives 999 bytes of nonpaged pool but the rows add up to 300; rows may "
            "be missing from this listing");
}

TEST(Poolused, SameTagTwiceInOneOutputIsAddedNotReplaced) {
  auto parsed = parse_poolused(
      " Tag    Allocs     Used    Allocs     Used\n"
      " rx..        1      100         0        0\n"
      " rx..        2      200         0        0\n");
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->snapshot.entries.size(), 1u);
  EXPECT_EQ(parsed->snapshot.entries[0].counters.outstanding, 3u);
  EXPECT_EQ(parsed->snapshot.entries[0].counters.bytes, 300u);
  EXPECT_TRUE(has_note(parsed->snapshot, "have their counters added: rx.. (nonpaged)"));
}

TEST(Poolused, RepeatsInTheFirstOutputAreAddedAndLaterOutputsReplace) {
  auto parsed = parse_poolused(
      " Tag    Allocs     Used    Allocs     Used\n"
      " Aaaa        1      100         0        0\n"
      " Bbbb        2      200         0        0\n"
      " Aaaa        3      300         1       10\n"
      " Cccc        4      400         0        0\n"
      "0: kd> !poolused 4\n"
      " Tag    Allocs     Used    Allocs     Used\n"
      " Bbbb        5      500         0        0\n"
      " Bbbb        1       50         0        0\n"
      " Dddd        6      600         0        0\n");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  ASSERT_EQ(s.entries.size(), 5u);  // Aaaa np, Bbbb np, Aaaa paged, Cccc np, Dddd np
  EXPECT_EQ(find_entry(s, "Aaaa", PoolKind::kNonPaged)->counters.bytes, 400u);
  EXPECT_EQ(find_entry(s, "Aaaa", PoolKind::kNonPaged)->counters.outstanding, 4u);
  EXPECT_EQ(find_entry(s, "Aaaa", PoolKind::kPaged)->counters.bytes, 10u);
  EXPECT_EQ(find_entry(s, "Cccc", PoolKind::kNonPaged)->counters.bytes, 400u);
  // The second output replaces Bbbb, and its own two Bbbb rows are added together.
  EXPECT_EQ(find_entry(s, "Bbbb", PoolKind::kNonPaged)->counters.bytes, 550u);
  EXPECT_EQ(find_entry(s, "Dddd", PoolKind::kNonPaged)->counters.bytes, 600u);
  EXPECT_EQ(s.entries[0].key.name, "Aaaa");  // order of first appearance is kept
  EXPECT_EQ(s.entries[1].key.name, "Bbbb");
  EXPECT_EQ(s.entries[2].key.name, "Aaaa");
  EXPECT_EQ(s.entries[3].key.name, "Cccc");
  EXPECT_TRUE(has_note(s, "have their counters added: Aaaa (nonpaged), Bbbb (nonpaged)"));
}

TEST(Poolused, RepeatsAreFoundInALargeFirstOutput) {
  // Above a few thousand rows the repeat check switches from a sort to a bitmap: both must agree.
  for (bool with_repeat : {false, true}) {
    std::string text = " Tag     Allocs         Used     Allocs         Used\n";
    constexpr int kRows = 17000;  // distinct tags: 26 * 26 * 26 = 17576
    for (int i = 0; i < kRows; ++i) {
      char tag[5] = {static_cast<char>('A' + i % 26), static_cast<char>('A' + i / 26 % 26),
                     static_cast<char>('a' + i / 676 % 26), 'x', 0};
      text += " " + std::string(tag) + "         1           16          0            0\n";
    }
    if (with_repeat) text += " QBax         2           32          0            0\n";  // i = 42
    auto parsed = parse_poolused(text);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_TRUE(parsed->diagnostics.empty());
    const Snapshot& s = parsed->snapshot;
    ASSERT_EQ(s.entries.size(), static_cast<std::size_t>(kRows));
    const Entry* qbax = find_entry(s, "QBax", PoolKind::kNonPaged);
    ASSERT_NE(qbax, nullptr);
    EXPECT_EQ(qbax->counters.bytes, with_repeat ? 48u : 16u);
    EXPECT_EQ(qbax->counters.outstanding, with_repeat ? 3u : 1u);
    EXPECT_EQ(has_note(s, "have their counters added: QBax (nonpaged)"), with_repeat);
  }
}

TEST(Poolused, TagFilterAndPagedFirstGroupLine) {
  auto parsed = parse_poolused(
      "kd> !poolused 1 Ab*\n"
      "                 Paged                                        NonPaged\n"
      " Tag       Allocs       Frees      Diff         Used       Allocs       Frees      Diff    "
      "     Used\n"
      " Abcd          10           4         6          600            1           0         1    "
      "       64\n");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(find_entry(s, "Abcd", PoolKind::kPaged)->counters.bytes, 600u);
  EXPECT_EQ(find_entry(s, "Abcd", PoolKind::kNonPaged)->counters.bytes, 64u);
  EXPECT_TRUE(has_note(s, "tag filter (line 1)"));
}

TEST(Poolused, OtherCommandsOutputIsNotReadAsRows) {
  auto parsed = parse_poolused(
      "0: kd> !poolused 2\n"
      " Tag     Allocs         Used     Allocs         Used\n"
      " Leak        10         1000          0            0\tmine\n"
      "0: kd> lm\n"
      "start             end                 module name\n"
      "fffff800`00000000 fffff800`00100000   nt\n"
      "0: kd> \n");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(parsed->diagnostics.empty());
  EXPECT_EQ(parsed->snapshot.entries.size(), 1u);
}

TEST(Poolused, RejectsTextWithoutHeader) {
  auto none = parse_poolused("hello\n0: kd> !poolused\n Abc 1 2 3 4\n");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, ErrorCode::kInput);
  EXPECT_NE(none.error().message.find("not !poolused output"), std::string::npos);
  EXPECT_FALSE(parse_poolused("").has_value());
}

TEST(Poolused, HeaderAndPromptRecognition) {
  EXPECT_TRUE(is_poolused_header(" Tag     Allocs         Used     Allocs         Used"));
  EXPECT_TRUE(is_poolused_header("    Tag    Allocs     Used    Allocs     Used "));
  EXPECT_TRUE(is_poolused_header(
      " Tag       Allocs       Frees      Diff         Used       Allocs       Frees      Diff"
      "         Used"));
  EXPECT_FALSE(
      is_poolused_header(" Tag  Type     Allocs            Frees            Diff   Bytes"
                         "      Per Alloc"));                    // poolmon
  EXPECT_FALSE(is_poolused_header(" Tag    Allocs"));            // no Used column
  EXPECT_FALSE(is_poolused_header(" Tag    Used Allocs Used"));  // a column twice in one pool
  EXPECT_EQ(windbg_command("0: kd> !poolused 2"), "!poolused 2");
  EXPECT_EQ(windbg_command(" kd> !poolused 4 "), "!poolused 4");
  EXPECT_EQ(windbg_command("lkd> !vm 21"), "!vm 21");
  EXPECT_EQ(windbg_command("12: kd>"), "");
  EXPECT_FALSE(windbg_command("kd>x").has_value());
  EXPECT_FALSE(windbg_command(" Tag Allocs").has_value());
  EXPECT_FALSE(windbg_command("0 kd> !vm").has_value());
}

// ---- through the entry point `--source FILE` uses ----

TEST(PoolusedPipeline, ParsePoolTextDetectsAndParses) {
  auto text = testing::read_file(testing::test_data("poolused/sorted_by_tag_glued.txt"));
  EXPECT_EQ(detect_format(text), TextFormat::kPoolused);
  auto parsed = parse_pool_text(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->snapshot.format, "poolused");
  EXPECT_EQ(parsed->snapshot.entries.size(), 12u);
  EXPECT_TRUE(parsed->diagnostics.empty());
  // Only the column header, no prompt: still detected.
  EXPECT_EQ(detect_format(testing::read_file(testing::test_data("poolused/verbose.txt"))),
            TextFormat::kPoolused);
  EXPECT_NE(known_formats_help().find("!poolused"), std::string_view::npos);
}

TEST(PoolusedPipeline, VmThenPoolusedInOneTextMerge) {
  auto text = testing::read_file(testing::test_data("poolused/incident_vm_then_poolused.txt"));
  EXPECT_EQ(detect_format(text), TextFormat::kVm);  // the first distinctive line is !vm's
  auto parsed = parse_pool_text(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const Snapshot& s = parsed->snapshot;
  EXPECT_EQ(s.format, "poolused");
  ASSERT_EQ(s.entries.size(), 2u);
  const Entry* none = find_entry(s, "None", PoolKind::kNonPaged);
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(none->counters.outstanding, 240001u);
  EXPECT_EQ(none->counters.bytes, 49152000u);
  EXPECT_EQ(none->owner, "call to ExAllocatePool");
  const PoolTotal* np = find_total(s, PoolKind::kNonPaged);
  ASSERT_NE(np, nullptr);
  EXPECT_EQ(np->used_bytes, 123800u * 1024);
  EXPECT_EQ(np->limit_bytes, 127944u * 1024);
  EXPECT_EQ(np->failures, 7u);
  EXPECT_EQ(s.memory_total_bytes, 2096628u * 1024);
  EXPECT_TRUE(has_note(s, "!vm: Excessive NonPaged Pool Usage"));
  EXPECT_TRUE(has_note(s, "top tags only (/t, line 34)"));
  EXPECT_TRUE(has_note(s, "come from the !vm output in the same text"));
}

TEST(PoolusedPipeline, RealFilesThroughParsePoolText) {
  POOLSCOPE_REQUIRE_SHARED("windbg/poolused_01_nickkuo_amda_acpwdfworkitem_leak.txt");
  for (const char* name :
       {"poolused_01_nickkuo_amda_acpwdfworkitem_leak.txt",
        "poolused_02_lordnoteworthy_wi6_poolused2_and_4.txt",
        "poolused_03_cn_notes_win10vm_poolused2.txt", "poolused_04_msdocs_poolused4_abc_leak.txt",
        "poolused_05_msdocs_poolused_sorted_by_tag.txt",
        "poolused_06_insighteng_verbose_snippet.txt"}) {
    auto text = testing::read_file(testing::shared_data(std::string("windbg/") + name));
    EXPECT_EQ(detect_format(text), TextFormat::kPoolused) << name;
    auto parsed = parse_pool_text(text);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_TRUE(parsed->diagnostics.empty()) << name;
    EXPECT_EQ(parsed->snapshot.format, "poolused") << name;
  }
}

}  // namespace
}  // namespace poolscope::parse
