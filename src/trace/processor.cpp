// Page decoding, CPU merge and pairing.
#include "trace/processor.h"

#include <algorithm>

#include "trace/bpf_kmem.h"

namespace poolscope::trace {

TraceProcessor::TraceProcessor(PageLayout layout, KmemDecoder decoder, TrackerOptions options)
    : layout_(layout), decoder_(std::move(decoder)), tracker_(options) {}

void TraceProcessor::add_pages(std::span<const std::uint8_t> pages) {
  const std::size_t page_size = layout_.page_size();
  runs_.push_back(pending_.size());  // one call = one CPU's pages, in that CPU's time order
  while (!pages.empty()) {
    const auto page = pages.first(std::min(page_size, pages.size()));
    pages = pages.subspan(page.size());
    KmemEvent event;
    const PageInfo info = decode_page(page, layout_, [&](std::uint64_t time, auto record) {
      if (decoder_.decode(time, record, event)) {
        pending_.push_back(event);
      } else {
        ++stats_.other_records;
      }
    });
    ++stats_.pages;
    stats_.records += info.records;
    stats_.truncated_pages += info.truncated;
    stats_.missed_pages += info.missed_events;
    stats_.missed_events += info.missed_count;
  }
}

std::size_t TraceProcessor::add_bpf_records(std::span<const std::uint8_t> records) {
  const std::size_t first = pending_.size();
  runs_.push_back(first);
  KmemEvent event;
  const BpfRingWalk walk = walk_bpf_ring(records, [&](std::span<const std::uint8_t> record) {
    if (!decode_bpf_record(record, decoder_, event)) {
      ++stats_.other_records;
      return;
    }
    if (!only_caches_.empty() && event.is_alloc()) {
      if (event.cache >= cache_wanted_.size()) {
        cache_wanted_.resize(std::size_t{event.cache} + 1, -1);
      }
      std::int8_t& wanted = cache_wanted_[event.cache];
      if (wanted < 0) {
        const std::string_view name = decoder_.cache_name(event.cache);
        wanted = std::find(only_caches_.begin(), only_caches_.end(), name) != only_caches_.end();
      }
      if (wanted == 0) {
        ++stats_.filtered;
        return;
      }
    }
    pending_.push_back(event);
  });
  stats_.records += walk.records;
  stats_.truncated_pages += walk.truncated;
  // The programs take the time just before they reserve their record, so records of two CPUs
  // may be out of order by a few nanoseconds; a record and the free of its object never are (the
  // free happens after the allocation's program has written it).
  auto by_time = [](const KmemEvent& a, const KmemEvent& b) { return a.time < b.time; };
  const auto begin = pending_.begin() + static_cast<std::ptrdiff_t>(first);
  if (!std::is_sorted(begin, pending_.end(), by_time)) {
    std::stable_sort(begin, pending_.end(), by_time);
  }
  return walk.consumed;
}

void TraceProcessor::only_caches(std::vector<std::string> names) {
  only_caches_ = std::move(names);
  cache_wanted_.clear();
}

void TraceProcessor::flush(std::uint64_t watermark) {
  if (pending_.empty()) return;
  // Each add_pages() call added one CPU's events in time order (a run); merging the runs orders
  // the CPUs' events without a full sort. A run that is not in order (clock trouble) falls back
  // to a stable sort.
  auto by_time = [](const KmemEvent& a, const KmemEvent& b) { return a.time < b.time; };
  runs_.push_back(pending_.size());
  bool runs_sorted = true;
  for (std::size_t r = 0; r + 1 < runs_.size() && runs_sorted; ++r) {
    runs_sorted =
        std::is_sorted(pending_.begin() + static_cast<std::ptrdiff_t>(runs_[r]),
                       pending_.begin() + static_cast<std::ptrdiff_t>(runs_[r + 1]), by_time);
  }
  if (!runs_sorted) {
    std::stable_sort(pending_.begin(), pending_.end(), by_time);
  } else if (!std::is_sorted(pending_.begin(), pending_.end(), by_time)) {
    // Merge neighbouring runs pairwise until one is left.
    std::vector<std::size_t> bounds = runs_;
    while (bounds.size() > 2) {
      std::vector<std::size_t> merged{bounds.front()};
      for (std::size_t r = 0; r + 1 < bounds.size(); r += 2) {
        const auto first = pending_.begin() + static_cast<std::ptrdiff_t>(bounds[r]);
        const std::size_t mid = bounds[r + 1];
        const std::size_t last = r + 2 < bounds.size() ? bounds[r + 2] : mid;
        std::inplace_merge(first, pending_.begin() + static_cast<std::ptrdiff_t>(mid),
                           pending_.begin() + static_cast<std::ptrdiff_t>(last), by_time);
        merged.push_back(last);
      }
      if (merged.back() != bounds.back()) merged.push_back(bounds.back());
      bounds = std::move(merged);
    }
  }
  runs_.clear();
  auto cut = watermark == UINT64_MAX
                 ? pending_.end()
                 : std::lower_bound(pending_.begin(), pending_.end(), watermark,
                                    [](const KmemEvent& e, std::uint64_t t) { return e.time < t; });
  constexpr std::ptrdiff_t kPrefetchAhead = 8;  // about one table miss in flight per event
  for (auto it = pending_.begin(); it != cut; ++it) {
    if (cut - it > kPrefetchAhead) tracker_.prefetch(it[kPrefetchAhead].ptr);
    tracker_.maybe_sample(it->time);
    tracker_.add(*it);
  }
  pending_.erase(pending_.begin(), cut);
  if (!pending_.empty()) runs_.push_back(0);  // what is held back is one ordered run
}

}  // namespace poolscope::trace
