// Allocation pairing and grouping for `trace`.
#include "trace/tracker.h"

#include <algorithm>
#include <bit>

namespace poolscope::trace {

namespace {
constexpr std::size_t kInitialSlots = 4096;
constexpr std::size_t kMaxSamples = 256;

template <class Key>
std::vector<std::pair<Key, CountAndBytes>> sorted_groups(
    const std::unordered_map<Key, CountAndBytes>& groups, std::size_t limit) {
  std::vector<std::pair<Key, CountAndBytes>> out(groups.begin(), groups.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.second.outstanding != b.second.outstanding) {
      return a.second.outstanding > b.second.outstanding;
    }
    return a.first < b.first;
  });
  if (limit != 0 && out.size() > limit) out.resize(limit);
  return out;
}
}  // namespace

unsigned sample_weight_shift(std::uint64_t bytes, unsigned sample_shift, unsigned page_shift) {
  if (sample_shift == 0) return 0;
  sample_shift = std::min(sample_shift, 16u);
  unsigned aligned = 0;  // k: the object is aligned to 2^k pages
  const std::uint64_t page = std::uint64_t{1} << page_shift;
  if (bytes >= 2 * page && bytes % page == 0) {
    aligned = static_cast<unsigned>(std::countr_zero(bytes >> page_shift));
  }
  return sample_shift - std::min(aligned, sample_shift);
}

AllocationTracker::AllocationTracker(TrackerOptions options) : options_(options) {
  options_.max_tracked = std::bit_ceil(std::max<std::size_t>(options_.max_tracked, 16));
  max_slots_ = options_.max_tracked * 2;
  sample_interval_ = std::max<std::uint64_t>(options_.sample_interval_ns, 1'000'000);
  totals_.max_tracked = options_.max_tracked;
  options_.sample_shift = std::min(options_.sample_shift, 16u);
  totals_.sample_rate = std::uint32_t{1} << options_.sample_shift;
}

AllocationTracker::Slot* AllocationTracker::find(std::uint64_t ptr) {
  if (slots_.empty()) return nullptr;
  for (std::size_t i = index_of(ptr);; i = (i + 1) & mask_) {
    if (slots_[i].ptr == ptr) return &slots_[i];
    if (slots_[i].ptr == 0) return nullptr;
  }
}

void AllocationTracker::erase(std::size_t i) {
  // Backward-shift deletion keeps linear probing free of tombstones.
  std::size_t j = i;
  for (;;) {
    j = (j + 1) & mask_;
    if (slots_[j].ptr == 0) break;
    const std::size_t home = index_of(slots_[j].ptr);
    const bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
    if (!stays) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
  --used_;
}

void AllocationTracker::grow() {
  const std::size_t size = slots_.empty() ? std::min(kInitialSlots, max_slots_) : slots_.size() * 2;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(size, Slot{});
  mask_ = size - 1;
  shift_ = 64 - static_cast<unsigned>(std::countr_zero(size));
  for (const Slot& slot : old) {
    if (slot.ptr == 0) continue;
    std::size_t i = index_of(slot.ptr);
    while (slots_[i].ptr != 0) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
}

std::uint32_t AllocationTracker::site_of(std::uint64_t call_site) {
  // A small direct-mapped cache in front of the map: a few hundred sites do most allocations.
  SiteCacheEntry& cached = site_cache_[(call_site ^ (call_site >> 9)) & (kSiteCache - 1)];
  if (cached.call_site == call_site && cached.index < sites_.size() &&
      sites_[cached.index].call_site == call_site) {
    return cached.index;
  }
  auto [it, added] = site_index_.try_emplace(call_site, static_cast<std::uint32_t>(sites_.size()));
  if (added) {
    Site site;
    site.call_site = call_site;
    site.samples.assign(sample_times_.size(), 0);
    sites_.push_back(std::move(site));
  }
  cached = {call_site, it->second};
  return it->second;
}

void AllocationTracker::add(const KmemEvent& event) {
  ++totals_.events;
  if (totals_.first_time == 0) totals_.first_time = event.time;
  totals_.last_time = std::max(totals_.last_time, event.time);
  if (event.is_alloc()) {
    ++totals_.allocations;
    if (event.ptr == 0) return;  // a failed allocation
    const std::uint32_t site = site_of(event.call_site);
    const unsigned shift =
        options_.address_hash
            ? options_.sample_shift
            : sample_weight_shift(event.bytes, options_.sample_shift, options_.page_shift);
    const std::int64_t weight = std::int64_t{1} << shift;
    sites_[site].allocations += static_cast<std::uint64_t>(weight);
    if ((used_ + 1) * 2 > slots_.size() && slots_.size() < max_slots_) grow();
    // One probe finds either the pointer (still tracked) or the free slot to put it in.
    std::size_t i = index_of(event.ptr);
    while (slots_[i].ptr != 0 && slots_[i].ptr != event.ptr) i = (i + 1) & mask_;
    if (slots_[i].ptr == event.ptr) {
      // The pointer is handed out again: its free was not seen (lost, or not traced).
      ++totals_.reallocated;
      sites_[slots_[i].site].outstanding -= std::int64_t{1} << slots_[i].weight_shift;
      slots_[i] = Slot{event.ptr,
                       event.time,
                       site,
                       event.bytes,
                       event.pid,
                       event.cache,
                       static_cast<std::uint16_t>(shift)};
      sites_[site].outstanding += weight;
      return;
    }
    if ((used_ + 1) * 2 > slots_.size()) {
      ++totals_.untracked_allocations;
      totals_.cap_reached = true;
      return;
    }
    slots_[i] = Slot{event.ptr,
                     event.time,
                     site,
                     event.bytes,
                     event.pid,
                     event.cache,
                     static_cast<std::uint16_t>(shift)};
    ++used_;
    sites_[site].outstanding += weight;
    totals_.tracked = used_;
  } else if (event.is_free()) {
    ++totals_.frees;
    if (event.ptr == 0) return;  // kfree(NULL)
    Slot* slot = find(event.ptr);
    if (slot == nullptr) {
      ++totals_.unpaired_frees;
      return;
    }
    ++totals_.paired_frees;
    Site& site = sites_[slot->site];
    const std::int64_t weight = std::int64_t{1} << slot->weight_shift;
    site.frees += static_cast<std::uint64_t>(weight);
    site.outstanding -= weight;
    erase(static_cast<std::size_t>(slot - slots_.data()));
    totals_.tracked = used_;
  }
}

std::vector<std::uint64_t> AllocationTracker::call_sites() const {
  std::vector<std::uint64_t> out;
  out.reserve(sites_.size());
  for (const Site& site : sites_) out.push_back(site.call_site);
  return out;
}

void AllocationTracker::take_sample(std::uint64_t time) {
  sample_times_.push_back(time);
  for (Site& site : sites_) {
    site.samples.push_back(static_cast<std::int32_t>(
        std::clamp<std::int64_t>(site.outstanding, INT32_MIN, INT32_MAX)));
  }
  if (sample_times_.size() > kMaxSamples) {
    // Keep every other sample and sample half as often: bounded memory for any duration.
    auto halve = [](auto& values) {
      std::size_t out = 0;
      for (std::size_t i = 1; i < values.size(); i += 2) values[out++] = values[i];
      values.resize(out);
    };
    halve(sample_times_);
    for (Site& site : sites_) halve(site.samples);
    sample_interval_ *= 2;
  }
}

void AllocationTracker::maybe_sample(std::uint64_t time) {
  if (next_sample_ == 0) {
    next_sample_ = time + sample_interval_;
    take_sample(time);
    return;
  }
  if (time < next_sample_) return;
  take_sample(time);
  next_sample_ = time + sample_interval_;
}

TraceReport AllocationTracker::report(std::uint64_t end_time, std::uint64_t min_age_ns,
                                      std::size_t max_per_site) const {
  TraceReport out;
  out.totals = totals_;
  out.end_time = end_time != 0 ? end_time : totals_.last_time;
  out.min_age_ns = min_age_ns;
  out.samples = sample_times_.size();
  struct Group {
    CountAndBytes total;
    std::uint64_t oldest = UINT64_MAX;
    std::unordered_map<std::uint16_t, CountAndBytes> caches;
    std::unordered_map<std::int32_t, CountAndBytes> pids;
  };
  std::vector<Group> groups(sites_.size());
  std::unordered_map<std::uint16_t, CountAndBytes> caches;
  std::unordered_map<std::int32_t, CountAndBytes> pids;
  for (const Slot& slot : slots_) {
    if (slot.ptr == 0) continue;
    if (slot.time > out.end_time || out.end_time - slot.time < min_age_ns) continue;
    Group& group = groups[slot.site];
    const std::uint64_t weight = std::uint64_t{1} << slot.weight_shift;
    for (CountAndBytes* counter : {&group.total, &group.caches[slot.cache], &group.pids[slot.pid],
                                   &caches[slot.cache], &pids[slot.pid]}) {
      counter->outstanding += weight;
      counter->bytes += weight * slot.bytes;
    }
    group.oldest = std::min(group.oldest, slot.time);
  }
  out.caches = sorted_groups(caches, 0);
  out.pids = sorted_groups(pids, 0);
  for (std::size_t i = 0; i < sites_.size(); ++i) {
    const Site& site = sites_[i];
    const Group& group = groups[i];
    if (group.total.outstanding == 0) continue;
    SiteReport report;
    report.call_site = site.call_site;
    report.outstanding = group.total.outstanding;
    report.bytes = group.total.bytes;
    report.oldest_age_s = static_cast<double>(out.end_time - group.oldest) / 1e9;
    report.allocations = site.allocations;
    report.frees = site.frees;
    report.caches = sorted_groups(group.caches, max_per_site);
    report.pids = sorted_groups(group.pids, max_per_site);
    // Growth: the samples plus the count now.
    const std::size_t n = sample_times_.size() + 1;
    if (n >= 2 && !sample_times_.empty()) {
      double sum_t = 0, sum_y = 0, sum_tt = 0, sum_ty = 0;
      const double t0 = static_cast<double>(sample_times_.front());
      for (std::size_t k = 0; k < n; ++k) {
        const double t =
            (static_cast<double>(k + 1 < n ? sample_times_[k] : out.end_time) - t0) / 1e9;
        const double y = static_cast<double>(k + 1 < n ? site.samples[k] : site.outstanding);
        sum_t += t, sum_y += y, sum_tt += t * t, sum_ty += t * y;
      }
      const double denominator = static_cast<double>(n) * sum_tt - sum_t * sum_t;
      if (denominator > 1e-12) {
        report.growth_per_s = (static_cast<double>(n) * sum_ty - sum_t * sum_y) / denominator;
      }
      report.net_growth = site.outstanding - site.samples.front();
    }
    out.call_sites.push_back(std::move(report));
  }
  std::sort(out.call_sites.begin(), out.call_sites.end(),
            [](const SiteReport& a, const SiteReport& b) {
              if (a.bytes != b.bytes) return a.bytes > b.bytes;
              return a.call_site < b.call_site;
            });
  return out;
}

}  // namespace poolscope::trace
