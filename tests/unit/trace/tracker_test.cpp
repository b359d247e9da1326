#include "trace/tracker.h"

#include <gtest/gtest.h>

#include "trace/processor.h"
#include "unit/trace/trace_fixtures.h"

namespace poolscope::trace {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;

KmemEvent alloc(std::uint64_t time, std::uint64_t ptr, std::uint64_t site, std::int32_t pid = 1,
                std::uint32_t bytes = 64, std::uint16_t cache = 0) {
  KmemEvent e;
  e.time = time, e.ptr = ptr, e.call_site = site, e.pid = pid, e.bytes = bytes, e.cache = cache;
  e.kind = KmemKind::kKmalloc;
  return e;
}
KmemEvent release(std::uint64_t time, std::uint64_t ptr) {
  KmemEvent e;
  e.time = time, e.ptr = ptr, e.kind = KmemKind::kKfree;
  return e;
}

TEST(Tracker, PairsFreesAndGroupsOutstandingBySiteCacheAndPid) {
  AllocationTracker tracker;
  tracker.add(alloc(1 * kSecond, 0x1000, 0xa, 10, 64, 0));
  tracker.add(alloc(2 * kSecond, 0x2000, 0xa, 11, 64, 0));
  tracker.add(alloc(3 * kSecond, 0x3000, 0xb, 10, 128, 1));
  tracker.add(release(4 * kSecond, 0x2000));
  tracker.add(release(4 * kSecond, 0x9999));  // allocated before the trace
  tracker.add(release(4 * kSecond, 0));       // kfree(NULL)
  auto report = tracker.report(5 * kSecond, 0);
  EXPECT_EQ(report.totals.allocations, 3u);
  EXPECT_EQ(report.totals.frees, 3u);
  EXPECT_EQ(report.totals.paired_frees, 1u);
  EXPECT_EQ(report.totals.unpaired_frees, 1u);
  EXPECT_EQ(report.totals.tracked, 2u);
  ASSERT_EQ(report.call_sites.size(), 2u);
  EXPECT_EQ(report.call_sites[0].call_site, 0xbu);  // most bytes first
  EXPECT_EQ(report.call_sites[0].bytes, 128u);
  EXPECT_EQ(report.call_sites[1].call_site, 0xau);
  EXPECT_EQ(report.call_sites[1].outstanding, 1u);
  EXPECT_EQ(report.call_sites[1].allocations, 2u);
  EXPECT_EQ(report.call_sites[1].frees, 1u);
  EXPECT_DOUBLE_EQ(report.call_sites[1].oldest_age_s, 4.0);
  ASSERT_EQ(report.call_sites[1].pids.size(), 1u);
  EXPECT_EQ(report.call_sites[1].pids[0].first, 10);
  ASSERT_EQ(report.pids.size(), 1u);
  EXPECT_EQ(report.pids[0].second.outstanding, 2u);
  ASSERT_EQ(report.caches.size(), 2u);
}

TEST(Tracker, MinAgeHidesYoungAllocations) {
  AllocationTracker tracker;
  tracker.add(alloc(1 * kSecond, 0x1000, 0xa));
  tracker.add(alloc(9 * kSecond, 0x2000, 0xb));
  auto report = tracker.report(10 * kSecond, 5 * kSecond);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_EQ(report.call_sites[0].call_site, 0xau);
}

TEST(Tracker, ReusedPointerWithoutFreeReplacesTheOldAllocation) {
  AllocationTracker tracker;
  tracker.add(alloc(1, 0x1000, 0xa));
  tracker.add(alloc(2, 0x1000, 0xb));
  auto report = tracker.report(3, 0);
  EXPECT_EQ(report.totals.reallocated, 1u);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_EQ(report.call_sites[0].call_site, 0xbu);
}

TEST(SampleWeight, PageSizedObjectsCountNObjectsAlignedToPagesFewer) {
  EXPECT_EQ(sample_weight(64, 0, 12), 1u);  // no sampling
  EXPECT_EQ(sample_weight(64, 3, 12), 8u);
  EXPECT_EQ(sample_weight(4096, 3, 12), 8u);
  EXPECT_EQ(sample_weight(12288, 3, 12), 8u);  // 3 pages: no power-of-two alignment above a page
  EXPECT_EQ(sample_weight(8192, 3, 12), 4u);   // aligned to 2 pages: bit 12 always clear
  EXPECT_EQ(sample_weight(16384, 3, 12), 2u);
  EXPECT_EQ(sample_weight(32768, 3, 12), 1u);  // every such object is in a sampled page
  EXPECT_EQ(sample_weight(1u << 20, 3, 12), 1u);
  EXPECT_EQ(sample_weight(8192, 3, 14), 8u);  // 16 KiB pages: 8 KiB is less than a page
}

// With address sampling every tracked allocation stands for sample_weight() of them, in counts,
// bytes, growth, caches and pids alike; a free takes away what its allocation added.
TEST(Tracker, SampledAllocationsAreScaledByTheirWeight) {
  TrackerOptions options;
  options.sample_shift = 3;
  options.page_shift = 12;
  AllocationTracker tracker(options);
  tracker.add(alloc(1 * kSecond, 0x10000, 0xa, 10, 64, 0));
  tracker.add(alloc(2 * kSecond, 0x18000, 0xa, 10, 64, 0));
  tracker.add(alloc(2 * kSecond, 0x40000, 0xb, 11, 8192, 1));  // aligned to 2 pages: weight 4
  tracker.add(release(3 * kSecond, 0x18000));
  auto report = tracker.report(4 * kSecond, 0);
  EXPECT_EQ(report.totals.sample_rate, 8u);
  EXPECT_EQ(report.totals.allocations, 3u);  // the events themselves are counted as seen
  EXPECT_EQ(report.totals.tracked, 2u);
  ASSERT_EQ(report.call_sites.size(), 2u);
  EXPECT_EQ(report.call_sites[0].call_site, 0xbu);
  EXPECT_EQ(report.call_sites[0].outstanding, 4u);
  EXPECT_EQ(report.call_sites[0].bytes, 4u * 8192);
  EXPECT_EQ(report.call_sites[1].call_site, 0xau);
  EXPECT_EQ(report.call_sites[1].outstanding, 8u);
  EXPECT_EQ(report.call_sites[1].bytes, 8u * 64);
  EXPECT_EQ(report.call_sites[1].allocations, 16u);
  EXPECT_EQ(report.call_sites[1].frees, 8u);
  ASSERT_EQ(report.pids.size(), 2u);
  EXPECT_EQ(report.pids[0].first, 10);
  EXPECT_EQ(report.pids[0].second.outstanding, 8u);
  EXPECT_EQ(report.pids[1].second.outstanding, 4u);
}

TEST(Tracker, SampledGrowthIsScaled) {
  TrackerOptions options;
  options.sample_shift = 2;
  options.sample_interval_ns = kSecond;
  AllocationTracker tracker(options);
  for (std::uint64_t t = 0; t <= 10; ++t) {
    tracker.maybe_sample(t * kSecond + 1);
    tracker.add(alloc(t * kSecond + 1, 0x100000 + t * 0x4000, 0xa));  // one sampled object a second
  }
  auto report = tracker.report(10 * kSecond + 1, 0);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_NEAR(report.call_sites[0].growth_per_s, 4.0, 0.5);
  EXPECT_EQ(report.call_sites[0].outstanding, 44u);
}

TEST(Tracker, CapIsEnforcedAndReported) {
  TrackerOptions options;
  options.max_tracked = 16;
  AllocationTracker tracker(options);
  for (std::uint64_t i = 1; i <= 100; ++i) tracker.add(alloc(i, i * 64, 0xa));
  auto report = tracker.report(0, 0);
  EXPECT_TRUE(report.totals.cap_reached);
  EXPECT_EQ(report.totals.tracked, 16u);
  EXPECT_EQ(report.totals.untracked_allocations, 84u);
  EXPECT_LE(tracker.table_bytes(), 16 * kBytesPerTrackedAllocation);
}

TEST(Tracker, ManyAllocationsAndFreesKeepTheTableConsistent) {
  AllocationTracker tracker;
  // Interleaved allocations and frees exercise growth and backward-shift deletion.
  for (std::uint64_t i = 1; i <= 50000; ++i) {
    tracker.add(alloc(i, i * 4096, 0xa));
    if (i % 3 != 0) tracker.add(release(i, i * 4096));
  }
  for (std::uint64_t i = 3; i <= 50000; i += 3) tracker.add(release(60000, i * 4096));
  auto report = tracker.report(0, 0);
  EXPECT_EQ(report.totals.tracked, 0u);
  EXPECT_EQ(report.totals.unpaired_frees, 0u);
  EXPECT_TRUE(report.call_sites.empty());
}

TEST(Tracker, GrowthIsTheSlopeOfOutstandingOverTime) {
  TrackerOptions options;
  options.sample_interval_ns = kSecond;
  AllocationTracker tracker(options);
  std::uint64_t ptr = 0x1000;
  // Site 0xa leaks 10 objects per second; site 0xb allocates and frees.
  for (std::uint64_t ms = 0; ms < 10'000; ms += 100) {
    const std::uint64_t time = kSecond + ms * 1'000'000;
    tracker.maybe_sample(time);
    tracker.add(alloc(time, ptr += 64, 0xa));
    tracker.add(alloc(time, ptr += 64, 0xb));
    tracker.add(release(time + 1, ptr));
  }
  auto report = tracker.report(11 * kSecond, 0);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_NEAR(report.call_sites[0].growth_per_s, 10.0, 0.5);
  EXPECT_GE(report.call_sites[0].net_growth, 90);
  EXPECT_GE(report.samples, 9u);
}

TEST(Processor, MergesCpusInTimeOrderSoCrossCpuFreesPair) {
  auto layout = testing::real_page_layout();
  auto formats = testing::real_kmem_formats();
  auto decoder = KmemDecoder::create(formats);
  ASSERT_TRUE(decoder);
  TraceProcessor processor(layout, std::move(*decoder));
  // CPU 1's page (the free, at 2000) is read before CPU 0's (the allocation, at 1000).
  testing::PageBuilder cpu1(layout, 2000);
  cpu1.add(0, testing::RecordBuilder(formats.kfree).set("ptr", 0x5000).bytes());
  testing::PageBuilder cpu0(layout, 1000);
  cpu0.add(0, testing::RecordBuilder(formats.kmalloc)
                  .set("ptr", 0x5000)
                  .set("call_site", 0xa)
                  .set("bytes_alloc", 32)
                  .bytes());
  cpu0.add(5000, testing::RecordBuilder(formats.kmalloc)
                     .set("ptr", 0x6000)
                     .set("call_site", 0xb)
                     .set("bytes_alloc", 32)
                     .bytes());
  processor.add_pages(cpu1.finish());
  processor.add_pages(cpu0.finish());
  processor.flush(3000);  // the allocation at 6000 waits
  EXPECT_EQ(processor.pending(), 1u);
  processor.flush();
  const auto& totals = processor.tracker().totals();
  EXPECT_EQ(totals.paired_frees, 1u);
  EXPECT_EQ(totals.unpaired_frees, 0u);
  EXPECT_EQ(totals.tracked, 1u);
  EXPECT_EQ(processor.stats().pages, 2u);
  EXPECT_EQ(processor.stats().records, 3u);
}

}  // namespace
}  // namespace poolscope::trace
