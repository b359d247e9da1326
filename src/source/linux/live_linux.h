// Live Linux source: /proc/slabinfo + /proc/meminfo, with /sys/kernel/slab aliases and
// reclaim_account.
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "source/source.h"

namespace poolscope {

struct LinuxPaths {
  std::string slabinfo = "/proc/slabinfo";
  std::string meminfo = "/proc/meminfo";
  std::string sys_slab = "/sys/kernel/slab";  // may be absent (SLAB allocator, containers)
};

Result<std::unique_ptr<Source>> open_linux_source(const Clock& clock, const LinuxPaths& paths);

}  // namespace poolscope
