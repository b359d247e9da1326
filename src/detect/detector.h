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
  // The process's own wall: its fds reach its soft RLIMIT_NOFILE (Linux, live) at this rate.
  std::optional<double> fd_limit, fd_limit_eta_seconds;
};

// Objects that outlive their owners: the key's objects against the OS's count of what they belong
// to (docs/detection.md, "Census").
struct Census {
  std::string owner_kind;  // "processes", "threads", ...
  double objects = 0, owners = 0, gap = 0;
  std::optional<double> gap_rate_per_hour;  // over the growth window; none for one snapshot
  std::string text;                         // in words
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
  // Socket memory (live): when the pool reaches tcp_mem / udp_mem's pressure threshold, where the
  // kernel starts shrinking socket buffers (0: already above it); before the hard limit.
  std::optional<double> pressure_eta_seconds;
  // Where the culprit's fds run out before memory does: its RLIMIT_NOFILE, or fs.file-max for
  // the whole system (seconds from the last sample; the note says which).
  std::optional<double> fd_wall_eta_seconds;
  std::string fd_wall_note;
  std::vector<ProcessEvidence> processes;
  std::string explanation;
  TrendResult trend;
  std::size_t incident = 0;  // the incident's id (1..), 0 before incidents are grouped
  bool zero_frees = false;   // allocates and never frees (where the source counts frees)
  std::optional<Census> census;
  // For grouping: the growth window's bucket floors, reduced (time s, value), and its onset.
  std::vector<double> growth_t, growth_y;
  std::int64_t onset_bucket = 0;
  std::size_t lockstep_group = 0;  // one snapshot: keys with near-equal huge counts share it
};

struct IncidentMember {
  std::size_t finding = 0;  // index into Report::findings
  double ratio = 1;         // its growth per unit of the source's
};

// Findings whose growth moves together: one leak. The source is the member to chase; the others
// follow it (objects it pins, or that are allocated with it).
struct Incident {
  std::size_t id = 0;
  std::size_t source = 0;               // index into Report::findings
  std::vector<IncidentMember> members;  // the source first (ratio 1)
  Verdict verdict = Verdict::kSuspect;
  std::optional<double> rate_bytes_per_hour;  // all members together
  std::optional<double> exhaustion_eta_seconds;
  std::vector<ProcessEvidence> processes;  // each process once
  std::string source_reason;               // why this member is the source, in words
  std::string explanation;
  std::vector<std::string> next_steps;
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
  std::vector<Incident> incidents;   // leaks first; every finding is in exactly one
  std::vector<Finding> findings;     // leaks first, then suspects; by bytes rate
  std::vector<Finding> reclaimable;  // growth in reclaimable caches: not findings, said anyway
  std::vector<Consumer> top;
  std::int64_t samples = 0;
  double seconds = 0;
  std::int64_t first_wall_ns = 0, last_wall_ns = 0;
  bool process_facts = false;
  std::vector<std::string> notes;
  std::vector<std::string> zero_frees;  // keys that allocate and never free (display names)
};

Report analyze(const History& history, const DetectorOptions& options = {});

// Groups the report's findings into incidents and chooses each one's source (incident.cpp). Run
// by analyze; run again after owners are filled in (the owner weighs in the choice).
void group_incidents(Report& report);
// What to do: for one finding, and for an incident (its source's steps, then the followers).
std::vector<std::string> finding_next_steps(const Finding& finding,
                                            const std::string& recording_path);
std::vector<std::string> incident_next_steps(const Report& report, const Incident& incident,
                                             const std::string& recording_path);
// The driver a pool tag's owner text names ("[ntfs.sys  -  FCB]", "wdivnear.sys, x.sys" ->
// "ntfs.sys", "wdivnear.sys"): the first word ending in ".sys"; empty when it names none
// (poolmon's "Unknown Driver", "nt!io", no owner).
std::string owner_driver(const std::string& owner);

// Only keys whose floor grew at all are assessed in full: what `watch` calls per sample costs
// little on flat keys.
bool worth_assessing(const KeyTrack& key, std::int64_t buckets);

}  // namespace poolscope::detect
