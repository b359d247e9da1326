// The owner evidence of the report's findings and the page written to a file (report/evidence.h),
// moved out of the `report` verb; and the bug `diagnose` had: it kept its owner resolver inside the
// snapshot wrapper and passed none to the page.
#include "report/evidence.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "detect/load.h"
#include "store/recording.h"
#include "unit/store/store_test_support.h"
#include "test_paths.h"

namespace poolscope::report {
namespace {

const std::string kPooltag = std::string(POOLSCOPE_TEST_DATA) + "/pooltag/pooltag_small.txt";

attrib::OwnerResolver pooltag_resolver() {
  auto loaded = attrib::OwnerResolver::load({.pooltag = kPooltag, .allow_bad_lines = true});
  EXPECT_TRUE(loaded.has_value()) << (loaded ? "" : loaded.error().message);
  return loaded ? std::move(*loaded) : attrib::OwnerResolver{};
}

detect::Report report_of_tag(const std::string& tag) {
  detect::Report report;
  detect::Finding finding;
  finding.key = tag_from_text(tag);
  finding.verdict = detect::Verdict::kLeak;
  report.findings.push_back(finding);
  return report;
}

bool has_line(const std::vector<OwnerEvidence>& evidence, const std::string& part) {
  for (const auto& e : evidence) {
    for (const auto& line : e.lines) {
      if (line.find(part) != std::string::npos) return true;
    }
  }
  return false;
}

TEST(OwnerEvidence, ATagWithTheResolverGetsItsPooltagLines) {
  const attrib::OwnerResolver resolver = pooltag_resolver();
  auto evidence = owner_evidence(report_of_tag("_Tst"), {.resolver = &resolver});
  ASSERT_TRUE(evidence.has_value());
  ASSERT_EQ(evidence->size(), 1u);
  EXPECT_EQ((*evidence)[0].key, "_Tst");
  EXPECT_TRUE(has_line(*evidence, "_Tst - tstmon.sys - underscore tag"));
  EXPECT_FALSE(has_line(*evidence, "not loaded"));
  EXPECT_TRUE(has_line(*evidence, "drivers not searched: pass --drivers DIR"));
}

TEST(OwnerEvidence, WithoutTheResolverATagSaysPooltagIsNotLoaded) {
  auto evidence = owner_evidence(report_of_tag("_Tst"), {});
  ASSERT_TRUE(evidence.has_value());
  EXPECT_TRUE(has_line(*evidence, "pooltag.txt not loaded (pass --pooltag FILE)"));
}

TEST(OwnerEvidence, AnUnlistedTagAndAMissingDriversFolder) {
  const attrib::OwnerResolver resolver = pooltag_resolver();
  auto evidence = owner_evidence(report_of_tag("Zzzz"), {.resolver = &resolver});
  ASSERT_TRUE(evidence.has_value());
  EXPECT_TRUE(has_line(*evidence, "pooltag.txt does not list Zzzz"));
  auto missing =
      owner_evidence(report_of_tag("Zzzz"), {.drivers = {"/nonexistent/poolscope-drivers"}});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kInput);
}

TEST(OwnerEvidence, ACacheWithoutOwnerPointsToWho) {
  detect::Report report;
  detect::Finding finding;
  finding.key = slab_cache("kmalloc-64");
  finding.aliases = {"a", "b"};
  report.findings.push_back(finding);
  auto evidence = owner_evidence(report, {});
  ASSERT_TRUE(evidence.has_value());
  EXPECT_TRUE(has_line(*evidence, "caches merged into this one: a, b"));
  EXPECT_TRUE(has_line(*evidence, "poolscope who kmalloc-64 on the recorded machine"));
}

// A recording of a Windows tag leaking 40 objects a second for 2 minutes, read back like
// `diagnose` does after recording.
struct TagLeak {
  testing::ScratchDir dir;
  std::string db = dir.file("recording.db");
  std::optional<store::Recording> recording;
  std::optional<detect::History> history;
  detect::Report report;

  TagLeak() {
    {
      auto w = store::Recording::open_write(db);
      EXPECT_TRUE(w.has_value());
      for (int i = 0; i < 120; ++i) {
        Entry e;
        e.key = tag_from_text("_Tst");
        e.pool = PoolKind::kNonPaged;
        e.counters.outstanding = 1000 + 40 * static_cast<std::uint64_t>(i);
        e.counters.bytes = *e.counters.outstanding * 128;
        Snapshot s = testing::snapshot_at_seconds(1'790'000'000 + i, {e});
        s.source = "live:windows";
        s.format = "pooltag";
        EXPECT_TRUE(w->append(s).has_value());
      }
      w->close();
    }
    auto r = store::Recording::open_read(db);
    EXPECT_TRUE(r.has_value());
    recording = std::move(*r);
    auto h = detect::load_history(*recording);
    EXPECT_TRUE(h.has_value());
    history = std::move(*h);
    report = detect::analyze(*history);
  }
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The bug: `diagnose --pooltag FILE` on Windows wrote a report.html that said "pooltag.txt not
// loaded (pass --pooltag FILE)" and advised --drivers, which diagnose does not take, because the
// verb kept its resolver inside the snapshot wrapper. The verb now hands its resolver (and the
// advice to run `report --drivers`) to the page; this is what the page then says.
TEST(DiagnoseReportBug, HtmlReportSaidPooltagNotLoadedDespitePooltag) {
  TagLeak leak;
  ASSERT_FALSE(leak.report.findings.empty());
  const attrib::OwnerResolver resolver = pooltag_resolver();
  const std::string html_path = leak.dir.file("report.html");
  HtmlReportOptions html;
  html.file_label = leak.db;
  html.version = "test";
  html.resolver = &resolver;
  html.drivers_advice = "run poolscope report " + leak.db + " --drivers DIR";
  auto written = write_html_report(*leak.recording, *leak.history, leak.report, html_path, html);
  ASSERT_TRUE(written.has_value()) << written.error().message;
  const std::string page = read_all(html_path);
  EXPECT_EQ(written->bytes, page.size());
  EXPECT_NE(page.find("_Tst - tstmon.sys - underscore tag"), std::string::npos);
  EXPECT_EQ(page.find("pooltag.txt not loaded"), std::string::npos);
  EXPECT_EQ(page.find("pass --drivers DIR"), std::string::npos);
  EXPECT_NE(page.find("run poolscope report " + leak.db + " --drivers DIR"), std::string::npos);
}

TEST(HtmlReport, AnEmptyRecordingIsAnInputErrorAndAnUnwritableFileAnEnvironmentError) {
  {
    // Closed before TagLeak below makes its scratch folder, which has the same name: Windows
    // refuses to remove a folder holding an open file.
    testing::ScratchDir dir;
    const std::string db = dir.file("empty.db");
    {
      auto w = store::Recording::open_write(db);
      ASSERT_TRUE(w.has_value());
      w->close();
    }
    auto r = store::Recording::open_read(db);
    ASSERT_TRUE(r.has_value());
    auto h = detect::load_history(*r);
    ASSERT_TRUE(h.has_value());
    auto empty = write_html_report(*r, *h, detect::analyze(*h), dir.file("e.html"), {});
    ASSERT_FALSE(empty.has_value());
    EXPECT_EQ(empty.error().code, ErrorCode::kInput);
  }

  TagLeak leak;
  auto unwritable = write_html_report(*leak.recording, *leak.history, leak.report,
                                      leak.dir.file("no/such/folder/r.html"), {});
  ASSERT_FALSE(unwritable.has_value());
  EXPECT_EQ(unwritable.error().code, ErrorCode::kEnvironment);
}

}  // namespace
}  // namespace poolscope::report
