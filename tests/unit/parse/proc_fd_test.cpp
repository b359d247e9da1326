#include "parse/proc_fd.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace poolscope::parse {
namespace {

// Link targets as readlink(/proc/PID/fd/N) printed them on Linux 6.18 for fds made by eventfd(),
// epoll_create1(), timerfd_create(), inotify_init1(), signalfd(), socket(), pipe(),
// memfd_create(), pidfd_open, io_uring_setup, fanotify_init, userfaultfd and open().
TEST(ProcFd, ClassifiesRealLinkTargets) {
  const std::vector<std::pair<std::string, FdKind>> cases = {
      {"pipe:[60303]", FdKind::kPipe},
      {"anon_inode:[eventfd]", FdKind::kEventfd},
      {"anon_inode:[eventpoll]", FdKind::kEpoll},
      {"anon_inode:[timerfd]", FdKind::kTimerfd},
      {"anon_inode:inotify", FdKind::kInotify},
      {"anon_inode:[signalfd]", FdKind::kSignalfd},
      {"socket:[60304]", FdKind::kSocket},
      {"/memfd:poolscope test (deleted)", FdKind::kFile},
      {"anon_inode:[pidfd]", FdKind::kPidfd},
      {"anon_inode:[io_uring]", FdKind::kIoUring},
      {"anon_inode:[fanotify]", FdKind::kAnonOther},
      {"/dev/null", FdKind::kFile},
      {"net:[4026531833]", FdKind::kOther},
      {"anon_inode:[userfaultfd]", FdKind::kAnonOther},
      {"/tmp", FdKind::kFile},
      {"/tmp/factsprobe/del me (deleted)", FdKind::kFile},
      {"anon_inode:bpf-map", FdKind::kAnonOther},
      {"anon_inode:[perf_event]", FdKind::kAnonOther},
      {"pidfd:[1234]", FdKind::kPidfd},
  };
  for (const auto& [target, kind] : cases) {
    EXPECT_EQ(classify_fd_target(target), kind) << target;
  }
}

TEST(ProcFd, NearMissesAreNotTakenForAKnownKind) {
  EXPECT_EQ(classify_fd_target(""), FdKind::kOther);
  EXPECT_EQ(classify_fd_target("anon_inode:[eventfd"), FdKind::kAnonOther);
  EXPECT_EQ(classify_fd_target("anon_inode:[eventfd]x"), FdKind::kAnonOther);
  EXPECT_EQ(classify_fd_target("anon_inode:inotify2"), FdKind::kAnonOther);
  EXPECT_EQ(classify_fd_target("socket"), FdKind::kOther);
  EXPECT_EQ(classify_fd_target("relative/path"), FdKind::kOther);
  EXPECT_EQ(classify_fd_target(std::string("pipe:[1]\0", 9)), FdKind::kPipe);
}

TEST(ProcFd, CountsAddUpPerKind) {
  FdCounts counts;
  for (const char* target : {"socket:[1]", "socket:[2]", "pipe:[3]", "anon_inode:[eventfd]",
                             "/dev/null", "anon_inode:[eventpoll]"}) {
    count_fd(counts, target);
  }
  EXPECT_EQ(counts.socket, 2u);
  EXPECT_EQ(counts.pipe, 1u);
  EXPECT_EQ(counts.eventfd, 1u);
  EXPECT_EQ(counts.file, 1u);
  EXPECT_EQ(counts.epoll, 1u);
  EXPECT_EQ(fd_counts_total(counts), 6u);
  EXPECT_EQ(fd_count(counts, FdKind::kSocket), 2u);
}

TEST(ProcFd, KindNamesRoundTrip) {
  for (FdKind kind : kAllFdKinds) {
    EXPECT_EQ(parse_fd_kind(fd_kind_name(kind)), kind);
  }
  EXPECT_EQ(fd_kind_name(FdKind::kAnonOther), "anon_other");
  EXPECT_EQ(fd_kind_name(FdKind::kIoUring), "io_uring");
  EXPECT_FALSE(parse_fd_kind("eventpoll").has_value());
}

// /proc/PID/stat lines copied from a Linux 6.18 host.
TEST(ProcStat, ParsesRealLines) {
  auto init = parse_proc_stat(
      "1 (process_api) S 0 0 0 0 -1 4194560 79048 11212126 0 979 121 588 26862 7340 10 -10 13 0 "
      "26 48766976 4223 18446744073709551615 1 1 0 0 0 0 0 4096 1256 0 0 0 17 1 0 0 0 0 0 0 0 0 0 "
      "0 0 0 0\n");
  ASSERT_TRUE(init.has_value()) << init.error().message;
  EXPECT_EQ(init->pid, 1u);
  EXPECT_EQ(init->comm, "process_api");
  EXPECT_EQ(init->state, 'S');
  EXPECT_EQ(init->ppid, 0u);
  EXPECT_EQ(init->start_time, 26u);

  auto cat = parse_proc_stat(
      "25840 (cat) R 25837 25837 15046 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 150330 3133440 413 "
      "18446744073709551615 94246447038464 94246447058345 140735728273520 0 0 0 0 0 0 0 0 0 17 0 "
      "0 0 0 0 0 94246447074352 94246447075968 94246566109184 140735728282056 140735728282076 "
      "140735728282076 140735728283627 0\n");
  ASSERT_TRUE(cat.has_value());
  EXPECT_EQ(cat->pid, 25840u);
  EXPECT_EQ(cat->comm, "cat");
  EXPECT_EQ(cat->ppid, 25837u);
  EXPECT_EQ(cat->start_time, 150330u);
}

// A process renamed itself (write to /proc/self/comm) to "my (weird) pr)" and to "a b\nc".
TEST(ProcStat, CommWithParenthesesSpacesAndNewlines) {
  auto weird = parse_proc_stat(
      "25841 (my (weird) pr)) R 25837 25837 15046 0 -1 4194304 2857 6616 0 0 3 0 5 1 20 0 1 0 "
      "150331 16965632 3394 18446744073709551615 94384059842560 94384059842901 140729316419648 0 "
      "0 0 0 16781312 2 0 0 0 17 0 0 0 0 0 0 94384059854256 94384059854872 94384112984064 "
      "140729316427567 140729316427791 140729316427791 140729316429775 0\n");
  ASSERT_TRUE(weird.has_value()) << weird.error().message;
  EXPECT_EQ(weird->comm, "my (weird) pr)");
  EXPECT_EQ(weird->state, 'R');
  EXPECT_EQ(weird->ppid, 25837u);
  EXPECT_EQ(weird->start_time, 150331u);

  auto newline = parse_proc_stat(
      "25841 (a b\nc) R 25837 25837 15046 0 -1 4194304 2857 6616 0 0 3 0 5 1 20 0 1 0 150331 "
      "16965632 3394\n");
  ASSERT_TRUE(newline.has_value()) << newline.error().message;
  EXPECT_EQ(newline->comm, "a b\nc");
  EXPECT_EQ(newline->start_time, 150331u);
}

TEST(ProcStat, MalformedLinesSayWhatWasExpected) {
  auto no_comm = parse_proc_stat("123 cat R 1 2 3");
  ASSERT_FALSE(no_comm.has_value());
  EXPECT_EQ(no_comm.error().code, ErrorCode::kInput);
  EXPECT_NE(no_comm.error().message.find("comm"), std::string::npos);

  auto short_line = parse_proc_stat("123 (cat) R 1 2 3 4");
  ASSERT_FALSE(short_line.has_value());
  EXPECT_NE(short_line.error().message.find("field 22"), std::string::npos);
  EXPECT_NE(short_line.error().message.find("found 7"), std::string::npos);

  EXPECT_FALSE(parse_proc_stat("x (cat) R 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5").has_value());
  EXPECT_FALSE(parse_proc_stat("1 (cat) RR 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5").has_value());
  // starttime beyond 64 bits is refused, not wrapped.
  EXPECT_FALSE(parse_proc_stat("1 (cat) R 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 18446744073709551616")
                   .has_value());
  EXPECT_FALSE(parse_proc_stat(")(").has_value());
  EXPECT_FALSE(parse_proc_stat("").has_value());
  auto minimal = parse_proc_stat("7 () Z 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 99");
  ASSERT_TRUE(minimal.has_value());
  EXPECT_EQ(minimal->comm, "");
  EXPECT_EQ(minimal->start_time, 99u);
}

// Issue 17 item 5: the culprit's own wall. /proc/PID/limits as this kernel (6.18) prints it.
TEST(ProcLimits, TheSoftOpenFilesLimitIsRead) {
  const char* const kLimits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max cpu time              unlimited            unlimited            seconds   \n"
      "Max processes             31547                31547                processes \n"
      "Max open files            1024                 524288               files     \n"
      "Max locked memory         8388608              8388608              bytes     \n";
  EXPECT_EQ(parse_open_files_limit(kLimits), 1024u);
  EXPECT_FALSE(parse_open_files_limit("Max open files            unlimited   unlimited  files\n"));
  EXPECT_FALSE(parse_open_files_limit("Max processes  10  10  processes\n"));
  EXPECT_FALSE(parse_open_files_limit(""));
}

TEST(ProcLimits, FileNrGivesAllocatedHandlesAndTheMax) {
  const auto nr = parse_file_nr("1088\t0\t9223372036854775807\n");
  ASSERT_TRUE(nr) << nr.error().message;
  EXPECT_EQ(nr->allocated, 1088u);
  EXPECT_EQ(nr->max, 9223372036854775807u);
  const auto bad = parse_file_nr("1088 0\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("file-nr"), std::string::npos);
}

}  // namespace
}  // namespace poolscope::parse
