#include "store/recording.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <fstream>

#include "store/process_identity.h"
#include "unit/store/store_test_support.h"

namespace poolscope::store {
namespace {

using std::chrono::seconds;
using testing::ScratchDir;
using testing::slab_entry;
using testing::snapshot_at_seconds;

struct Row {
  std::int64_t seq;
  std::int64_t wall_s;
  std::map<std::string, Counters> keys;
};

std::vector<Row> read_all(const Recording& rec, CursorOptions options = {}) {
  std::vector<Row> rows;
  auto keys = rec.keys();
  EXPECT_TRUE(keys.has_value());
  std::map<std::uint32_t, std::string> names;
  for (const auto& k : *keys) names[k.id] = k.key.name;
  auto cursor = rec.cursor(options);
  EXPECT_TRUE(cursor.has_value());
  for (;;) {
    auto more = cursor->next();
    EXPECT_TRUE(more.has_value()) << more.error().message;
    if (!more || !*more) break;
    Row row{cursor->info().seq, cursor->info().wall_ns / 1'000'000'000, {}};
    for (const auto& k : cursor->keys()) row.keys[names[k.key_id]] = counters_of(k);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::int64_t query_int(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  std::int64_t v = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
}

TEST(Recording, AppendsAndReadsBackWithAbsentKeysKeptApartFromZero) {
  ScratchDir dir;
  const auto path = dir.file("r.db");
  {
    auto rec = Recording::open_write(path);
    ASSERT_TRUE(rec.has_value()) << rec.error().message;
    ASSERT_EQ(*rec->append(snapshot_at_seconds(
                  100, {slab_entry("dentry", 10, 4096), slab_entry("kmalloc-64", 5, 8192)})),
              1);
    // A cache destroyed (module unloaded): absent, not zero.
    ASSERT_EQ(*rec->append(snapshot_at_seconds(101, {slab_entry("dentry", 12, 4096)})), 2);
    // Back, with zero objects: present with 0.
    ASSERT_EQ(*rec->append(snapshot_at_seconds(
                  102, {slab_entry("dentry", 12, 4096), slab_entry("kmalloc-64", 0, 0)})),
              3);
  }
  auto rec = Recording::open_read(path);
  ASSERT_TRUE(rec.has_value()) << rec.error().message;
  auto rows = read_all(*rec);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].wall_s, 100);
  EXPECT_EQ(rows[0].keys.at("kmalloc-64").outstanding, 5u);
  EXPECT_EQ(rows[1].keys.count("kmalloc-64"), 0u);
  EXPECT_EQ(rows[1].keys.at("dentry").outstanding, 12u);
  EXPECT_EQ(rows[2].keys.at("kmalloc-64").outstanding, 0u);
  EXPECT_EQ(rows[2].keys.at("kmalloc-64").bytes, 0u);
  EXPECT_FALSE(rows[2].keys.at("kmalloc-64").allocs.has_value());  // slabinfo has none

  auto snap = rec->snapshot_at(from_wall_ns(101'500'000'000));
  ASSERT_TRUE(snap.has_value());
  ASSERT_TRUE(snap->has_value());
  ASSERT_EQ((*snap)->entries.size(), 1u);
  EXPECT_EQ((*snap)->entries[0].key, slab_cache("dentry"));
  EXPECT_EQ((*snap)->host, "testhost");
  EXPECT_EQ((*snap)->format, "slabinfo");
  auto last = rec->snapshot_at(std::nullopt);
  ASSERT_TRUE(last.has_value() && last->has_value());
  EXPECT_EQ((*last)->entries.size(), 2u);
  auto before = rec->snapshot_at(from_wall_ns(99'000'000'000));
  ASSERT_TRUE(before.has_value());
  EXPECT_FALSE(before->has_value());

  auto summary = rec->summary();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->samples, 3);
  EXPECT_EQ(summary->keys, 2);
  auto meta = rec->meta();
  ASSERT_TRUE(meta.has_value());
  EXPECT_EQ(meta->at("host"), "testhost");
  EXPECT_EQ(meta->at("os"), "linux");
  EXPECT_EQ(meta->at("counter_bits"), "64");
  EXPECT_EQ(query_int(path, "PRAGMA application_id"), kApplicationId);
  EXPECT_EQ(query_int(path, "PRAGMA user_version"), kSchemaVersion);
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM recorder"), 0);  // released on close
}

TEST(Recording, ColumnsHoldEachKeysPresentSamples) {
  ScratchDir dir;
  const auto path = dir.file("r.db");
  {
    auto rec = Recording::open_write(path);
    ASSERT_TRUE(rec.has_value());
    ASSERT_TRUE(
        rec->append(snapshot_at_seconds(1, {slab_entry("a", 1, 10), slab_entry("b", 5, 50)})));
    ASSERT_TRUE(rec->append(snapshot_at_seconds(2, {slab_entry("a", 2, 20)})));
    ASSERT_TRUE(
        rec->append(snapshot_at_seconds(3, {slab_entry("a", 3, 30), slab_entry("b", 0, 0)})));
  }
  auto rec = Recording::open_read(path);
  auto columns = read_columns(*rec, CursorOptions{}, 1u << kOutstanding);
  ASSERT_TRUE(columns.has_value()) << columns.error().message;
  EXPECT_EQ(columns->seq, (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(columns->wall_ns,
            (std::vector<std::int64_t>{1'000'000'000, 2'000'000'000, 3'000'000'000}));
  ASSERT_EQ(columns->keys.size(), 2u);
  const KeySeries& b = columns->keys[1];
  EXPECT_EQ(b.key_id, 2u);
  EXPECT_EQ(b.sample, (std::vector<std::uint32_t>{0, 2}));  // absent from the second sample
  EXPECT_EQ(b.values[kOutstanding], (std::vector<std::uint64_t>{5, 0}));
  EXPECT_TRUE(b.values[kBytes].empty());  // not asked for
  auto only_a = read_columns(*rec, CursorOptions{.from_seq = 2}, 1u << kBytes, {1});
  ASSERT_EQ(only_a->keys.size(), 1u);
  EXPECT_EQ(only_a->keys[0].values[kBytes], (std::vector<std::uint64_t>{20, 30}));
}

TEST(Recording, WallClockSetBackDoesNotReorderSamples) {
  ScratchDir dir;
  const auto path = dir.file("r.db");
  {
    auto rec = Recording::open_write(path);
    ASSERT_TRUE(rec.has_value());
    for (std::int64_t t : {1000, 1010, 400, 410}) {  // clock set back 10 minutes after 2 samples
      ASSERT_TRUE(rec->append(snapshot_at_seconds(t, {slab_entry("a", t, 1)})).has_value());
    }
  }
  auto rec = Recording::open_read(path);
  ASSERT_TRUE(rec.has_value());
  auto rows = read_all(*rec);
  ASSERT_EQ(rows.size(), 4u);
  std::vector<std::int64_t> walls, values;
  for (const auto& r : rows) {
    walls.push_back(r.wall_s);
    values.push_back(static_cast<std::int64_t>(*r.keys.at("a").outstanding));
  }
  EXPECT_EQ(walls, (std::vector<std::int64_t>{1000, 1010, 400, 410}));
  EXPECT_EQ(values, (std::vector<std::int64_t>{1000, 1010, 400, 410}));
  EXPECT_EQ(**rec->seq_at(from_wall_ns(405'000'000'000)), 3);
  EXPECT_EQ(**rec->seq_at(from_wall_ns(1005'000'000'000)), 1);
  EXPECT_EQ(**rec->seq_at(std::nullopt), 4);
}

TEST(Recording, KeyframesEveryNAndReadingFromTheMiddle) {
  ScratchDir dir;
  const auto path = dir.file("r.db");
  {
    auto rec = Recording::open_write(path, WriterOptions{.keyframe_interval = 4});
    ASSERT_TRUE(rec.has_value());
    for (int i = 0; i < 10; ++i) {
      std::vector<Entry> entries = {slab_entry("a", 100 + i, 4096), slab_entry("b", 7, 4096)};
      if (i % 3 == 0) entries.push_back(slab_entry("c", i, 64));
      ASSERT_TRUE(rec->append(snapshot_at_seconds(i, entries)).has_value());
    }
  }
  auto rec = Recording::open_read(path);
  ASSERT_TRUE(rec.has_value());
  auto all = read_all(*rec);
  ASSERT_EQ(all.size(), 10u);
  for (std::int64_t from = 1; from <= 10; ++from) {
    auto part = read_all(*rec, CursorOptions{.from_seq = from, .to_seq = from + 1});
    ASSERT_EQ(part.size(), from == 10 ? 1u : 2u);
    EXPECT_EQ(part[0].seq, from);
    EXPECT_EQ(part[0].keys.size(), all[from - 1].keys.size());
    EXPECT_EQ(part[0].keys.at("a").outstanding, all[from - 1].keys.at("a").outstanding);
  }
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT seq FROM samples WHERE keyframe = 1 ORDER BY seq", -1, &stmt,
                     nullptr);
  std::vector<std::int64_t> keyframes;
  while (sqlite3_step(stmt) == SQLITE_ROW) keyframes.push_back(sqlite3_column_int64(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  EXPECT_EQ(keyframes, (std::vector<std::int64_t>{1, 5, 9}));
}

TEST(Recording, DamageOnlyLosesSamplesUpToTheNextKeyframe) {
  ScratchDir dir;
  const auto path = dir.file("r.db");
  {
    auto rec = Recording::open_write(path, WriterOptions{.keyframe_interval = 4});
    for (int i = 1; i <= 10; ++i) {
      ASSERT_TRUE(rec->append(snapshot_at_seconds(i, {slab_entry("a", i, 1)})));
    }
  }
  // Keyframes at 1, 5, 9. Sample 2 damaged, sample 6 gone.
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE samples SET data = x'0100050505' WHERE seq = 2; "
                         "DELETE FROM samples WHERE seq = 6",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto rec = Recording::open_read(path);
  auto cursor = rec->cursor();
  std::vector<std::int64_t> seqs;
  std::vector<std::string> errors;
  for (;;) {
    auto more = cursor->next();
    if (!more) {
      errors.push_back(more.error().message);
      continue;
    }
    if (!*more) break;
    seqs.push_back(cursor->info().seq);
    EXPECT_EQ(cursor->keys()[0].value[kOutstanding],
              static_cast<std::uint64_t>(cursor->info().seq));
  }
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 5, 9, 10}));
  EXPECT_EQ(cursor->skipped(), 5);  // 2, 3, 4, 7, 8
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].substr(0, 25), "sample 2: damaged sample:");
  EXPECT_EQ(errors[1], "sample 7 follows a missing sample; skipped up to the next keyframe");
}

TEST(Recording, ReopenedWriterContinuesTheSequenceWithAKeyframe) {
  ScratchDir dir;
  const auto path = dir.file("r.db");
  for (int run = 0; run < 3; ++run) {
    auto rec = Recording::open_write(path);
    ASSERT_TRUE(rec.has_value()) << rec.error().message;
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(rec->append(snapshot_at_seconds(run * 10 + i, {slab_entry("a", run, 1)})));
    }
  }
  auto rec = Recording::open_read(path);
  auto rows = read_all(*rec);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[5].seq, 6);
  EXPECT_EQ(rows[5].keys.at("a").outstanding, 2u);
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM samples WHERE keyframe = 1"), 3);
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM keys"), 1);
}

TEST(Recording, SecondWriterIsRefusedWithThePidAndAStaleEntryIsTakenOver) {
  ScratchDir dir;
  const auto path = dir.file("r.db");
  auto first = Recording::open_write(path);
  ASSERT_TRUE(first.has_value());
  auto second = Recording::open_write(path, WriterOptions{.purpose = "import"});
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kEnvironment);
  EXPECT_NE(second.error().message.find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.error().message;
  EXPECT_NE(second.error().message.find("already being written by `poolscope record`"),
            std::string::npos)
      << second.error().message;
  // The refused writer left the holder's entry alone.
  ASSERT_TRUE(first->append(snapshot_at_seconds(1, {slab_entry("a", 1, 1)})).has_value());
  *first = std::move(*Recording::open_read(path));  // closes the writer

  // An entry from a process that no longer runs (as after kill -9) is taken over.
  const ProcessIdentity me = current_process_identity();
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  const std::string sql = "INSERT INTO recorder VALUES (1, 2147483000, 1, '" + me.host + "', '" +
                          me.boot_id + "', 'record', 0)";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto third = Recording::open_write(path);
  ASSERT_TRUE(third.has_value()) << third.error().message;
  EXPECT_NE(third->takeover_note().find("pid 2147483000"), std::string::npos);
  ASSERT_EQ(*third->append(snapshot_at_seconds(2, {slab_entry("a", 2, 1)})), 2);

  // An entry from another host cannot be checked: refused, with how to clear it.
  third = std::move(*Recording::open_read(path));
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "INSERT INTO recorder VALUES (1, 42, 1, 'otherhost', '', 'record', 0)", nullptr,
               nullptr, nullptr);
  sqlite3_close(db);
  auto fourth = Recording::open_write(path);
  ASSERT_FALSE(fourth.has_value());
  EXPECT_NE(fourth.error().message.find("DELETE FROM recorder"), std::string::npos);
}

TEST(Recording, RetentionDeletesWholeKeyframeChainsInBoundedBatches) {
  ScratchDir dir;
  const auto path = dir.file("r.db");
  auto rec = Recording::open_write(path, WriterOptions{.keyframe_interval = 5});
  ASSERT_TRUE(rec.has_value());
  for (int i = 1; i <= 30; ++i) {
    ProcessSample processes;
    processes.processes.push_back(ProcessFacts{
        .pid = 1, .start_time = 1, .name = "init", .fd_total = static_cast<std::uint64_t>(i)});
    ASSERT_TRUE(rec->append(snapshot_at_seconds(i, {slab_entry("a", i, 1)}), &processes));
  }
  // Keyframes at 1, 6, 11, 16, 21, 26. Cutoff 18 s: the newest keyframe at or before it is 16.
  auto deleted = rec->apply_retention(18'000'000'000, 7);
  ASSERT_TRUE(deleted.has_value()) << deleted.error().message;
  EXPECT_EQ(*deleted, 5);  // a batch of at most 7 ends at a keyframe: 1..5
  deleted = rec->apply_retention(18'000'000'000, 7);
  EXPECT_EQ(*deleted, 5);  // 6..10
  deleted = rec->apply_retention(18'000'000'000, 1000);
  EXPECT_EQ(*deleted, 5);  // 11..15
  deleted = rec->apply_retention(18'000'000'000, 1000);
  EXPECT_EQ(*deleted, 0);
  auto rows = read_all(*rec, CursorOptions{.processes = true});
  ASSERT_EQ(rows.size(), 15u);
  EXPECT_EQ(rows.front().seq, 16);
  EXPECT_EQ(rows.front().keys.at("a").outstanding, 16u);
  EXPECT_EQ(query_int(path, "SELECT min(seq) FROM process_samples"), 16);
  auto cursor = rec->cursor(CursorOptions{.processes = true});
  ASSERT_TRUE(cursor->next().value());
  ASSERT_NE(cursor->processes(), nullptr);
  EXPECT_EQ(cursor->processes()->processes[0].fd_total, 16u);
}

TEST(Recording, ProcessChainSurvivesSamplesWithoutProcesses) {
  ScratchDir dir;
  const auto path = dir.file("r.db");
  {
    auto rec = Recording::open_write(path);
    for (int i = 1; i <= 5; ++i) {
      ProcessSample processes;
      processes.processes.push_back(ProcessFacts{.pid = 7,
                                                 .start_time = 70,
                                                 .name = "svc",
                                                 .handle_count = static_cast<std::uint64_t>(i)});
      const bool with = i != 3;  // the collector failed at sample 3
      ASSERT_TRUE(rec->append(snapshot_at_seconds(i, {}), with ? &processes : nullptr));
    }
  }
  auto rec = Recording::open_read(path);
  auto cursor = rec->cursor(CursorOptions{.processes = true});
  std::vector<std::int64_t> handles;
  while (cursor->next().value()) {
    handles.push_back(cursor->processes() ? static_cast<std::int64_t>(
                                                *cursor->processes()->processes[0].handle_count)
                                          : -1);
  }
  EXPECT_EQ(handles, (std::vector<std::int64_t>{1, 2, -1, 4, 5}));
  // One keyframe: sample 4's change set goes onto sample 2's facts and says so (flag 8).
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM process_samples WHERE keyframe = 1"), 1);
  EXPECT_EQ(
      query_int(path, "SELECT hex(substr(data, 2, 1)) = '08' FROM process_samples WHERE seq = 4"),
      1);
  EXPECT_EQ(
      query_int(path, "SELECT hex(substr(data, 2, 1)) = '00' FROM process_samples WHERE seq = 5"),
      1);
}

TEST(Recording, BatchRollbackKeepsNothingAndTheNextSampleStillDecodes) {
  ScratchDir dir;
  const auto path = dir.file("r.db");
  auto rec = Recording::open_write(path, WriterOptions{.purpose = "import"});
  ASSERT_TRUE(rec->append(snapshot_at_seconds(1, {slab_entry("a", 1, 1)})));
  ASSERT_TRUE(rec->begin());
  ASSERT_TRUE(rec->append(snapshot_at_seconds(2, {slab_entry("new", 2, 2)})));
  ASSERT_TRUE(rec->add_event(2, "httperr", "{}"));
  rec->rollback();
  ASSERT_EQ(*rec->append(snapshot_at_seconds(3, {slab_entry("a", 3, 3)})), 2);
  auto rows = read_all(*rec);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].keys.at("a").outstanding, 3u);
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM keys"), 1);
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM events"), 0);
}

TEST(Recording, EventsAndCounterSeries) {
  ScratchDir dir;
  const auto path = dir.file("r.db");
  {
    auto rec = Recording::open_write(path);
    ASSERT_TRUE(rec->add_event(5, "httperr", R"({"reason":"Connections_Refused"})"));
    auto id =
        rec->add_counter("\\\\HOST\\Memory\\Pool Nonpaged Bytes", "memory_pool_nonpaged_bytes");
    ASSERT_TRUE(id.has_value());
    EXPECT_EQ(*rec->add_counter("\\\\HOST\\Memory\\Pool Nonpaged Bytes", "x"), *id);
    const CounterPoint points[] = {{1, 100.5}, {2, std::numeric_limits<double>::quiet_NaN()}};
    ASSERT_TRUE(rec->add_counter_samples(*id, points));
  }
  auto rec = Recording::open_read(path);
  auto events = rec->events();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].detail, R"({"reason":"Connections_Refused"})");
  auto counters = rec->counters();
  ASSERT_EQ(counters->size(), 1u);
  auto points = rec->counter_samples((*counters)[0].id);
  ASSERT_EQ(points->size(), 2u);
  EXPECT_EQ((*points)[0].value, 100.5);
  EXPECT_TRUE(std::isnan((*points)[1].value));
}

TEST(Recording, FilesThatAreNotRecordingsAreRefused) {
  ScratchDir dir;
  const auto text = dir.file("poolmon.txt");
  std::ofstream(text, std::ios::binary) << "Tag  Type  Allocs Frees Diff Bytes Per Alloc\n";
  auto a = Recording::open_read(text);
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code, ErrorCode::kInput);
  auto b = Recording::open_write(text);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().code, ErrorCode::kInput);
  EXPECT_EQ(testing::read_file_size(text), 45u);  // untouched

  const auto other = dir.file("other.db");
  sqlite3* db = nullptr;
  sqlite3_open(other.c_str(), &db);
  sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto c = Recording::open_write(other);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("not a poolscope recording"), std::string::npos);
  auto missing = Recording::open_read(dir.file("missing.db"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kInput);
  EXPECT_FALSE(std::filesystem::exists(dir.file("missing.db")));
}

}  // namespace
}  // namespace poolscope::store
