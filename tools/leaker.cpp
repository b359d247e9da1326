// poolscope-leaker: a test program that makes the kernel objects behind fds leak, churn, plateau
// or step at a chosen rate, so the leak detector can be proven on the live kernel. It only ever
// touches its own fds and files in the folder it is given; it ends by itself.
//
//   poolscope-leaker --kind eventfd --mode leak --rate 50 --duration 60
//   modes: leak (open rate/s, never close), churn (open up to --burst, close all, repeat),
//          plateau (leak until --burst fds, then hold), step (--burst fds at once at half time),
//          files (create rate/s empty files in --dir: reclaimable dentry/inode growth)
//   --noise N: each tick also opens 0..N extra fds and closes them at the next tick
//   --kind pidfd: forks a child that exits at once, opens a pidfd to it, reaps it (waitpid) and
//          keeps the pidfd: the struct pid outlives its task (the census case)
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

int open_one(const std::string& kind, std::vector<int>& fds) {
  int p[2];
  if (kind == "eventfd") {
    int fd = eventfd(0, EFD_CLOEXEC);
    if (fd >= 0) fds.push_back(fd);
    return fd;
  }
  if (kind == "socket" || kind == "pipe") {
    int rc = kind == "socket" ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p)
                              : pipe2(p, O_CLOEXEC);
    if (rc != 0) return -1;
    fds.push_back(p[0]);
    fds.push_back(p[1]);
    return p[0];
  }
  if (kind == "epoll") {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd >= 0) fds.push_back(fd);
    return fd;
  }
  if (kind == "timerfd") {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (fd >= 0) fds.push_back(fd);
    return fd;
  }
  if (kind == "pidfd") {
    const pid_t child = ::fork();
    if (child < 0) return -1;
    if (child == 0) ::_exit(0);
    // A zombie still has its pid: the pidfd pins the struct pid past the reaping.
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
    ::waitpid(child, nullptr, 0);
    if (fd >= 0) fds.push_back(fd);
    return fd;
  }
  return -1;
}

void close_all(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "poolscope-leaker: %s\nusage: poolscope-leaker --kind eventfd|socket|pipe|epoll|"
               "timerfd|pidfd --mode leak|churn|plateau|step|files [--rate N/s] [--duration S] "
               "[--burst N] [--noise N] [--dir D] [--hold S]\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string kind = "eventfd", mode = "leak", dir;
  double rate = 10, duration = 30, hold = 0;
  long burst = 1000, noise = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--kind")
      kind = value();
    else if (a == "--mode")
      mode = value();
    else if (a == "--rate")
      rate = std::atof(value().c_str());
    else if (a == "--duration")
      duration = std::atof(value().c_str());
    else if (a == "--burst")
      burst = std::atol(value().c_str());
    else if (a == "--noise")
      noise = std::atol(value().c_str());
    else if (a == "--dir")
      dir = value();
    else if (a == "--hold")
      hold = std::atof(value().c_str());
    else
      usage(("unknown option " + a).c_str());
  }
  if (rate <= 0 || duration <= 0 || duration > 3600) usage("rate must be > 0, duration 0..3600 s");
  if (mode == "files" && dir.empty()) usage("--mode files needs --dir");
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  const long max_fds = static_cast<long>(lim.rlim_cur) - 64;

  std::printf("pid %d\n", static_cast<int>(getpid()));
  std::fflush(stdout);
  std::vector<int> kept, churn, jitter;
  std::mt19937 rng(42);
  const auto start = std::chrono::steady_clock::now();
  const double tick = 0.05;  // 20 ticks per second: the rate is spread evenly
  double owed = 0;
  long files = 0;
  bool stepped = false;
  for (long n = 0;; ++n) {
    const double t = n * tick;
    if (t >= duration) break;
    owed += rate * tick;
    close_all(jitter);
    for (long j = noise > 0 ? static_cast<long>(rng() % (noise + 1)) : 0; j > 0; --j) {
      open_one(kind, jitter);
    }
    while (owed >= 1) {
      owed -= 1;
      if (mode == "leak" || (mode == "plateau" && static_cast<long>(kept.size()) < burst)) {
        if (static_cast<long>(kept.size()) < max_fds) open_one(kind, kept);
      } else if (mode == "churn") {
        if (static_cast<long>(churn.size()) >= burst) close_all(churn);
        open_one(kind, churn);
      } else if (mode == "files") {
        std::string path = dir + "/f" + std::to_string(files++);
        int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) ::close(fd);
      }
    }
    if (mode == "step" && !stepped && t >= duration / 2) {
      for (long j = 0; j < burst && static_cast<long>(kept.size()) < max_fds; ++j)
        open_one(kind, kept);
      stepped = true;
    }
    std::this_thread::sleep_until(start + std::chrono::duration<double>(t + tick));
  }
  std::printf("done kept=%zu files=%ld\n", kept.size(), files);
  std::fflush(stdout);
  if (hold > 0) std::this_thread::sleep_for(std::chrono::duration<double>(hold));
  return 0;
}
