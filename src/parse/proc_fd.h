// Pure parsers for Linux /proc/PID/fd link targets and /proc/PID/stat text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/process.h"
#include "core/result.h"

namespace poolscope::parse {

// The kind of an fd from its link target as readlink(/proc/PID/fd/N) returns it:
// "anon_inode:[eventfd]" -> kEventfd, "socket:[123]" -> kSocket, "/dev/null" -> kFile,
// "net:[4026531833]" -> kOther. Exact names first, then prefixes (see the table in proc_fd.cpp).
FdKind classify_fd_target(std::string_view target);

inline void count_fd(FdCounts& counts, std::string_view target) {
  ++fd_count(counts, classify_fd_target(target));
}

// The fields of /proc/PID/stat poolscope needs.
struct ProcStat {
  std::uint64_t pid = 0;
  std::string comm;  // between the first '(' and the last ')': may hold spaces and parentheses
  char state = '?';
  std::uint64_t ppid = 0;
  std::uint64_t start_time = 0;  // field 22, clock ticks after boot
  std::uint64_t threads = 0;     // field 20, num_threads
};

// Parses "PID (comm) S PPID ... starttime ...". The comm is taken up to the LAST ')' because a
// process can name itself "my (weird) proc)" and the kernel does not escape it. ErrorCode::kInput
// with what was expected when fields are missing or not numbers.
Result<ProcStat> parse_proc_stat(std::string_view text);

// The soft limit of "Max open files" in /proc/PID/limits (RLIMIT_NOFILE): the fd count at which
// the process's next open fails with EMFILE. nullopt when the line is missing or "unlimited".
std::optional<std::uint64_t> parse_open_files_limit(std::string_view limits);

// /proc/sys/fs/file-nr: "allocated free max" file handles (free is always 0 since Linux 2.6).
struct FileNr {
  std::uint64_t allocated = 0, max = 0;
};
Result<FileNr> parse_file_nr(std::string_view text);

}  // namespace poolscope::parse
