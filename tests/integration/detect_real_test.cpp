// `poolscope leaks` on the real Windows data: the Drsd printer-driver leak from Microsoft's poolmon
// example (two snapshots around one print job) and a single snapshot, which only ever gives the
// largest consumers.
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/cli_support.h"
#include "integration/store_support.h"
#include "store/recording.h"
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

// `leaks DB --format json`, parsed (discarded, not an object, when leaks printed no JSON).
json leaks_json(const std::string& db) {
  return json::parse(run({"leaks", db, "--format", "json"}).out, nullptr, false);
}

// The one finding of `leaks DB`, checked to be key with verdict; null when there is not exactly
// one.
json the_finding(const std::string& db, const std::string& key, const std::string& verdict) {
  const json report = leaks_json(db);
  if (!report.is_object() || report["findings"].size() != 1) {
    ADD_FAILURE() << "expected one finding:\n" << report.dump(2);
    return nullptr;
  }
  json f = report["findings"][0];
  EXPECT_EQ(f["key"], key);
  EXPECT_EQ(f["verdict"], verdict);
  return f;
}

const char* const kBefore = "poolmon/03_msdocs_example4_drsd_printer_leak_before.txt";
const char* const kAfter = "poolmon/04_msdocs_example4_drsd_printer_leak_after.txt";

// The Drsd screens before and after one print job, taken as 5 minutes apart (the example gives no
// times), imported into db.
testing::RunResult import_drsd_job(const std::string& db, std::vector<std::string> more = {}) {
  std::vector<std::string> args{"import",
                                "--into",
                                db,
                                testing::shared_data(kBefore),
                                testing::shared_data(kAfter),
                                "--at",
                                "2025-11-12T10:00:00Z",
                                "--at",
                                "2025-11-12T10:05:00Z"};
  args.insert(args.end(), more.begin(), more.end());
  return run(args);
}

TEST(DetectReal, DrsdBeforeAndAfterOnePrintJobIsALeakOfSixBlocks) {
  POOLSCOPE_REQUIRE_SHARED(kBefore);
  testing::TempDir dir;
  const std::string db = dir.file("drsd.db");
  auto imported = import_drsd_job(db);
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  auto leaks = run({"leaks", db, "--format", "json", "--fail-on-leak"});
  EXPECT_EQ(leaks.exit_code, 0) << "two samples are a suspect, not a leak\n" << leaks.out;
  const json report = json::parse(leaks.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << leaks.out;
  ASSERT_EQ(report["findings"].size(), 1u) << report.dump(2);
  const json& f = report["findings"][0];
  EXPECT_EQ(f["key"], "Drsd");
  EXPECT_EQ(f["pool"], "paged");
  // Two samples that rose: a trendless series does that half the time, so a suspect (a leak needs
  // the leak confidence, 0.999, like any other; docs/detection.md "What confidence means").
  EXPECT_EQ(f["verdict"], "suspect");
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
  EXPECT_NE(table.out.find("suspect  Drsd"), std::string::npos) << table.out;
}

TEST(DetectReal, OneSnapshotGivesTheLargestConsumersAndNeverALeak) {
  POOLSCOPE_REQUIRE_SHARED(kAfter);
  testing::TempDir dir;
  const std::string db = dir.file("one.db");
  // A screen without ( delta ) columns (its deltas, all 0, would be a second sample): the rows
  // of the after screen.
  std::string text = testing::read_file(testing::shared_data(kAfter));
  for (std::size_t open = text.find('('); open != std::string::npos; open = text.find('(')) {
    text.erase(open, text.find(')', open) - open + 1);
  }
  const std::string screen = dir.file("screen.txt");
  std::ofstream(screen, std::ios::binary) << text;
  auto imported = run({"import", "--into", db, screen, "--at", "2025-11-12T10:05:00Z"});
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
  EXPECT_NE(report["notes"][0].get<std::string>().find("a leak needs a second sample"),
            std::string::npos);
  auto table = run({"leaks", db});
  EXPECT_NE(table.out.find("No leak found"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("Drsd"), std::string::npos) << table.out;

  // The screen as printed: its previous refresh (deltas all 0) is a second sample at the same
  // time, which shows no growth, and the note says what two samples at one time can show.
  const std::string with_deltas = dir.file("deltas.db");
  imported = run({"import", "--into", with_deltas, testing::shared_data(kAfter), "--at",
                  "2025-11-12T10:05:00Z"});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  const json two = leaks_json(with_deltas);
  ASSERT_TRUE(two.is_object());
  EXPECT_TRUE(two["findings"].empty()) << two.dump(2);
  EXPECT_EQ(two["samples"], 2);
  ASSERT_EQ(two["notes"].size(), 1u) << two.dump(2);
  EXPECT_NE(two["notes"][0].get<std::string>().find("same time"), std::string::npos);
}

// Issue 17 item 7: one poolmon screen with ( delta ) columns said "No leak found" although the
// screen itself shows Drsd up by 6 since poolmon's previous refresh. Imported alone it is two
// samples: growth without a rate (poolmon does not print its refresh interval), and with
// --refresh-interval a rate.
TEST(DetectReal, OnePoolmonScreenWithDeltaColumnsShowsItsGrowth) {
  POOLSCOPE_REQUIRE_SHARED(kBefore);
  testing::TempDir dir;
  const std::string db = dir.file("one-screen.db");
  auto imported =
      run({"import", "--into", db, testing::shared_data(kBefore), "--at", "2025-11-12T10:00:00Z"});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  EXPECT_NE(imported.out.find("2 sample(s)"), std::string::npos) << imported.out;
  EXPECT_NE(imported.out.find("no rate"), std::string::npos) << imported.out;
  const json f = the_finding(db, "Drsd", "suspect");
  ASSERT_FALSE(f.is_null());
  EXPECT_EQ(f["start"], 15);
  EXPECT_EQ(f["end"], 21);
  EXPECT_TRUE(f["rate_objects_per_hour"].is_null()) << f.dump(2);
  EXPECT_NE(f["explanation"].get<std::string>().find("no rate"), std::string::npos);

  // Known interval: the previous refresh 5 s before, 6 blocks in 5 s.
  const std::string timed = dir.file("timed.db");
  imported = run({"import", "--into", timed, testing::shared_data(kBefore), "--at",
                  "2025-11-12T10:00:00Z", "--refresh-interval", "5s"});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  const json timed_report = leaks_json(timed);
  ASSERT_TRUE(timed_report.is_object());
  ASSERT_EQ(timed_report["findings"].size(), 1u) << timed_report.dump(2);
  const json& t = timed_report["findings"][0];
  EXPECT_DOUBLE_EQ(t["rate_objects_per_hour"].get<double>(), 6 * 720);
  EXPECT_DOUBLE_EQ(t["rate_bytes_per_hour"].get<double>(), 4992 * 720);
  EXPECT_EQ(t["onset"], "2025-11-12T09:59:55Z");
}

// Several screens, no interval: an untimed previous refresh would fold the series, so the ( delta )
// columns are left out and the import says so.
TEST(DetectReal, DeltaColumnsOfSeveralScreensNeedTheRefreshInterval) {
  POOLSCOPE_REQUIRE_SHARED(kBefore);
  testing::TempDir dir;
  const std::string db = dir.file("two.db");
  auto imported = import_drsd_job(db);
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  EXPECT_NE(imported.out.find("imported 2 file(s) into"), std::string::npos) << imported.out;
  EXPECT_NE(imported.out.find(": 2 sample(s)"), std::string::npos) << imported.out;
  EXPECT_NE(imported.out.find("--refresh-interval"), std::string::npos) << imported.out;
  // With it: each screen's previous refresh 1 s before it, four samples.
  const std::string timed = dir.file("timed.db");
  imported = import_drsd_job(timed, {"--refresh-interval", "1"});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  EXPECT_NE(imported.out.find(": 4 sample(s)"), std::string::npos) << imported.out;
}

// microsoft/WSL#40804 (shared poolmon file 15): eight tags moving in lockstep over 4.91 days,
// rebuilt as poolmon -n screens from each tag's real delta (tests/data/poolmon/wcsc_family).
TEST(DetectReal, TheWcscFamilyIsOneIncidentWhoseSourceIsWcsc) {
  testing::TempDir dir;
  const std::string db = dir.file("wcsc.db");
  std::vector<std::string> args{"import", "--into", db};
  for (int i = 1; i <= 8; ++i) {
    args.push_back(
        testing::test_data(fmt::format("poolmon/wcsc_family/screen_{:02}.txt", i)).string());
  }
  for (int i = 0; i < 8; ++i) {
    // 4.91 days in 7 refreshes: 16 h 50 min apart.
    const int minutes = i * (16 * 60 + 50);
    args.push_back("--at");
    args.push_back(fmt::format("2026-08-{:02}T{:02}:{:02}:00Z", 20 + minutes / 1440,
                               minutes % 1440 / 60, minutes % 60));
  }
  auto imported = run(args);
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  auto leaks = run({"leaks", db, "--format", "json"});
  ASSERT_EQ(leaks.exit_code, 0) << leaks.out;
  const json report = json::parse(leaks.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << leaks.out;
  ASSERT_EQ(report["incidents"].size(), 1u) << report.dump(2);
  const json& in = report["incidents"][0];
  EXPECT_EQ(in["source"], "WCsc") << in.dump(2);
  EXPECT_EQ(in["members"].size(), 8u) << in.dump(2);
  EXPECT_EQ(in["verdict"], "leak");
  EXPECT_NE(in["source_reason"].get<std::string>().find("never frees"), std::string::npos);
  for (const json& m : in["members"]) {
    if (m["key"] == "IoFE") {
      EXPECT_NEAR(m["ratio"].get<double>(), 2.0, 0.02) << m.dump();
    }
    if (m["key"] == "NtfC") {
      EXPECT_NEAR(m["ratio"].get<double>(), 1.0, 0.01) << m.dump();
    }
  }
  for (const json& f : report["findings"]) EXPECT_EQ(f["incident"], 1) << f.dump();
  auto table = run({"leaks", db});
  EXPECT_NE(table.out.find("incident 1: leak in 8 keys, source WCsc"), std::string::npos)
      << table.out;
}

// Windows-Dev-Performance#137 (shared poolmon file 16): the Proc tag held 2,655 objects against 228
// live processes at 1m15s of uptime and 39,511 against 284 at 18h05m; 312 against 285 after the
// driver update. Only a unit test (a History built in code) covered the census; here it goes
// through a recording written with the store API, as `record` writes one on Windows (a pool sample
// and the process list together), and `leaks` reads it. The two real points are the ends; the
// samples between are on the straight line joining them (the issue gives no others).
void write_proc_census_recording(const std::string& path, const std::vector<int>& uptimes,
                                 const std::vector<std::uint64_t>& objects,
                                 const std::vector<std::uint64_t>& processes) {
  auto rec = store::Recording::open_write(path);
  ASSERT_TRUE(rec) << rec.error().message;
  const std::int64_t boot = 1'786'000'000;  // 2026-08-06
  for (std::size_t i = 0; i < uptimes.size(); ++i) {
    const auto when =
        std::chrono::system_clock::time_point(std::chrono::seconds(boot + uptimes[i]));
    Snapshot s;
    s.host = "amd-desktop";
    s.source = "live:windows";
    s.format = "live:windows";
    s.counter_width = CounterWidth::k32;
    s.wall_time = when;
    s.monotonic_ns = static_cast<std::int64_t>(uptimes[i]) * 1'000'000'000;
    Entry proc;
    proc.key = tag_from_text("Proc");
    proc.pool = PoolKind::kNonPaged;
    proc.counters.outstanding = objects[i];
    s.entries.push_back(proc);
    ProcessSample ps;
    ps.time = when;
    ps.monotonic_ns = s.monotonic_ns;
    for (std::uint64_t p = 0; p < processes[i]; ++p) {
      ProcessFacts f{.pid = 4 + 4 * p, .start_time = 1, .name = "p" + std::to_string(p)};
      f.handle_count = 100;
      ps.processes.push_back(f);
    }
    auto seq = rec->append(s, &ps);
    ASSERT_TRUE(seq) << seq.error().message;
  }
}

TEST(DetectReal, ProcObjectsOutlivingTheirProcessesAreACensusFindingFromARecording) {
  testing::TempDir dir;
  const std::string db = dir.file("proc.db");
  std::vector<int> uptimes;
  std::vector<std::uint64_t> objects, processes;
  const int first = 75, last = 18 * 3600 + 5 * 60;
  for (int i = 0; i <= 12; ++i) {
    uptimes.push_back(first + (last - first) * i / 12);
    objects.push_back(static_cast<std::uint64_t>(2655 + (39511 - 2655) * i / 12));
    processes.push_back(static_cast<std::uint64_t>(228 + (284 - 228) * i / 12));
  }
  write_proc_census_recording(db, uptimes, objects, processes);
  EXPECT_TRUE(leaks_json(db)["process_facts"].get<bool>());
  const json f = the_finding(db, "Proc", "leak");
  ASSERT_FALSE(f.is_null());
  const json& census = f["census"];
  ASSERT_TRUE(census.is_object()) << f.dump(2);
  EXPECT_EQ(census["owner_kind"], "processes");
  EXPECT_EQ(census["objects"], 39511);
  EXPECT_EQ(census["owners"], 284);
  EXPECT_EQ(census["gap"], 39227);
  // The gap grew from 2,427 to 39,227 in 18 h 3 min 45 s: 2,036 an hour.
  EXPECT_NEAR(census["gap_rate_per_hour"].get<double>(), (39227.0 - 2427) / (last - first) * 3600,
              20);
  EXPECT_NE(
      f["explanation"].get<std::string>().find("39,227 process objects outlive their processes"),
      std::string::npos)
      << f["explanation"];
  // No process is named: the gap, not a process's handles, is the evidence.
  EXPECT_TRUE(f["processes"].empty()) << f.dump(2);
  auto table = run({"leaks", db});
  EXPECT_NE(table.out.find("39,227 process objects outlive their processes"), std::string::npos)
      << table.out;

  // After the driver update, one sample: 312 against 285 is no finding.
  const std::string fixed = dir.file("fixed.db");
  write_proc_census_recording(fixed, {600}, {312}, {285});
  const json after = leaks_json(fixed);
  ASSERT_TRUE(after.is_object());
  EXPECT_TRUE(after["findings"].empty()) << after.dump(2);
  // Still leaking, one sample at 18h05m: the gap alone makes a suspect.
  const std::string one = dir.file("one.db");
  write_proc_census_recording(one, {last}, {39511}, {284});
  const json single = leaks_json(one);
  ASSERT_TRUE(single.is_object());
  ASSERT_EQ(single["findings"].size(), 1u) << single.dump(2);
  EXPECT_EQ(single["findings"][0]["verdict"], "suspect");
  EXPECT_EQ(single["findings"][0]["census"]["gap"], 39227);
}

// The same census from what a Windows user has: a poolmon screen and a `tasklist` taken together,
// imported with the same --at. Proc's bytes use 3,072 per object (illustrative: the issue gives
// counts only).
TEST(DetectReal, ProcCensusFromImportedPoolmonScreensAndTasklists) {
  testing::TempDir dir;
  const std::string db = dir.file("proc-import.db");
  std::vector<std::string> files, times;
  const int first = 75, last = 18 * 3600 + 5 * 60;
  for (int i = 0; i <= 6; ++i) {
    const int uptime = first + (last - first) * i / 6;
    const std::uint64_t proc = 2655 + (39511 - 2655) * static_cast<std::uint64_t>(i) / 6;
    const std::uint64_t live = 228 + (284 - 228) * static_cast<std::uint64_t>(i) / 6;
    const std::uint64_t frees = 50000 + 7000 * static_cast<std::uint64_t>(i);
    const std::string screen = dir.file(fmt::format("screen_{}.txt", i));
    std::ofstream(screen) << fmt::format(
        " Tag  Type     Allocs            Frees               Diff            Bytes       Per "
        "Alloc\n\n Proc Nonp {:>18} {:>18} {:>18} {:>16} {:>12}\n",
        frees + proc, frees, proc, proc * 3072, 3072);
    std::string list =
        "\nImage Name                     PID Session Name        Session#    Mem Usage\n"
        "========================= ======== ================ =========== ============\n";
    for (std::uint64_t p = 0; p < live; ++p) {
      list += fmt::format("{:<25} {:>8} {:<16} {:>11} {:>12}\n", fmt::format("p{}.exe", p),
                          4 + 4 * p, "Console", 1, "1,024 K");
    }
    const std::string tasklist = dir.file(fmt::format("tasklist_{}.txt", i));
    std::ofstream(tasklist) << list;
    const int at = 1'786'000'000 + uptime;
    const std::string when =
        fmt::format("2026-08-06T{:02}:{:02}:{:02}Z", (at / 3600) % 24, (at / 60) % 60, at % 60);
    for (const std::string& f : {screen, tasklist}) {
      files.push_back(f);
      times.push_back(when);
    }
  }
  std::vector<std::string> args{"import", "--into", db};
  args.insert(args.end(), files.begin(), files.end());
  for (const std::string& t : times) {
    args.push_back("--at");
    args.push_back(t);
  }
  auto imported = run(args);
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  EXPECT_NE(imported.out.find("tasklist, 284 process(es)"), std::string::npos) << imported.out;
  const json f = the_finding(db, "Proc", "leak");
  ASSERT_TRUE(f.is_object() && f["census"].is_object()) << f.dump(2);
  EXPECT_EQ(f["census"]["gap"], 39227);
  EXPECT_EQ(f["census"]["owners"], 284);
  EXPECT_GT(f["census"]["gap_rate_per_hour"].get<double>(), 1900);

  // A process list whose time no pool sample has is refused, and nothing is imported.
  auto orphan = run({"import", "--into", dir.file("orphan.db"), files[0], files[1], "--at",
                     times[0], "--at", "2026-08-06T00:00:00Z"});
  EXPECT_EQ(orphan.exit_code, 2) << orphan.out;
  EXPECT_NE(orphan.out.find("no pool sample of the same time"), std::string::npos) << orphan.out;
}

// windbg/poolused_01: one !poolused where amda holds 5,768,754 allocations (1.8 GB) and IoWI
// 5,769,999: a lockstep pair in one dump; it said "No leak found".
TEST(DetectReal, OnePoolusedDumpWithALockstepPairIsASuspect) {
  const char* const kDump = "windbg/poolused_01_nickkuo_amda_acpwdfworkitem_leak.txt";
  POOLSCOPE_REQUIRE_SHARED(kDump);
  testing::TempDir dir;
  const std::string db = dir.file("amda.db");
  auto imported =
      run({"import", "--into", db, testing::shared_data(kDump), "--at", "2024-11-14T10:00:00Z"});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  auto table = run({"leaks", db});
  EXPECT_EQ(table.out.find("No leak found"), std::string::npos) << table.out;
  auto leaks = run({"leaks", db, "--format", "json"});
  const json report = json::parse(leaks.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << leaks.out;
  ASSERT_GE(report["incidents"].size(), 1u) << report.dump(2);
  EXPECT_EQ(report["incidents"][0]["source"], "amda") << report.dump(2);
  EXPECT_EQ(report["incidents"][0]["members"].size(), 2u) << report.dump(2);
  EXPECT_EQ(report["incidents"][0]["verdict"], "suspect");
}

TEST(DetectReal, AMissingRecordingIsAnInputError) {
  auto leaks = run({"leaks", "/nonexistent/pools.db"});
  EXPECT_EQ(leaks.exit_code, 2) << leaks.out;
  EXPECT_FALSE(leaks.out.empty());
}

}  // namespace
}  // namespace poolscope
