// Linux process facts from /proc. Only system calls here; the text is parsed by parse/proc_fd.
#include "source/linux/process_facts.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/forward_error.h"
#include "parse/kmem.h"
#include "parse/proc_fd.h"
#include "parse/sock_diag.h"
#include "parse/text.h"

namespace poolscope {

namespace {

constexpr long kProcSuperMagic = 0x9fa0;  // PROC_SUPER_MAGIC, <linux/magic.h>
constexpr std::size_t kDirentBuffer = 32 * 1024;

// Unix sockets' unread bytes by inode: /proc/net/unix has no queue sizes, sock_diag has (one dump
// of the namespace's unix sockets, a few datagrams). Nothing is added when netlink is refused.
void add_unix_socket_queues(std::vector<std::pair<std::uint64_t, std::uint64_t>>& out) {
  const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return;
  const timeval timeout{1, 0};  // the kernel answers at once; never hang a collection on it
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  const std::vector<std::uint8_t> request = parse::unix_diag_dump_request(1);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, request.data(), request.size(), 0, reinterpret_cast<const sockaddr*>(&kernel),
               sizeof kernel) == static_cast<ssize_t>(request.size())) {
    std::vector<std::uint8_t> datagram(64 * 1024);  // a dump datagram is at most 32 KiB
    for (;;) {
      const ssize_t n = ::recv(fd, datagram.data(), datagram.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      auto done = parse::add_unix_socket_queues(
          std::span<const std::uint8_t>(datagram.data(), static_cast<std::size_t>(n)), out);
      if (!done || *done) break;
    }
  }
  ::close(fd);
}

// What reading another process's pipes gave.
enum class PipeRead { kOk, kGone, kDenied, kUnsupported };

// The unread bytes of a process's pipes: pidfd_open(pid), then per pipe pidfd_getfd (a duplicate
// of the fd in our table: the target's fd, file offset and data are untouched) and
// ioctl(FIONREAD) (pipe_ioctl: the bytes in the pipe's buffers, either end), then close. The
// duplicate holds a reference to the pipe for those microseconds, nothing else. An fd whose
// number now names another file (closed and reused since its link was read) is skipped.
// Needs PTRACE_MODE_ATTACH over the target (root with CAP_SYS_PTRACE; Yama's ptrace_scope 3
// refuses even that). Linux 5.6 and later.
PipeRead read_pipe_unread(std::uint64_t pid,
                          const std::vector<std::pair<std::uint64_t, int>>& pipes,
                          std::uint64_t& bytes) {
  bytes = 0;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
  if (pidfd < 0) {
    if (errno == ENOSYS) return PipeRead::kUnsupported;
    return errno == EPERM || errno == EACCES ? PipeRead::kDenied : PipeRead::kGone;
  }
  PipeRead result = PipeRead::kOk;
  for (const auto& [inode, fd] : pipes) {
    const int dup = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, fd, 0));
    if (dup < 0) {
      if (errno == EBADF) continue;  // closed since its link was read
      result = errno == ENOSYS                     ? PipeRead::kUnsupported
               : errno == EPERM || errno == EACCES ? PipeRead::kDenied
                                                   : PipeRead::kGone;
      break;
    }
    struct stat st {};
    int unread = 0;
    if (::fstat(dup, &st) == 0 && static_cast<std::uint64_t>(st.st_ino) == inode &&
        S_ISFIFO(st.st_mode) && ::ioctl(dup, FIONREAD, &unread) == 0 && unread > 0) {
      bytes += static_cast<std::uint64_t>(unread);
    }
    ::close(dup);
  }
  ::close(pidfd);
  return result;
}

// The errors that mean "the process is gone": its /proc directory went away mid-read.
bool vanished_error(int err) {
  return err == ENOENT || err == ESRCH;
}

bool denied_error(int err) {
  return err == EACCES || err == EPERM;
}

// Calls fn(name) for every entry of an open directory except "." and "..". Returns 0 or errno.
template <class Fn>
int for_each_entry(int dir_fd, std::vector<char>& buffer, Fn&& fn) {
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dir_fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return 0;
    for (long offset = 0; offset < n;) {
      // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
      const char* record = buffer.data() + offset;
      std::uint16_t record_length = 0;
      std::memcpy(&record_length, record + 16, sizeof record_length);
      const char* name = record + 19;
      if (record_length == 0) return EIO;
      offset += record_length;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      if (int err = fn(name); err != 0) return err;
    }
  }
}

std::optional<std::uint64_t> parse_pid(const char* name) {
  if (name[0] < '1' || name[0] > '9') return std::nullopt;
  return parse::parse_u64(name);
}

}  // namespace

Result<std::unique_ptr<LinuxProcessFacts>> LinuxProcessFacts::open(
    const Clock& clock, LinuxProcessFactsOptions options) {
  const int proc_fd = ::open(options.proc.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) {
    const int err = errno;
    return make_error(
        ErrorCode::kEnvironment,
        "cannot open " + options.proc + ": " + std::strerror(err) + " (is /proc mounted?)", err);
  }
  // Since Linux 6.2 stat() of /proc/PID/fd reports the number of open fds as its size. Our own
  // proc_fd is open, so a kernel that counts never reports 0 for ourselves.
  struct statfs fs {};
  const bool procfs = ::fstatfs(proc_fd, &fs) == 0 && fs.f_type == kProcSuperMagic;
  FdCountMethod method = options.fd_count_method;
  if (method == FdCountMethod::kAuto) {
    struct stat self {};
    const bool counts = procfs && ::fstatat(proc_fd, "self/fd", &self, 0) == 0 && self.st_size > 0;
    method = counts ? FdCountMethod::kStatSize : FdCountMethod::kReaddir;
  }
  return std::unique_ptr<LinuxProcessFacts>(
      new LinuxProcessFacts(clock, std::move(options), proc_fd, method, procfs));
}

LinuxProcessFacts::LinuxProcessFacts(const Clock& clock, LinuxProcessFactsOptions options,
                                     int proc_fd, FdCountMethod method, bool procfs)
    : clock_(clock),
      options_(std::move(options)),
      proc_fd_(proc_fd),
      method_(method),
      procfs_(procfs),
      dirents_(kDirentBuffer) {}

LinuxProcessFacts::~LinuxProcessFacts() {
  if (proc_fd_ >= 0) ::close(proc_fd_);
}

LinuxProcessFacts::Outcome LinuxProcessFacts::count_entries(const char* fd_dir,
                                                            std::uint64_t& count) {
  const int dir = ::openat(proc_fd_, fd_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return denied_error(errno) ? Outcome::kDenied : Outcome::kVanished;
  count = 0;
  const int err = for_each_entry(dir, dirents_, [&](const char*) {
    ++count;
    return 0;
  });
  ::close(dir);
  if (err == 0) return Outcome::kOk;
  return denied_error(err) ? Outcome::kDenied : Outcome::kVanished;
}

LinuxProcessFacts::Outcome LinuxProcessFacts::classify(std::uint64_t pid, const char* fd_dir,
                                                       FdCounts& fds, Known& known) {
  const int dir = ::openat(proc_fd_, fd_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return denied_error(errno) ? Outcome::kDenied : Outcome::kVanished;
  fds = FdCounts{};
  known.socket_inodes.clear();
  known.pipe_fds.clear();
  known.bpf_memlock.reset();
  known.dmabuf.reset();
  char target[512];  // the kind is in the first bytes; a longer path is cut, which is fine
  char fdinfo[96];
  const int err = for_each_entry(dir, dirents_, [&](const char* name) {
    const ssize_t n = ::readlinkat(dir, name, target, sizeof target);
    if (n < 0) {
      const int e = errno;
      return vanished_error(e) ? 0 : e;  // an fd closed between getdents and readlink
    }
    const std::string_view link(target, static_cast<std::size_t>(n));
    parse::count_fd(fds, link);
    if (!options_.kernel_memory) return 0;
    if (auto inode = parse::socket_inode(link)) {
      known.socket_inodes.push_back(*inode);
    } else if (auto pipe = parse::pipe_inode(link)) {
      if (auto fd = parse::parse_u64(name); fd && *fd <= INT32_MAX) {
        known.pipe_fds.emplace_back(*pipe, static_cast<int>(*fd));
      }
    } else if (parse::is_bpf_target(link) || parse::is_dmabuf_target(link)) {
      std::snprintf(fdinfo, sizeof fdinfo, "%llu/fdinfo/%s", static_cast<unsigned long long>(pid),
                    name);
      const int fd = ::openat(proc_fd_, fdinfo, O_RDONLY | O_CLOEXEC);
      if (fd < 0) return 0;
      char text[1024];
      const ssize_t length = ::read(fd, text, sizeof text);
      ::close(fd);
      if (length <= 0) return 0;
      const parse::Fdinfo info =
          parse::parse_fdinfo(std::string_view(text, static_cast<std::size_t>(length)));
      if (info.bpf_memlock) known.bpf_memlock = known.bpf_memlock.value_or(0) + *info.bpf_memlock;
      if (info.dmabuf_size) known.dmabuf = known.dmabuf.value_or(0) + *info.dmabuf_size;
    }
    return 0;
  });
  ::close(dir);
  std::sort(known.socket_inodes.begin(), known.socket_inodes.end());
  // One entry per pipe: both ends (and dup'ed fds) show the same inode.
  std::sort(known.pipe_fds.begin(), known.pipe_fds.end());
  known.pipe_fds.erase(std::unique(known.pipe_fds.begin(), known.pipe_fds.end(),
                                   [](const auto& a, const auto& b) { return a.first == b.first; }),
                       known.pipe_fds.end());
  if (err == 0) return Outcome::kOk;
  return denied_error(err) ? Outcome::kDenied : Outcome::kVanished;
}

void LinuxProcessFacts::read_status(std::uint64_t pid, Known& known) {
  char path[64];
  std::snprintf(path, sizeof path, "%llu/status", static_cast<unsigned long long>(pid));
  const int fd = ::openat(proc_fd_, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char text[4096];
  const ssize_t length = ::read(fd, text, sizeof text);
  ::close(fd);
  if (length <= 0) return;
  const bool first = known.status_at == 0;
  const auto before = known.vm_pte;
  known.vm_pte = parse::status_vm_pte(std::string_view(text, static_cast<std::size_t>(length)));
  // Moving page tables are read at every collection, still ones every status_every; the first
  // re-reads are staggered by pid so a steady host does not read every status at once.
  const std::uint64_t every = std::max<std::uint64_t>(1, options_.status_every);
  const bool moving = before && known.vm_pte != before;
  known.status_at = generation_ + (moving ? 1 : first ? 1 + pid % every : every);
}

void LinuxProcessFacts::read_socket_queues() {
  socket_queues_.clear();
  for (const char* table : {"net/tcp", "net/tcp6", "net/udp", "net/udp6", "net/raw", "net/raw6"}) {
    const int fd = ::openat(proc_fd_, table, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    text_.clear();
    char chunk[16384];
    for (;;) {
      const ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text_.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    parse::add_socket_queues(text_, socket_queues_);
  }
  add_unix_socket_queues(socket_queues_);
  std::sort(socket_queues_.begin(), socket_queues_.end());
}

namespace {

// A small /proc file under the /proc directory fd, whole ("" when absent or unreadable).
std::string read_proc_text(int proc_fd, const char* path) {
  const int fd = ::openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char text[4096];
  const ssize_t length = ::read(fd, text, sizeof text);
  ::close(fd);
  return length > 0 ? std::string(text, static_cast<std::size_t>(length)) : std::string();
}

}  // namespace

LinuxProcessFacts::Outcome LinuxProcessFacts::read_stat(std::uint64_t pid, ProcessFacts& facts) {
  char path[64];
  std::snprintf(path, sizeof path, "%llu/stat", static_cast<unsigned long long>(pid));
  const int stat_fd = ::openat(proc_fd_, path, O_RDONLY | O_CLOEXEC);
  // Gone, or hidden by hidepid: nothing to record either way.
  if (stat_fd < 0) return Outcome::kVanished;
  char stat_text[1024];
  const ssize_t length = ::read(stat_fd, stat_text, sizeof stat_text);
  ::close(stat_fd);
  if (length <= 0) return Outcome::kVanished;
  ++stats_.stat_reads;
  // The fields poolscope needs end well within 1 KiB; a longer line is cut after them.
  auto stat = parse::parse_proc_stat(std::string_view(stat_text, static_cast<std::size_t>(length)));
  if (!stat) return Outcome::kVanished;
  facts.start_time = stat->start_time;
  facts.threads = stat->threads;
  facts.name = std::move(stat->comm);
  facts.parent_pid = stat->ppid;
  return Outcome::kOk;
}

void LinuxProcessFacts::measure_pipes(std::uint64_t pid, Known& known, bool due) {
  if (!options_.pipe_unread || pipe_reads_off_) return;
  // Only where the number of pipes moved (or a refresh is due): a steady host costs nothing.
  const bool moved = known.pipe_fds.size() != known.pipes_measured;
  if (!moved && !due) return;
  if (known.pipe_fds.empty()) {
    known.pipe_unread = known.pipes_measured != 0 ? std::optional<std::uint64_t>(0) : std::nullopt;
    known.pipes_measured = 0;
    return;
  }
  if (static_cast<pid_t>(pid) == ::getpid()) return;
  if (pipes_examined_ + known.pipe_fds.size() > options_.pipe_budget) {
    ++pipes_skipped_;  // keeps its last value; measured in a later collection
    return;
  }
  pipes_examined_ += known.pipe_fds.size();
  std::uint64_t bytes = 0;
  switch (read_pipe_unread(pid, known.pipe_fds, bytes)) {
    case PipeRead::kOk:
      known.pipe_unread = bytes;
      known.pipes_measured = known.pipe_fds.size();
      ++stats_.pipe_reads;
      break;
    case PipeRead::kGone:
      break;
    case PipeRead::kDenied:
    case PipeRead::kUnsupported:
      pipe_reads_off_ = true;
      pipe_note_ =
          "pipe unread bytes are not read: pidfd_getfd was refused (it needs Linux 5.6 and "
          "CAP_SYS_PTRACE over the process; Yama's ptrace_scope 3 refuses it to everyone); pipes "
          "are still counted";
      break;
  }
}

Result<ProcessSample> LinuxProcessFacts::collect() {
  ProcessSample sample;
  sample.time = clock_.wall();
  sample.monotonic_ns = clock_.monotonic_ns();
  stats_ = Stats{};
  ++generation_;
  pipes_examined_ = 0;
  pipes_skipped_ = 0;

  const int list_fd = ::openat(proc_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (list_fd < 0) {
    const int err = errno;
    return make_error(ErrorCode::kEnvironment,
                      "cannot list " + options_.proc + ": " + std::strerror(err), err);
  }
  std::vector<std::uint64_t> pids;
  pids.reserve(known_.size() + 64);
  const int list_err = for_each_entry(list_fd, dirents_, [&](const char* name) {
    if (auto pid = parse_pid(name)) pids.push_back(*pid);
    return 0;
  });
  ::close(list_fd);
  if (list_err != 0) {
    return make_error(ErrorCode::kEnvironment,
                      "cannot list " + options_.proc + ": " + std::strerror(list_err), list_err);
  }
  std::sort(pids.begin(), pids.end());
  sample.processes.reserve(pids.size());

  char path[64];
  bool sockets_moved = false;  // a process with sockets was re-read: socket queues are due
  for (const std::uint64_t pid : pids) {
    std::snprintf(path, sizeof path, "%llu/fd", static_cast<unsigned long long>(pid));
    // One stat() of the fd directory: the fd count (Linux >= 6.2) and the inode that tells
    // whether this is still the process of the last collection.
    std::uint64_t count = 0, fd_inode = 0;
    bool count_known = false;
    if (procfs_ || method_ == FdCountMethod::kStatSize) {
      struct stat st {};
      if (::fstatat(proc_fd_, path, &st, 0) == 0) {
        fd_inode = static_cast<std::uint64_t>(st.st_ino);
        if (method_ == FdCountMethod::kStatSize) {
          count = static_cast<std::uint64_t>(st.st_size);
          count_known = true;
        }
      } else if (vanished_error(errno)) {
        ++stats_.vanished;
        continue;
      }
    }
    if (method_ != FdCountMethod::kStatSize) {
      const Outcome outcome = count_entries(path, count);
      if (outcome == Outcome::kVanished) {
        ++stats_.vanished;
        continue;
      }
      count_known = outcome == Outcome::kOk;
    }

    auto found = known_.find(pid);
    Known* known = found == known_.end() ? nullptr : &found->second;
    const bool refresh_due =
        known && options_.refresh_every != 0 && generation_ >= known->refresh_at;
    // On procfs an unchanged inode is the same process as at the last collection. Not so in a
    // test tree, whose directories keep their inode when a "pid" is reused there.
    const bool same_inode =
        options_.incremental && procfs_ && known && fd_inode != 0 && known->fd_inode == fd_inode;
    const bool count_moved =
        !count_known || !known || !known->have_fds || count != known->classified_total;
    // The stat is re-read with the fd kinds, so a name changed by an exec is seen then.
    const bool need_stat = !same_inode || refresh_due || (!known->denied && count_moved);

    ProcessFacts facts;
    facts.pid = pid;
    bool same_process = true;
    if (need_stat) {
      if (read_stat(pid, facts) != Outcome::kOk) {
        if (known) known_.erase(found);
        ++stats_.vanished;
        continue;
      }
      same_process = known && known->start_time == facts.start_time;
      if (!known) known = &known_[pid];
      if (!same_process) {
        *known = Known{};
        known->start_time = facts.start_time;
        // Staggered so that the forced re-reads of a steady host spread over the interval.
        if (options_.refresh_every != 0) {
          known->refresh_at = generation_ + options_.refresh_every + pid % options_.refresh_every;
        }
      }
      known->name = facts.name;
      known->parent_pid = facts.parent_pid;
      known->threads = facts.threads.value_or(0);
      char limits[64];  // not `path`: it names the fd directory read below
      std::snprintf(limits, sizeof limits, "%llu/limits", static_cast<unsigned long long>(pid));
      known->fd_limit = parse::parse_open_files_limit(read_proc_text(proc_fd_, limits));
    } else {
      facts.start_time = known->start_time;
      facts.name = known->name;
      facts.parent_pid = known->parent_pid;
      facts.threads = known->threads;
    }
    known->seen = generation_;
    known->fd_inode = fd_inode;
    bool read_kinds = !options_.incremental || !same_process || refresh_due;
    if (!read_kinds && !known->denied) {
      read_kinds = !known->have_fds || !count_known || count != known->classified_total;
    }

    if (read_kinds) {
      FdCounts fds;
      const Outcome outcome = classify(pid, path, fds, *known);
      if (outcome == Outcome::kVanished) {
        known_.erase(pid);
        ++stats_.vanished;
        continue;
      }
      ++stats_.classified;
      if (same_process && options_.refresh_every != 0) {
        known->refresh_at = generation_ + options_.refresh_every;
      }
      if (outcome == Outcome::kOk) {
        known->fds = fds;
        known->have_fds = true;
        known->denied = false;
        known->classified_total = fd_counts_total(fds);
        if (options_.kernel_memory) measure_pipes(pid, *known, refresh_due || !same_process);
      } else {
        known->have_fds = false;
        known->denied = true;
      }
    } else {
      ++stats_.reused;
    }

    if (options_.kernel_memory) {
      // One stat(): the task directory's link count is 2 + the number of threads.
      std::snprintf(path, sizeof path, "%llu/task", static_cast<unsigned long long>(pid));
      struct stat task {};
      if (::fstatat(proc_fd_, path, &task, 0) == 0 && task.st_nlink >= 2) {
        facts.threads = static_cast<std::uint64_t>(task.st_nlink) - 2;
      }
      if (known->status_at <= generation_) read_status(pid, *known);
      facts.page_table_bytes = known->vm_pte;
      if (known->have_fds) facts.pipes = known->pipe_fds.size();
      facts.pipe_unread_bytes = known->pipe_unread;
      facts.bpf_memlock_bytes = known->bpf_memlock;
      facts.dmabuf_bytes = known->dmabuf;
      if (!known->socket_inodes.empty()) sockets_moved |= read_kinds;
    }
    facts.fd_limit = known->fd_limit;
    if (known->have_fds) {
      facts.fds = known->fds;
      facts.fd_total = known->classified_total;
    } else {
      if (count_known) facts.fd_total = count;
      ++stats_.denied;
    }
    sample.processes.push_back(std::move(facts));
  }

  // Bytes queued on each process's sockets: the /proc/net tables are read when a process with
  // sockets changed its fds, or every refresh_every collections, not at every collection.
  if (options_.kernel_memory) {
    const bool due = options_.refresh_every != 0 && generation_ % options_.refresh_every == 1;
    if (sockets_moved || due || generation_ == 1) read_socket_queues();
    for (ProcessFacts& facts : sample.processes) {
      const auto found = known_.find(facts.pid);
      if (found == known_.end() || found->second.socket_inodes.empty()) continue;
      std::uint64_t queued = 0;
      for (std::uint64_t inode : found->second.socket_inodes) {
        auto it = std::lower_bound(socket_queues_.begin(), socket_queues_.end(),
                                   std::pair<std::uint64_t, std::uint64_t>{inode, 0});
        if (it != socket_queues_.end() && it->first == inode) queued += it->second;
      }
      facts.socket_queue_bytes = queued;
    }
  }

  // The census owners of filp and the TCP/UDP caches, and the system's own fd wall.
  if (const auto file_nr = parse::parse_file_nr(read_proc_text(proc_fd_, "sys/fs/file-nr"))) {
    sample.open_files = file_nr->allocated;
    sample.open_files_max = file_nr->max;
  }
  parse::Sockstat sockstat;
  if (parse::parse_sockstat(read_proc_text(proc_fd_, "net/sockstat"), sockstat)) {
    sample.tcp_sockets = sockstat.tcp_inuse;
    sample.udp_sockets = sockstat.udp_inuse;
  }

  // Forget processes that were not seen this time, so a reused pid starts afresh.
  std::erase_if(known_, [&](const auto& item) { return item.second.seen != generation_; });

  if (pipes_skipped_ != 0 && !pipe_budget_reported_) {
    pipe_budget_reported_ = true;
    sample.notes.push_back(
        "pipe unread bytes: " + std::to_string(pipes_skipped_) +
        " process(es) were left for later collections (at most " +
        std::to_string(options_.pipe_budget) +
        " pipes are examined per collection; a process with more is not measured)");
  }
  if (!pipe_note_.empty()) {
    sample.notes.push_back(std::move(pipe_note_));
    pipe_note_.clear();
  }
  stats_.processes = sample.processes.size();
  sample.fd_kinds_unreadable = stats_.denied;
  if (stats_.denied != 0 && !denied_reported_) {
    denied_reported_ = true;
    sample.notes.push_back(
        "fd kinds of " + std::to_string(stats_.denied) +
        " process(es) are unreadable (permission denied on /proc/PID/fd links: other users' "
        "processes, or a sandbox); their fd totals are still recorded. Run as root (or with "
        "CAP_SYS_PTRACE) to see the kinds");
  }
  if (!method_reported_ && method_ == FdCountMethod::kReaddir && options_.proc == "/proc") {
    method_reported_ = true;
    sample.notes.push_back(
        "this kernel does not report fd counts in stat() of /proc/PID/fd (Linux < 6.2): fd "
        "directories are listed instead, which costs more per process");
  }
  return sample;
}

Result<std::unique_ptr<ProcessFactsCollector>> open_process_facts_collector(const Clock& clock) {
  auto collector = LinuxProcessFacts::open(clock);
  if (!collector) return forward_error(collector);
  return std::unique_ptr<ProcessFactsCollector>(std::move(*collector));
}

}  // namespace poolscope
