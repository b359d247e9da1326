// Hostile files through the real binary (issue 21): nothing silently lost (a row is an entry or a
// file:line diagnostic), nothing unbounded (devices and FIFOs refused, lines capped).
#include <sys/stat.h>

#include <fstream>
#include <iterator>

#include "integration/store_support.h"
#include "test_support.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;
using testing::Child;

struct Ran {
  int code;
  std::string out, err;
};

Ran run(const std::vector<std::string>& args) {
  Child c(args);
  const int code = c.wait_for(60s);
  return {code, c.out(), c.err()};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Runs sql on a recording, as a damaged copy would be made.
bool damage(const std::string& db, const char* sql) {
  sqlite3* handle = nullptr;
  const bool ok = sqlite3_open(db.c_str(), &handle) == SQLITE_OK &&
                  sqlite3_exec(handle, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  sqlite3_close(handle);
  return ok;
}

// The 3-screen poolmon log with its " Leak  Nonp" rows given another tag.
std::string poolmon_log_with_leak_tag(const std::string& replacement) {
  std::string text = read_text(testing::test_data("store/poolmon_n_log_3_screens.txt").string());
  const std::string from = " Leak  Nonp";
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + replacement.size())) {
    text.replace(at, from.size(), replacement);
  }
  return text;
}

// Issue 21 item 1: a row whose tag is not 4 plain ASCII characters was skipped as prose, exit 0,
// and `leaks` then found no leak.
TEST(HostileInput, PoolmonRowWithNonAsciiTagIsNeverDropped) {
  testing::TempDir dir;
  struct Case {
    const char* name;
    std::string row;
    const char* shown;
  };
  const Case cases[] = {
      {"utf8",
       " L\xc3\xa9"
       "ak Nonp",
       "L\\xc3\\xa9ak"},
      {"ansi", " \x1b[31mLeak\x1b[0m Nonp", "\\x1b[31mLeak\\x1b[0m"},
      {"five", " Leaks Nonp", "Leaks"},
      {"tab", " Le\tk  Nonp", "Le\\x09k"},
  };
  for (const auto& c : cases) {
    const std::string file = dir.file(std::string(c.name) + ".txt");
    write_text(file, poolmon_log_with_leak_tag(c.row));
    auto shown = run({"snapshot", "--source", file});
    EXPECT_EQ(shown.code, 2) << c.name << "\n" << shown.out << shown.err;
    EXPECT_NE(shown.err.find(file + ":6: "), std::string::npos) << c.name << "\n" << shown.err;
    EXPECT_NE(shown.err.find("the tag"), std::string::npos) << c.name << "\n" << shown.err;
    auto imported = run({"import", "--into", dir.file(std::string(c.name) + ".db"), file});
    EXPECT_EQ(imported.code, 2) << c.name << "\n" << imported.err;
    EXPECT_NE(imported.err.find("nothing was imported"), std::string::npos) << imported.err;
  }
}

// A tag with a control byte or NUL inside its 4 bytes is a row: shown as \xNN, never dropped.
TEST(HostileInput, PoolmonRowWithControlByteTagIsShownEscaped) {
  testing::TempDir dir;
  const std::string file = dir.file("nul.txt");
  write_text(file, poolmon_log_with_leak_tag(std::string(" L\x01"
                                                         "a\0  Nonp",
                                                         11)));
  auto shown = run({"snapshot", "--source", file, "--format", "csv"});
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("L\\x01a\\x00"), std::string::npos) << shown.out;
}

// Issue 21 item 2: a FIFO without a writer hung every verb in open(); /dev/zero grew without
// bound. Both are refused before anything opens them.
TEST(HostileInput, FifoAndCharacterDeviceAreRefusedNotOpened) {
  testing::TempDir dir;
  const std::string fifo = dir.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::vector<std::vector<std::string>> verbs = {
      {"snapshot", "--source", fifo},
      {"import", "--into", dir.file("a.db"), fifo},
      {"export", fifo},
      {"import", "--into", dir.file("b.db"), "/dev/zero"},
      {"snapshot", "--source", "/dev/zero"},
  };
  for (const auto& args : verbs) {
    Child c(args);
    const int code = c.wait_for(10s);
    EXPECT_EQ(code, 2) << args[0] << " " << args.back() << "\n" << c.err();
    const bool named = c.err().find("FIFO") != std::string::npos ||
                       c.err().find("character device") != std::string::npos;
    EXPECT_TRUE(named) << args[0] << " " << args.back() << "\n" << c.err();
  }
}

// A line longer than the cap is an input error with its line number, not memory that grows with
// the file.
TEST(HostileInput, EndlessLineIsAnErrorWithItsLineNumber) {
  testing::TempDir dir;
  const std::string file = dir.file("long.txt");
  {
    std::ofstream out(file, std::ios::binary);
    out << " Tag  Type     Allocs            Frees               Diff            Bytes    "
           "             Per Alloc\n";
    out << std::string(5 << 20, 'A');
  }
  auto shown = run({"snapshot", "--source", file});
  EXPECT_EQ(shown.code, 2) << shown.err;
  EXPECT_NE(shown.err.find(file + ":2: a line longer than 4 MiB"), std::string::npos) << shown.err;
  auto imported = run({"import", "--into", dir.file("long.db"), file});
  EXPECT_EQ(imported.code, 2) << imported.err;
  EXPECT_NE(imported.err.find(file + ":2: a line longer than 4 MiB"), std::string::npos)
      << imported.err;
}

// Issue 21 item 8: a symlink loop said "No such file or directory".
TEST(HostileInput, SymlinkLoopSaysSo) {
  testing::TempDir dir;
  const std::string a = dir.file("a"), b = dir.file("b");
  std::filesystem::create_symlink(b, a);
  std::filesystem::create_symlink(a, b);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"snapshot", "--source", a}, {"import", "--into", dir.file("x.db"), a}, {"export", a}}) {
    auto r = run(args);
    EXPECT_EQ(r.code, 2) << args[0] << "\n" << r.err;
    EXPECT_NE(r.err.find("Too many levels of symbolic links"), std::string::npos) << args[0] << "\n"
                                                                                  << r.err;
  }
}

// A poolmon log is streamed screen by screen into the recording: every screen becomes a sample.
TEST(HostileInput, StreamedPoolmonLogImportsEveryScreen) {
  testing::TempDir dir;
  const std::string db = dir.file("log.db");
  auto imported =
      run({"import", "--into", db, testing::test_data("store/poolmon_n_log_3_screens.txt").string(),
           "--at", "2026-01-01T00:00:00Z"});
  ASSERT_EQ(imported.code, 0) << imported.err;
  EXPECT_NE(imported.err.find("poolmon, 3 sample(s) at 2026-01-01T00:00:00"), std::string::npos)
      << imported.err;
  auto exported = run({"export", db, "--include", "Leak"});
  ASSERT_EQ(exported.code, 0) << exported.err;
  EXPECT_NE(exported.out.find("\"seq\":3,\"key\":\"Leak\""), std::string::npos) << exported.out;
}

// Issue 21 item 5: a recording without its meta table exited 70 ("a bug in poolscope").
TEST(HostileInput, RecordingWithoutMetaTableIsAnInputError) {
  testing::TempDir dir;
  const std::string db = dir.file("nometa.db");
  auto imported = run(
      {"import", "--into", db, testing::test_data("store/poolmon_n_log_3_screens.txt").string()});
  ASSERT_EQ(imported.code, 0) << imported.err;
  ASSERT_TRUE(damage(db, "DROP TABLE meta"));
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"export", db},
                                             {"report", db, "-o", dir.file("r.html")},
                                             {"snapshot", "--source", db}}) {
    auto r = run(args);
    EXPECT_EQ(r.code, 2) << args[0] << "\n" << r.err;
    EXPECT_NE(r.err.find("meta table is missing"), std::string::npos) << args[0] << "\n" << r.err;
  }
}

// Issue 21 item 8: a gap in the sequence numbers said "has no sample" for a sample that is there.
TEST(HostileInput, SequenceGapSaysTheSampleCannotBeRebuilt) {
  testing::TempDir dir;
  const std::string db = dir.file("gap.db");
  auto imported = run(
      {"import", "--into", db, testing::test_data("store/poolmon_n_log_3_screens.txt").string()});
  ASSERT_EQ(imported.code, 0) << imported.err;
  ASSERT_EQ(testing::sql_value(db, "SELECT keyframe FROM samples WHERE seq = 3"), "0");
  ASSERT_TRUE(damage(db, "DELETE FROM samples WHERE seq = 2"));
  auto r = run({"snapshot", "--source", db});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.err.find("has no sample"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cannot be rebuilt"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace poolscope
