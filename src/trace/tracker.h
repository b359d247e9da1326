// The pairing engine of `trace`: allocations tracked by pointer until their free; frees of objects
// allocated before the trace began are counted, not errors. Outstanding allocations are grouped by
// call site, cache and pid, with counts, bytes and age, and the outstanding count of every call
// site is sampled over the trace (growth).
//
// Memory is bounded: at most `max_tracked` allocations are tracked, 32 bytes each in an
// open-addressing table kept at most half full, i.e. 64 bytes per tracked allocation (the table is
// allocated as it grows, not up front). When the cap is reached further allocations are counted as
// untracked and the report says so.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "trace/kmem_events.h"

namespace poolscope::trace {

inline constexpr std::size_t kDefaultMaxTracked = std::size_t{1} << 20;
inline constexpr std::size_t kBytesPerTrackedAllocation = 64;

struct TrackerOptions {
  std::size_t max_tracked = kDefaultMaxTracked;      // rounded up to a power of two
  std::uint64_t sample_interval_ns = 1'000'000'000;  // growth samples (doubled past 256 samples)
  // Address sampling (`trace --sample N`, N = 1 << sample_shift): the kernel's event filters pass
  // only objects whose address has bits [page_shift, page_shift + sample_shift) clear, i.e. the
  // objects in 1 of N pages, for allocation and free alike. Every traced allocation then stands
  // for sample_weight() allocations in the counts, bytes and growth of the report.
  unsigned sample_shift = 0;
  unsigned page_shift = 12;
  // The BPF backend samples by a hash of the address instead (bpf_kmem.h, address_sampled()):
  // every traced allocation stands for 2^sample_shift, whatever its size.
  bool address_hash = false;
};

// How many allocations of `bytes` one sampled allocation stands for (as a power of two). Objects of
// a page or less, and objects whose size has no power-of-two factor above a page, fall on every
// page alike: N. An object whose size is a multiple of 2^k pages sits at addresses aligned to 2^k
// pages (slab objects at multiples of their size in a naturally aligned slab; kmalloc_large pages
// of order k), so the low k sampled bits are always clear and it is sampled 2^k times as often: N /
// 2^k.
unsigned sample_weight_shift(std::uint64_t bytes, unsigned sample_shift, unsigned page_shift);
inline std::uint32_t sample_weight(std::uint64_t bytes, unsigned sample_shift,
                                   unsigned page_shift) {
  return std::uint32_t{1} << sample_weight_shift(bytes, sample_shift, page_shift);
}

struct CountAndBytes {
  std::uint64_t outstanding = 0;
  std::uint64_t bytes = 0;
};

// With address sampling (TrackerOptions::sample_shift) every count and byte figure of a site,
// cache or pid is an estimate: the sampled allocations, each weighted by sample_weight(). The
// TraceTotals count the events traced.
struct SiteReport {
  std::uint64_t call_site = 0;
  std::uint64_t outstanding = 0;  // allocations from here not freed and at least min_age old
  std::uint64_t bytes = 0;
  double oldest_age_s = 0;
  std::uint64_t allocations = 0;  // every allocation seen from here (tracked or not)
  std::uint64_t frees = 0;        // of those, freed during the trace
  // Least-squares slope of the site's outstanding count over the samples (objects per second),
  // and the change from the first to the last sample.
  double growth_per_s = 0;
  std::int64_t net_growth = 0;
  std::vector<std::pair<std::uint16_t, CountAndBytes>> caches;  // by cache id, most first
  std::vector<std::pair<std::int32_t, CountAndBytes>> pids;     // most first
};

struct TraceTotals {
  std::uint64_t events = 0;
  std::uint64_t allocations = 0;
  std::uint64_t frees = 0;
  std::uint64_t paired_frees = 0;
  std::uint64_t unpaired_frees = 0;         // object allocated before the trace (or untracked)
  std::uint64_t untracked_allocations = 0;  // the cap was reached
  std::uint64_t reallocated = 0;  // an allocation of a pointer already tracked (a free was lost)
  std::uint64_t tracked = 0;      // outstanding now
  std::uint64_t max_tracked = 0;  // the cap
  bool cap_reached = false;
  std::uint32_t sample_rate = 1;  // N of --sample: site counts and bytes are estimates when > 1
  std::uint64_t first_time = 0, last_time = 0;  // trace clock of the first and last event
};

// Events the kernel could not hand to the reader (a run's counters; zero for a saved trace's
// replay, which reads what the saving run counted).
struct LostEvents {
  std::uint64_t overrun = 0;         // per_cpu/cpuN/stats "overrun" (overwritten before read)
  std::uint64_t dropped = 0;         // "dropped events" (buffer full; BPF: the ring was full)
  std::uint64_t commit_overrun = 0;  // "commit overrun" (nested writers)
  std::uint64_t nested = 0;  // BPF: program runs the kernel skipped (already running on the CPU)
  std::uint64_t total() const { return overrun + dropped + commit_overrun + nested; }
};

struct TraceReport {
  TraceTotals totals;
  std::vector<SiteReport> call_sites;  // most outstanding bytes first
  std::vector<std::pair<std::uint16_t, CountAndBytes>> caches;
  std::vector<std::pair<std::int32_t, CountAndBytes>> pids;
  std::uint64_t end_time = 0;
  std::uint64_t min_age_ns = 0;
  std::size_t samples = 0;
};

class AllocationTracker {
 public:
  explicit AllocationTracker(TrackerOptions options = {});

  // Events must come in time order (merge the CPUs first: see TraceProcessor).
  void add(const KmemEvent& event);
  // Records every call site's outstanding count at `time` when a sample interval has passed.
  void maybe_sample(std::uint64_t time);

  // Outstanding allocations at least min_age_ns old at end_time (0: the last event's time).
  TraceReport report(std::uint64_t end_time, std::uint64_t min_age_ns,
                     std::size_t max_per_site = 5) const;
  // Brings the table slot of `ptr` into the cache ahead of its add(): the table is far bigger
  // than the cache, and the processor knows the next pointers.
  void prefetch(std::uint64_t ptr) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[index_of(ptr)]);
  }
  const TraceTotals& totals() const { return totals_; }
  // Every call site seen, in the order first seen.
  std::vector<std::uint64_t> call_sites() const;
  std::size_t table_bytes() const { return slots_.size() * sizeof(Slot); }

 private:
  struct Slot {
    std::uint64_t ptr = 0;  // 0: empty (the kernel never returns NULL with an event we track)
    std::uint64_t time = 0;
    std::uint32_t site = 0;
    std::uint32_t bytes = 0;
    std::int32_t pid = 0;
    std::uint16_t cache = kNoCache;
    std::uint16_t weight_shift = 0;  // log2 of the allocation's sample weight
  };
  static_assert(sizeof(Slot) == 32);
  struct Site {
    std::uint64_t call_site = 0;
    std::uint64_t allocations = 0, frees = 0;
    std::int64_t outstanding = 0;
    std::vector<std::int32_t> samples;  // outstanding at each sample time
  };

  std::size_t index_of(std::uint64_t ptr) const {
    return static_cast<std::size_t>((ptr * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  Slot* find(std::uint64_t ptr);
  void erase(std::size_t index);
  void grow();
  std::uint32_t site_of(std::uint64_t call_site);
  void take_sample(std::uint64_t time);

  TrackerOptions options_;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
  std::size_t used_ = 0;
  std::size_t max_slots_ = 0;
  std::vector<Site> sites_;
  std::unordered_map<std::uint64_t, std::uint32_t> site_index_;
  struct SiteCacheEntry {
    std::uint64_t call_site = 0;
    std::uint32_t index = 0;
  };
  static constexpr std::size_t kSiteCache = 1024;
  std::vector<SiteCacheEntry> site_cache_ = std::vector<SiteCacheEntry>(kSiteCache);
  std::vector<std::uint64_t> sample_times_;
  std::uint64_t next_sample_ = 0;
  std::uint64_t sample_interval_ = 0;
  TraceTotals totals_;
};

}  // namespace poolscope::trace
