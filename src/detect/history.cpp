#include "detect/history.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace poolscope::detect {

bool Series::has(std::int64_t bucket) const {
  if (first_ < 0 || bucket < first_) return false;
  const auto i = idx(bucket);
  return i < count_.size() && count_[i] > 0;
}

double Series::mean(std::int64_t bucket) const {
  const auto i = idx(bucket);
  return sum_[i] / count_[i];
}

void Series::grow_to(std::size_t i) {
  // Usually one new bucket: push_back stays inline where resize() called out every time.
  while (count_.size() <= i) {
    min_.push_back(0);
    max_.push_back(0);
    sum_.push_back(0);
    last_.push_back(0);
    count_.push_back(0);
  }
}

void Series::add(std::int64_t bucket, double value) {
  if (first_ < 0) first_ = bucket;
  if (bucket < first_) return;  // callers add in time order; an older bucket is ignored
  const auto i = idx(bucket);
  grow_to(i);
  if (count_[i] == 0) {
    min_[i] = max_[i] = sum_[i] = last_[i] = value;
    count_[i] = 1;
    return;
  }
  min_[i] = std::min(min_[i], value);
  max_[i] = std::max(max_[i], value);
  sum_[i] += value;
  last_[i] = value;
  ++count_[i];
}

void Series::add(std::int64_t bucket, double min, double max, double sum, double last,
                 std::uint32_t count) {
  if (count == 0) return;
  if (first_ < 0) first_ = bucket;
  if (bucket < first_) return;
  const auto i = idx(bucket);
  grow_to(i);
  if (count_[i] == 0) {
    min_[i] = min;
    max_[i] = max;
    sum_[i] = sum;
  } else {
    min_[i] = std::min(min_[i], min);
    max_[i] = std::max(max_[i], max);
    sum_[i] += sum;
  }
  last_[i] = last;
  count_[i] += count;
}

void Series::halve() {
  if (first_ < 0) return;
  const std::int64_t new_first = first_ / 2;
  const std::int64_t last_bucket = first_ + static_cast<std::int64_t>(count_.size()) - 1;
  const std::size_t n = static_cast<std::size_t>(last_bucket / 2 - new_first + 1);
  std::vector<double> mins(n, 0), maxs(n, 0), sums(n, 0), lasts(n, 0);
  std::vector<std::uint32_t> counts(n, 0);
  for (std::size_t i = 0; i < count_.size(); ++i) {
    if (count_[i] == 0) continue;
    const auto j =
        static_cast<std::size_t>((first_ + static_cast<std::int64_t>(i)) / 2 - new_first);
    mins[j] = counts[j] ? std::min(mins[j], min_[i]) : min_[i];
    maxs[j] = counts[j] ? std::max(maxs[j], max_[i]) : max_[i];
    sums[j] += sum_[i];
    lasts[j] = last_[i];
    counts[j] += count_[i];
  }
  first_ = new_first;
  min_ = std::move(mins);
  max_ = std::move(maxs);
  sum_ = std::move(sums);
  last_ = std::move(lasts);
  count_ = std::move(counts);
}

std::size_t Series::memory_bytes() const {
  return (min_.capacity() + max_.capacity() + sum_.capacity() + last_.capacity()) * sizeof(double) +
         count_.capacity() * sizeof(std::uint32_t);
}

std::string process_metric_name(std::size_t metric) {
  if (metric < kFdKindCount) return std::string(fd_kind_name(kAllFdKinds[metric]));
  switch (static_cast<ProcessMetric>(metric)) {
    case ProcessMetric::kFdTotal:
      return "fds";
    case ProcessMetric::kHandles:
      return "handles";
    case ProcessMetric::kThreads:
      return "threads";
    case ProcessMetric::kPagedQuotaBytes:
      return "paged pool quota bytes";
    case ProcessMetric::kNonPagedQuotaBytes:
      return "nonpaged pool quota bytes";
    case ProcessMetric::kPageTableBytes:
      return "page-table bytes";
    case ProcessMetric::kSocketQueueBytes:
      return "socket queue bytes";
    case ProcessMetric::kBpfMemlockBytes:
      return "BPF memlock bytes";
    case ProcessMetric::kDmabufBytes:
      return "DMA-BUF bytes";
    case ProcessMetric::kPipes:
      return "pipes";
    case ProcessMetric::kPipeUnreadBytes:
      return "pipe unread bytes";
    case ProcessMetric::kExitedProcessHandles:
      return "handles to exited processes";
    case ProcessMetric::kExitedThreadHandles:
      return "handles to exited threads";
    default:
      break;
  }
  const std::size_t first = static_cast<std::size_t>(ProcessMetric::kHandleKindFirst);
  if (metric >= first && metric < first + kHandleKindCount) {
    const auto kind = static_cast<HandleKind>(metric - first);
    return kind == HandleKind::kOther ? "handles of other types"
                                      : std::string(handle_kind_name(kind)) + " handles";
  }
  return "?";
}

std::string metric_plural(const std::string& metric, double count) {
  const bool one = std::fabs(count) == 1;
  if (metric == "threads") return one ? "thread" : "threads";
  if (metric == "fds") return one ? "fd" : "fds";
  // The fd kind "pipe" counts both ends of a pipe; the metric "pipes" counts pipes (inodes).
  if (metric == "pipes") return one ? "pipe" : "pipes";
  if (metric == "pipe") return one ? "pipe fd" : "pipe fds";
  if (metric == "handles" || metric.ends_with("bytes")) return metric;
  if (const std::size_t at = metric.find("handles"); at != std::string::npos) {
    return one ? std::string(metric).erase(at + 6, 1) : metric;  // "Event handle"
  }
  return one ? metric : metric + "s";
}

bool is_count_metric(std::size_t metric) {
  return metric < static_cast<std::size_t>(ProcessMetric::kPagedQuotaBytes) ||
         metric == static_cast<std::size_t>(ProcessMetric::kThreads) ||
         metric == static_cast<std::size_t>(ProcessMetric::kPipes) ||
         metric >= static_cast<std::size_t>(ProcessMetric::kHandleKindFirst);
}

bool KeyTrack::zero_frees() const {
  if (!first_allocs || !first_frees || !last_allocs || !last_frees) return false;
  if (counts_samples == 1) return *last_frees == 0 && *last_allocs > 0;
  return *last_frees == *first_frees && *last_allocs > *first_allocs;
}

const Series& ProcessTrack::series(std::size_t metric) const {
  static const Series kNever;
  for (const auto& [m, s] : moved) {
    if (m == metric) return s;
  }
  return kNever;
}

Series& ProcessTrack::series_for(std::size_t metric) {
  for (auto& [m, s] : moved) {
    if (m == metric) return s;
  }
  return moved.emplace_back(metric, Series{}).second;
}

std::optional<double> ProcessTrack::value_at(std::size_t metric, std::int64_t bucket) const {
  if (!first_value[metric]) return std::nullopt;
  const Series& s = series(metric);
  if (s.empty() || bucket < s.first_bucket()) return first_value[metric];
  // The newest value at or before the bucket (a bucket without a process sample has none).
  const std::int64_t end = s.first_bucket() + static_cast<std::int64_t>(s.size()) - 1;
  for (std::int64_t b = std::min(bucket, end); b >= s.first_bucket(); --b) {
    if (s.has(b)) return s.last(b);
  }
  return first_value[metric];
}

History::History(HistoryOptions options)
    : options_(options), per_bucket_(std::max<std::size_t>(1, options.samples_per_bucket)) {
  options_.max_buckets = std::max<std::size_t>(16, options_.max_buckets & ~std::size_t{1});
}

void History::begin_sample(double t_seconds, std::int64_t wall_ns) {
  if (samples_ == 0) {
    first_t_ = t_seconds;
    first_wall_ns_ = wall_ns;
  }
  last_t_ = std::max(last_t_, t_seconds);
  last_wall_ns_ = wall_ns;
  if (bucket_t_sum_.empty() || in_bucket_ >= per_bucket_) {
    flush_open_bucket();  // the open bucket closes (or merges with its neighbour)
    if (bucket_t_sum_.size() >= options_.max_buckets) halve();
    if (bucket_t_sum_.empty() || in_bucket_ >= per_bucket_) {
      bucket_t_sum_.push_back(0);
      bucket_n_.push_back(0);
      bucket_wall_ns_.push_back(wall_ns);
      in_bucket_ = 0;
    }
  }
  bucket_t_sum_.back() += t_seconds;
  ++bucket_n_.back();
  ++in_bucket_;
  ++samples_;
}

void History::halve() {
  flush_open_bucket();
  const std::size_t n = (bucket_t_sum_.size() + 1) / 2;
  for (std::size_t j = 0; j < n; ++j) {
    const std::size_t a = 2 * j, b = 2 * j + 1;
    double sum = bucket_t_sum_[a];
    std::uint32_t count = bucket_n_[a];
    if (b < bucket_t_sum_.size()) {
      sum += bucket_t_sum_[b];
      count += bucket_n_[b];
    }
    bucket_t_sum_[j] = sum;
    bucket_n_[j] = count;
    bucket_wall_ns_[j] = bucket_wall_ns_[a];
  }
  bucket_t_sum_.resize(n);
  bucket_n_.resize(n);
  bucket_wall_ns_.resize(n);
  per_bucket_ *= 2;
  in_bucket_ = bucket_n_.back();
  for (auto& k : keys_) {
    k.outstanding.halve();
    k.bytes.halve();
  }
  for (auto& [pool, s] : pool_used_) s.halve();
  for (auto& [kind, s] : owner_counts_) s.halve();
  for (auto& p : processes_) {
    p.first_bucket /= 2;
    p.last_bucket /= 2;
    for (auto& [m, s] : p.moved) s.halve();
  }
}

double History::bucket_time(std::int64_t bucket) const {
  const auto i = static_cast<std::size_t>(bucket);
  return bucket_t_sum_[i] / bucket_n_[i];
}

KeyTrack& History::key(std::size_t index) {
  if (index >= keys_.size()) {
    keys_.resize(index + 1);
    hot_.resize(index + 1);
  }
  return keys_[index];
}

void History::flush_open_bucket() const {
  if (staged_) {
    const std::int64_t bucket = current_bucket();
    for (std::size_t i = 0; i < hot_.size(); ++i) {
      HotKey& h = hot_[i];
      KeyTrack& k = keys_[i];
      if (h.outstanding.count) {
        k.outstanding.add(bucket, h.outstanding.min, h.outstanding.max, h.outstanding.sum,
                          h.outstanding.last, h.outstanding.count);
        k.seen_outstanding = true;
        h.outstanding.count = 0;
      }
      if (h.bytes.count) {
        k.bytes.add(bucket, h.bytes.min, h.bytes.max, h.bytes.sum, h.bytes.last, h.bytes.count);
        k.seen_bytes = true;
        h.bytes.count = 0;
      }
    }
    staged_ = false;
  }
  if (presence_of_ != ended_samples_) {
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      keys_[i].present_last = hot_[i].sample == ended_samples_;
    }
    presence_of_ = ended_samples_;
  }
}

void History::add_pool_total(PoolKind pool, std::optional<double> used, std::optional<double> limit,
                             std::optional<double> failures, std::optional<double> pressure) {
  if (used) {
    pool_used_[pool].add(current_bucket(), *used);
    pool_used_last_[pool] = *used;
  }
  if (limit) pool_limit_[pool] = *limit;
  if (failures) pool_failures_[pool] = *failures;
  if (pressure) pool_pressure_[pool] = *pressure;
}

void History::add_memory(std::optional<double> total, std::optional<double> available) {
  if (total) memory_total_ = total;
  if (available) memory_available_ = available;
}

namespace {

std::optional<double> metric_value(const ProcessFacts& p, std::size_t metric) {
  if (metric < kFdKindCount) {
    if (!p.fds) return std::nullopt;
    return static_cast<double>(fd_count(*p.fds, kAllFdKinds[metric]));
  }
  std::optional<std::uint64_t> v;
  switch (static_cast<ProcessMetric>(metric)) {
    case ProcessMetric::kFdTotal:
      v = p.fd_total;
      break;
    case ProcessMetric::kHandles:
      v = p.handle_count;
      break;
    case ProcessMetric::kThreads:
      v = p.threads;
      break;
    case ProcessMetric::kPagedQuotaBytes:
      v = p.paged_pool_quota_bytes;
      break;
    case ProcessMetric::kNonPagedQuotaBytes:
      v = p.nonpaged_pool_quota_bytes;
      break;
    case ProcessMetric::kPageTableBytes:
      v = p.page_table_bytes;
      break;
    case ProcessMetric::kSocketQueueBytes:
      v = p.socket_queue_bytes;
      break;
    case ProcessMetric::kBpfMemlockBytes:
      v = p.bpf_memlock_bytes;
      break;
    case ProcessMetric::kDmabufBytes:
      v = p.dmabuf_bytes;
      break;
    case ProcessMetric::kPipes:
      v = p.pipes;
      break;
    case ProcessMetric::kPipeUnreadBytes:
      v = p.pipe_unread_bytes;
      break;
    case ProcessMetric::kExitedProcessHandles:
      v = p.exited_process_handles;
      break;
    case ProcessMetric::kExitedThreadHandles:
      v = p.exited_thread_handles;
      break;
    default: {
      const std::size_t first = static_cast<std::size_t>(ProcessMetric::kHandleKindFirst);
      if (p.handle_kinds && metric >= first && metric < first + kHandleKindCount) {
        v = p.handle_kinds->count[metric - first];
      }
      break;
    }
  }
  if (!v) return std::nullopt;
  return static_cast<double>(*v);
}

}  // namespace

void History::add_key_counts(std::size_t index, std::uint64_t allocs, std::uint64_t frees) {
  KeyTrack& k = key(index);
  if (!k.first_allocs) {
    k.first_allocs = static_cast<double>(allocs);
    k.first_frees = static_cast<double>(frees);
  }
  k.last_allocs = static_cast<double>(allocs);
  k.last_frees = static_cast<double>(frees);
  ++k.counts_samples;
}

void History::add_owner_count(const std::string& kind, double value) {
  owner_counts_[kind].add(current_bucket(), value);
}

void History::add_system_counts(const ProcessSample& sample) {
  const auto add = [&](const char* kind, const std::optional<std::uint64_t>& v) {
    if (v) add_owner_count(kind, static_cast<double>(*v));
  };
  add("open files", sample.open_files);
  add("tcp sockets", sample.tcp_sockets);
  add("udp sockets", sample.udp_sockets);
  if (sample.open_files_max) open_files_max_ = static_cast<double>(*sample.open_files_max);
}

void History::add_processes(const std::vector<ProcessFacts>& processes) {
  ++process_samples_;
  add_owner_count("processes", static_cast<double>(processes.size()));
  double threads = 0;
  bool threads_known = false;
  for (const ProcessFacts& facts : processes) {
    threads += static_cast<double>(facts.threads.value_or(0));
    threads_known = threads_known || facts.threads.has_value();
  }
  if (threads_known) add_owner_count("threads", threads);
  const std::int64_t bucket = current_bucket();
  for (auto& p : processes_) p.alive = false;
  for (const ProcessFacts& facts : processes) {
    auto [it, inserted] =
        process_index_.try_emplace({facts.pid, facts.start_time}, processes_.size());
    if (inserted) {
      ProcessTrack track;
      track.pid = facts.pid;
      track.start_time = facts.start_time;
      track.first_bucket = bucket;
      processes_.push_back(std::move(track));
    }
    ProcessTrack& t = processes_[it->second];
    t.alive = true;
    t.last_bucket = bucket;
    if (t.name != facts.name) t.name = facts.name;
    if (facts.fd_limit) t.fd_limit = static_cast<double>(*facts.fd_limit);
    for (std::size_t m = 0; m < kProcessMetricCount; ++m) {
      const auto v = metric_value(facts, m);
      if (!v) continue;
      if (!t.first_value[m]) {
        t.first_value[m] = *v;
      } else if (*v != *t.first_value[m] || !t.series(m).empty()) {
        // From the first change on; earlier buckets read first_value.
        t.series_for(m).add(bucket, *v);
      }
    }
  }
  if (processes_.size() > options_.max_processes) {
    // Exited processes whose facts never moved cannot explain growth: they go first, then the
    // exited ones in order of exit.
    std::vector<ProcessTrack> kept;
    kept.reserve(processes_.size());
    for (auto& p : processes_) {
      if (p.alive || p.changed()) kept.push_back(std::move(p));
    }
    if (kept.size() > options_.max_processes) {
      std::stable_sort(kept.begin(), kept.end(), [](const ProcessTrack& a, const ProcessTrack& b) {
        return a.alive != b.alive ? a.alive : a.last_bucket > b.last_bucket;
      });
      kept.resize(options_.max_processes);
    }
    processes_ = std::move(kept);
    process_index_.clear();
    for (std::size_t i = 0; i < processes_.size(); ++i) {
      process_index_[{processes_[i].pid, processes_[i].start_time}] = i;
    }
  }
}

void History::end_sample() {
  ended_samples_ = samples_;
}

void History::add_snapshot(const Snapshot& snapshot, const ProcessSample* processes,
                           double t_seconds) {
  const auto wall_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(snapshot.wall_time.time_since_epoch())
          .count();
  begin_sample(t_seconds, wall_ns);
  if (live_slot_.size() < snapshot.entries.size()) {
    live_slot_.resize(snapshot.entries.size(), SIZE_MAX);
  }
  for (std::size_t j = 0; j < snapshot.entries.size(); ++j) {
    const Entry& e = snapshot.entries[j];
    std::size_t index = live_slot_[j];
    if (index == SIZE_MAX || keys_[index].key != e.key || keys_[index].pool != e.pool ||
        keys_[index].session_id != e.session_id) {
      auto [it, inserted] = live_keys_.try_emplace(
          {e.key.kind, e.key.name, e.pool, e.session_id.value_or(UINT32_MAX)}, live_keys_.size());
      index = live_slot_[j] = it->second;
      if (inserted) {
        KeyTrack& k = key(index);
        k.key = e.key;
        k.pool = e.pool;
        k.session_id = e.session_id;
      }
    }
    KeyTrack& k = keys_[index];
    if (!e.owner.empty() && k.owner != e.owner) k.owner = e.owner;
    if (!e.aliases.empty() && k.aliases != e.aliases) k.aliases = e.aliases;
    if (e.object_size) k.object_size = static_cast<double>(*e.object_size);
    std::optional<std::uint64_t> outstanding = e.counters.outstanding;
    if (!outstanding && e.counters.allocs && e.counters.frees) {
      outstanding = counter_delta(*e.counters.frees, *e.counters.allocs, snapshot.counter_width);
    }
    add_key_value(index, outstanding, e.counters.bytes, snapshot.counter_width);
    if (e.counters.allocs && e.counters.frees)
      add_key_counts(index, *e.counters.allocs, *e.counters.frees);
  }
  for (const PoolTotal& t : snapshot.totals) {
    auto as_double = [](std::optional<std::uint64_t> v) -> std::optional<double> {
      if (!v) return std::nullopt;
      return static_cast<double>(*v);
    };
    add_pool_total(t.pool, as_double(t.used_bytes), as_double(t.limit_bytes), as_double(t.failures),
                   as_double(t.pressure_bytes));
  }
  auto as_double = [](std::optional<std::uint64_t> v) -> std::optional<double> {
    if (!v) return std::nullopt;
    return static_cast<double>(*v);
  };
  add_memory(as_double(snapshot.memory_total_bytes), as_double(snapshot.memory_available_bytes));
  if (processes) {
    add_processes(processes->processes);
    add_system_counts(*processes);
  }
  end_sample();
}

std::optional<double> History::pool_limit(PoolKind pool) const {
  auto it = pool_limit_.find(pool);
  if (it == pool_limit_.end()) return std::nullopt;
  return it->second;
}

std::optional<double> History::pool_pressure(PoolKind pool) const {
  auto it = pool_pressure_.find(pool);
  if (it == pool_pressure_.end()) return std::nullopt;
  return it->second;
}

std::optional<double> History::pool_used_last(PoolKind pool) const {
  auto it = pool_used_last_.find(pool);
  if (it == pool_used_last_.end()) return std::nullopt;
  return it->second;
}

std::optional<double> History::pool_failures_last(PoolKind pool) const {
  auto it = pool_failures_.find(pool);
  if (it == pool_failures_.end()) return std::nullopt;
  return it->second;
}

std::size_t History::memory_bytes() const {
  std::size_t total = bucket_t_sum_.capacity() * 8 + bucket_n_.capacity() * 4 +
                      bucket_wall_ns_.capacity() * 8 + hot_.capacity() * sizeof(HotKey);
  for (const auto& k : keys_)
    total += sizeof(k) + k.outstanding.memory_bytes() + k.bytes.memory_bytes();
  for (const auto& p : processes_) {
    total += sizeof(p) + p.moved.capacity() * sizeof(p.moved[0]);
    for (const auto& [m, s] : p.moved) total += s.memory_bytes();
  }
  return total;
}

}  // namespace poolscope::detect
