// Linux kernel memory outside the slab caches as pool keys (KeyKind::kKernelMemory): the names of
// the categories, which of them the kernel gives back under pressure, and which call for a trace
// of the page allocator. No OS headers, no I/O. Described in docs/kernel-memory.md.
#pragma once

#include <string_view>

#include "core/pool.h"

namespace poolscope {

// Categories /proc/meminfo names, as keys "mem:<meminfo field>".
inline constexpr std::string_view kKernelStackKey = "mem:KernelStack";
inline constexpr std::string_view kPageTablesKey = "mem:PageTables";
inline constexpr std::string_view kSecPageTablesKey = "mem:SecPageTables";
inline constexpr std::string_view kVmallocUsedKey = "mem:VmallocUsed";
inline constexpr std::string_view kPercpuKey = "mem:Percpu";
// MemTotal minus MemFree and every category meminfo names (parse/kmem.h has the formula).
inline constexpr std::string_view kUnaccountedKey = "mem:unaccounted";
// SUnreclaim minus the unreclaimable caches: kmalloc allocations above the biggest kmalloc cache,
// served by the page allocator and counted in SUnreclaim but in no cache.
inline constexpr std::string_view kLargeKmallocKey = "slab:large-kmalloc";
// Prefixes of the per-source breakdowns.
inline constexpr std::string_view kVmallocPrefix = "vmalloc:";  // per caller (/proc/vmallocinfo)
inline constexpr std::string_view kSocketPrefix = "sock:";      // TCP, UDP, FRAG (sockstat)
inline constexpr std::string_view kDmabufPrefix = "dmabuf:";    // per exporter
inline constexpr std::string_view kAllocSitePrefix = "alloc:";  // per call site (/proc/allocinfo)

PoolKey kernel_memory_key(std::string_view name);

// True for the keys whose memory comes straight from the page allocator (pages nobody accounts
// for, large kmalloc, page tables, vmalloc areas, stacks, socket buffers, DMA-BUFs): a leak there
// is found by tracing the page allocator (`trace --pages`), not the kmem events. Call sites from
// /proc/allocinfo already name their code.
bool wants_page_trace(const PoolKey& key);

}  // namespace poolscope
