// Linux process facts: per process its name, start time and fd counts by kind from /proc, cheap
// enough for hosts with thousands of processes (one stat() per known process and collection; fd
// kinds and /proc/PID/stat re-read only where the count moved, the process is new, or a refresh
// is due).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "source/process_facts.h"

namespace poolscope {

enum class FdCountMethod : std::uint8_t {
  kAuto,      // kStatSize when proc is procfs and stat() of /proc/self/fd reports a size
  kStatSize,  // st_size of /proc/PID/fd is the number of open fds (Linux 6.2 and later)
  kReaddir,   // count the entries (older kernels; test trees that are not procfs)
};

struct LinuxProcessFactsOptions {
  std::string proc = "/proc";
  // false: read every fd link target and /proc/PID/stat of every process at every collection
  // (the baseline the benchmark compares with). true: fd link targets only where the fd count
  // changed, the pid was reused, or the process is due for its periodic refresh; on procfs,
  // /proc/PID/stat (name, parent, start time) only for those and for new processes.
  bool incremental = true;
  // Kinds (and the name, after an exec) can change while the count stays (a socket closed, a
  // pipe opened): each process is re-read every refresh_every collections; the first re-read is
  // staggered by pid (after refresh_every + pid % refresh_every) so a steady host does not re-read
  // everything at once. 0 = never.
  std::uint32_t refresh_every = 60;
  FdCountMethod fd_count_method = FdCountMethod::kAuto;
  // Kernel memory facts (ProcessFacts::threads and the rest). Page tables grow without any count
  // moving, so /proc/PID/status is read every status_every collections per process (staggered by
  // pid), and at every collection while its VmPTE keeps moving. false: none of them (baseline).
  bool kernel_memory = true;
  std::uint32_t status_every = 10;
  // The bytes unread in each process's pipes (pidfd_getfd + FIONREAD, then close: a transient
  // duplicate of the fd, nothing else), measured where its pipe count moved or a refresh is due,
  // at most pipe_budget pipes per collection. Needs CAP_SYS_PTRACE; off after the first refusal.
  bool pipe_unread = true;
  std::size_t pipe_budget = 4096;
};

class LinuxProcessFacts final : public ProcessFactsCollector {
 public:
  // ErrorCode::kEnvironment when options.proc cannot be opened.
  static Result<std::unique_ptr<LinuxProcessFacts>> open(const Clock& clock,
                                                         LinuxProcessFactsOptions options = {});
  ~LinuxProcessFacts() override;
  LinuxProcessFacts(const LinuxProcessFacts&) = delete;
  LinuxProcessFacts& operator=(const LinuxProcessFacts&) = delete;

  Result<ProcessSample> collect() override;

  // What the last collect() did, for benchmarks and tests.
  struct Stats {
    std::uint64_t processes = 0;   // in the sample
    std::uint64_t classified = 0;  // processes whose fd link targets were read
    std::uint64_t reused = 0;      // processes whose previous kinds were kept
    std::uint64_t vanished = 0;    // exited while being read: left out
    std::uint64_t denied = 0;      // fd kinds unreadable (permission)
    std::uint64_t stat_reads = 0;  // processes whose /proc/PID/stat was read
    std::uint64_t pipe_reads = 0;  // processes whose pipes' unread bytes were measured
  };
  const Stats& last_stats() const { return stats_; }
  FdCountMethod fd_count_method() const { return method_; }

 private:
  LinuxProcessFacts(const Clock& clock, LinuxProcessFactsOptions options, int proc_fd,
                    FdCountMethod method, bool procfs);

  // A process seen in an earlier collection, keyed by pid.
  struct Known {
    std::uint64_t start_time = 0;
    std::string name;
    std::optional<std::uint64_t> parent_pid;
    std::uint64_t threads = 0;              // as of the last stat read (re-read with the fd kinds)
    std::optional<std::uint64_t> fd_limit;  // soft RLIMIT_NOFILE, read with the stat
    // Inode of /proc/PID/fd. procfs gives every new inode a new number and drops a dead
    // process's inodes, so an unchanged number proves the same process without reading its stat
    // (a changed one only means "read the stat": the kernel may also have evicted the inode).
    std::uint64_t fd_inode = 0;
    std::uint64_t classified_total = 0;  // sum of fds when classified
    FdCounts fds;
    bool have_fds = false;
    bool denied = false;
    std::uint64_t refresh_at = 0;  // collection number of the next forced re-read
    std::uint64_t seen = 0;        // collection number it was last seen in
    // Kernel memory facts, from the last classify (fdinfo, socket inodes) or status read.
    std::vector<std::uint64_t> socket_inodes;
    std::optional<std::uint64_t> bpf_memlock, dmabuf, vm_pte;
    std::vector<std::pair<std::uint64_t, int>> pipe_fds;  // (inode, an fd on it), one per pipe
    std::optional<std::uint64_t> pipe_unread;             // as of the last measurement
    std::size_t pipes_measured = 0;                       // pipes at that measurement
    std::uint64_t status_at = 0;  // collection number of the next /proc/PID/status read
  };
  enum class Outcome { kOk, kVanished, kDenied };
  Outcome count_entries(const char* fd_dir, std::uint64_t& count);
  Outcome classify(std::uint64_t pid, const char* fd_dir, FdCounts& fds, Known& known);
  void read_status(std::uint64_t pid, Known& known);
  // The unread bytes of its pipes, where their number moved (or due), within the budget.
  void measure_pipes(std::uint64_t pid, Known& known, bool due);
  // inode -> rx + tx queue bytes of every TCP/UDP/raw socket in our network namespace, and the
  // unread bytes of every unix socket (sock_diag).
  void read_socket_queues();
  Outcome read_stat(std::uint64_t pid, ProcessFacts& facts);

  const Clock& clock_;
  LinuxProcessFactsOptions options_;
  int proc_fd_ = -1;
  FdCountMethod method_;
  bool procfs_ = false;
  std::unordered_map<std::uint64_t, Known> known_;
  std::uint64_t generation_ = 0;
  bool denied_reported_ = false;
  bool method_reported_ = false;
  std::vector<char> dirents_;  // getdents64 buffer, reused
  Stats stats_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> socket_queues_;  // sorted by inode
  std::string text_;                                                    // reused read buffer
  std::size_t pipes_examined_ = 0, pipes_skipped_ = 0;                  // this collection
  bool pipe_budget_reported_ = false, pipe_reads_off_ = false;
  std::string pipe_note_;  // said once, in the next sample
};

}  // namespace poolscope
