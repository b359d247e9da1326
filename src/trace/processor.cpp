// Page decoding, CPU merge and pairing.
#include "trace/processor.h"

#include <algorithm>

namespace poolscope::trace {

TraceProcessor::TraceProcessor(PageLayout layout, KmemDecoder decoder, TrackerOptions options)
    : layout_(layout), decoder_(std::move(decoder)), tracker_(options) {}

void TraceProcessor::add_pages(std::span<const std::uint8_t> pages) {
  const std::size_t page_size = layout_.page_size();
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

void TraceProcessor::flush(std::uint64_t watermark) {
  if (pending_.empty()) return;
  // Each CPU's events are already in order: a stable sort by time keeps them so and merges CPUs.
  std::stable_sort(pending_.begin(), pending_.end(),
                   [](const KmemEvent& a, const KmemEvent& b) { return a.time < b.time; });
  auto cut = watermark == UINT64_MAX
                 ? pending_.end()
                 : std::lower_bound(pending_.begin(), pending_.end(), watermark,
                                    [](const KmemEvent& e, std::uint64_t t) { return e.time < t; });
  for (auto it = pending_.begin(); it != cut; ++it) {
    tracker_.maybe_sample(it->time);
    tracker_.add(*it);
  }
  pending_.erase(pending_.begin(), cut);
}

}  // namespace poolscope::trace
