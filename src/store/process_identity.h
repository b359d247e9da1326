// Who holds a recording open for writing, and whether that process still runs: the one-writer rule
// of a recording (see Recording::open_write).
#pragma once

#include <cstdint>
#include <string>

namespace poolscope::store {

struct ProcessIdentity {
  std::uint64_t pid = 0;
  // Tells a reused pid apart: Linux /proc/PID/stat starttime (clock ticks after boot); Windows
  // CreateTime (100 ns units since 1601).
  std::uint64_t start_time = 0;
  std::string host;
  std::string boot_id;  // Linux /proc/sys/kernel/random/boot_id; "" where unknown
};

ProcessIdentity current_process_identity();

enum class Liveness { kAlive, kGone, kUnknown };

// Whether the process `who` still runs. kUnknown when it ran on another host (the file is on a
// shared disk) and cannot be checked from here.
Liveness process_liveness(const ProcessIdentity& who);

}  // namespace poolscope::store
