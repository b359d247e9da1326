// Linux process facts: per process its name, start time and fd counts by kind from /proc, cheap
// enough for hosts with thousands of processes (fd kinds re-read only where the count moved).
#pragma once

#include <cstdint>
#include <memory>
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
  // false: read every fd link target of every process at every collection (the baseline the
  // benchmark compares with). true: only where the fd count changed, the pid was reused, or the
  // process is due for its periodic refresh.
  bool incremental = true;
  // Kinds can change while the count stays (a socket closed, a pipe opened): each process is
  // re-read every refresh_every collections; the first re-read is staggered by pid (after
  // refresh_every + pid % refresh_every) so a steady host does not re-read everything at once.
  // 0 = never.
  std::uint32_t refresh_every = 60;
  FdCountMethod fd_count_method = FdCountMethod::kAuto;
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
  };
  const Stats& last_stats() const { return stats_; }
  FdCountMethod fd_count_method() const { return method_; }

 private:
  LinuxProcessFacts(const Clock& clock, LinuxProcessFactsOptions options, int proc_fd,
                    FdCountMethod method);

  // A process seen in an earlier collection, keyed by pid.
  struct Known {
    std::uint64_t start_time = 0;
    std::uint64_t classified_total = 0;  // sum of fds when classified
    FdCounts fds;
    bool have_fds = false;
    bool denied = false;
    std::uint64_t refresh_at = 0;  // collection number of the next forced re-read
    std::uint64_t seen = 0;        // collection number it was last seen in
  };
  enum class Outcome { kOk, kVanished, kDenied };
  Outcome count_entries(const char* fd_dir, std::uint64_t& count);
  Outcome classify(const char* fd_dir, FdCounts& fds);

  const Clock& clock_;
  LinuxProcessFactsOptions options_;
  int proc_fd_ = -1;
  FdCountMethod method_;
  std::unordered_map<std::uint64_t, Known> known_;
  std::uint64_t generation_ = 0;
  bool denied_reported_ = false;
  bool method_reported_ = false;
  std::vector<char> dirents_;  // getdents64 buffer, reused
  Stats stats_;
};

}  // namespace poolscope
