// `poolscope import` and `export` end to end: formats detected from content, samples in order,
// absent keys kept apart from zero, all-or-nothing on a bad line, events and counters.
#include "integration/store_support.h"
#include "test_support.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;
using testing::Child;
using testing::sql_value;

std::string fixture(const std::string& name) {
  return testing::test_data("store/" + name).string();
}

struct Ran {
  int code;
  std::string out, err;
};

Ran run(const std::vector<std::string>& args) {
  Child c(args);
  const int code = c.wait_for(60s);
  return {code, c.out(), c.err()};
}

TEST(StoreImport, DrsdBeforeAndAfterBecomeATwoPointSeries) {
  POOLSCOPE_REQUIRE_SHARED("poolmon/03_msdocs_example4_drsd_printer_leak_before.txt");
  testing::TempDir dir;
  const std::string db = dir.file("drsd.db");
  auto imported =
      run({"import", "--into", db,
           testing::shared_data("poolmon/03_msdocs_example4_drsd_printer_leak_before.txt"),
           testing::shared_data("poolmon/04_msdocs_example4_drsd_printer_leak_after.txt"), "--at",
           "2025-11-12T10:00:00Z", "--at", "2025-11-12T10:05:00Z"});
  ASSERT_EQ(imported.code, 0) << imported.err;
  auto exported = run({"export", db, "--include", "Drsd"});
  ASSERT_EQ(exported.code, 0) << exported.err;
  // Drsd grew by 6 blocks (4,992 bytes) over one print job.
  EXPECT_EQ(
      exported.out,
      "{\"kind\":\"pool\",\"time\":\"2025-11-12T10:00:00.000Z\",\"seq\":1,\"key\":\"Drsd\","
      "\"pool\":\"paged\",\"allocs\":560,\"frees\":539,\"outstanding\":21,\"bytes\":17472}\n"
      "{\"kind\":\"pool\",\"time\":\"2025-11-12T10:05:00.000Z\",\"seq\":2,\"key\":\"Drsd\","
      "\"pool\":\"paged\",\"allocs\":737,\"frees\":710,\"outstanding\":27,\"bytes\":22464}\n");
  // The table at a time between the two shows the first sample; the default is the last.
  auto at = run({"snapshot", "--source", db, "--at", "2025-11-12T10:04:59Z", "--format", "csv"});
  ASSERT_EQ(at.code, 0) << at.err;
  EXPECT_NE(at.out.find("Drsd"), std::string::npos);
  EXPECT_NE(at.out.find(",21,17472"), std::string::npos) << at.out;
  auto last = run({"snapshot", "--source", db, "--format", "csv"});
  EXPECT_NE(last.out.find(",27,22464"), std::string::npos) << last.out;
  auto before = run({"snapshot", "--source", db, "--at", "2025-11-12T09:00:00Z"});
  EXPECT_EQ(before.code, 2);
  EXPECT_NE(before.err.find("has no sample at or before 2025-11-12T09:00:00Z (it holds 2 from "
                            "2025-11-12T10:00:00Z to 2025-11-12T10:05:00Z)"),
            std::string::npos)
      << before.err;
}

TEST(StoreImport, PoolmonLogScreensBecomeSamplesAndAVanishedTagIsAbsent) {
  testing::TempDir dir;
  const std::string db = dir.file("log.db");
  auto imported = run({"import", "--into", db, fixture("poolmon_n_log_3_screens.txt"), "--at",
                       "2026-11-21T09:00:00Z"});
  ASSERT_EQ(imported.code, 0) << imported.err;
  EXPECT_NE(imported.out.find("3 sample(s)"), std::string::npos) << imported.out;
  auto exported = run({"export", db, "--format", "csv", "--exclude", "Even"});
  ASSERT_EQ(exported.code, 0) << exported.err;
  EXPECT_EQ(exported.out,
            "kind,time,seq,key,pool,allocs,frees,outstanding,bytes,value,detail\n"
            "pool,2026-11-21T09:00:00.000Z,1,Leak,nonpaged,1000,0,1000,1024000,,\n"
            "pool,2026-11-21T09:00:00.000Z,1,Temp,paged,10,9,1,64,,\n"
            "pool,2026-11-21T09:00:00.000Z,2,Leak,nonpaged,2000,0,2000,2048000,,\n"
            "pool,2026-11-21T09:00:00.000Z,2,Temp,paged,11,11,0,0,,\n"
            "pool,2026-11-21T09:00:00.000Z,3,Leak,nonpaged,3000,0,3000,3072000,,\n");
  // Totals come along: poolmon's "Pool N:" line.
  auto snap = run({"snapshot", "--source", db, "--format", "json"});
  EXPECT_NE(snap.out.find("309248000"), std::string::npos) << snap.out;  // 302000K
}

TEST(StoreImport, SlabinfoCopiesKeepZeroApartFromGone) {
  testing::TempDir dir;
  const std::string db = dir.file("slab.db");
  auto imported = run({"import", "--into", db, fixture("slabinfo_a.txt"), fixture("slabinfo_b.txt"),
                       "--at", "2026-11-21T08:00:00Z", "--at", "2026-11-21T08:01:00Z"});
  ASSERT_EQ(imported.code, 0) << imported.err;
  auto exported = run({"export", db, "--format", "csv", "--include", "k*"});
  EXPECT_EQ(exported.out,
            "kind,time,seq,key,pool,allocs,frees,outstanding,bytes,value,detail\n"
            "pool,2026-11-21T08:00:00.000Z,1,kmalloc-rcl-8k,unreclaimable,,,2,32768,,\n"
            "pool,2026-11-21T08:00:00.000Z,1,kcopyd_job,unreclaimable,,,5,32768,,\n"
            "pool,2026-11-21T08:01:00.000Z,2,kcopyd_job,unreclaimable,,,0,0,,\n");
  // --from/--to select by time.
  auto late = run({"export", db, "--format", "csv", "--from", "2026-11-21T08:00:30Z"});
  EXPECT_EQ(testing::count_lines(late.out, "pool,2026-"), 2u);
  EXPECT_EQ(testing::count_lines(late.out, ",1,"), 0u);
}

TEST(StoreImport, ASlabinfoCopyWithoutAtTakesTheFilesModificationTime) {
  testing::TempDir dir;
  const std::string copy = dir.file("slabinfo.saved");
  std::filesystem::copy_file(fixture("slabinfo_a.txt"), copy);
  // 2026-11-20T22:00:00Z as the file's mtime.
  const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1795212000));
  std::filesystem::last_write_time(copy, std::chrono::file_clock::from_sys(when));
  const std::string db = dir.file("mtime.db");
  ASSERT_EQ(run({"import", "--into", db, copy}).code, 0);
  auto exported = run({"export", db, "--format", "csv", "--include", "dentry"});
  EXPECT_EQ(exported.out,
            "kind,time,seq,key,pool,allocs,frees,outstanding,bytes,value,detail\n"
            "pool,2026-11-20T22:00:00.000Z,1,dentry,reclaimable,,,100,20480,,\n");
}

// The stored sample time itself (not only its export): the mtime to the nanosecond, no monotonic
// time (an import has none), and a second copy with a later mtime becomes the next sample.
TEST(StoreImport, SlabinfoMtimeIsTheStoredSampleTimeToTheNanosecond) {
  testing::TempDir dir;
  const std::string first = dir.file("slabinfo.1"), second = dir.file("slabinfo.2");
  std::filesystem::copy_file(fixture("slabinfo_a.txt"), first);
  std::filesystem::copy_file(fixture("slabinfo_b.txt"), second);
  // 2026-11-20T22:00:00.250Z and one minute later.
  const auto when = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795212000250));
  std::filesystem::last_write_time(first, std::chrono::file_clock::from_sys(when));
  std::filesystem::last_write_time(second, std::chrono::file_clock::from_sys(when + 60s));
  const std::string db = dir.file("mtime2.db");
  auto imported = run({"import", "--into", db, first, second});
  ASSERT_EQ(imported.code, 0) << imported.err;
  EXPECT_EQ(testing::sql_rows(db, "SELECT seq, wall_ns, mono_ns IS NULL FROM samples ORDER BY seq"),
            (std::vector<std::string>{"1|1795212000250000000|1", "2|1795212060250000000|1"}));
  auto exported = run({"export", db, "--format", "csv", "--include", "dentry"});
  EXPECT_NE(exported.out.find("pool,2026-11-20T22:00:00.250Z,1,dentry,reclaimable,,,100,20480,,\n"),
            std::string::npos)
      << exported.out;
}

// A `!poolused 2` output of our own (tests/data/store/poolused_2_small.txt): every entry, both
// pools, values exact; a pool column with 0 allocations and 0 bytes is no entry; a short tag
// keeps its trailing spaces; the description is the key's owner.
TEST(StoreImport, PoolusedEntriesAndValuesAreExact) {
  testing::TempDir dir;
  const std::string db = dir.file("poolused2.db");
  auto imported = run(
      {"import", "--into", db, fixture("poolused_2_small.txt"), "--at", "2026-11-21T07:30:00Z"});
  ASSERT_EQ(imported.code, 0) << imported.err;
  EXPECT_NE(imported.err.find("poolused, 1 sample(s) at 2026-11-21T07:30:00Z"), std::string::npos)
      << imported.err;
  auto exported = run({"export", db, "--format", "csv"});
  ASSERT_EQ(exported.code, 0) << exported.err;
  // !poolused counts what is allocated now: outstanding, not allocs; it has no frees.
  EXPECT_EQ(exported.out,
            "kind,time,seq,key,pool,allocs,frees,outstanding,bytes,value,detail\n"
            "pool,2026-11-21T07:30:00.000Z,1,Leak,nonpaged,,,5000,5120000,,\n"
            "pool,2026-11-21T07:30:00.000Z,1,Leak,paged,,,10,2560,,\n"
            "pool,2026-11-21T07:30:00.000Z,1,File,nonpaged,,,300,122880,,\n"
            "pool,2026-11-21T07:30:00.000Z,1,File,paged,,,1200,1966080,,\n"
            "pool,2026-11-21T07:30:00.000Z,1,Ntfx,paged,,,40,16384,,\n"
            "pool,2026-11-21T07:30:00.000Z,1,Sp  ,nonpaged,,,7,448,,\n");
  EXPECT_EQ(testing::sql_rows(db,
                              "SELECT kind, hex(name), pool, owner FROM keys WHERE owner NOT "
                              "LIKE 'UNKNOWN pooltag%' ORDER BY id"),
            (std::vector<std::string>{"tag|46696C65|nonpaged|File objects",
                                      "tag|46696C65|paged|File objects",
                                      "tag|4E746678|paged|General Allocation , Binary: ntfs.sys"}));
  EXPECT_EQ(testing::sql_value(
                db, "SELECT group_concat(hex(name), ',') FROM (SELECT name FROM keys ORDER BY id)"),
            "4C65616B,4C65616B,46696C65,46696C65,4E746678,53702020");
  EXPECT_EQ(testing::sql_rows(db, "SELECT seq, wall_ns, keyframe FROM samples"),
            (std::vector<std::string>{"1|1795246200000000000|1"}));
  EXPECT_EQ(testing::sql_value(db, "SELECT value FROM meta WHERE key = 'counter_bits'"), "32");
}

TEST(StoreImport, PoolusedOutputBecomesASample) {
  POOLSCOPE_REQUIRE_SHARED("windbg/poolused_04_msdocs_poolused4_abc_leak.txt");
  testing::TempDir dir;
  const std::string db = dir.file("poolused.db");
  auto imported = run({"import", "--into", db,
                       testing::shared_data("windbg/poolused_04_msdocs_poolused4_abc_leak.txt"),
                       "--at", "2025-11-12T10:00:00Z"});
  ASSERT_EQ(imported.code, 0) << imported.err;
  // windbg/INDEX.md: tag "Abc " (with its trailing space), paged, 36,405 allocations (!poolused
  // counts those currently allocated: outstanding), 33,930,272 bytes.
  auto exported = run({"export", db, "--include", "Abc", "--format", "csv"});
  EXPECT_EQ(exported.out,
            "kind,time,seq,key,pool,allocs,frees,outstanding,bytes,value,detail\n"
            "pool,2025-11-12T10:00:00.000Z,1,Abc ,paged,,,36405,33930272,,\n")
      << exported.err;
}

TEST(StoreImport, AMalformedLineImportsNothingAndNamesFileAndLine) {
  testing::TempDir dir;
  const std::string db = dir.file("bad.db");
  ASSERT_EQ(run({"import", "--into", db, fixture("slabinfo_a.txt")}).code, 0);
  auto bad =
      run({"import", "--into", db, fixture("slabinfo_b.txt"), fixture("poolmon_bad_row.txt")});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find(fixture("poolmon_bad_row.txt") + ":4: "), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("nothing was imported"), std::string::npos);
  EXPECT_EQ(sql_value(db, "SELECT count(*) FROM samples"), "1");  // slabinfo_b not added either
  auto none = run({"import", "--into", dir.file("never.db"), fixture("poolmon_bad_row.txt")});
  EXPECT_EQ(none.code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir.file("never.db")));
}

TEST(StoreImport, AFileInNoKnownFormatListsTheFormats) {
  testing::TempDir dir;
  auto unknown = run({"import", "--into", dir.file("u.db"), fixture("unknown.txt")});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("not a format poolscope can import. Known formats:"),
            std::string::npos);
  EXPECT_NE(unknown.err.find("PDH counter logs"), std::string::npos);
  EXPECT_NE(unknown.err.find("HTTP.sys error logs"), std::string::npos);
  EXPECT_NE(unknown.err.find("slabinfo"), std::string::npos);
  auto db_as_input = run({"import", "--into", dir.file("u.db"), dir.file("u.db")});
  EXPECT_EQ(db_as_input.code, 2);
}

TEST(StoreImport, CountersAndConnectionsRefusedShareTheTimeline) {
  testing::TempDir dir;
  const std::string db = dir.file("web.db");
  auto imported =
      run({"import", "--into", db, fixture("pool_counters.csv"), fixture("httperr_refused.log")});
  ASSERT_EQ(imported.code, 0) << imported.err;
  EXPECT_NE(imported.out.find("3 event(s), 2 counter series (5 point(s))"), std::string::npos)
      << imported.out;
  // The missing value (" ") at 09:00:15 is absent, not 0.
  EXPECT_EQ(testing::sql_rows(db,
                              "SELECT c.kind, s.wall_ns / 1000000000 - 1795251600, s.value FROM "
                              "counter_samples s JOIN counters c ON c.id = s.counter_id WHERE "
                              "c.kind = 'memory_pool_nonpaged_bytes' ORDER BY s.wall_ns"),
            (std::vector<std::string>{"memory_pool_nonpaged_bytes|0|183500800.0",
                                      "memory_pool_nonpaged_bytes|30|20971520.0"}));
  EXPECT_EQ(sql_value(db,
                      "SELECT sum(json_extract(detail, '$.refused_connections')) FROM events "
                      "WHERE json_extract(detail, '$.pool_pressure')"),
            "3");
  auto events = run({"export", db, "--kind", "event"});
  ASSERT_EQ(testing::count_lines(events.out), 3u);
  EXPECT_TRUE(events.out.starts_with(
      "{\"kind\":\"event\",\"time\":\"2026-11-21T09:00:31.000Z\",\"event\":\"httperr\",\"detail\":"
      "{\"reason\":\"2_Connections_Refused\","))
      << events.out;
  auto counters = run({"export", db, "--kind", "counter", "--format", "csv"});
  EXPECT_EQ(testing::count_lines(counters.out, "counter,"), 5u);
  EXPECT_NE(counters.out.find("counter,2026-11-21T09:00:30.000Z,,\\\\WEB-07\\Memory\\Pool "
                              "Nonpaged Bytes,,,,,,20971520,"),
            std::string::npos)
      << counters.out;
}

TEST(StoreImport, RealHttperrAndPdhLogsKeepTheirGroundTruth) {
  POOLSCOPE_REQUIRE_SHARED("perfcounters/httperr1_koytze_learn_python.log");
  testing::TempDir dir;
  const std::string db = dir.file("real.db");
  auto imported =
      run({"import", "--into", db,
           testing::shared_data("perfcounters/httperr1_koytze_learn_python.log"),
           testing::shared_data("perfcounters/pdh_csv_waflia_ru_cp1251_DataCollector01.csv"),
           testing::shared_data("perfcounters/pdh_csv_memeData_DataCollector02.csv")});
  ASSERT_EQ(imported.code, 0) << imported.err;
  // perfcounters/SOURCE.md: s-reason counts, and no Connections_Refused (a negative control).
  EXPECT_EQ(testing::sql_rows(db,
                              "SELECT json_extract(detail, '$.reason'), count(*) FROM events "
                              "GROUP BY 1 ORDER BY 2 DESC"),
            (std::vector<std::string>{"Timer_ConnectionIdle|544", "N/A|387",
                                      "Connection_Abandoned_By_ReqQueue|73",
                                      "Timer_MinBytesPerSecond|8", "Disabled|4", "Verb|2"}));
  EXPECT_EQ(sql_value(db,
                      "SELECT count(*) FROM events WHERE json_extract(detail, "
                      "'$.pool_pressure')"),
            "0");
  // 1104 localized counters (cp1251 decoded to UTF-8) and 8 English ones.
  EXPECT_EQ(sql_value(db, "SELECT count(*) FROM counters"), "1112");
  EXPECT_EQ(sql_value(db, "SELECT count(*) FROM counters WHERE path LIKE '%Процесс(Idle)%'"),
            "4");  // iconv -f cp1251 agrees
  EXPECT_EQ(sql_value(db, "SELECT count(*) FROM counters WHERE kind = 'process_private_bytes'"),
            "4");
}

}  // namespace
}  // namespace poolscope
