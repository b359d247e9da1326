// `poolscope top` driven in a real terminal: tmux runs the binary, sends keys, captures the screen.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "integration/cli_support.h"
#include "test_paths.h"
#include "test_support.h"

namespace poolscope {
namespace {

using namespace std::chrono_literals;

struct Shell {
  int exit_code = -1;
  std::string out;
};

Shell shell(const std::string& command) {
  Shell r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool have_tmux() {
  return shell("command -v tmux").exit_code == 0;
}

#define REQUIRE_TMUX()                                                            \
  do {                                                                            \
    if (!have_tmux()) GTEST_SKIP() << "tmux is not installed (apt install tmux)"; \
  } while (0)

#define REQUIRE_READABLE_SLABINFO()                                                         \
  do {                                                                                      \
    if (::access("/proc/slabinfo", R_OK) != 0) {                                            \
      GTEST_SKIP() << "/proc/slabinfo is not readable here (needs root and a SLUB kernel)"; \
    }                                                                                       \
  } while (0)

std::string fixture() {
  return testing::test_data("slabinfo/kernel_6_18_head.txt").string();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

// One tmux server of our own (its socket in our temporary folder), so nothing else running in
// tmux is touched and nothing is left behind. The command runs under sh, which writes its exit
// code to a file when it ends.
class TmuxSession {
 public:
  TmuxSession(int width, int height, const std::string& args) {
    static std::atomic<int> counter{0};
    std::string id = std::to_string(::getpid()) + "-" + std::to_string(counter++);
    dir_ = std::filesystem::temp_directory_path() / ("poolscope-top-" + id);
    std::filesystem::create_directories(dir_);
    socket_ = (dir_ / "tmux").string();
    rc_file_ = (dir_ / "rc").string();
    err_file_ = (dir_ / "stderr").string();
    std::string command = std::string(POOLSCOPE_BINARY) + " " + args + " 2>" + err_file_ +
                          "; echo \\$? >" + rc_file_ + ".tmp; mv " + rc_file_ + ".tmp " + rc_file_;
    started_ = tmux("new-session -d -x " + std::to_string(width) + " -y " + std::to_string(height) +
                    " -s top \"sh -c '" + command + "'\"")
                   .exit_code == 0;
  }
  ~TmuxSession() {
    tmux("kill-server");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TmuxSession(const TmuxSession&) = delete;
  TmuxSession& operator=(const TmuxSession&) = delete;

  bool started() const { return started_; }
  Shell tmux(const std::string& args) const {
    return shell("tmux -S " + socket_ + " -f /dev/null " + args);
  }
  std::string capture() const { return tmux("capture-pane -p -t top").out; }
  void keys(const std::string& keys) const { tmux("send-keys -t top " + keys); }

  // Polls the screen until it contains needle; returns the last capture either way.
  std::string wait_for(const std::string& needle, std::chrono::milliseconds limit = 15s) const {
    auto end = std::chrono::steady_clock::now() + limit;
    std::string screen;
    do {
      screen = capture();
      if (screen.find(needle) != std::string::npos) return screen;
      std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < end);
    return screen;
  }
  // The exit code once the program has ended, or -1 if it did not end in time.
  int wait_exit(std::chrono::milliseconds limit = 15s) const {
    auto end = std::chrono::steady_clock::now() + limit;
    do {
      std::string rc = testing::read_file(rc_file_);
      if (!rc.empty()) return std::stoi(rc);
      std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < end);
    return -1;
  }
  std::string stderr_text() const { return testing::read_file(err_file_); }

 private:
  std::string socket_;
  std::filesystem::path dir_;
  std::string rc_file_, err_file_;
  bool started_ = false;
};

std::uint64_t peak_rss_kib(const std::string& stderr_text) {
  auto pos = stderr_text.find("peak RSS: ");
  if (pos == std::string::npos) return 0;
  return std::stoull(stderr_text.substr(pos + 10));
}

TEST(TopTmux, RefusesWhenOutputIsNotATerminalAndSuggestsSnapshot) {
  auto r = testing::run_poolscope("top --source " + fixture());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out,
            "poolscope: top draws a live table and needs a terminal, but its output is not one; to "
            "write the table to a file or pipe use `poolscope snapshot` (same --source and "
            "filters)\n");
}

TEST(TopTmux, FileSourceIn80x25WithKeys) {
  REQUIRE_TMUX();
  TmuxSession tmux(80, 25, "top --source " + fixture() + " --interval 0.2");
  ASSERT_TRUE(tmux.started());
  // From the second refresh on the change columns are there: "(0)" for a file, which does not
  // change.
  // The title's refresh number is drawn before the rows below it: wait for the last row of
  // the second (or a later) refresh, not only for "#2", so the capture is never half drawn.
  std::string screen = tmux.wait_for("fscrypt_inode_info   Unrecl       0 (0)");
  auto lines = split_lines(screen);
  ASSERT_EQ(lines.size(), 25u) << screen;
  // The path does not fit in 80 columns with the rest of the title: the file name stays.
  EXPECT_TRUE(lines[0].starts_with("kernel_6_18_head.txt (slabinfo)  ")) << screen;
  EXPECT_NE(lines[0].find("  every 0.2s  #"), std::string::npos) << screen;
  EXPECT_FALSE(lines[0].ends_with("  #1")) << screen;
  EXPECT_EQ(lines[1], "SUnreclaim 368.0 KiB  SReclaimable 70.5 MiB");
  EXPECT_EQ(lines[2], "sort: bytes, largest first  pool: all  rows 1-14 of 14  0 changed");
  // A saved slabinfo has no kernel symbols (--kallsyms): only the generic kmalloc caches have an
  // owner, known from their names.
  EXPECT_EQ(lines[3],
            "Cache                Pool   Objects         Bytes     ObjSize Owner (aliases)");
  EXPECT_EQ(lines[4], "ext4_inode_cache     Recl    40,144 (0)  44.8 MiB (0)   1,128");
  EXPECT_EQ(lines[5], "radix_tree_node      Recl    26,320 (0)  14.7 MiB (0)     584");
  EXPECT_EQ(lines[6], "dentry               Recl    58,905 (0)  11.0 MiB (0)     192");
  EXPECT_EQ(lines[7],
            "kmalloc-64           Unrecl   5,358 (0) 340.0 KiB (0)      64 kmalloc (generic)");
  EXPECT_EQ(lines[16], "btrfs_ordered_extent Unrecl       0 (0)       0 B (0)     416");
  EXPECT_EQ(lines[17], "fscrypt_inode_info   Unrecl       0 (0)       0 B (0)     120");
  EXPECT_EQ(lines[18], "");
  EXPECT_EQ(lines[24], "Q:quit P:pool B/M/T/D:sort (:by-change E:totals L:hilite ?:help");
  for (const auto& line : lines) EXPECT_LE(line.size(), 80u) << line;

  tmux.keys("T");
  lines = split_lines(tmux.wait_for("cache A-Z"));
  EXPECT_EQ(lines[4], "bio-312              Unrecl      12 (0)   4.0 KiB (0)     320");
  tmux.keys("T");
  lines = split_lines(tmux.wait_for("cache Z-A"));
  EXPECT_EQ(lines[4], "radix_tree_node      Recl    26,320 (0)  14.7 MiB (0)     584");
  tmux.keys("P");
  lines = split_lines(tmux.wait_for("pool: unreclaimable"));
  EXPECT_EQ(lines[2], "sort: cache Z-A  pool: unreclaimable  rows 1-10 of 10  0 changed");
  // Widths follow the rows shown: Bytes is narrower without the reclaimable caches.
  EXPECT_EQ(lines[4],
            "kmalloc-64           Unrecl   5,358 (0) 340.0 KiB (0)      64 kmalloc (generic)");
  tmux.keys("S");
  lines = split_lines(tmux.wait_for("no session pool"));
  EXPECT_EQ(lines[2], "this source has no session pool entries");
  tmux.keys("E");
  lines = split_lines(tmux.wait_for("Total "));
  EXPECT_EQ(lines[23], "Total                Unrecl   5,425 (0) 368.0 KiB (0)");
  tmux.keys("'?'");
  lines = split_lines(tmux.wait_for("Keys (poolmon"));
  EXPECT_EQ(lines[0], "Keys (poolmon's run-time commands, plus scrolling):");
  tmux.keys("x");  // any key leaves the help
  tmux.wait_for("Cache");
  tmux.keys("q");
  EXPECT_EQ(tmux.wait_exit(), 0);
  EXPECT_EQ(tmux.stderr_text(), "");
}

TEST(TopTmux, LargeTerminalAndResize) {
  REQUIRE_TMUX();
  TmuxSession tmux(80, 25, "top --source " + fixture() + " --interval 0.2");
  ASSERT_TRUE(tmux.started());
  tmux.wait_for("#2");
  ASSERT_EQ(tmux.tmux("resize-window -t top -x 200 -y 60").exit_code, 0);
  std::string screen = tmux.wait_for("PgUp/PgDn scroll");
  auto lines = split_lines(screen);
  ASSERT_EQ(lines.size(), 60u) << screen;
  // The full path fits now.
  EXPECT_TRUE(lines[0].starts_with("poolscope top  " + fixture() + " (slabinfo)  ")) << lines[0];
  EXPECT_EQ(lines[3],
            "Cache                Pool   Objects         Bytes     ObjSize Owner (aliases)");
  EXPECT_EQ(lines[59],
            "Q quit  P pool  sort: B bytes  M object size  T cache  D objects  ( by change  "
            "(again: reverse)  E totals  L highlight  H help  arrows/PgUp/PgDn scroll");
  tmux.keys("Escape");  // Esc quits, like poolmon
  EXPECT_EQ(tmux.wait_exit(), 0);
}

TEST(TopTmux, LiveSourceInALargeTerminalShowsOwnersAliasesAndChanges) {
  REQUIRE_TMUX();
  REQUIRE_READABLE_SLABINFO();
  TmuxSession tmux(200, 60, "top --interval 0.2");
  ASSERT_TRUE(tmux.started());
  std::string screen = tmux.wait_for("#3");
  auto lines = split_lines(screen);
  ASSERT_EQ(lines.size(), 60u) << screen;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  EXPECT_TRUE(lines[0].starts_with(std::string("poolscope top  live:linux on ") + host))
      << lines[0];
  EXPECT_TRUE(lines[1].starts_with("SUnreclaim ")) << lines[1];
  EXPECT_NE(lines[2].find(" changed"), std::string::npos) << lines[2];
  EXPECT_TRUE(lines[3].starts_with("Cache ")) << lines[3];
  // Merged caches list their aliases where the terminal has room.
  bool merged = false;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/kernel/slab", ec)) {
    if (entry.is_symlink()) merged = true;
  }
  // The owner column (kernel symbols, /sys/kernel/slab) with the merged names after the owner.
  EXPECT_NE(lines[3].find("Owner (aliases)"), std::string::npos) << lines[3];
  bool kmalloc_owner = false, merged_shown = false;
  for (const auto& line : lines) {
    kmalloc_owner |= line.starts_with("kmalloc-") && line.ends_with(" kmalloc (generic)");
    merged_shown |=
        line.ends_with(")") && !line.ends_with("(generic)") && line.find(" (") != std::string::npos;
  }
  EXPECT_TRUE(kmalloc_owner) << screen;
  if (merged) {
    EXPECT_TRUE(merged_shown) << screen;
  }
  // The table fills the screen: 60 - 4 header lines - 1 footer.
  std::size_t rows = 0;
  for (std::size_t i = 4; i + 1 < lines.size(); ++i) rows += lines[i].empty() ? 0 : 1;
  EXPECT_EQ(rows, 55u) << screen;
  tmux.keys("q");
  EXPECT_EQ(tmux.wait_exit(), 0);
}

TEST(TopTmux, IterationsEndTheProgramByItself) {
  REQUIRE_TMUX();
  TmuxSession tmux(80, 25, "top --source " + fixture() + " --iterations 3 --interval 0.1");
  ASSERT_TRUE(tmux.started());
  EXPECT_EQ(tmux.wait_exit(), 0);
  EXPECT_EQ(tmux.stderr_text(), "");
}

// Memory: 30 refreshes at 0.05 s; the process reports its own VmHWM on exit.
void check_peak_rss(const std::string& source) {
  TmuxSession tmux(200, 60,
                   "top --source " + source + " --iterations 30 --interval 0.05 --report-peak-rss");
  ASSERT_TRUE(tmux.started());
  ASSERT_EQ(tmux.wait_exit(), 0) << tmux.stderr_text();
  std::uint64_t peak = peak_rss_kib(tmux.stderr_text());
  std::printf("peak RSS of top --source %s: %llu KiB\n", source.c_str(),
              static_cast<unsigned long long>(peak));
  EXPECT_GT(peak, 0u) << tmux.stderr_text();
  EXPECT_LT(peak, 20u * 1024) << "top must stay under 20 MB resident";
}

// ASan's shadow memory and quarantine make resident size meaningless in the sanitizer build.
#if defined(POOLSCOPE_SANITIZED)
#define REQUIRE_UNSANITIZED() GTEST_SKIP() << "resident memory is not measured in the ASan build"
#else
#define REQUIRE_UNSANITIZED() (void)0
#endif

TEST(TopTmux, PeakResidentMemoryWithAFileIsUnder20MB) {
  REQUIRE_UNSANITIZED();
  REQUIRE_TMUX();
  check_peak_rss(fixture());
}

TEST(TopTmux, PeakResidentMemoryLiveIsUnder20MB) {
  REQUIRE_UNSANITIZED();
  REQUIRE_TMUX();
  REQUIRE_READABLE_SLABINFO();
  check_peak_rss("live");
}

}  // namespace
}  // namespace poolscope
