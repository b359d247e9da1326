#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "parse/proc_fd.h"
#include "source/linux/process_facts.h"
#include "test_support.h"

namespace poolscope {
namespace {

namespace fs = std::filesystem;

const ProcessFacts* find(const ProcessSample& sample, std::uint64_t pid) {
  for (const auto& p : sample.processes) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

// A /proc look-alike in a temporary directory: PID/stat files and PID/fd/N symlinks whose
// targets are the strings the kernel shows. Not procfs, so the collector lists fd directories.
class FakeProc {
 public:
  FakeProc() {
    root_ = fs::temp_directory_path() /
            ("poolscope_fake_proc_" + std::to_string(::getpid()) + "_" + std::to_string(++count_));
    fs::remove_all(root_);
    fs::create_directories(root_);
    fs::create_directories(root_ / "self");  // non-numeric entries are ignored
    fs::create_directories(root_ / "sys");
  }
  ~FakeProc() { fs::remove_all(root_); }

  void process(std::uint64_t pid, const std::string& comm, std::uint64_t start_time) {
    fs::create_directories(root_ / std::to_string(pid) / "fd");
    std::ofstream(root_ / std::to_string(pid) / "stat")
        << pid << " (" << comm << ") S 1 0 0 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 " << start_time
        << " 1000 10 18446744073709551615 0 0 0\n";
  }
  void fd(std::uint64_t pid, int fd, const std::string& target) {
    const fs::path link = root_ / std::to_string(pid) / "fd" / std::to_string(fd);
    fs::remove(link);
    fs::create_symlink(target, link);
  }
  void close_fd(std::uint64_t pid, int fd) {
    fs::remove(root_ / std::to_string(pid) / "fd" / std::to_string(fd));
  }
  void exit(std::uint64_t pid) { fs::remove_all(root_ / std::to_string(pid)); }
  std::string path() const { return root_.string(); }

 private:
  static inline int count_ = 0;
  fs::path root_;
};

TEST(ProcessFactsLinux, FakeTreeIncrementalClassification) {
  FakeProc proc;
  proc.process(100, "my (weird) pr)", 5000);
  proc.fd(100, 0, "pipe:[11]");
  proc.fd(100, 1, "socket:[12]");
  proc.fd(100, 2, "anon_inode:[eventfd]");
  proc.process(200, "idle", 7000);
  proc.fd(200, 0, "/dev/null");

  SystemClock clock;
  auto collector = LinuxProcessFacts::open(clock, {.proc = proc.path(), .refresh_every = 0});
  ASSERT_TRUE(collector.has_value()) << collector.error().message;
  LinuxProcessFacts& facts = **collector;
  EXPECT_EQ(facts.fd_count_method(), FdCountMethod::kReaddir);

  auto first = facts.collect();
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_EQ(first->processes.size(), 2u);
  const ProcessFacts* weird = find(*first, 100);
  ASSERT_NE(weird, nullptr);
  EXPECT_EQ(weird->name, "my (weird) pr)");
  EXPECT_EQ(weird->start_time, 5000u);
  EXPECT_EQ(weird->parent_pid, 1u);
  ASSERT_TRUE(weird->fds.has_value());
  EXPECT_EQ(weird->fds->pipe, 1u);
  EXPECT_EQ(weird->fds->socket, 1u);
  EXPECT_EQ(weird->fds->eventfd, 1u);
  EXPECT_EQ(weird->fd_total, 3u);
  EXPECT_EQ(find(*first, 200)->fds->file, 1u);
  EXPECT_EQ(facts.last_stats().classified, 2u);
  EXPECT_TRUE(first->notes.empty());

  // Nothing moved: the previous kinds are kept.
  auto second = facts.collect();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(facts.last_stats().classified, 0u);
  EXPECT_EQ(facts.last_stats().reused, 2u);
  EXPECT_EQ(find(*second, 100)->fds, find(*first, 100)->fds);

  // Same count, different kind: not seen until the count moves (or a refresh, below).
  proc.fd(100, 0, "anon_inode:[eventfd]");
  auto third = facts.collect();
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(find(*third, 100)->fds->pipe, 1u);
  proc.fd(100, 3, "anon_inode:[eventfd]");
  auto fourth = facts.collect();
  ASSERT_TRUE(fourth.has_value());
  EXPECT_EQ(facts.last_stats().classified, 1u);
  EXPECT_EQ(find(*fourth, 100)->fds->pipe, 0u);
  EXPECT_EQ(find(*fourth, 100)->fds->eventfd, 3u);
  EXPECT_EQ(find(*fourth, 100)->fd_total, 4u);

  // pid 200 reused by another process with the same fd count: read afresh.
  proc.process(200, "newcomer", 9000);
  proc.fd(200, 0, "socket:[99]");
  auto fifth = facts.collect();
  ASSERT_TRUE(fifth.has_value());
  const ProcessFacts* newcomer = find(*fifth, 200);
  ASSERT_NE(newcomer, nullptr);
  EXPECT_EQ(newcomer->name, "newcomer");
  EXPECT_EQ(newcomer->fds->socket, 1u);
  EXPECT_EQ(newcomer->fds->file, 0u);
  EXPECT_EQ(facts.last_stats().classified, 1u);

  // A process that exits is left out, silently.
  proc.exit(100);
  auto sixth = facts.collect();
  ASSERT_TRUE(sixth.has_value());
  EXPECT_EQ(sixth->processes.size(), 1u);
  EXPECT_EQ(find(*sixth, 100), nullptr);
  EXPECT_TRUE(sixth->notes.empty());
}

TEST(ProcessFactsLinux, PeriodicRefreshCatchesKindChangesAtTheSameCount) {
  FakeProc proc;
  proc.process(300, "svc", 1);
  proc.fd(300, 0, "pipe:[1]");
  SystemClock clock;
  auto collector = LinuxProcessFacts::open(clock, {.proc = proc.path(), .refresh_every = 3});
  ASSERT_TRUE(collector.has_value());
  ASSERT_TRUE((*collector)->collect().has_value());  // collection 1: first read
  proc.fd(300, 0, "socket:[2]");
  // First refresh is staggered by pid: collection 1 + 3 + 300 % 3 = 4.
  for (int collection = 2; collection <= 3; ++collection) {
    auto sample = (*collector)->collect();
    ASSERT_TRUE(sample.has_value());
    EXPECT_EQ(sample->processes[0].fds->pipe, 1u) << collection;
  }
  auto refreshed = (*collector)->collect();
  ASSERT_TRUE(refreshed.has_value());
  EXPECT_EQ(refreshed->processes[0].fds->socket, 1u);
  EXPECT_EQ((*collector)->last_stats().classified, 1u);
}

TEST(ProcessFactsLinux, BaselineReadsEveryProcessEveryTime) {
  FakeProc proc;
  proc.process(10, "a", 1);
  proc.fd(10, 0, "pipe:[1]");
  proc.process(11, "b", 1);
  SystemClock clock;
  auto collector = LinuxProcessFacts::open(clock, {.proc = proc.path(), .incremental = false});
  ASSERT_TRUE(collector.has_value());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*collector)->collect().has_value());
    EXPECT_EQ((*collector)->last_stats().classified, 2u);
  }
}

TEST(ProcessFactsLinux, MissingProcIsAnEnvironmentError) {
  SystemClock clock;
  auto collector = LinuxProcessFacts::open(clock, {.proc = "/nonexistent/poolscope/proc"});
  ASSERT_FALSE(collector.has_value());
  EXPECT_EQ(collector.error().code, ErrorCode::kEnvironment);
}

std::string readlink_fd(int fd) {
  char target[512];
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), target, sizeof target);
  return n < 0 ? std::string() : std::string(target, static_cast<std::size_t>(n));
}

// The kernel's own strings for each kind, read back from /proc/self/fd.
TEST(ProcessFactsLinux, ClassifiesLiveKernelLinkTargets) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR2);
  const std::vector<std::pair<int, FdKind>> fds = {
      {pipe_fds[0], FdKind::kPipe},
      {::eventfd(0, EFD_CLOEXEC), FdKind::kEventfd},
      {::epoll_create1(EPOLL_CLOEXEC), FdKind::kEpoll},
      {::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), FdKind::kTimerfd},
      {::inotify_init1(IN_CLOEXEC), FdKind::kInotify},
      {::signalfd(-1, &mask, SFD_CLOEXEC), FdKind::kSignalfd},
      {::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), FdKind::kSocket},
      {::open("/dev/null", O_RDONLY | O_CLOEXEC), FdKind::kFile},
  };
  for (const auto& [fd, kind] : fds) {
    ASSERT_GE(fd, 0);
    const std::string target = readlink_fd(fd);
    EXPECT_EQ(parse::classify_fd_target(target), kind) << target;
  }
  for (const auto& [fd, kind] : fds) ::close(fd);
  ::close(pipe_fds[1]);
}

bool kernel_at_least(int major, int minor) {
  utsname name{};
  if (::uname(&name) != 0) return false;
  int a = 0, b = 0;
  if (std::sscanf(name.release, "%d.%d", &a, &b) != 2) return false;
  return a > major || (a == major && b >= minor);
}

TEST(ProcessFactsLinux, LiveProcSeesOurOwnFdsChange) {
  SystemClock clock;
  auto collector = LinuxProcessFacts::open(clock);
  ASSERT_TRUE(collector.has_value()) << collector.error().message;
  LinuxProcessFacts& facts = **collector;
  if (kernel_at_least(6, 2)) {
    EXPECT_EQ(facts.fd_count_method(), FdCountMethod::kStatSize);
  }
  const auto self = static_cast<std::uint64_t>(::getpid());

  auto before = facts.collect();
  ASSERT_TRUE(before.has_value()) << before.error().message;
  const ProcessFacts* me = find(*before, self);
  ASSERT_NE(me, nullptr);
  ASSERT_TRUE(me->fds.has_value());
  const FdCounts base = *me->fds;
  const std::uint64_t base_total = *me->fd_total;
  EXPECT_EQ(fd_counts_total(base), base_total);
  EXPECT_GE(before->processes.size(), 1u);
  EXPECT_TRUE(std::is_sorted(before->processes.begin(), before->processes.end(),
                             [](const auto& a, const auto& b) { return a.pid < b.pid; }));

  // Our own start time and name, as /proc/self/stat says.
  auto stat_text = testing::read_file("/proc/self/stat");
  auto stat = parse::parse_proc_stat(stat_text);
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(me->start_time, stat->start_time);
  EXPECT_EQ(me->name, stat->comm);
  EXPECT_EQ(me->parent_pid, static_cast<std::uint64_t>(::getppid()));

  std::vector<int> opened;
  for (int i = 0; i < 3; ++i) opened.push_back(::eventfd(0, EFD_CLOEXEC));
  opened.push_back(::epoll_create1(EPOLL_CLOEXEC));
  auto during = facts.collect();
  ASSERT_TRUE(during.has_value());
  me = find(*during, self);
  ASSERT_NE(me, nullptr);
  ASSERT_TRUE(me->fds.has_value());
  EXPECT_EQ(me->fds->eventfd, base.eventfd + 3);
  EXPECT_EQ(me->fds->epoll, base.epoll + 1);
  EXPECT_EQ(me->fd_total, base_total + 4);

  for (int fd : opened) ::close(fd);
  auto after = facts.collect();
  ASSERT_TRUE(after.has_value());
  me = find(*after, self);
  ASSERT_NE(me, nullptr);
  EXPECT_EQ(me->fds, base);
}

// On procfs a known process whose /proc/PID/fd inode and fd count did not move costs one stat():
// its /proc/PID/stat is not re-read, so a new name (prctl, exec) shows up with the next fd count
// change (or the periodic refresh), together with its fd kinds.
TEST(ProcessFactsLinux, KnownProcessesAreNotReReadUntilTheirFdCountMoves) {
  SystemClock clock;
  auto collector = LinuxProcessFacts::open(clock, {.refresh_every = 0});
  ASSERT_TRUE(collector.has_value());
  if ((*collector)->fd_count_method() != FdCountMethod::kStatSize) {
    GTEST_SKIP() << "needs Linux >= 6.2 (fd counts from stat() of /proc/PID/fd)";
  }
  int to_child[2], to_parent[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(to_parent), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::alarm(30);
    char command = 0;
    while (::read(to_child[0], &command, 1) == 1) {
      if (command == 'r') ::prctl(PR_SET_NAME, "renamed_child");
      if (command == 'e') (void)::eventfd(0, 0);
      (void)!::write(to_parent[1], &command, 1);
    }
    ::_exit(0);
  }
  auto tell = [&](char command) {
    ASSERT_EQ(::write(to_child[1], &command, 1), 1);
    char ack = 0;
    ASSERT_EQ(::read(to_parent[0], &ack, 1), 1);
  };
  const auto pid = static_cast<std::uint64_t>(child);
  auto first = (*collector)->collect();
  ASSERT_TRUE(first.has_value());
  ASSERT_NE(find(*first, pid), nullptr);
  const std::string old_name = find(*first, pid)->name;
  const FdCounts old_fds = find(*first, pid)->fds.value();

  tell('r');
  auto second = (*collector)->collect();
  ASSERT_TRUE(second.has_value());
  ASSERT_NE(find(*second, pid), nullptr);
  EXPECT_EQ(find(*second, pid)->name, old_name);  // not re-read: nothing moved
  EXPECT_LT((*collector)->last_stats().stat_reads, (*collector)->last_stats().processes);

  tell('e');
  auto third = (*collector)->collect();
  ASSERT_TRUE(third.has_value());
  const ProcessFacts* after = find(*third, pid);
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->name, "renamed_child");
  EXPECT_EQ(after->fds->eventfd, old_fds.eventfd + 1);
  EXPECT_EQ(after->fd_total, fd_counts_total(old_fds) + 1);

  ::close(to_child[1]);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  for (int fd : {to_child[0], to_parent[0], to_parent[1]}) ::close(fd);
}

TEST(ProcessFactsLinux, ExitedChildIsLeftOutAndDeniedKindsAreNotedOnce) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::alarm(30);  // bounded even if the test dies
    ::pause();
    ::_exit(0);
  }
  SystemClock clock;
  auto collector = LinuxProcessFacts::open(clock);
  ASSERT_TRUE(collector.has_value());
  auto first = (*collector)->collect();
  ASSERT_TRUE(first.has_value());
  EXPECT_NE(find(*first, static_cast<std::uint64_t>(child)), nullptr);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  auto second = (*collector)->collect();
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(find(*second, static_cast<std::uint64_t>(child)), nullptr);

  // Where some processes' fd links are unreadable (other users without root; this sandbox's pid
  // 1 even for root) the note comes once, the count every time, and the total is still there.
  if (first->fd_kinds_unreadable == 0) {
    GTEST_SKIP() << "every process's fd links were readable here: the denial path is not shown";
  }
  ASSERT_EQ(first->notes.size(), 1u);
  EXPECT_NE(first->notes[0].find("unreadable"), std::string::npos);
  EXPECT_TRUE(second->notes.empty());
  EXPECT_GT(second->fd_kinds_unreadable, 0u);
  std::uint64_t without_kinds = 0;
  for (const auto& p : second->processes) {
    if (!p.fds) {
      ++without_kinds;
      if ((*collector)->fd_count_method() == FdCountMethod::kStatSize) {
        EXPECT_TRUE(p.fd_total.has_value()) << p.pid;
      }
    }
  }
  EXPECT_EQ(without_kinds, second->fd_kinds_unreadable);
}

}  // namespace
}  // namespace poolscope
