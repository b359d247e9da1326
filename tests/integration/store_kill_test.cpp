// kill -9 of a real `poolscope record` at random moments: the file opens, passes SQLite's
// integrity check, and holds every sample the recorder reported committed, in an unbroken chain.
#include <random>
#include <set>
#include <thread>

#include "integration/store_support.h"
#include "store/recording.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;
using testing::Child;
using testing::sql_value;

constexpr int kKills = 20;

TEST(StoreKill, KillNineAtRandomMomentsLosesNothingCommitted) {
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  const std::string db = dir.file("killed.db");
  std::mt19937 rng(std::random_device{}());
  std::int64_t reported_max = 0;  // highest seq any recorder printed as committed
  std::int64_t previous_max = 0;  // highest seq in the file after the previous round
  int killed_before_first_commit = 0;
  for (int round = 0; round < kKills; ++round) {
    // --no-owner: the owners' kallsyms load before the first commit takes longer than the kill
    // window under ASan, and owners are not what this test is about.
    Child rec({"record", "--out", db, "--interval", "0.05", "--print-commits", "--no-owner"});
    ASSERT_GT(rec.pid(), 0);
    // Kill anywhere from right after exec (schema creation, lock takeover) to mid-recording.
    const auto delay = std::chrono::milliseconds(rng() % 600);
    const auto until = std::chrono::steady_clock::now() + delay;
    while (std::chrono::steady_clock::now() < until) rec.pump(5ms);
    ASSERT_EQ(::kill(rec.pid(), SIGKILL), 0);
    EXPECT_EQ(rec.wait(), -SIGKILL);
    rec.drain(2s);  // lines written before the kill are still in the pipe
    std::int64_t last_printed = 0;
    std::size_t pos = 0;
    const std::string& out = rec.out();
    while ((pos = out.find("committed ", pos)) != std::string::npos) {
      last_printed = std::stoll(out.substr(pos + 10));
      pos += 10;
    }
    if (last_printed == 0) ++killed_before_first_commit;
    reported_max = std::max(reported_max, last_printed);

    // The file opens and is intact after every kill.
    if (!std::filesystem::exists(db)) {
      ASSERT_EQ(reported_max, 0) << "the file vanished after commits were reported";
      continue;
    }
    EXPECT_EQ(sql_value(db, "PRAGMA integrity_check"), "ok") << "round " << round;
    // Killed between creating the file and committing its schema: an empty database, which the
    // next recorder takes over. Nothing can have been reported committed from it.
    if (sql_value(db, "SELECT count(*) FROM sqlite_master WHERE name = 'samples'") == "0") {
      ASSERT_EQ(reported_max, 0) << "round " << round << ": the schema vanished after commits";
      continue;
    }
    // Seqs are 1..N without a hole, and N covers everything reported committed. Beyond that there
    // is at most the one sample committed between its commit and its printed line.
    const std::int64_t count = std::stoll(sql_value(db, "SELECT count(*) FROM samples"));
    const std::int64_t min_seq =
        std::stoll(sql_value(db, "SELECT ifnull(min(seq),0) FROM samples"));
    const std::int64_t max_seq =
        std::stoll(sql_value(db, "SELECT ifnull(max(seq),0) FROM samples"));
    const std::int64_t known = std::max(previous_max, last_printed);
    EXPECT_GE(max_seq, known) << "round " << round << ": a committed sample is missing";
    EXPECT_LE(max_seq, known + 1) << "round " << round;
    previous_max = max_seq;
    if (count > 0) {
      EXPECT_EQ(min_seq, 1);
      EXPECT_EQ(count, max_seq) << "round " << round << ": hole in the sequence";
    }
    // Every sample decodes, with keys, from the first to the last.
    auto recording = store::Recording::open_read(db);
    ASSERT_TRUE(recording.has_value()) << recording.error().message;
    auto cursor = recording->cursor(store::CursorOptions{.processes = true});
    ASSERT_TRUE(cursor.has_value());
    std::int64_t decoded = 0;
    for (;;) {
      auto more = cursor->next();
      ASSERT_TRUE(more.has_value()) << "round " << round << ": " << more.error().message;
      if (!*more) break;
      ++decoded;
      EXPECT_EQ(cursor->info().seq, decoded);
      EXPECT_FALSE(cursor->keys().empty());
    }
    EXPECT_EQ(decoded, count);
  }
  EXPECT_GT(reported_max, 0) << "no recorder committed anything in " << kKills << " rounds";
  std::printf("%d kills, %lld samples committed and reported, %d kills before a first commit\n",
              kKills, static_cast<long long>(reported_max), killed_before_first_commit);
  // A recorder started after all that takes the file over and continues the sequence.
  Child last({"record", "--out", db, "--interval", "0.05", "--duration", "0.2s"});
  EXPECT_EQ(last.wait_for(30s), 0) << last.err();
  EXPECT_EQ(sql_value(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(sql_value(db, "SELECT count(*) = max(seq) FROM samples"), "1");
}

}  // namespace
}  // namespace poolscope
