// The leak detector over a History: findings (leak / suspect) with rate, onset, confidence,
// exhaustion forecast and the processes whose handles or fds grow with the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/pool.h"
#include "detect/history.h"
#include "detect/trend.h"

namespace poolscope::detect {

struct ProcessEvidence {
  std::uint64_t pid = 0;
  std::string name;
  std::string metric;           // "eventfd", "fds", "handles", ...
  double growth = 0;            // of the metric over the overlap with the growth window
  double seconds = 0;           // length of that overlap
  double correlation = 0;       // Pearson, metric vs the key's outstanding, per bucket
  double objects_per_unit = 0;  // key growth / metric growth over the same overlap
  std::string evidence;         // one line for people
};

struct Finding {
  PoolKey key;
  PoolKind pool = PoolKind::kNonPaged;
  std::optional<std::uint32_t> session_id;
  std::string owner;
  std::vector<std::string> aliases;  // cache names merged into this one (Linux)
  Verdict verdict = Verdict::kSuspect;
  std::string unit = "objects";  // what the series counted: "objects", or "bytes" without counts
  std::optional<double> rate_objects_per_hour;
  std::optional<double> rate_bytes_per_hour;
  std::int64_t onset_wall_ns = 0;
  double confidence = 0;
  double start_value = 0, end_value = 0;  // outstanding (or bytes) at onset and now, fitted
  double window_seconds = 0;              // onset to the last sample
  std::optional<double> exhaustion_eta_seconds;
  std::string exhaustion_note;  // what the forecast is against, or why there is none
  std::vector<ProcessEvidence> processes;
  std::string explanation;
  TrendResult trend;
};

// Largest consumers in the newest sample.
struct Consumer {
  PoolKey key;
  PoolKind pool = PoolKind::kNonPaged;
  std::string owner;
  std::optional<double> outstanding, bytes;
};

struct DetectorOptions {
  TrendOptions trend;
  std::size_t top = 10;             // consumers listed
  double min_correlation = 0.7;     // for a process to be named ...
  double min_overlap = 0.5;         // ... seen over this part of the growth window,
  double min_metric_growth = 3;     // ... its fds/handles up by at least this many,
  double max_objects_per_unit = 8;  // ... each holding 1/8..8 of the key's new objects
  double min_half_share = 0.5;  // ... and growing with it: in each half of the overlap, at least
                                // this part of the growth the key's growth there predicts
  std::size_t max_processes_named = 3;        // per finding
  std::vector<std::string> include, exclude;  // key wildcard patterns (key_matches)
};

struct Report {
  std::vector<Finding> findings;     // leaks first, then suspects; by bytes rate
  std::vector<Finding> reclaimable;  // growth in reclaimable caches: not findings, said anyway
  std::vector<Consumer> top;
  std::int64_t samples = 0;
  double seconds = 0;
  std::int64_t first_wall_ns = 0, last_wall_ns = 0;
  bool process_facts = false;
  std::vector<std::string> notes;
};

Report analyze(const History& history, const DetectorOptions& options = {});

// Only keys whose floor grew at all are assessed in full: what `watch` calls per sample costs
// little on flat keys.
bool worth_assessing(const KeyTrack& key, std::int64_t buckets);

}  // namespace poolscope::detect
