// Which process facts can hold a key's objects (the culprit search names a process only through
// one of these links), and which counts the OS keeps of the things a key's objects belong to (the
// census). Both are data, documented in docs/detection.md; other platforms' rows are added here.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/pool.h"
#include "core/process.h"

namespace poolscope::detect {

// One row: keys matching `pattern` (key_matches wildcards; `kind` restricts it to slab caches or
// pool tags) can be held by the process metrics named in `metrics` (process_metric_name values,
// space-separated: "eventfd timerfd fds"; "*" for any). The first matching row wins; a key no
// row matches links to nothing, and no process is named for it.
struct ProcessLink {
  KeyKind kind;
  std::string_view pattern;
  std::string_view metrics;
  std::string_view why;  // what the objects are, and where the pair is documented
  // Windows pool tags that are a kernel object type's bodies (Even <-> Event ...): the handle
  // type compared first. A process that records its handles by type is named for the tag only
  // through that type (or its references to exited processes/threads, or its threads), never
  // through its total handle count or pool quota, which another type's churn moves.
  std::optional<HandleKind> handle_type = std::nullopt;
  // The fewest of the key's new objects one unit of the metric can account for, where the
  // detector's general 1/8 is too loose: a generic cache (kmalloc-192) that a busy machine moves
  // by a few dozen objects must not be pinned on a leaker at 0.15 objects per fd. 0: the general.
  double min_objects_per_unit = 0;
};
std::span<const ProcessLink> process_links();
// The row for a key, or nullptr.
const ProcessLink* process_link(const PoolKey& key);
// Whether the metric (process_metric_name) can hold the key's objects.
bool plausible_link(const PoolKey& key, std::string_view metric);
// The handle type whose objects a pool tag's blocks are (the row's handle_type), or nullopt.
std::optional<HandleKind> handle_kind_for_tag(const PoolKey& key);

// A census pair: keys matching `pattern` count objects that each belong to one `owner_kind`
// (History::owner_counts). `per_owner` objects per owner are normal; `exact` says the pairing is
// close enough that a large gap in one snapshot is a suspect by itself.
struct CensusPair {
  KeyKind kind;
  std::string_view pattern;
  std::string_view owner_kind;  // "processes", "threads", ...
  std::string_view what;        // "process objects" ...
  bool exact;
};
std::span<const CensusPair> census_pairs();
const CensusPair* census_pair(const PoolKey& key);

// The kernel itself (vmlinux, nt, ntoskrnl, "Binary: nt!io"), not a driver or module.
bool kernel_owned(std::string_view owner);

}  // namespace poolscope::detect
