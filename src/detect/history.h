// Bounded, bucketed history of every key, pool total and process metric over a recording or a
// live run: what the leak detector analyses. Memory is O(keys x max_buckets), whatever the length.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/pool.h"
#include "core/process.h"

namespace poolscope::detect {

// Per-bucket aggregates of one value. A bucket with count 0 has no value (the key was absent).
// Vectors are indexed by bucket - first_bucket.
class Series {
 public:
  bool empty() const { return first_ < 0; }
  std::int64_t first_bucket() const { return first_; }
  std::size_t size() const { return count_.size(); }
  bool has(std::int64_t bucket) const;
  double min(std::int64_t bucket) const { return min_[idx(bucket)]; }
  double max(std::int64_t bucket) const { return max_[idx(bucket)]; }  // charts show spikes
  double mean(std::int64_t bucket) const;
  double last(std::int64_t bucket) const { return last_[idx(bucket)]; }

  void add(std::int64_t bucket, double value);
  // Merges an aggregate of count values (their min, max, sum and newest) into the bucket, as adding
  // them one by one would.
  void add(std::int64_t bucket, double min, double max, double sum, double last,
           std::uint32_t count);
  // Merges bucket pairs (2k, 2k+1) into k, as the history does when it halves its resolution.
  void halve();
  std::size_t memory_bytes() const;

 private:
  std::size_t idx(std::int64_t bucket) const { return static_cast<std::size_t>(bucket - first_); }
  void grow_to(std::size_t i);  // buckets up to index i exist
  std::int64_t first_ = -1;
  std::vector<double> min_, max_, sum_, last_;
  std::vector<std::uint32_t> count_;
};

// What is known of one key besides its values.
struct KeyTrack {
  PoolKey key;
  PoolKind pool = PoolKind::kNonPaged;
  std::optional<std::uint32_t> session_id;
  std::string owner;
  std::vector<std::string> aliases;  // Linux: cache names merged into this one
  std::optional<double> object_size;
  bool present_last = false;  // in the newest sample
  bool seen_outstanding = false, seen_bytes = false;
  Series outstanding, bytes;
  // Cumulative allocs and frees where the source gives both (poolmon, !poolused's verbose form):
  // the first and the newest seen. A key that allocates and never frees is a source's mark.
  std::optional<double> first_allocs, first_frees, last_allocs, last_frees;
  std::int64_t counts_samples = 0;
  // Never freed: over the recording (allocs grew, frees did not move) or, in one sample, since
  // boot (frees 0, allocs > 0).
  bool zero_frees() const;
};

// The per-process metrics the culprit search correlates with a key.
enum class ProcessMetric : std::uint8_t {
  kFdFirst = 0,  // kFdFirst + FdKind: fd counts by kind (Linux)
  kFdTotal = kFdFirst + kFdKindCount,
  kHandles,             // Windows HandleCount
  kThreads,             // threads of the process (Linux num_threads, Windows NumberOfThreads)
  kPagedQuotaBytes,     // Windows QuotaPagedPoolUsage
  kNonPagedQuotaBytes,  // Windows QuotaNonPagedPoolUsage
  kPageTableBytes,      // Linux: VmPTE
  kSocketQueueBytes,    // Linux: bytes queued on its sockets
  kBpfMemlockBytes,     // Linux: memlock of its BPF maps and programs
  kDmabufBytes,         // Linux: sizes of its DMA-BUFs
  kPipes,               // Linux: its pipes (unique pipe inodes; the fd kind counts both ends)
  kPipeUnreadBytes,     // Linux: bytes unread in its pipes (FIONREAD)
  kHandleKindFirst,     // kHandleKindFirst + HandleKind: handle counts by type (Windows)
  kExitedProcessHandles = kHandleKindFirst + kHandleKindCount,  // handles to exited processes
  kExitedThreadHandles,                                         // ... and threads
  kCount
};
inline constexpr std::size_t kProcessMetricCount = static_cast<std::size_t>(ProcessMetric::kCount);
// "eventfd", ..., "fds", "handles", ..., "Event handles", ..., "handles to exited processes"
std::string process_metric_name(std::size_t metric);
// The metric's name for a count of them: "eventfds" / "eventfd", "Event handles" / "Event
// handle", "threads" / "thread"; byte metrics and "fds"/"handles" totals as they are.
std::string metric_plural(const std::string& metric, double count);
// Counts of things (fds, handles, threads), as opposed to bytes.
bool is_count_metric(std::size_t metric);
inline constexpr std::size_t handle_kind_metric(HandleKind kind) {
  return static_cast<std::size_t>(ProcessMetric::kHandleKindFirst) + static_cast<std::size_t>(kind);
}

struct ProcessTrack {
  std::uint64_t pid = 0, start_time = 0;
  std::string name;
  std::int64_t first_bucket = 0, last_bucket = 0;
  // A metric's first value; its series exists only once the value changed (most never do: a
  // Series for each of the 40 metrics would be 5 KB per process, most of a History's tracks).
  std::array<std::optional<double>, kProcessMetricCount> first_value{};
  std::vector<std::pair<std::size_t, Series>> moved;  // (metric, series), in order of first change
  bool alive = true;
  std::optional<double> fd_limit;  // the newest soft RLIMIT_NOFILE seen
  bool changed() const { return !moved.empty(); }
  // The metric's series; empty when its value never changed.
  const Series& series(std::size_t metric) const;
  Series& series_for(std::size_t metric);  // creates it
  // The metric's value at a bucket in [first_bucket, last_bucket]; nullopt when never reported.
  std::optional<double> value_at(std::size_t metric, std::int64_t bucket) const;
};

struct HistoryOptions {
  std::size_t max_buckets = 2048;      // resolution is halved when this is reached
  std::size_t samples_per_bucket = 1;  // initial; a reader that knows the count sets it
  std::size_t max_processes = 20000;   // tracked processes (exited, unchanged ones go first)
};

// Ingests samples in order. Times are seconds on a clock that never goes backwards (the caller
// maps wall-clock jumps away); wall_ns is kept for display.
//
// Key values of the open (newest) bucket are staged in one dense array, two cache lines per key,
// and merged into the keys' Series when the bucket closes or the keys are read: a sample touches
// 64 bytes per key instead of eight vectors in two Series. Reading (keys()) flushes the staged
// values, so a History is not to be read from one thread while another adds to it.
class History {
 public:
  explicit History(HistoryOptions options = {});

  // Starts a sample. Calls to add_* until the next begin_sample belong to it.
  void begin_sample(double t_seconds, std::int64_t wall_ns);
  // Key values by a caller-chosen dense index (a recording's key id, or a live key map's).
  KeyTrack& key(std::size_t index);
  void add_key_value(std::size_t index, std::optional<std::uint64_t> outstanding,
                     std::optional<std::uint64_t> bytes, CounterWidth width);
  void add_pool_total(PoolKind pool, std::optional<double> used, std::optional<double> limit,
                      std::optional<double> failures,
                      std::optional<double> pressure = std::nullopt);
  void add_memory(std::optional<double> total, std::optional<double> available);
  void add_processes(const std::vector<ProcessFacts>& processes);
  // The system-wide counts a process sample carries (Linux: file-nr, sockstat): census owners
  // "open files", "tcp sockets", "udp sockets", and fs.file-max.
  void add_system_counts(const ProcessSample& sample);
  // Cumulative allocs/frees of a key in this sample (only where the source gives both).
  void add_key_counts(std::size_t index, std::uint64_t allocs, std::uint64_t frees);
  // A count of the things some keys' objects belong to ("processes", "threads", "open files",
  // ...): the census compares them (docs/detection.md). add_processes adds "processes".
  void add_owner_count(const std::string& kind, double value);
  // Ends the sample: keys not added are marked absent in it.
  void end_sample();

  // Convenience for live use: a snapshot (and processes) as one sample, keys mapped by identity.
  void add_snapshot(const Snapshot& snapshot, const ProcessSample* processes, double t_seconds);

  std::int64_t samples() const { return samples_; }
  std::int64_t buckets() const { return static_cast<std::int64_t>(bucket_t_sum_.size()); }
  double bucket_time(std::int64_t bucket) const;  // mean time of its samples (s)
  std::int64_t bucket_wall_ns(std::int64_t bucket) const { return bucket_wall_ns_[bucket]; }
  double first_time() const { return first_t_; }
  double last_time() const { return last_t_; }
  std::int64_t first_wall_ns() const { return first_wall_ns_; }
  std::int64_t last_wall_ns() const { return last_wall_ns_; }
  std::size_t samples_per_bucket() const { return per_bucket_; }

  // The keys with everything added so far (the newest bucket's staged values included).
  const std::vector<KeyTrack>& keys() const {
    flush_open_bucket();
    return keys_;
  }
  const std::map<PoolKind, Series>& pool_used() const { return pool_used_; }
  std::optional<double> pool_limit(PoolKind pool) const;
  // Socket memory's pressure threshold (PoolTotal::pressure_bytes): live, and recordings of
  // sample format 2.
  std::optional<double> pool_pressure(PoolKind pool) const;
  std::optional<double> pool_used_last(PoolKind pool) const;
  std::optional<double> pool_failures_last(PoolKind pool) const;
  std::optional<double> memory_available_last() const { return memory_available_; }
  std::optional<double> memory_total_last() const { return memory_total_; }
  std::optional<double> open_files_max_last() const { return open_files_max_; }
  const std::vector<ProcessTrack>& processes() const { return processes_; }
  const std::map<std::string, Series>& owner_counts() const { return owner_counts_; }
  bool has_process_facts() const { return process_samples_ > 0; }
  std::size_t memory_bytes() const;

 private:
  void halve();
  void flush_open_bucket() const;
  std::int64_t current_bucket() const {
    return static_cast<std::int64_t>(bucket_t_sum_.size()) - 1;
  }

  HistoryOptions options_;
  std::size_t per_bucket_ = 1;
  std::size_t in_bucket_ = 0;  // samples in the newest bucket
  std::int64_t samples_ = 0;
  double first_t_ = 0, last_t_ = 0;
  std::int64_t first_wall_ns_ = 0, last_wall_ns_ = 0;
  std::vector<double> bucket_t_sum_;
  std::vector<std::uint32_t> bucket_n_;
  std::vector<std::int64_t> bucket_wall_ns_;
  // The open bucket's values of one key (count 0: none yet), and what unwraps its 32-bit counters.
  struct Staged {
    double min = 0, max = 0, sum = 0, last = 0;
    std::uint32_t count = 0;
    void add(double v) {
      if (count == 0) {
        min = max = sum = last = v;
      } else {
        min = v < min ? v : min;
        max = v > max ? v : max;
        sum += v;
        last = v;
      }
      ++count;
    }
  };
  struct HotKey {
    Staged outstanding, bytes;
    std::int64_t sample = -1;  // the sample the key was last added in
    // 32-bit counters: the unwrapped outstanding value continues from the previous raw one.
    std::uint64_t prev_raw = 0;
    double unwrapped = 0;
    bool has_prev = false;
  };
  mutable std::vector<KeyTrack> keys_;
  mutable std::vector<HotKey> hot_;
  mutable bool staged_ = false;            // some key has values in hot_ not yet in its Series
  std::int64_t ended_samples_ = -1;        // samples_ at the last end_sample
  mutable std::int64_t presence_of_ = -1;  // the ended sample present_last was set for
  std::map<PoolKind, Series> pool_used_;
  std::map<std::string, Series> owner_counts_;
  std::optional<double> open_files_max_;
  std::map<PoolKind, double> pool_limit_, pool_used_last_, pool_failures_, pool_pressure_;
  std::optional<double> memory_available_, memory_total_;
  std::vector<ProcessTrack> processes_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::size_t> process_index_;  // (pid, start)
  std::int64_t process_samples_ = 0;
  // Live key identity -> index, for add_snapshot; live_slot_[j] is the index of the key at
  // position j of the previous snapshot (a live source lists its keys in the same order every
  // time, so the map is consulted only when the list changes).
  std::map<std::tuple<KeyKind, std::string, PoolKind, std::uint32_t>, std::size_t> live_keys_;
  std::vector<std::size_t> live_slot_;
};

// Inline: called once per key-sample (180 M times for a week of 300 keys); out of line, passing
// the optionals through memory stalled the loop on store forwarding.
inline void History::add_key_value(std::size_t index, std::optional<std::uint64_t> outstanding,
                                   std::optional<std::uint64_t> bytes, CounterWidth width) {
  if (index >= hot_.size()) key(index);
  HotKey& k = hot_[index];
  k.sample = samples_;
  if (outstanding) {
    if (width == CounterWidth::k32 && k.has_prev) {
      // A 32-bit counter pair that wrapped moves the Diff by about 2^32: the signed 32-bit
      // difference is the real change.
      const auto d =
          static_cast<std::int32_t>(static_cast<std::uint32_t>(*outstanding - k.prev_raw));
      k.unwrapped += d;
    } else {
      k.unwrapped = static_cast<double>(*outstanding);
    }
    k.prev_raw = *outstanding;
    k.has_prev = true;
    k.outstanding.add(k.unwrapped);
    staged_ = true;
  }
  if (bytes) {
    k.bytes.add(static_cast<double>(*bytes));
    staged_ = true;
  }
}

}  // namespace poolscope::detect
