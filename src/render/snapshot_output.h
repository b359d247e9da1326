// Renders a snapshot as a poolmon-like table, JSON or CSV, and the `summary` (!vm-style) view.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/pool.h"

namespace poolscope {

std::string render_table(const Snapshot& snapshot, const std::vector<std::size_t>& rows);
std::string render_json(const Snapshot& snapshot, const std::vector<std::size_t>& rows);
std::string render_csv(const Snapshot& snapshot, const std::vector<std::size_t>& rows);

// The pool usage verdict of `summary`, as WinDbg's !vm words it.
struct PoolVerdict {
  PoolKind pool;
  std::optional<double> used_fraction;  // used / limit, when both are known
  bool excessive = false;               // above kExcessiveFraction of the limit
  std::string verdict;                  // "Excessive NonPaged Pool Usage", "ok", "limit unknown"
};
inline constexpr double kExcessiveFraction = 0.80;

std::vector<PoolVerdict> judge_pools(const Snapshot& snapshot);

// `summary` on Linux: kernel memory by category, as !vm lists the pools on Windows.
struct KernelCategory {
  std::string label;  // "kernel stacks"
  std::string key;    // the key or pool it comes from: "mem:KernelStack", "SUnreclaim"
  std::uint64_t bytes = 0;
  bool inside = false;  // already counted in another category (vmapped stacks, socket buffers)
  std::optional<std::uint64_t> limit_bytes;  // socket memory: the hard limit
  std::optional<std::uint64_t> pressure_bytes;
};
struct KernelMemorySummary {
  std::vector<KernelCategory> categories;
  std::uint64_t total_bytes = 0;  // kernel memory not given back: every category not `inside`
  std::optional<std::uint64_t> memory_total, memory_available;
  bool excessive = false;
  std::string verdict;
};
// Excessive: the kernel's unreclaimable memory above this part of MemTotal, or above
// kLowMemoryKernelFraction while MemAvailable is below kLowAvailableFraction of MemTotal, or a
// socket memory pool above kExcessiveFraction of its hard limit.
inline constexpr double kExcessiveKernelFraction = 0.50;
inline constexpr double kLowMemoryKernelFraction = 0.25;
inline constexpr double kLowAvailableFraction = 0.10;
// nullopt when the snapshot has no kernel memory keys (not Linux, or a saved slabinfo).
std::optional<KernelMemorySummary> summarize_kernel_memory(const Snapshot& snapshot);
std::string render_summary_text(const Snapshot& snapshot, const std::vector<PoolVerdict>& verdicts,
                                std::size_t top_consumers);
std::string render_summary_json(const Snapshot& snapshot, const std::vector<PoolVerdict>& verdicts,
                                std::size_t top_consumers);
// `summary --format csv`: one row per pool (used, limit, failures, verdict), per failure the
// source reports beyond them (kind failure) and per largest consumer (kind largest); raw numbers.
std::string render_summary_csv(const Snapshot& snapshot, const std::vector<PoolVerdict>& verdicts,
                               std::size_t top);

}  // namespace poolscope
