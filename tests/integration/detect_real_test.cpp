// `poolscope leaks` on the real Windows data: the Drsd printer-driver leak from Microsoft's poolmon
// example (two snapshots around one print job) and a single snapshot, which only ever gives the
// largest consumers.
#include <nlohmann/json.hpp>

#include "integration/cli_support.h"
#include "integration/store_support.h"
#include "test_support.h"

namespace poolscope {
namespace {

using json = nlohmann::json;

// The verb's stdout and stderr together (leaks writes nothing to stderr unless it fails).
testing::RunResult run(const std::vector<std::string>& args) {
  std::string line;
  for (const std::string& a : args) line += "'" + a + "' ";
  return testing::run_poolscope(line);
}

const char* const kBefore = "poolmon/03_msdocs_example4_drsd_printer_leak_before.txt";
const char* const kAfter = "poolmon/04_msdocs_example4_drsd_printer_leak_after.txt";

TEST(DetectReal, DrsdBeforeAndAfterOnePrintJobIsALeakOfSixBlocks) {
  POOLSCOPE_REQUIRE_SHARED(kBefore);
  testing::TempDir dir;
  const std::string db = dir.file("drsd.db");
  // The example gives no times: one print job, taken here as 5 minutes apart.
  auto imported =
      run({"import", "--into", db, testing::shared_data(kBefore), testing::shared_data(kAfter),
           "--at", "2025-11-12T10:00:00Z", "--at", "2025-11-12T10:05:00Z"});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  auto leaks = run({"leaks", db, "--format", "json", "--fail-on-leak"});
  EXPECT_EQ(leaks.exit_code, 1) << "--fail-on-leak exits 1 on a leak\n" << leaks.out;
  const json report = json::parse(leaks.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << leaks.out;
  ASSERT_EQ(report["findings"].size(), 1u) << report.dump(2);
  const json& f = report["findings"][0];
  EXPECT_EQ(f["key"], "Drsd");
  EXPECT_EQ(f["pool"], "paged");
  EXPECT_EQ(f["verdict"], "leak");
  EXPECT_EQ(f["start"], 21);
  EXPECT_EQ(f["end"], 27);
  EXPECT_EQ(f["window_seconds"], 300);
  // 6 blocks and 4,992 bytes per job (5 minutes here): 72 blocks and 59,904 bytes an hour.
  EXPECT_DOUBLE_EQ(f["rate_objects_per_hour"].get<double>(), 72);
  EXPECT_DOUBLE_EQ(f["rate_bytes_per_hour"].get<double>(), 59904);
  EXPECT_EQ(f["onset"], "2025-11-12T10:00:00Z");
  // Two points: half the chance a trendless series has of rising once; the verdict rests on the
  // before/after procedure, and the explanation says a longer recording is needed.
  EXPECT_DOUBLE_EQ(f["confidence"].get<double>(), 0.5);
  EXPECT_TRUE(f["trend"]["sparse"].get<bool>());
  EXPECT_NE(f["explanation"].get<std::string>().find("longer recording"), std::string::npos);
  // poolmon gives the paged pool's use but not its limit.
  EXPECT_TRUE(f["exhaustion_eta_seconds"].is_null());
  EXPECT_NE(f["exhaustion_note"].get<std::string>().find("no paged pool limit"), std::string::npos)
      << f["exhaustion_note"];
  EXPECT_TRUE(f["processes"].empty());

  auto table = run({"leaks", db});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("leak     Drsd"), std::string::npos) << table.out;
}

TEST(DetectReal, OneSnapshotGivesTheLargestConsumersAndNeverALeak) {
  POOLSCOPE_REQUIRE_SHARED(kAfter);
  testing::TempDir dir;
  const std::string db = dir.file("one.db");
  auto imported =
      run({"import", "--into", db, testing::shared_data(kAfter), "--at", "2025-11-12T10:05:00Z"});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  auto leaks = run({"leaks", db, "--format", "json", "--fail-on-leak"});
  EXPECT_EQ(leaks.exit_code, 0) << leaks.out;
  const json report = json::parse(leaks.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << leaks.out;
  EXPECT_TRUE(report["findings"].empty()) << report.dump(2);
  ASSERT_EQ(report["top_consumers"].size(), 1u);
  EXPECT_EQ(report["top_consumers"][0]["key"], "Drsd");
  EXPECT_EQ(report["top_consumers"][0]["bytes"], 22464);
  ASSERT_EQ(report["notes"].size(), 1u);
  EXPECT_NE(report["notes"][0].get<std::string>().find("a leak needs at least two samples"),
            std::string::npos);
  auto table = run({"leaks", db});
  EXPECT_NE(table.out.find("No leak found"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("Drsd"), std::string::npos) << table.out;
}

TEST(DetectReal, AMissingRecordingIsAnInputError) {
  auto leaks = run({"leaks", "/nonexistent/pools.db"});
  EXPECT_EQ(leaks.exit_code, 2) << leaks.out;
  EXPECT_FALSE(leaks.out.empty());
}

}  // namespace
}  // namespace poolscope
