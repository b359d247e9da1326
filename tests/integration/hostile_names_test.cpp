// Hostile names through the real binary (issue 21 item 7): a 1 MB key name made `export` write
// 1.7 GB. Names are cut at their format's maximum where they enter, with a note.
#include <fstream>
#include <string>
#include <vector>

#include "core/names.h"
#include "integration/store_support.h"
#include "integration/verb_run.h"
#include "parse/kmem.h"
#include "store/recording.h"
#include "test_support.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;
using testing::Child;

using testing::run_verb;

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// A saved /proc/slabinfo whose first cache has a 1 MB name.
std::string slabinfo_with_long_name(const testing::TempDir& dir) {
  const std::string file = dir.file("slabinfo.txt");
  std::ofstream out(file, std::ios::binary);
  out << "slabinfo - version: 2.1\n"
         "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : "
         "tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> "
         "<sharedavail>\n";
  out << std::string(1 << 20, 'n')
      << " 100 100 64 64 1 : tunables 0 0 0 : slabdata 2 2 0\n"
         "kmalloc-64 200 200 64 64 1 : tunables 0 0 0 : slabdata 4 4 0\n";
  return file;
}

// The cache name is cut to 63 bytes (slab cache names are < 64 bytes) with a note; the row stays.
TEST(HostileNames, MegabyteSlabCacheNameIsCutWhereItEnters) {
  testing::TempDir dir;
  const std::string file = slabinfo_with_long_name(dir);
  auto shown = run_verb({"snapshot", "--source", file, "--format", "csv"});
  ASSERT_EQ(shown.code, 0) << shown.err.substr(0, 500);
  EXPECT_LT(shown.out.size(), 4096u) << shown.out.substr(0, 500);
  EXPECT_TRUE(has(shown.out, std::string(54, 'n') + "~")) << shown.out.substr(0, 500);
  EXPECT_TRUE(has(shown.out, "kmalloc-64"));

  const std::string db = dir.file("slab.db");
  for (const char* at : {"2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"}) {
    auto imported = run_verb({"import", "--into", db, file, "--at", at});
    ASSERT_EQ(imported.code, 0) << imported.err.substr(0, 500);
  }
  auto exported = run_verb({"export", db});
  ASSERT_EQ(exported.code, 0) << exported.err.substr(0, 500);
  EXPECT_LT(exported.out.size(), 4096u) << exported.out.substr(0, 500);
  EXPECT_EQ(testing::count_lines(exported.out, "\"kind\":\"pool\""), 6u) << exported.out;
}

// A recording whose keys table holds a 1 MB name (a hostile or damaged file): the name is cut when
// read back, the recording reported as damaged, and the export stays the size of the intact one.
TEST(HostileNames, ExportOfRecordingWithMegabyteKeyNameStaysSmall) {
  testing::TempDir dir;
  const std::string db = dir.file("rec.db");
  Child rec({"record", "--out", db, "--interval", "0.05", "--duration", "0.5s", "--no-processes",
             "--no-owner"});
  ASSERT_EQ(rec.wait_for(30s), 0) << rec.err();
  auto intact = run_verb({"export", db});
  ASSERT_EQ(intact.code, 0) << intact.err;

  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(handle,
                         "UPDATE keys SET name = zeroblob(1048576) WHERE id = (SELECT min(id) FROM "
                         "keys WHERE kind = 'slab')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(handle);

  auto hostile = run_verb({"export", db, "--allow-damaged"});
  EXPECT_EQ(hostile.code, 0) << hostile.err;
  // Each line may grow by the cut name shown escaped (63 bytes as \x00: 252 characters).
  EXPECT_LT(hostile.out.size(), intact.out.size() * 2) << intact.out.size();
  EXPECT_TRUE(has(hostile.err, "1 key name(s) longer than their format allows")) << hostile.err;
  EXPECT_EQ(run_verb({"export", db}).code, 2);
}

// A recording whose process samples hold names longer than a process name can be (two distinct
// ones, each in every sample): they are cut on reading, and each verb says so once, with the count
// of distinct names and the cap, instead of silently.
TEST(HostileNames, CutProcessNamesAreNotedOncePerRun) {
  testing::TempDir dir;
  const std::string db = dir.file("procs.db");
  {
    auto rec = store::Recording::open_write(db, {.keyframe_interval = 2});
    ASSERT_TRUE(rec) << rec.error().message;
    for (std::int64_t i = 1; i <= 6; ++i) {
      Snapshot s;
      s.wall_time = std::chrono::system_clock::time_point(std::chrono::seconds(1000 + i));
      s.monotonic_ns = i * 1'000'000'000;
      s.host = "testhost";
      s.source = "live:linux";
      s.format = "slabinfo";
      Entry e;
      e.key = slab_cache("kmalloc-64");
      e.pool = PoolKind::kUnreclaimable;
      e.counters.outstanding = static_cast<std::uint64_t>(100 + i);
      e.counters.bytes = static_cast<std::uint64_t>(6400 + 64 * i);
      s.entries.push_back(e);
      ProcessSample processes;
      processes.processes.push_back(
          ProcessFacts{.pid = 7, .start_time = 70, .name = std::string(5000, 'p'), .fd_total = 3});
      processes.processes.push_back(
          ProcessFacts{.pid = 8, .start_time = 80, .name = std::string(5000, 'q'), .fd_total = 4});
      processes.processes.push_back(ProcessFacts{.pid = 9, .start_time = 90, .name = "short"});
      ASSERT_TRUE(rec->append(s, &processes));
    }
  }
  const std::string note =
      "poolscope: note: 2 process name(s) longer than 780 bytes were cut to 780 bytes";
  for (const std::vector<std::string>& args : {std::vector<std::string>{"export", db},
                                               {"export", db, "--kind", "process"},
                                               {"leaks", db}}) {
    auto run = run_verb(args);
    EXPECT_EQ(run.code, 0) << args[0] << ": " << run.err.substr(0, 500);
    EXPECT_EQ(testing::count_lines(run.err, note), 1u) << args[0] << ": " << run.err;
    EXPECT_FALSE(has(run.out, std::string(781, 'p'))) << args[0];
  }
  auto exported = run_verb({"export", db, "--kind", "process"});
  EXPECT_TRUE(has(exported.out, std::string(771, 'p') + "~")) << exported.out.substr(0, 300);
  EXPECT_TRUE(has(exported.out, "short"));
}

// Kernel-memory names come from files the kernel writes (vmallocinfo, DMA-BUF bufinfo) and from a
// Prometheus server: a caller named with more than 640 bytes is cut and counted for the run's note.
TEST(HostileNames, CutKernelMemoryNamesAreCountedForTheNote) {
  const std::uint64_t before = names_cut(CutName::kKernelMemory);
  const std::string caller(3000, 'f');
  const std::string text = "0xffffa000-0xffffc000 8192 " + caller + "+0x10/0x20 pages=1 vmalloc\n" +
                           "0xffffc000-0xffffe000 8192 " + caller + "+0x10/0x20 pages=1 vmalloc\n";
  Snapshot s;
  parse::apply_vmalloc_callers(parse::parse_vmallocinfo(text, 4096), s);
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].key.name.size(), kMaxKernelMemoryNameBytes);
  EXPECT_EQ(names_cut(CutName::kKernelMemory), before + 1);  // one distinct name
  bool noted = false;
  for (const auto& n : name_cut_notes()) {
    noted |= has(n, "kernel-memory name(s) longer than 640 bytes were cut to 640 bytes");
  }
  EXPECT_TRUE(noted);
}

}  // namespace
}  // namespace poolscope
