// Renders a snapshot as a poolmon-like table, JSON or CSV, and the `summary` (!vm-style) view.
#pragma once

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
std::string render_summary_text(const Snapshot& snapshot, const std::vector<PoolVerdict>& verdicts,
                                std::size_t top_consumers);
std::string render_summary_json(const Snapshot& snapshot, const std::vector<PoolVerdict>& verdicts,
                                std::size_t top_consumers);

}  // namespace poolscope
