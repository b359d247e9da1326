// Per-process facts sampled beside pool snapshots: fd counts by type (Linux), handle counts and
// pool quota (Windows). The culprit search compares them over time. No OS headers, no I/O.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace poolscope {

// What a Linux fd refers to, from its /proc/PID/fd link target. The kinds that pin kernel
// objects in slab caches (eventfd_ctx, sock_inode_cache, eventpoll_epi, ...) have their own
// counter; the rest are lumped together.
enum class FdKind : std::uint8_t {
  kEventfd,    // anon_inode:[eventfd]
  kSocket,     // socket:[inode]
  kPipe,       // pipe:[inode]
  kEpoll,      // anon_inode:[eventpoll]
  kTimerfd,    // anon_inode:[timerfd]
  kInotify,    // anon_inode:inotify
  kSignalfd,   // anon_inode:[signalfd]
  kIoUring,    // anon_inode:[io_uring]
  kPidfd,      // anon_inode:[pidfd] (pidfs kernels may show "pidfd:...")
  kAnonOther,  // any other anon_inode: (fanotify, userfaultfd, perf_event, bpf-map, kvm, ...)
  kFile,       // an absolute path: regular files, directories, devices, memfd, "(deleted)"
  kOther,      // anything else: namespace links ("net:[4026531833]"), unknown forms
};
inline constexpr std::size_t kFdKindCount = 12;

inline constexpr std::array<FdKind, kFdKindCount> kAllFdKinds = {
    FdKind::kEventfd, FdKind::kSocket,    FdKind::kPipe,     FdKind::kEpoll,
    FdKind::kTimerfd, FdKind::kInotify,   FdKind::kSignalfd, FdKind::kIoUring,
    FdKind::kPidfd,   FdKind::kAnonOther, FdKind::kFile,     FdKind::kOther};

// Stable names for storage and export: "eventfd", "socket", ..., "anon_other", "file", "other".
inline std::string_view fd_kind_name(FdKind kind) {
  static constexpr std::array<std::string_view, kFdKindCount> kNames = {
      "eventfd",  "socket",   "pipe",  "epoll",      "timerfd", "inotify",
      "signalfd", "io_uring", "pidfd", "anon_other", "file",    "other"};
  return kNames[static_cast<std::size_t>(kind)];
}

inline std::optional<FdKind> parse_fd_kind(std::string_view name) {
  for (FdKind kind : kAllFdKinds) {
    if (fd_kind_name(kind) == name) return kind;
  }
  return std::nullopt;
}

struct FdCounts {
  std::uint64_t eventfd = 0;
  std::uint64_t socket = 0;
  std::uint64_t pipe = 0;
  std::uint64_t epoll = 0;
  std::uint64_t timerfd = 0;
  std::uint64_t inotify = 0;
  std::uint64_t signalfd = 0;
  std::uint64_t io_uring = 0;
  std::uint64_t pidfd = 0;
  std::uint64_t anon_other = 0;
  std::uint64_t file = 0;
  std::uint64_t other = 0;

  friend bool operator==(const FdCounts&, const FdCounts&) = default;
};

// The counter of one kind, so loops over kAllFdKinds can read and write FdCounts.
inline std::uint64_t& fd_count(FdCounts& counts, FdKind kind) {
  switch (kind) {
    case FdKind::kEventfd:
      return counts.eventfd;
    case FdKind::kSocket:
      return counts.socket;
    case FdKind::kPipe:
      return counts.pipe;
    case FdKind::kEpoll:
      return counts.epoll;
    case FdKind::kTimerfd:
      return counts.timerfd;
    case FdKind::kInotify:
      return counts.inotify;
    case FdKind::kSignalfd:
      return counts.signalfd;
    case FdKind::kIoUring:
      return counts.io_uring;
    case FdKind::kPidfd:
      return counts.pidfd;
    case FdKind::kAnonOther:
      return counts.anon_other;
    case FdKind::kFile:
      return counts.file;
    case FdKind::kOther:
      break;
  }
  return counts.other;
}

inline std::uint64_t fd_count(const FdCounts& counts, FdKind kind) {
  return fd_count(const_cast<FdCounts&>(counts), kind);
}

inline std::uint64_t fd_counts_total(const FdCounts& counts) {
  std::uint64_t total = 0;
  for (FdKind kind : kAllFdKinds) total += fd_count(counts, kind);
  return total;
}

// The object type of a Windows handle, from the system handle table and the type names of the
// running build (NtQueryObject ObjectTypesInformation). The types whose objects are pool blocks
// with a tag of their own (see docs/windows.md, "Pool tags of object types") have a counter; the
// rest are lumped together.
enum class HandleKind : std::uint8_t {
  kEvent,
  kFile,
  kKey,
  kProcess,
  kThread,
  kToken,
  kSection,
  kMutant,
  kSemaphore,
  kTimer,
  kAlpcPort,
  kIoCompletion,
  kEtwRegistration,
  kWaitCompletionPacket,
  kTpWorkerFactory,
  kDirectory,
  kOther,
};
inline constexpr std::size_t kHandleKindCount = 17;

// The kernel's type names ("Event", "ALPC Port", ...; stable across Windows builds, unlike the
// type indexes) and "other"; used for storage, export and evidence.
inline std::string_view handle_kind_name(HandleKind kind) {
  static constexpr std::array<std::string_view, kHandleKindCount> kNames = {"Event",
                                                                            "File",
                                                                            "Key",
                                                                            "Process",
                                                                            "Thread",
                                                                            "Token",
                                                                            "Section",
                                                                            "Mutant",
                                                                            "Semaphore",
                                                                            "Timer",
                                                                            "ALPC Port",
                                                                            "IoCompletion",
                                                                            "EtwRegistration",
                                                                            "WaitCompletionPacket",
                                                                            "TpWorkerFactory",
                                                                            "Directory",
                                                                            "other"};
  return kNames[static_cast<std::size_t>(kind)];
}

// The kind of a type name as the kernel spells it (case-sensitive); kOther for any other type.
inline HandleKind handle_kind_of_type_name(std::string_view type_name) {
  for (std::size_t k = 0; k + 1 < kHandleKindCount; ++k) {
    if (handle_kind_name(static_cast<HandleKind>(k)) == type_name)
      return static_cast<HandleKind>(k);
  }
  return HandleKind::kOther;
}

// Windows: the System process. Its handles are the kernel's and drivers' (kernel handles).
inline constexpr std::uint64_t kSystemPid = 4;

// Handle counts by kind of one process.
struct HandleCounts {
  std::array<std::uint64_t, kHandleKindCount> count{};
  std::uint64_t& operator[](HandleKind kind) { return count[static_cast<std::size_t>(kind)]; }
  std::uint64_t operator[](HandleKind kind) const { return count[static_cast<std::size_t>(kind)]; }
  friend bool operator==(const HandleCounts&, const HandleCounts&) = default;
};

// One process at one sample. Which optionals are set says what the OS told:
//   Linux: fd_total always (the entry count of /proc/PID/fd); fds when the link targets could be
//     read (not for other users' processes without root, nor where a sandbox denies it).
//   Windows: handle_count and both pool quotas; handle_kinds and exited_*_handles when the
//     system handle table could be read; fds and fd_total stay empty.
struct ProcessFacts {
  std::uint64_t pid = 0;
  // Tells a reused pid apart; (pid, start_time) identifies a process within one boot.
  //   Linux: clock ticks after boot (/proc/PID/stat field 22, starttime; divide by
  //   sysconf(_SC_CLK_TCK) for seconds). Windows: CreateTime, 100 ns units since 1601-01-01 UTC.
  std::uint64_t start_time = 0;
  std::string name;  // Linux: comm (at most 15 bytes, raw, may be invalid UTF-8); Windows: image
                     // name in UTF-8 ("" for the idle process)
  std::optional<std::uint64_t> parent_pid;
  std::optional<std::uint64_t> handle_count;               // Windows HandleCount
  std::optional<std::uint64_t> paged_pool_quota_bytes;     // Windows QuotaPagedPoolUsage
  std::optional<std::uint64_t> nonpaged_pool_quota_bytes;  // Windows QuotaNonPagedPoolUsage
  std::optional<FdCounts> fds;                             // Linux, by kind; sums to fd_total
  std::optional<std::uint64_t> fd_total;                   // Linux
  // Linux kernel memory the process holds (docs/kernel-memory.md). threads: Linux num_threads
  // (/proc/PID/task or stat), Windows NumberOfThreads; the others only where the process's counts
  // move, so a steady host costs nothing more: page_table_bytes (VmPTE of /proc/PID/status),
  // socket_queue_bytes (rx + tx queues of its TCP/UDP/raw sockets, /proc/net/*, and the unread
  // bytes of its unix sockets, sock_diag),
  // bpf_memlock_bytes (memlock in the fdinfo of its BPF maps and programs), dmabuf_bytes (size in
  // the fdinfo of its DMA-BUF fds).
  std::optional<std::uint64_t> threads;
  std::optional<std::uint64_t> page_table_bytes;
  std::optional<std::uint64_t> socket_queue_bytes;
  std::optional<std::uint64_t> bpf_memlock_bytes;
  std::optional<std::uint64_t> dmabuf_bytes;
  // Linux: its pipes, counted by inode (the fd kind `pipe` counts both ends of each), and the
  // bytes unread in them (FIONREAD on a pidfd_getfd duplicate; root with CAP_SYS_PTRACE), read
  // where its pipe count moved (docs/kernel-memory.md).
  std::optional<std::uint64_t> pipes;
  std::optional<std::uint64_t> pipe_unread_bytes;
  // Linux: the soft RLIMIT_NOFILE (/proc/PID/limits), read with the stat: the fd count at which
  // the process's own opens fail. Recorded since process format 4 (docs/store-format.md).
  std::optional<std::uint64_t> fd_limit;
  // Windows, from the system handle table (class 64): handles by object type; sums to about
  // handle_count (the two calls are not atomic).
  std::optional<HandleCounts> handle_kinds;
  // Windows: handles to Process objects that are not a live process (the process exited and this
  // holder still references it); see docs/windows.md "References to exited processes".
  std::optional<std::uint64_t> exited_process_handles;
  // Windows: the same for Thread objects (set only when the collector knows every live thread).
  std::optional<std::uint64_t> exited_thread_handles;

  friend bool operator==(const ProcessFacts&, const ProcessFacts&) = default;
};

struct ProcessSample {
  std::chrono::system_clock::time_point time{};
  std::optional<std::int64_t> monotonic_ns;
  std::vector<ProcessFacts> processes;  // sorted by pid
  // Processes whose fd count is known but whose fd kinds could not be read (permission).
  std::uint64_t fd_kinds_unreadable = 0;
  // Linux, system-wide, read with every collection (census owners, docs/detection.md): allocated
  // file handles and fs.file-max (/proc/sys/fs/file-nr), IPv4 TCP and UDP sockets in use
  // (/proc/net/sockstat). Recorded since process format 4 (docs/store-format.md).
  std::optional<std::uint64_t> open_files, open_files_max, tcp_sockets, udp_sockets;
  // Things worth telling the user once (e.g. "run as root to see fd kinds of N processes"); a
  // collector does not repeat a note in later samples.
  std::vector<std::string> notes;
};

}  // namespace poolscope
