// Damaged recordings through the real binary (issue 21 item 5). One rule for every reader of a
// recording: it outputs what it could, counts what it skipped ("N of M samples read; ..."), and
// exits 2 unless --allow-damaged. The recordings are made by `record` on this machine and then
// damaged in place, as a disk or a bad copy would.
#include <string>
#include <vector>

#include "integration/store_support.h"
#include "integration/verb_run.h"
#include "test_support.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;
using testing::Child;

using testing::run_verb;

bool damage(const std::string& db, const std::string& sql) {
  sqlite3* handle = nullptr;
  const bool ok = sqlite3_open(db.c_str(), &handle) == SQLITE_OK &&
                  sqlite3_exec(handle, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
  sqlite3_close(handle);
  return ok;
}

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// ~20 samples of this machine with process facts in every one, a keyframe every 8.
std::string record_small(const testing::TempDir& dir) {
  const std::string db = dir.file("rec.db");
  Child rec({"record", "--out", db, "--interval", "0.05", "--duration", "1.5s",
             "--process-interval", "0.05s", "--keyframe-interval", "8", "--no-owner"});
  EXPECT_EQ(rec.wait_for(30s), 0) << rec.err();
  return db;
}

// Every verb that reads a recording, with its output where a test can look for the rows.
std::vector<std::vector<std::string>> readers(const testing::TempDir& dir, const std::string& db) {
  return {{"export", db},
          {"report", db, "-o", dir.file("r.html"), "--no-owner"},
          {"leaks", db, "--no-owner"},
          {"snapshot", "--source", db, "--format", "csv"},
          {"summary", "--source", db}};
}

std::vector<std::string> with_allow(std::vector<std::string> args) {
  args.push_back("--allow-damaged");
  return args;
}

// `export` and `report` printed "malformed" warnings and exited 0; `report` said "464 sample(s)"
// of 483 without the 19 it could not decode.
TEST(DamagedRecording, MalformedSampleBlobsAreCountedAndExitTwo) {
  testing::TempDir dir;
  const std::string db = record_small(dir);
  const int total = std::stoi(testing::sql_value(db, "SELECT count(*) FROM samples"));
  ASSERT_GE(total, 12);
  // Sample 3 (not a keyframe) overwritten: 3 up to the keyframe at 9 cannot be decoded.
  ASSERT_EQ(testing::sql_value(db, "SELECT keyframe FROM samples WHERE seq = 3"), "0");
  ASSERT_EQ(testing::sql_value(db, "SELECT keyframe FROM samples WHERE seq = 9"), "1");
  ASSERT_TRUE(damage(db, "UPDATE samples SET data = X'01FFFFFFFF' WHERE seq = 3"));
  const std::string counted = std::to_string(total - 6) + " of " + std::to_string(total) +
                              " samples read; 6 could not be decoded";
  for (const auto& args : readers(dir, db)) {
    if (args[0] == "snapshot" || args[0] == "summary") continue;  // the last sample is intact
    auto r = run_verb(args);
    EXPECT_EQ(r.code, 2) << args[0] << "\n" << r.err;
    EXPECT_TRUE(has(r.err, counted)) << args[0] << "\n" << r.err;
    EXPECT_TRUE(has(r.err, "--allow-damaged")) << args[0] << "\n" << r.err;
    auto allowed = run_verb(with_allow(args));
    EXPECT_EQ(allowed.code, 0) << args[0] << "\n" << allowed.err;
    EXPECT_TRUE(has(allowed.err, counted)) << args[0] << "\n" << allowed.err;
  }
  // What could be read is still written, and the leaks text says what is missing.
  auto exported = run_verb(with_allow({"export", db, "--kind", "pool"}));
  EXPECT_TRUE(has(exported.out, "\"seq\":2,")) << exported.out.substr(0, 500);
  EXPECT_FALSE(has(exported.out, "\"seq\":3,"));
  EXPECT_TRUE(has(exported.out, "\"seq\":9,"));
  auto leaks = run_verb(with_allow({"leaks", db, "--no-owner"}));
  EXPECT_TRUE(has(leaks.out, "damaged recording: " + counted)) << leaks.out;
  // A snapshot of the damaged sample itself cannot be rebuilt: an input error, not a guess.
  const std::string at = testing::sql_value(
      db,
      "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', wall_ns / 1e9, 'unixepoch') FROM samples "
      "WHERE seq = 5");
  auto shown = run_verb({"snapshot", "--source", db, "--at", at});
  EXPECT_EQ(shown.code, 2) << shown.err;
}

// `export` printed one warning per damaged sample (thousands for a badly damaged file) before its
// count. Now every reader says it in one line: the counted total, where the first few are.
TEST(DamagedRecording, ManyDamagedSamplesAreOneSummaryLine) {
  testing::TempDir dir;
  const std::string db = dir.file("rec.db");
  Child rec({"record", "--out", db, "--interval", "0.05", "--duration", "1.5s", "--no-processes",
             "--keyframe-interval", "2", "--no-owner"});
  ASSERT_EQ(rec.wait_for(30s), 0) << rec.err();
  const int total = std::stoi(testing::sql_value(db, "SELECT count(*) FROM samples"));
  ASSERT_GE(total, 9);  // a loaded machine may take fewer samples; 2, 4, 6, 8 suffice
  // Every change set overwritten (samples 2, 4, 6, ...): each one is a damaged sample of its own.
  ASSERT_EQ(testing::sql_value(db,
                               "SELECT group_concat(seq) FROM samples WHERE keyframe = 0 AND "
                               "seq <= 8"),
            "2,4,6,8");
  ASSERT_TRUE(damage(db, "UPDATE samples SET data = X'01FFFFFFFF' WHERE keyframe = 0"));
  for (const auto& args : readers(dir, db)) {
    if (args[0] == "snapshot" || args[0] == "summary") continue;  // they read one sample
    auto r = run_verb(with_allow(args));
    EXPECT_EQ(r.code, 0) << args[0] << "\n" << r.err;
    EXPECT_EQ(testing::count_lines(r.err, "could not be decoded"), 1u) << args[0] << "\n" << r.err;
    EXPECT_EQ(testing::count_lines(r.err, "sample 4:"), 1u) << args[0] << "\n" << r.err;
    EXPECT_TRUE(has(r.err, " of " + std::to_string(total) + " samples read; ")) << r.err;
    EXPECT_TRUE(has(r.err, "the first: \"sample 2: ")) << args[0] << "\n" << r.err;
    EXPECT_TRUE(has(r.err, "\"sample 6: ")) << args[0] << "\n" << r.err;
    EXPECT_TRUE(has(r.err, "\", ...)")) << args[0] << "\n" << r.err;  // more than 3
    EXPECT_FALSE(has(r.err, "\"sample 8: ")) << args[0] << "\n" << r.err;
  }
}

// An emptied keys table gave an empty export, no warning, exit 0.
TEST(DamagedRecording, EmptiedKeysTableIsCountedNotAnEmptyExport) {
  testing::TempDir dir;
  const std::string db = record_small(dir);
  ASSERT_TRUE(damage(db, "DELETE FROM keys"));
  for (const auto& args : readers(dir, db)) {
    auto r = run_verb(args);
    EXPECT_EQ(r.code, 2) << args[0] << "\n" << r.err;
    EXPECT_TRUE(has(r.err, "missing from the keys table")) << args[0] << "\n" << r.err;
    EXPECT_EQ(run_verb(with_allow(args)).code, 0) << args[0];
  }
  // The process facts do not need the keys: still exported.
  auto exported = run_verb(with_allow({"export", db}));
  EXPECT_TRUE(has(exported.out, "\"kind\":\"process\"")) << exported.out.substr(0, 300);
}

// A process-sample blob that could not be decoded was dropped without a word.
TEST(DamagedRecording, UndecodableProcessSampleIsCounted) {
  testing::TempDir dir;
  const std::string db = record_small(dir);
  ASSERT_EQ(testing::sql_value(db, "SELECT count(*) FROM process_samples WHERE seq = 4"), "1");
  ASSERT_TRUE(damage(db, "UPDATE process_samples SET data = X'02FFFFFFFF' WHERE seq = 4"));
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"export", db}, {"leaks", db, "--no-owner"}, {"report", db, "-o", dir.file("r.html")}}) {
    auto r = run_verb(args);
    EXPECT_EQ(r.code, 2) << args[0] << "\n" << r.err;
    EXPECT_TRUE(has(r.err, "the process facts of ")) << args[0] << "\n" << r.err;
  }
  // --kind pool does not read the process facts: nothing it read was damaged.
  EXPECT_EQ(run_verb({"export", db, "--kind", "pool"}).code, 0);
}

// Rows missing from the sequence were not counted anywhere; the count says where the first gap is.
TEST(DamagedRecording, SequenceGapIsCountedAsMissingSamples) {
  testing::TempDir dir;
  const std::string db = record_small(dir);
  ASSERT_TRUE(damage(db, "DELETE FROM samples WHERE seq IN (7, 8)"));  // 9 is a keyframe
  auto r = run_verb({"export", db, "--kind", "pool"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(has(r.err, "2 missing (gaps in the sequence numbers, the first after sample 6)"))
      << r.err;
}

// Without its meta table a recording exited 70 ("a bug in poolscope"); now the samples are still
// read, and the missing table is counted like any other damage.
TEST(DamagedRecording, MissingMetaTableStillOutputsTheSamples) {
  testing::TempDir dir;
  const std::string db = record_small(dir);
  ASSERT_TRUE(damage(db, "DROP TABLE meta"));
  for (const auto& args : readers(dir, db)) {
    auto r = run_verb(args);
    EXPECT_EQ(r.code, 2) << args[0] << "\n" << r.err;
    EXPECT_TRUE(has(r.err, "meta table is missing")) << args[0] << "\n" << r.err;
    EXPECT_EQ(run_verb(with_allow(args)).code, 0) << args[0];
  }
  auto exported = run_verb(with_allow({"export", db, "--kind", "pool"}));
  EXPECT_TRUE(has(exported.out, "\"kind\":\"pool\"")) << exported.out.substr(0, 300);
}

// An intact recording says nothing about damage and exits 0.
TEST(DamagedRecording, IntactRecordingIsNotReportedDamaged) {
  testing::TempDir dir;
  const std::string db = record_small(dir);
  for (const auto& args : readers(dir, db)) {
    auto r = run_verb(args);
    EXPECT_EQ(r.code, 0) << args[0] << "\n" << r.err;
    EXPECT_FALSE(has(r.err, "damaged")) << args[0] << "\n" << r.err;
  }
}

}  // namespace
}  // namespace poolscope
