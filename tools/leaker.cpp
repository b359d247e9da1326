// poolscope-leaker: a test program that makes the kernel objects behind fds leak, churn, plateau
// or step at a chosen rate, so the leak detector can be proven on the live kernel. It only ever
// touches its own fds and files in the folder it is given; it ends by itself.
//
//   poolscope-leaker --kind eventfd --mode leak --rate 50 --duration 60
//   modes: leak (open rate/s, never close), churn (open up to --burst, close all, repeat),
//          plateau (leak until --burst fds, then hold), step (--burst fds at once at half time),
//          files (create rate/s empty files in --dir: reclaimable dentry/inode growth)
//   --noise N: each tick also opens 0..N extra fds and closes them at the next tick
// Kernel memory outside slab (docs/kernel-memory.md):
//   pipe-data   a pipe with 64 KiB of unread data (16 pages held by the pipe)
//   tcp-data    a loopback TCP connection with 64 KiB unread at the receiver (socket memory)
//   udp-data    a UDP socket with 16 unread 1 KiB datagrams
//   unix-data   a unix stream socketpair with 64 KiB unread at one end
//   bpf-map     a 1 MiB BPF array map (vmalloc; root)
//   thread      a thread that sleeps until the end (a kernel stack); leak and plateau only
//   pagetable   touches one page in a new 2 MiB span of a large mapping (a page-table page);
//               leak and plateau only
//   dmabuf      a 64 KiB udmabuf (needs /dev/udmabuf)
//   --kind pidfd: forks a child that exits at once, opens a pidfd to it, reaps it (waitpid) and
//          keeps the pidfd: the struct pid outlives its task (the census case)
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/udmabuf.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t kPipeData = 64 * 1024;
std::atomic<bool> g_stop{false};
std::vector<std::thread> g_threads;
char* g_span = nullptr;  // the pagetable kind's mapping
std::size_t g_spans_touched = 0;
constexpr std::size_t kSpan = 2 * 1024 * 1024;
constexpr std::size_t kSpans = 64 * 1024;  // 128 GiB of address space, never backed but touched

// A listening loopback TCP socket, made once, for tcp-data.
int tcp_listener(sockaddr_in& addr) {
  static int fd = -1;
  static sockaddr_in bound{};
  if (fd < 0) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bound.sin_family = AF_INET;
    bound.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof bound;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0 ||
        listen(fd, 4096) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
      return -1;
    }
  }
  addr = bound;
  return fd;
}

int open_kernel_memory(const std::string& kind, std::vector<int>& fds) {
  static const std::vector<char> data(kPipeData, 'x');
  int p[2];
  if (kind == "pipe-data") {
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    fds.push_back(p[0]);
    fds.push_back(p[1]);
    if (write(p[1], data.data(), data.size()) < 0) return -1;
    return p[0];
  }
  if (kind == "tcp-data") {
    sockaddr_in addr{};
    const int listener = tcp_listener(addr);
    if (listener < 0) return -1;
    const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client < 0) return -1;
    fds.push_back(client);
    if (connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
    const int server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (server < 0) return -1;
    fds.push_back(server);
    std::size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = send(client, data.data() + sent, data.size() - sent, MSG_DONTWAIT);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    return server;
  }
  if (kind == "unix-data") {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) != 0) return -1;
    fds.push_back(p[0]);
    fds.push_back(p[1]);
    std::size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = send(p[0], data.data() + sent, data.size() - sent, MSG_DONTWAIT);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    return p[1];
  }
  if (kind == "udp-data") {
    const int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (rx < 0 || tx < 0) return -1;
    fds.push_back(rx);
    fds.push_back(tx);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(rx, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(rx, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return -1;
    }
    for (int i = 0; i < 16; ++i) {
      sendto(tx, data.data(), 1024, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    }
    return rx;
  }
  if (kind == "bpf-map") {
    bpf_attr attr{};
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4096;
    attr.max_entries = 256;
    const int fd = static_cast<int>(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
    if (fd >= 0) fds.push_back(fd);
    return fd;
  }
  if (kind == "dmabuf") {
    static const int dev = ::open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
    if (dev < 0) return -1;
    const int memfd = static_cast<int>(syscall(SYS_memfd_create, "leak", MFD_ALLOW_SEALING));
    if (memfd < 0) return -1;
    fds.push_back(memfd);
    if (ftruncate(memfd, 64 * 1024) != 0 || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
      return -1;
    }
    udmabuf_create create{};
    create.memfd = static_cast<__u32>(memfd);
    create.flags = UDMABUF_FLAGS_CLOEXEC;
    create.size = 64 * 1024;
    const int fd = ioctl(dev, UDMABUF_CREATE, &create);
    if (fd >= 0) fds.push_back(fd);
    return fd;
  }
  if (kind == "thread") {
    g_threads.emplace_back([] {
      while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    });
    return 0;
  }
  if (kind == "pagetable") {
    if (!g_span) {
      void* span = mmap(nullptr, kSpan * kSpans, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (span == MAP_FAILED) return -1;
      madvise(span, kSpan * kSpans, MADV_NOHUGEPAGE);  // a huge page would need no page table
      g_span = static_cast<char*>(span);
    }
    if (g_spans_touched >= kSpans) return -1;
    g_span[g_spans_touched++ * kSpan] = 1;
    return 0;
  }
  return -1;
}

int open_one(const std::string& kind, std::vector<int>& fds) {
  int p[2];
  if (kind.find('-') != std::string::npos || kind == "thread" || kind == "pagetable" ||
      kind == "dmabuf") {
    return open_kernel_memory(kind, fds);
  }
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
  std::fprintf(
      stderr,
      "poolscope-leaker: %s\nusage: poolscope-leaker --kind eventfd|socket|pipe|epoll|"
      "timerfd|pidfd|pipe-data|tcp-data|udp-data|unix-data|bpf-map|thread|pagetable|dmabuf --mode "
      "leak|churn|plateau|step|files [--rate N/s] [--duration S] "
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
  if ((kind == "thread" || kind == "pagetable") && mode != "leak" && mode != "plateau") {
    usage("--kind thread and pagetable support --mode leak and plateau only");
  }
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
  long units = 0;  // leaked so far (pipes, threads, spans, ...), for plateau
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
      if (mode == "leak" || (mode == "plateau" && units < burst)) {
        if (static_cast<long>(kept.size()) < max_fds && open_one(kind, kept) >= 0) ++units;
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
  std::printf("done kept=%zu files=%ld threads=%zu spans=%zu\n", kept.size(), files,
              g_threads.size(), g_spans_touched);
  std::fflush(stdout);
  if (hold > 0) std::this_thread::sleep_for(std::chrono::duration<double>(hold));
  g_stop = true;
  for (auto& t : g_threads) t.join();
  return 0;
}
