// Live Linux source: /proc/slabinfo + /proc/meminfo, with /sys/kernel/slab aliases and
// reclaim_account; kernel memory outside slab from meminfo, vmallocinfo, sockstat, DMA-BUF and
// allocinfo (docs/kernel-memory.md).
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
  // Kernel memory outside slab. Each may be absent or root-only: its keys are then left out and
  // a note says why; never an error.
  std::string vmallocinfo = "/proc/vmallocinfo";  // root only
  std::string zoneinfo = "/proc/zoneinfo";        // per-CPU free pages, for mem:unaccounted
  std::string sockstat = "/proc/net/sockstat";
  std::string sockstat6 = "/proc/net/sockstat6";
  std::string tcp_mem = "/proc/sys/net/ipv4/tcp_mem";
  std::string udp_mem = "/proc/sys/net/ipv4/udp_mem";
  std::string dmabuf_bufinfo = "/sys/kernel/debug/dma_buf/bufinfo";  // root, debugfs
  std::string dmabuf_sysfs = "/sys/kernel/dmabuf/buffers";  // kernels 5.13 to 6.x with the option
  std::string allocinfo = "/proc/allocinfo";                // CONFIG_MEM_ALLOC_PROFILING, 6.10+
  // false: slab caches and meminfo's slab totals only (what poolscope read before kernel memory
  // keys; the benchmark's baseline).
  bool kernel_memory = true;
};

Result<std::unique_ptr<Source>> open_linux_source(const Clock& clock, const LinuxPaths& paths);

}  // namespace poolscope
