// Parsers for the Linux files that show kernel memory outside the slab caches: /proc/meminfo's
// kernel categories (and what it attributes to nothing), /proc/vmallocinfo, /proc/net/sockstat
// (+ sockstat6) with the tcp_mem / udp_mem limits, the debugfs DMA-BUF bufinfo, and the fdinfo
// fields that size a process's share (DMA-BUF size, BPF map memlock). Text in, model out; keys and
// pools are described in docs/kernel-memory.md.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/pool.h"
#include "core/result.h"
#include "parse/slabinfo.h"
#include "parse/text.h"

namespace poolscope::parse {

// The kernel memory meminfo attributes to nothing:
//   MemTotal - MemFree - (Active + Inactive + Unevictable) - Slab - KernelStack - PageTables
//   - SecPageTables - VmallocUsed - Percpu - Hugetlb - Zswap - HardwareCorrupted - Unaccepted
// Active/Inactive/Unevictable are the LRU lists (anonymous, file and shmem pages, Buffers and
// Cached included). With stacks_in_vmalloc (CONFIG_VMAP_STACK, the x86_64 and arm64 default) the
// stacks are vmalloc areas already in VmallocUsed, so KernelStack is not subtracted twice.
// Hugetlb falls back to HugePages_Total * Hugepagesize on kernels before 5.16. Pages held by
// pipes, network page pools, GPU drivers (TTM/GEM), BPF ring buffers and raw alloc_pages() land
// here. Free pages on the per-CPU lists (pcp_free_bytes, from /proc/zoneinfo) are free but not in
// MemFree: on a busy 6.x kernel they are hundreds of MiB that come and go, so they are subtracted
// too when known. nullopt when MemTotal, MemFree or the LRU lists are missing; 0 when the
// categories add up to more (pages move between lists while meminfo is read).
std::optional<std::uint64_t> unaccounted_kernel_bytes(const Meminfo& meminfo,
                                                      bool stacks_in_vmalloc,
                                                      std::uint64_t pcp_free_bytes = 0);

// /proc/zoneinfo: the pages on every zone's per-CPU free lists (the "count:" under "pagesets").
// nullopt when the text has no pagesets.
std::optional<std::uint64_t> zoneinfo_pcp_pages(std::string_view text);

struct KernelMemoryOptions {
  bool stacks_in_vmalloc = true;
  std::uint64_t pcp_free_bytes = 0;  // zoneinfo_pcp_pages x page size, when known
};

// Appends the meminfo categories (mem:KernelStack, mem:PageTables, mem:SecPageTables,
// mem:VmallocUsed, mem:Percpu) and mem:unaccounted as bytes-only entries in the kernel pool, and
// sets that pool's total (their sum, MemTotal as the limit). When the snapshot already holds slab
// entries and SUnreclaim is known, adds slab:large-kmalloc (SUnreclaim minus the unreclaimable
// caches) to the unreclaimable pool. Fields meminfo lacks are left out.
void apply_kernel_memory(const Meminfo& meminfo, const KernelMemoryOptions& options,
                         Snapshot& snapshot);

// /proc/vmallocinfo, per caller function. Lines look like
//   "0x...-0x...   20480 kernel_clone+0xb8/0x400 pages=4 vmalloc N0=4"
//   "0x...-0x...   12288 foo_probe+0x1c/0x90 [foo] pages=2 vmalloc"
// ioremap and other mappings of physical addresses ("phys=") are not RAM and are excluded, as
// are lazily freed ("unpurged vm_area") and vm_map_ram areas. Bytes are pages=N pages when the
// line says, else the size less its guard page.
struct VmallocCaller {
  std::string_view function;  // "kernel_clone"
  std::string_view module;    // "foo", "" for vmlinux
  std::uint64_t bytes = 0;
  std::uint64_t areas = 0;
};
struct ParsedVmallocinfo {
  std::vector<VmallocCaller> callers;  // by function and module, in first-seen order
  std::uint64_t excluded_areas = 0;    // ioremap, phys=, unpurged, vm_map_ram
  std::vector<Diagnostic> diagnostics;
};
// Never fails; views point into `text`.
ParsedVmallocinfo parse_vmallocinfo(std::string_view text, std::uint64_t page_size);

// Appends one "vmalloc:FUNCTION" (or "vmalloc:FUNCTION [module]") entry per caller, kernel pool.
void apply_vmalloc_callers(const ParsedVmallocinfo& parsed, Snapshot& snapshot);

// /proc/net/sockstat and sockstat6. TCP and UDP "mem" are pages; FRAG "memory" is bytes.
struct Sockstat {
  std::optional<std::uint64_t> sockets_used;
  std::optional<std::uint64_t> tcp_inuse, tcp_orphan, tcp_mem_pages;
  std::optional<std::uint64_t> udp_inuse, udp_mem_pages;
  std::optional<std::uint64_t> frag_bytes;  // FRAG + FRAG6 when both files are parsed into one
};
// Accumulates into `out` so that sockstat and sockstat6 add up. Error when no line is sockstat's.
Result<void> parse_sockstat(std::string_view text, Sockstat& out);

// /proc/sys/net/ipv4/tcp_mem and udp_mem: "min pressure max", in pages.
struct SocketMemoryLimit {
  std::uint64_t min_pages = 0, pressure_pages = 0, max_pages = 0;
};
Result<SocketMemoryLimit> parse_socket_memory_limit(std::string_view text);

// Appends sock:TCP (tcp pool) and sock:UDP (udp pool) in bytes with their pool totals and limits
// (the hard limit max, the note names the pressure threshold), and sock:FRAG (kernel pool).
void apply_sockets(const Sockstat& sockstat, const std::optional<SocketMemoryLimit>& tcp_mem,
                   const std::optional<SocketMemoryLimit>& udp_mem, std::uint64_t page_size,
                   Snapshot& snapshot);

// DMA-BUF buffers per exporter.
struct DmabufExporter {
  std::string name;
  std::uint64_t bytes = 0;
  std::uint64_t buffers = 0;
};
// Adds one buffer to its exporter's sum (the sysfs reader and the bufinfo parser share it).
void add_dmabuf(std::vector<DmabufExporter>& exporters, std::string_view exporter,
                std::uint64_t bytes);
// debugfs dma_buf/bufinfo: after the "size flags mode count exp_name ..." header, one line per
// buffer with its size (decimal) and exporter; attachment lines and totals are skipped.
std::vector<DmabufExporter> parse_dmabuf_bufinfo(std::string_view text);
// Appends "dmabuf:EXPORTER" entries (kernel pool).
void apply_dmabuf(const std::vector<DmabufExporter>& exporters, Snapshot& snapshot);

// /proc/PID/fdinfo/FD fields that size kernel memory held through the fd: "size:" of a DMA-BUF,
// "memlock:" of a BPF map, "exp_name:" of a DMA-BUF's exporter.
struct Fdinfo {
  std::optional<std::uint64_t> dmabuf_size;
  std::optional<std::uint64_t> bpf_memlock;
  std::string_view exporter;
};
Fdinfo parse_fdinfo(std::string_view text);

// Per-process facts (docs/kernel-memory.md).
// The inode of "socket:[12345]"; nullopt for any other fd target.
std::optional<std::uint64_t> socket_inode(std::string_view fd_target);
// The inode of "pipe:[12345]" (both ends of a pipe show the same one); nullopt otherwise.
std::optional<std::uint64_t> pipe_inode(std::string_view fd_target);
// fd targets whose fdinfo sizes kernel memory: BPF maps and programs ("anon_inode:bpf-map",
// "anon_inode:bpf-prog") and DMA-BUFs ("/dmabuf:NAME", "anon_inode:dmabuf" on older kernels).
bool is_bpf_target(std::string_view fd_target);
bool is_dmabuf_target(std::string_view fd_target);
// VmPTE of /proc/PID/status in bytes (nullopt for kernel threads, which have none).
std::optional<std::uint64_t> status_vm_pte(std::string_view status_text);
// /proc/net/{tcp,tcp6,udp,udp6,raw,raw6}: adds each socket's tx_queue + rx_queue bytes under its
// inode. The header and malformed lines are skipped.
void add_socket_queues(std::string_view text,
                       std::vector<std::pair<std::uint64_t, std::uint64_t>>& queue_by_inode);

}  // namespace poolscope::parse
