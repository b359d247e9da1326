// The BPF backend's portable part: the ring walk, the record decoding, the processor fed with
// BPF records (ordering, cache filter, saved traces), address-hash sampling and page call sites.
#include "trace/bpf_kmem.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string_view>

#include "trace/page_sites.h"
#include "trace/processor.h"
#include "trace/saved_trace.h"
#include "trace/tracker.h"

namespace poolscope::trace {
namespace {

KmemEvent event(KmemKind kind, std::uint64_t time, std::uint64_t ptr, std::uint64_t call_site = 0,
                std::uint32_t bytes = 0, std::int32_t pid = 0) {
  KmemEvent e;
  e.kind = kind;
  e.time = time;
  e.ptr = ptr;
  e.call_site = call_site;
  e.bytes = bytes;
  e.pid = pid;
  return e;
}

TEST(BpfRing, WalksCommittedRecordsAndSkipsDiscardedOnes) {
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 1, 0x1000, 0xa, 64));
  append_bpf_ring_record(ring, event(KmemKind::kKfree, 2, 0x1000));
  ring[kBpfRecordBytes + kBpfRingHeaderBytes + 3] |= 0x40;  // the second: discarded
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 3, 0x2000, 0xb, 192), "dentry");
  std::vector<std::size_t> lengths;
  const BpfRingWalk walk =
      walk_bpf_ring(ring, [&](auto record) { lengths.push_back(record.size()); });
  EXPECT_EQ(walk.records, 2u);
  EXPECT_EQ(walk.discarded, 1u);
  EXPECT_EQ(walk.consumed, ring.size());
  EXPECT_FALSE(walk.busy);
  EXPECT_FALSE(walk.truncated);
  EXPECT_EQ(lengths, (std::vector<std::size_t>{kBpfRecordBytes, kBpfCacheAllocRecordBytes}));
}

TEST(BpfRing, StopsAtABusyRecordAndAtAHeaderLongerThanTheBytes) {
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 1, 0x1000, 0xa, 64));
  const std::size_t first = ring.size();
  append_bpf_ring_record(ring, event(KmemKind::kKfree, 2, 0x1000));
  ring[first + 3] |= 0x80;  // still being written
  std::size_t seen = 0;
  BpfRingWalk walk = walk_bpf_ring(ring, [&](auto) { ++seen; });
  EXPECT_TRUE(walk.busy);
  EXPECT_EQ(walk.consumed, first);
  EXPECT_EQ(seen, 1u);

  ring[first + 3] &= 0x7f;
  walk = walk_bpf_ring(std::span(ring).first(ring.size() - 1), [&](auto) { ++seen; });
  EXPECT_TRUE(walk.truncated);
  EXPECT_EQ(walk.consumed, first);

  const std::uint32_t huge = 0x3fffffff;  // a length no ring holds
  std::memcpy(ring.data(), &huge, 4);
  walk = walk_bpf_ring(ring, [&](auto) { ++seen; });
  EXPECT_TRUE(walk.truncated);
  EXPECT_EQ(walk.consumed, 0u);
}

TEST(BpfRecord, DecodesEveryKindAndNamesTheCaches) {
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 10, 0x1000, 0xa, 64, 7));
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 11, 0x2000, 0xb, 192, 8), "dentry");
  append_bpf_ring_record(ring, event(KmemKind::kKfree, 12, 0x1000, 0xc, 99, 9));
  append_bpf_ring_record(ring, event(KmemKind::kCacheFree, 13, 0x2000, 0xd));
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 14, 0x3000, 0xa, 16384));
  KmemDecoder names;
  std::vector<KmemEvent> out;
  walk_bpf_ring(ring, [&](auto record) {
    KmemEvent e;
    ASSERT_TRUE(decode_bpf_record(record, names, e));
    out.push_back(e);
  });
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].kind, KmemKind::kKmalloc);
  EXPECT_EQ(out[0].time, 10u);
  EXPECT_EQ(out[0].ptr, 0x1000u);
  EXPECT_EQ(out[0].call_site, 0xau);
  EXPECT_EQ(out[0].bytes, 64u);
  EXPECT_EQ(out[0].pid, 7);
  EXPECT_EQ(names.cache_name(out[0].cache), "kmalloc-64");
  EXPECT_EQ(out[1].kind, KmemKind::kCacheAlloc);
  EXPECT_EQ(out[1].bytes, 192u);
  EXPECT_EQ(names.cache_name(out[1].cache), "dentry");
  EXPECT_EQ(out[2].kind, KmemKind::kKfree);
  EXPECT_EQ(out[2].bytes, 0u) << "a free has no size";
  EXPECT_EQ(out[2].cache, kNoCache);
  EXPECT_EQ(out[3].kind, KmemKind::kCacheFree);
  EXPECT_EQ(names.cache_name(out[4].cache), "kmalloc-large");
}

TEST(BpfRecord, RejectsShortRecordsAndUnknownKinds) {
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 1, 0x1000, 0xa, 64), "x");
  KmemDecoder names;
  KmemEvent e;
  const auto record = std::span(ring).subspan(kBpfRingHeaderBytes);
  EXPECT_TRUE(decode_bpf_record(record, names, e));
  EXPECT_FALSE(decode_bpf_record(record.first(kBpfRecordBytes), names, e))
      << "a kmem_cache_alloc record without its name";
  EXPECT_FALSE(decode_bpf_record(record.first(kBpfRecordBytes - 1), names, e));
  std::vector<std::uint8_t> odd(record.begin(), record.end());
  odd[32] = 6;  // KmemKind::kOther is not written by any program (4 and 5: pages)
  EXPECT_FALSE(decode_bpf_record(odd, names, e));
}

TEST(BpfProcessor, PairsRecordsOutOfOrderByAFewNanosecondsAcrossReads) {
  TraceProcessor processor(PageLayout{}, KmemDecoder{});
  std::vector<std::uint8_t> first, second;
  // Two CPUs' programs took the time just before reserving: 105 was reserved before 100.
  append_bpf_ring_record(first, event(KmemKind::kKmalloc, 105, 0x1000, 0xa, 64, 1));
  append_bpf_ring_record(first, event(KmemKind::kKmalloc, 100, 0x2000, 0xb, 32, 1));
  append_bpf_ring_record(second, event(KmemKind::kKfree, 200, 0x1000));
  append_bpf_ring_record(second, event(KmemKind::kKfree, 210, 0x9000));  // allocated before
  EXPECT_EQ(processor.add_bpf_records(first), first.size());
  processor.flush(150);
  EXPECT_EQ(processor.add_bpf_records(second), second.size());
  processor.flush();
  const auto report = processor.tracker().report(1000, 0);
  EXPECT_EQ(report.totals.allocations, 2u);
  EXPECT_EQ(report.totals.paired_frees, 1u);
  EXPECT_EQ(report.totals.unpaired_frees, 1u);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_EQ(report.call_sites[0].call_site, 0xbu);
  EXPECT_EQ(report.call_sites[0].bytes, 32u);
  EXPECT_EQ(processor.stats().records, 4u);
}

TEST(BpfProcessor, KeepsOnlyTheCachesAskedForButEveryFree) {
  TraceProcessor processor(PageLayout{}, KmemDecoder{});
  processor.only_caches({"kmalloc-64", "dentry"});
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 1, 0x1000, 0xa, 64));
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 2, 0x2000, 0xb, 128));
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 3, 0x3000, 0xc, 192), "dentry");
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 4, 0x4000, 0xd, 256), "filp");
  append_bpf_ring_record(ring, event(KmemKind::kKfree, 5, 0x2000));
  processor.add_bpf_records(ring);
  processor.flush();
  const auto report = processor.tracker().report(10, 0);
  EXPECT_EQ(report.totals.allocations, 2u);
  EXPECT_EQ(processor.stats().filtered, 2u);
  EXPECT_EQ(report.totals.unpaired_frees, 1u) << "the free of a filtered object is unpaired";
  std::vector<std::uint64_t> sites;
  for (const auto& site : report.call_sites) sites.push_back(site.call_site);
  std::sort(sites.begin(), sites.end());
  EXPECT_EQ(sites, (std::vector<std::uint64_t>{0xa, 0xc}));
}

TEST(BpfProcessor, ABusyRecordIsLeftForTheNextRead) {
  TraceProcessor processor(PageLayout{}, KmemDecoder{});
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 1, 0x1000, 0xa, 64));
  const std::size_t first = ring.size();
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 2, 0x2000, 0xa, 64));
  ring[first + 3] |= 0x80;
  EXPECT_EQ(processor.add_bpf_records(ring), first);
  ring[first + 3] &= 0x7f;
  EXPECT_EQ(processor.add_bpf_records(std::span(ring).subspan(first)), ring.size() - first);
  processor.flush();
  EXPECT_EQ(processor.tracker().report(10, 0).totals.allocations, 2u);
}

TEST(BpfSavedTrace, ReplaysAsTheLiveRunProcessedIt) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("poolscope-bpf-saved-" + std::to_string(::getpid()) + ".pst");
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 100, 0x1000, 0xa, 64, 5));
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 200, 0x2000, 0xb, 192, 6), "dentry");
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 300, 0x3000, 0xc, 256, 6), "filp");
  append_bpf_ring_record(ring, event(KmemKind::kKfree, 400, 0x1000));
  {
    auto writer = SavedTraceWriter::create(path);
    ASSERT_TRUE(writer);
    ASSERT_TRUE(writer->text(
        SavedRecord::kMeta, 0,
        key_values_text(
            {{"backend", "bpf"}, {"caches", "kmalloc-64,dentry"}, {"sample_shift", "0"}})));
    ASSERT_TRUE(writer->bpf_records(std::span(ring).first(ring.size() / 2)));
    ASSERT_TRUE(writer->flush(250));
    ASSERT_TRUE(writer->bpf_records(std::span(ring).subspan(ring.size() / 2)));
    ASSERT_TRUE(writer->flush(UINT64_MAX));
    ASSERT_TRUE(writer->text(SavedRecord::kEnd, 0, "end_time 500\n"));
    ASSERT_TRUE(writer->close());
  }
  auto replay = [&] {
    std::ifstream in(path, std::ios::binary);
    return replay_saved_trace(in);
  }();  // closed before the removal (Windows refuses to remove an open file)
  std::error_code ec;
  std::filesystem::remove(path, ec);
  ASSERT_TRUE(replay) << replay.error().message;
  ASSERT_TRUE(replay->processor);
  EXPECT_TRUE(replay->texts.complete);
  const auto report = replay->processor->tracker().report(500, 0);
  EXPECT_EQ(report.totals.allocations, 2u) << "filp is not one of the caches asked for";
  EXPECT_EQ(report.totals.paired_frees, 1u);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_EQ(report.call_sites[0].call_site, 0xbu);
  EXPECT_EQ(replay->processor->decoder().cache_name(report.call_sites[0].caches[0].first),
            "dentry");
}

// The address hash samples 1 object in 2^shift, independently of the page the object is in: the
// 600 64-byte objects of a 50/s leak over 12 s (10 pages' worth, consecutive in their slab) are
// sampled about 75 times, never 0, and the estimate (8 per sampled object) is tight. A mask on the
// address bits (1 page in 8) samples whole pages: 0 or 64 objects at a time.
TEST(BpfSampling, TheAddressHashSamplesObjectsNotPages) {
  const unsigned shift = 3;
  std::size_t runs_missed = 0, worst_low = 600, worst_high = 0;
  for (std::uint64_t run = 0; run < 1000; ++run) {
    // A slab of 64-byte objects at a different (page-aligned) place each run.
    const std::uint64_t base = 0xffff888100000000ull + run * 0x53000;
    std::size_t sampled = 0;
    for (std::uint64_t i = 0; i < 600; ++i)
      sampled += address_sampled(base + i * 64, shift) ? 1 : 0;
    if (sampled == 0) ++runs_missed;
    worst_low = std::min(worst_low, sampled * 8);
    worst_high = std::max(worst_high, sampled * 8);
  }
  EXPECT_EQ(runs_missed, 0u);
  EXPECT_GE(worst_low, 600u / 2) << "estimate below 0.5x in some run";
  EXPECT_LE(worst_high, 600u * 3 / 2) << "estimate above 1.5x in some run";
  // Every address is decided the same way every time (allocation and free alike), and shift 0
  // samples all.
  EXPECT_EQ(address_sampled(0xffff888112345640ull, 3), address_sampled(0xffff888112345640ull, 3));
  EXPECT_TRUE(address_sampled(0xffff888112345640ull, 0));
}

// Issue 15: the hash estimate must be unbiased, not only never miss. 2,000 simulated 600-object
// leaks in kmalloc-64 whose objects are a random half of the slots of randomly placed slab pages
// (other users hold the rest; SLUB's freelists are randomised): the mean estimate over the runs
// is the true count (within 1%; measured 1.004x), and the spread is below a coin flip per object's
// (binomial sd sqrt(600 x 7) = 65; measured 46: Fibonacci hashing spreads a page's slots evenly).
TEST(BpfSampling, TheAddressHashEstimateIsUnbiasedOverRandomSlots) {
  const unsigned shift = 3;
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&] {  // splitmix64: a fixed, portable sequence
    state += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  constexpr int kRuns = 2000;
  double sum = 0, sum_sq = 0;
  std::size_t missed = 0;
  for (int run = 0; run < kRuns; ++run) {
    std::size_t objects = 0, sampled = 0;
    while (objects < 600) {
      const std::uint64_t page = 0xffff888100000000ull + (next() % (1ull << 24)) * 4096;
      for (std::uint64_t slot = 0; slot < 64 && objects < 600; ++slot) {
        if (next() % 2 == 0) continue;  // another user's object
        ++objects;
        sampled += address_sampled(page + slot * 64, shift) ? 1 : 0;
      }
    }
    const double estimate = static_cast<double>(sampled << shift);
    missed += sampled == 0 ? 1 : 0;
    sum += estimate;
    sum_sq += estimate * estimate;
  }
  const double mean = sum / kRuns, sd = std::sqrt(sum_sq / kRuns - mean * mean);
  std::printf("600 objects, 1 in 8 by hash: mean estimate %.1f (%.4fx), sd %.1f\n", mean,
              mean / 600, sd);
  EXPECT_EQ(missed, 0u);
  EXPECT_NEAR(mean / 600, 1.0, 0.01);
  EXPECT_LT(sd, 65);
}

TEST(BpfSampling, TheAddressHashSamplesOneInNOfAlignedPagesToo) {
  // struct page pointers are 64 bytes apart; kmalloc-8k objects 8 KiB-aligned: both 1 in 8.
  for (std::uint64_t stride : {std::uint64_t{64}, std::uint64_t{8192}}) {
    std::size_t sampled = 0;
    for (std::uint64_t i = 0; i < 80000; ++i) {
      sampled += address_sampled(0xffffea0004000000ull + i * stride, 3) ? 1 : 0;
    }
    EXPECT_NEAR(static_cast<double>(sampled), 10000.0, 500.0) << "stride " << stride;
  }
}

TEST(BpfSampling, TheTrackerWeighsHashSampledAllocationsEquallyWhateverTheirSize) {
  TrackerOptions options;
  options.sample_shift = 3;
  options.address_hash = true;
  AllocationTracker tracker(options);
  tracker.add(event(KmemKind::kKmalloc, 10, 0x1000, 0xa, 8192));
  tracker.add(event(KmemKind::kKmalloc, 11, 0x9000, 0xa, 64));
  const auto report = tracker.report(100, 0);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_EQ(report.call_sites[0].outstanding, 16);
  EXPECT_EQ(report.call_sites[0].bytes, 8u * (8192 + 64));
}

TEST(BpfPages, PageRecordsDecodeAsAllocationsNamedByOrder) {
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring,
                         event(KmemKind::kPageAlloc, 5, 0xffffea0000001000ull, 0xc, 16384, 9));
  append_bpf_ring_record(ring, event(KmemKind::kPageFree, 6, 0xffffea0000001000ull));
  KmemDecoder names;
  std::vector<KmemEvent> events;
  walk_bpf_ring(ring, [&](std::span<const std::uint8_t> record) {
    KmemEvent e;
    ASSERT_TRUE(decode_bpf_record(record, names, e));
    events.push_back(e);
  });
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].is_alloc());
  EXPECT_EQ(events[0].bytes, 16384u);
  EXPECT_EQ(names.cache_name(events[0].cache), "order-2");
  EXPECT_TRUE(events[1].is_free());
  EXPECT_EQ(kmem_kind_name(events[0].kind), "mm_page_alloc");
}

TEST(BpfPages, TheCallSiteIsTheFirstFrameOutsideThePageAllocator) {
  const std::map<std::uint64_t, std::string_view> names = {
      {1, "bpf_prog_6deef7357e7b4530_poolscope_page_alloc"},
      {2, "bpf_trace_run4"},
      {3, "__alloc_pages_noprof"},
      {4, "alloc_pages_mpol"},
      {5, "pipe_write"},
      {6, "vfs_write"},
      {7, "vm_area_alloc_pages"},
      {8, "__vmalloc_node_range_noprof"},
      {9, "__bpf_map_area_alloc"}};
  auto function_of = [&](std::uint64_t a) -> std::string_view {
    auto found = names.find(a);
    return found == names.end() ? std::string_view{} : found->second;
  };
  const std::uint64_t pipe[] = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(page_call_site(pipe, function_of), 5u);
  const std::uint64_t map[] = {2, 3, 7, 8, 9};
  EXPECT_EQ(page_call_site(map, function_of), 9u);
  const std::uint64_t only_allocator[] = {3, 4};
  EXPECT_EQ(page_call_site(only_allocator, function_of), 3u);
  EXPECT_EQ(page_call_site({}, function_of), 0u);
  EXPECT_FALSE(is_page_allocator_function("allocate_slab"));
  EXPECT_TRUE(is_page_allocator_function("___kmalloc_large_node"));
}

TEST(BpfPages, TheResolverReplacesStackIdsWithCallSitesOnceEachAndSetsTheOrder) {
  std::vector<std::uint8_t> ring;
  auto alloc = event(KmemKind::kPageAlloc, 5, 0xffffea0000001000ull, 0, 8192, 9);
  append_bpf_ring_record(ring, alloc);
  append_bpf_ring_record(ring, alloc);
  append_bpf_ring_record(ring, event(KmemKind::kPageFree, 6, 0xffffea0000001000ull));
  // The programs write the stack id in `extra`: 7 for both allocations.
  std::size_t at = 0;
  for (int i = 0; i < 2; ++i) {
    const std::int32_t id = 7;
    std::memcpy(ring.data() + at + kBpfRingHeaderBytes + kBpfRecordExtraOffset, &id, 4);
    at += kBpfRingHeaderBytes + kBpfRecordBytes;
  }
  std::size_t lookups = 0;
  PageSiteResolver resolver(
      [&](std::int32_t id) {
        ++lookups;
        return id == 7 ? std::vector<std::uint64_t>{0x10, 0x20} : std::vector<std::uint64_t>{};
      },
      [](std::uint64_t a) { return a == 0x10 ? "__alloc_pages_noprof" : "pipe_write"; }, 12);
  const auto resolved = resolver.resolve(ring);
  EXPECT_EQ(lookups, 1u);
  KmemDecoder names;
  std::vector<KmemEvent> events;
  walk_bpf_ring(resolved, [&](std::span<const std::uint8_t> record) {
    KmemEvent e;
    ASSERT_TRUE(decode_bpf_record(record, names, e));
    events.push_back(e);
  });
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].call_site, 0x20u);
  EXPECT_EQ(events[1].call_site, 0x20u);
  EXPECT_EQ(names.cache_name(events[0].cache), "order-1");
}

TEST(BpfPages, APageTraceIsSavedInItsOwnRecordKindAndReplays) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("poolscope-page-trace-" + std::to_string(::getpid()) + ".pstrace");
  {
    auto writer = SavedTraceWriter::create(path.string());
    ASSERT_TRUE(writer) << writer.error().message;
    ASSERT_TRUE(writer->text(SavedRecord::kMeta, 0,
                             key_values_text({{"backend", "bpf"},
                                              {"events", "pages"},
                                              {"sampling", "hash"},
                                              {"sample_shift", "3"}})));
    std::vector<std::uint8_t> ring;
    append_bpf_ring_record(ring,
                           event(KmemKind::kPageAlloc, 5, 0xffffea0000001000ull, 0xb, 4096, 9));
    append_bpf_ring_record(ring,
                           event(KmemKind::kPageAlloc, 6, 0xffffea0000002000ull, 0xb, 4096, 9));
    append_bpf_ring_record(ring, event(KmemKind::kPageFree, 7, 0xffffea0000002000ull));
    ASSERT_TRUE(writer->bpf_page_records(ring));
    ASSERT_TRUE(writer->flush(UINT64_MAX));
    ASSERT_TRUE(writer->text(SavedRecord::kEnd, 0, "duration_ns 100\n"));
    ASSERT_TRUE(writer->close());
  }
  auto replay = [&] {
    std::ifstream in(path, std::ios::binary);
    return replay_saved_trace(in);
  }();
  std::error_code ec;
  std::filesystem::remove(path, ec);
  ASSERT_TRUE(replay) << replay.error().message;
  ASSERT_TRUE(replay->processor);
  const auto report = replay->processor->tracker().report(500, 0);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_EQ(report.call_sites[0].outstanding, 8) << "one sampled page stands for 8 (hash)";
  EXPECT_EQ(report.call_sites[0].bytes, 8u * 4096);
}

}  // namespace
}  // namespace poolscope::trace
