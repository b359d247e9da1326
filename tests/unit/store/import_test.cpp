// store/import: reading and checking artifacts, and the all-or-nothing write into a recording.
#include "store/import.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_paths.h"
#include "unit/store/store_test_support.h"

namespace poolscope::store {
namespace {

using testing::ScratchDir;

std::string data(const std::string& name) {
  return std::string(POOLSCOPE_TEST_DATA) + "/store/" + name;
}

const auto kAt = std::chrono::sys_days{std::chrono::year{2026} / 11 / 21} + std::chrono::hours{9};

TEST(StoreImport, PoolmonLogIsCheckedByStreamingAndWrittenScreenByScreen) {
  auto file = read_import_file(data("poolmon_n_log_3_screens.txt"), kAt, {});
  ASSERT_TRUE(file.has_value()) << file.error().message;
  EXPECT_EQ(file->format, "poolmon");
  // Streamed twice (checked now, written later): nothing held in memory but the count.
  EXPECT_TRUE(file->snapshots.empty());
  EXPECT_EQ(file->streamed_snapshots, 3u);
  EXPECT_EQ(file->when, kAt);

  ScratchDir dir;
  auto rec = Recording::open_write(dir.file("r.db"));
  ASSERT_TRUE(rec.has_value()) << rec.error().message;
  std::vector<ImportedFile> files;
  files.push_back(std::move(*file));
  auto totals = write_imported(*rec, files);
  ASSERT_TRUE(totals.has_value()) << totals.error().message;
  EXPECT_EQ(totals->samples, 3u);
  auto summary = rec->summary();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->samples, 3);
  EXPECT_NE(describe_imported(files[0]).find("poolmon, 3 sample(s) at 2026-11-21"),
            std::string::npos)
      << describe_imported(files[0]);
}

TEST(StoreImport, CounterLogAndHttpErrLogAreCountedSeparately) {
  auto counters = read_import_file(data("pool_counters.csv"), std::nullopt, {});
  ASSERT_TRUE(counters.has_value()) << counters.error().message;
  ASSERT_TRUE(counters->counters.has_value());
  EXPECT_EQ(counters->counters->counters.size(), 2u);
  auto httperr = read_import_file(data("httperr_refused.log"), std::nullopt, {});
  ASSERT_TRUE(httperr.has_value()) << httperr.error().message;
  EXPECT_EQ(httperr->format, "httperr");
  EXPECT_FALSE(httperr->events.empty());

  ScratchDir dir;
  auto rec = Recording::open_write(dir.file("r.db"));
  ASSERT_TRUE(rec.has_value());
  std::vector<ImportedFile> files;
  files.push_back(std::move(*counters));
  files.push_back(std::move(*httperr));
  auto totals = write_imported(*rec, files);
  ASSERT_TRUE(totals.has_value()) << totals.error().message;
  EXPECT_EQ(totals->samples, 0u);
  EXPECT_EQ(totals->counters, 2u);
  EXPECT_EQ(totals->events, files[1].events.size());
  auto summary = rec->summary();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->counters, 2);
  EXPECT_EQ(static_cast<std::size_t>(summary->counter_samples), totals->points);
  EXPECT_EQ(static_cast<std::size_t>(summary->events), totals->events);
}

TEST(StoreImport, UnknownTextNamesTheKnownFormats) {
  auto file = read_import_file(data("unknown.txt"), std::nullopt, {});
  ASSERT_FALSE(file.has_value());
  EXPECT_EQ(file.error().code, ErrorCode::kInput);
  EXPECT_NE(file.error().message.find("not a format poolscope can import"), std::string::npos);
  EXPECT_NE(file.error().message.find("PDH counter logs"), std::string::npos);
}

TEST(StoreImport, BadPoolmonRowFailsTheFileWithItsLine) {
  auto file = read_import_file(data("poolmon_bad_row.txt"), std::nullopt, {});
  ASSERT_FALSE(file.has_value());
  EXPECT_NE(file.error().message.find("poolmon_bad_row.txt:"), std::string::npos)
      << file.error().message;
  EXPECT_NE(file.error().message.find("nothing was imported"), std::string::npos);
}

TEST(StoreImport, ARecordingIsRefusedAsInput) {
  ScratchDir dir;
  {
    auto rec = Recording::open_write(dir.file("r.db"));
    ASSERT_TRUE(rec.has_value());
  }
  auto file = read_import_file(dir.file("r.db"), std::nullopt, {});
  ASSERT_FALSE(file.has_value());
  EXPECT_NE(file.error().message.find("is an SQLite file"), std::string::npos);
}

TEST(StoreImport, AFileThatChangedBetweenCheckAndWriteLeavesNothing) {
  ScratchDir dir;
  const std::string log = dir.file("poolmon.txt");
  std::filesystem::copy_file(data("poolmon_n_log_3_screens.txt"), log);
  auto file = read_import_file(log, kAt, {});
  ASSERT_TRUE(file.has_value()) << file.error().message;
  {  // a screen more than was checked
    std::ifstream in(data("poolmon_n_log_3_screens.txt"));
    std::ofstream out(log, std::ios::app);
    out << in.rdbuf();
  }
  auto rec = Recording::open_write(dir.file("r.db"));
  ASSERT_TRUE(rec.has_value());
  std::vector<ImportedFile> files;
  files.push_back(std::move(*file));
  auto totals = write_imported(*rec, files);
  ASSERT_FALSE(totals.has_value());
  EXPECT_NE(totals.error().message.find("changed while it was imported"), std::string::npos);
  EXPECT_NE(totals.error().message.find("nothing was imported"), std::string::npos);
  auto summary = rec->summary();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->samples, 0);
}

}  // namespace
}  // namespace poolscope::store
