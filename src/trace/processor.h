// From raw ring-buffer pages to the pairing engine: decodes the pages of every CPU, merges the
// CPUs' events in time order and feeds them to the AllocationTracker. Events newer than the
// watermark a caller gives are held back, so an allocation on one CPU is always seen before its
// free on another (the trace clock must be one all CPUs share: the session uses "mono").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "trace/kmem_events.h"
#include "trace/ring_buffer.h"
#include "trace/tracker.h"

namespace poolscope::trace {

struct ProcessorStats {
  std::uint64_t pages = 0;
  std::uint64_t records = 0;        // data records in the pages
  std::uint64_t other_records = 0;  // not one of the four kmem events
  std::uint64_t truncated_pages = 0;
  std::uint64_t missed_pages = 0;   // pages flagged "events lost before this page"
  std::uint64_t missed_events = 0;  // the count the kernel stored on those pages
  std::uint64_t filtered = 0;       // allocations of caches not asked for (BPF backend)
};

class TraceProcessor {
 public:
  TraceProcessor(PageLayout layout, KmemDecoder decoder, TrackerOptions options = {});

  // One page of one CPU (any number of pages per call, each layout.page_size() bytes; a shorter
  // last piece is decoded as far as it goes).
  void add_pages(std::span<const std::uint8_t> pages);
  // Records of the BPF backend (BpfRingWalk's format: a run of committed ring-buffer records in
  // the order the programs wrote them). Returns the bytes of whole records used.
  std::size_t add_bpf_records(std::span<const std::uint8_t> records);
  // Allocations of other caches are dropped (the tracefs backend has the kernel filter them);
  // frees all pass, since a kfree does not say its cache. Names as for `trace --cache`.
  void only_caches(std::vector<std::string> names);
  // Pairs every held event older than `watermark` (trace clock); UINT64_MAX: all of them.
  void flush(std::uint64_t watermark = UINT64_MAX);

  std::size_t pending() const { return pending_.size(); }
  const ProcessorStats& stats() const { return stats_; }
  const AllocationTracker& tracker() const { return tracker_; }
  const KmemDecoder& decoder() const { return decoder_; }

 private:
  PageLayout layout_;
  KmemDecoder decoder_;
  AllocationTracker tracker_;
  std::vector<KmemEvent> pending_;
  std::vector<std::size_t> runs_;  // where each add_pages() call's events begin in pending_
  std::vector<std::string> only_caches_;
  std::vector<std::int8_t> cache_wanted_;  // by cache id: -1 not looked up yet, 0 no, 1 yes
  ProcessorStats stats_;
};

}  // namespace poolscope::trace
