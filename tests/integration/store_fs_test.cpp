// Disk full and read-only file systems under a real `poolscope record`: a clear error, exit 3, and
// the recording so far stays readable.
#include <sys/mount.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "integration/store_support.h"
#include "store/recording.h"
#include "test_paths.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;
using testing::Child;
using testing::sql_value;

// A small tmpfs mounted for one test (root only); unmounted at the end.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::filesystem::path& where, const std::string& size) : path_(where) {
    std::filesystem::create_directories(where);
    const std::string options = "size=" + size + ",mode=0755";
    mounted_ = ::mount("tmpfs", where.c_str(), "tmpfs", 0, options.c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  bool remount_read_only() {
    return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0;
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
  bool mounted_ = false;
  std::string error_;
};

#define REQUIRE_TMPFS(fs)                                                                   \
  do {                                                                                      \
    if (!(fs).mounted()) {                                                                  \
      GTEST_SKIP() << "cannot mount a small tmpfs here (" << (fs).error()                   \
                   << "; needs root or CAP_SYS_ADMIN): the file-system case is not tested"; \
    }                                                                                       \
  } while (0)

// Decodes every sample; returns how many, failing the test on any damage.
std::int64_t decode_all(const std::string& db) {
  auto rec = store::Recording::open_read(db);
  EXPECT_TRUE(rec.has_value()) << (rec ? "" : rec.error().message);
  if (!rec) return -1;
  auto cursor = rec->cursor(store::CursorOptions{.processes = true});
  std::int64_t n = 0;
  for (;;) {
    auto more = cursor->next();
    EXPECT_TRUE(more.has_value()) << (more ? "" : more.error().message);
    if (!more || !*more) break;
    ++n;
  }
  return n;
}

// What a recording of this machine takes after a fraction of a second (its slab caches and
// processes set the size of the first sample). The file-size limit test sits at twice that: the
// recorder reaches it in seconds on any machine, past a few samples (a fixed 256 KiB took 43 s).
std::uintmax_t first_samples_bytes(const testing::TempDir& dir) {
  const std::string db = dir.file("probe.db");
  Child probe({"record", "--out", db, "--interval", "0.01", "--duration", "0.3s"});
  EXPECT_EQ(probe.wait_for(30s), 0) << probe.err();
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(db, ec);
  return ec ? 0 : size;
}

TEST(StoreFs, DiskFullStopsWithExit3AndKeepsTheRecordingReadable) {
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  SmallTmpfs fs(dir.path() / "mnt", "320k");
  REQUIRE_TMPFS(fs);
  const std::string db = fs.file("full.db");
  Child rec({"record", "--out", db, "--interval", "0.01"});
  const int code = rec.wait_for(120s);
  EXPECT_EQ(code, 3) << rec.err();
  EXPECT_NE(rec.err().find("The disk is full"), std::string::npos) << rec.err();
  EXPECT_NE(rec.err().find("every sample committed so far is in the file"), std::string::npos);
  EXPECT_NE(rec.err().find("poolscope: recorded "), std::string::npos) << rec.err();
  EXPECT_EQ(sql_value(db, "PRAGMA integrity_check"), "ok");
  const std::int64_t samples = std::stoll(sql_value(db, "SELECT count(*) FROM samples"));
  EXPECT_GT(samples, 3);
  EXPECT_EQ(decode_all(db), samples);
  Child exported({"export", db, "--kind", "pool"});
  EXPECT_EQ(exported.wait_for(60s), 0) << exported.err();
  const std::int64_t keys = std::stoll(sql_value(db, "SELECT count(*) FROM keys"));
  EXPECT_GE(static_cast<std::int64_t>(testing::count_lines(exported.out(), "\"kind\":\"pool\"")),
            samples * (keys - 5));  // caches may come and go between samples
  Child snap({"snapshot", "--source", db, "--top", "3"});
  EXPECT_EQ(snap.wait_for(30s), 0) << snap.err();
}

TEST(StoreFs, FileSizeLimitStopsWithExit3AndKeepsTheRecordingReadable) {
  // RLIMIT_FSIZE needs no privilege: the same failure for anyone who can read slabinfo.
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  const std::string db = dir.file("limited.db");
  const std::uintmax_t probe = first_samples_bytes(dir);
  ASSERT_GT(probe, 0u);
  const rlim_t bytes = static_cast<rlim_t>(2 * probe);
  Child rec({"record", "--out", db, "--interval", "0.01"}, [bytes] {
    ::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead of killing us
    rlimit limit{bytes, bytes};
    ::setrlimit(RLIMIT_FSIZE, &limit);
  });
  EXPECT_EQ(rec.wait_for(120s), 3) << rec.err();
  EXPECT_NE(rec.err().find("A write to the file or its WAL failed"), std::string::npos)
      << rec.err();
  EXPECT_NE(rec.err().find("ulimit -f"), std::string::npos) << rec.err();
  EXPECT_EQ(sql_value(db, "PRAGMA integrity_check"), "ok");
  const std::int64_t samples = std::stoll(sql_value(db, "SELECT count(*) FROM samples"));
  EXPECT_GT(samples, 3);
  EXPECT_EQ(decode_all(db), samples);
}

TEST(StoreFs, ReadOnlyFileSystemRefusesWritingWithExit3AndStillReads) {
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  SmallTmpfs fs(dir.path() / "mnt", "8m");
  REQUIRE_TMPFS(fs);
  const std::string db = fs.file("ro.db");
  Child first({"record", "--out", db, "--interval", "0.05", "--duration", "0.5s"});
  ASSERT_EQ(first.wait_for(30s), 0) << first.err();
  const std::string samples = sql_value(db, "SELECT count(*) FROM samples");
  ASSERT_TRUE(fs.remount_read_only()) << std::strerror(errno);

  Child again({"record", "--out", db, "--interval", "0.05"});
  EXPECT_EQ(again.wait_for(30s), 3) << again.err();
  EXPECT_NE(again.err().find("read-only"), std::string::npos) << again.err();
  Child fresh({"record", "--out", fs.file("new.db")});
  EXPECT_EQ(fresh.wait_for(30s), 3) << fresh.err();
  EXPECT_NE(fresh.err().find("cannot create " + fs.file("new.db") + ": its directory "),
            std::string::npos)
      << fresh.err();
  EXPECT_NE(fresh.err().find("(Read-only file system)"), std::string::npos) << fresh.err();
  EXPECT_FALSE(std::filesystem::exists(fs.file("new.db")));
  Child imported(
      {"import", "--into", db, std::string(POOLSCOPE_TEST_DATA) + "/store/slabinfo_a.txt"});
  EXPECT_EQ(imported.wait_for(30s), 3) << imported.err();

  // Reading needs no write access (the WAL was merged when the recorder closed).
  EXPECT_EQ(std::to_string(decode_all(db)), samples);
  Child exported({"export", db, "--kind", "pool", "--format", "csv"});
  EXPECT_EQ(exported.wait_for(30s), 0) << exported.err();
  EXPECT_GT(testing::count_lines(exported.out(), "pool,"), 100u);
  Child snap({"snapshot", "--source", db, "--top", "3"});
  EXPECT_EQ(snap.wait_for(30s), 0) << snap.err();
}

TEST(StoreFs, RecordingKilledThenFileSystemReadOnlyIsStillReadable) {
  // A crashed recorder leaves its WAL; a copy on read-only media must still show those samples.
  REQUIRE_LIVE_SLABINFO();
  testing::TempDir dir;
  SmallTmpfs fs(dir.path() / "mnt", "8m");
  REQUIRE_TMPFS(fs);
  const std::string db = fs.file("crashed.db");
  Child rec({"record", "--out", db, "--interval", "0.05", "--print-commits"});
  while (testing::count_lines(rec.out(), "committed ") < 5 && rec.pump(100ms)) {
  }
  ::kill(rec.pid(), SIGKILL);
  rec.wait();
  rec.drain(1s);
  const auto committed = static_cast<std::int64_t>(testing::count_lines(rec.out(), "committed "));
  ASSERT_GE(committed, 5);
  ASSERT_GT(std::filesystem::file_size(db + "-wal"), 0u);
  ASSERT_TRUE(fs.remount_read_only()) << std::strerror(errno);
  const std::int64_t decoded = decode_all(db);
  EXPECT_GE(decoded, committed);
  EXPECT_LE(decoded, committed + 1);
}

}  // namespace
}  // namespace poolscope
