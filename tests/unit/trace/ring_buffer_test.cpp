#include "trace/ring_buffer.h"

#include <gtest/gtest.h>

#include "trace/kmem_events.h"
#include "unit/trace/trace_fixtures.h"

namespace poolscope::trace {
namespace {

using testing::PageBuilder;
using testing::RecordBuilder;

struct Seen {
  std::uint64_t time;
  std::vector<std::uint8_t> record;
};

std::vector<Seen> decode_all(const std::vector<std::uint8_t>& page, const PageLayout& layout,
                             PageInfo* info = nullptr) {
  std::vector<Seen> seen;
  PageInfo result = decode_page(page, layout, [&](std::uint64_t time, auto record) {
    seen.push_back({time, std::vector<std::uint8_t>(record.begin(), record.end())});
  });
  if (info != nullptr) *info = result;
  return seen;
}

class RingBuffer : public ::testing::Test {
 protected:
  PageLayout layout = testing::real_page_layout();
  KmemFormats formats = testing::real_kmem_formats();
};

TEST_F(RingBuffer, DataRecordsWithDeltasSmallAndLong) {
  PageBuilder page(layout, 1'000'000);
  auto kfree = RecordBuilder(formats.kfree).set("ptr", 0x1234).bytes();  // 24 bytes
  ASSERT_TRUE(page.add(10, kfree));
  ASSERT_TRUE(page.add(5, kfree, /*force_long=*/true));  // type_len 0: length in array[0]
  std::vector<std::uint8_t> big(200, 0xab);              // above 28*4 bytes: always the long form
  ASSERT_TRUE(page.add(7, big));
  PageInfo info;
  auto seen = decode_all(page.finish(), layout, &info);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].time, 1'000'010u);
  EXPECT_EQ(seen[1].time, 1'000'015u);
  EXPECT_EQ(seen[2].time, 1'000'022u);
  EXPECT_EQ(seen[0].record, kfree);
  EXPECT_EQ(seen[1].record, kfree);
  EXPECT_EQ(seen[2].record.size(), 200u);
  EXPECT_EQ(info.timestamp, 1'000'000u);
  EXPECT_EQ(info.records, 3u);
  EXPECT_FALSE(info.truncated);
  EXPECT_FALSE(info.missed_events);
}

TEST_F(RingBuffer, TimeExtendAndAbsoluteTimeStamp) {
  PageBuilder page(layout, 5'000);
  auto record = RecordBuilder(formats.kfree).bytes();
  page.time_extend(3ull << 30);  // longer than 27 bits of delta
  ASSERT_TRUE(page.add(1, record));
  page.time_stamp(9'000'000'000ull);
  ASSERT_TRUE(page.add(2, record));
  auto seen = decode_all(page.finish(), layout);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].time, 5'000 + (3ull << 30) + 1);
  EXPECT_EQ(seen[1].time, 9'000'000'002ull);
}

TEST_F(RingBuffer, DiscardedEventsAndEmptyPaddingAreSkipped) {
  PageBuilder page(layout, 100);
  auto record = RecordBuilder(formats.kfree).set("ptr", 7).bytes();
  ASSERT_TRUE(page.add(1, record));
  page.discarded(24);
  ASSERT_TRUE(page.add(1, record));
  auto seen = decode_all(page.finish(), layout);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].time, 102u);
}

TEST_F(RingBuffer, MissedEventsFlagAndStoredCount) {
  PageBuilder page(layout, 100);
  ASSERT_TRUE(page.add(1, RecordBuilder(formats.kfree).bytes()));
  PageInfo info;
  decode_all(page.finish((1ull << 31) | (1ull << 30), 4242), layout, &info);
  EXPECT_TRUE(info.missed_events);
  EXPECT_EQ(info.missed_count, 4242u);
  EXPECT_EQ(info.records, 1u);
  EXPECT_EQ(info.data_bytes, 28u);
}

TEST_F(RingBuffer, CorruptPagesEndEarlyWithoutReadingOutside) {
  PageBuilder page(layout, 100);
  ASSERT_TRUE(page.add(1, RecordBuilder(formats.kfree).bytes()));
  auto bytes = page.finish();
  // A commit past the page end.
  auto corrupt = bytes;
  const std::uint64_t huge = 0x3fffffff;
  std::memcpy(corrupt.data() + 8, &huge, 8);
  PageInfo info;
  auto seen = decode_all(corrupt, layout, &info);
  EXPECT_TRUE(info.truncated);
  EXPECT_EQ(seen.size(), 1u);
  // A long record claiming more than the page holds.
  corrupt = bytes;
  const std::uint32_t header = 0, length = 100000;
  std::memcpy(corrupt.data() + 16, &header, 4);
  std::memcpy(corrupt.data() + 20, &length, 4);
  seen = decode_all(corrupt, layout, &info);
  EXPECT_TRUE(info.truncated);
  EXPECT_TRUE(seen.empty());
  // Short reads.
  EXPECT_TRUE(
      decode_all(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 20), layout).size() <= 1);
  decode_all({}, layout, &info);
  EXPECT_EQ(info.records, 0u);
}

TEST_F(RingBuffer, KmemDecoderReadsEveryEventFromRealFormats) {
  auto decoder = KmemDecoder::create(formats);
  ASSERT_TRUE(decoder) << decoder.error().message;
  PageBuilder page(layout, 1000);
  page.add(1, RecordBuilder(formats.kmalloc)
                  .set("common_pid", 4321)
                  .set("call_site", 0xffffffff81234567)
                  .set("ptr", 0xffff888100001000)
                  .set("bytes_req", 60)
                  .set("bytes_alloc", 64)
                  .bytes());
  page.add(1, RecordBuilder(formats.cache_alloc)
                  .set("common_pid", 7)
                  .set("call_site", 0xffffffff81000010)
                  .set("ptr", 0xffff888100002000)
                  .set("bytes_alloc", 192)
                  .set_string("name", "dentry")
                  .bytes());
  page.add(1, RecordBuilder(formats.kfree).set("ptr", 0xffff888100001000).bytes());
  page.add(1, RecordBuilder(formats.cache_free)
                  .set("ptr", 0xffff888100002000)
                  .set_string("name", "dentry")
                  .bytes());
  std::vector<KmemEvent> events;
  decode_page(page.finish(), layout, [&](std::uint64_t time, auto record) {
    KmemEvent event;
    if (decoder->decode(time, record, event)) events.push_back(event);
  });
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, KmemKind::kKmalloc);
  EXPECT_EQ(events[0].pid, 4321);
  EXPECT_EQ(events[0].call_site, 0xffffffff81234567u);
  EXPECT_EQ(events[0].ptr, 0xffff888100001000u);
  EXPECT_EQ(events[0].bytes, 64u);
  EXPECT_EQ(decoder->cache_name(events[0].cache), "kmalloc-64");
  EXPECT_EQ(events[1].kind, KmemKind::kCacheAlloc);
  EXPECT_EQ(decoder->cache_name(events[1].cache), "dentry");
  EXPECT_EQ(events[1].bytes, 192u);
  EXPECT_EQ(events[2].kind, KmemKind::kKfree);
  EXPECT_TRUE(events[2].is_free());
  EXPECT_EQ(events[3].kind, KmemKind::kCacheFree);
  EXPECT_EQ(events[3].time, 1004u);
}

TEST_F(RingBuffer, KmemDecoderNeedsItsFields) {
  auto broken = formats;
  broken.kmalloc.fields.erase(broken.kmalloc.fields.begin() + 5);  // ptr
  auto decoder = KmemDecoder::create(broken);
  ASSERT_FALSE(decoder);
  EXPECT_NE(decoder.error().message.find("ptr"), std::string::npos);
  auto same_id = formats;
  same_id.kfree.id = same_id.kmalloc.id;
  EXPECT_FALSE(KmemDecoder::create(same_id));
  // Offsets come from the format, not from constants: moved fields are still read right.
  auto moved = formats;
  for (auto& field : moved.kfree.fields) {
    if (field.name == "ptr") field.offset = 8;
    if (field.name == "call_site") field.offset = 16;
  }
  auto decoder2 = KmemDecoder::create(moved);
  ASSERT_TRUE(decoder2);
  std::vector<std::uint8_t> record(24, 0);
  const std::uint16_t id = static_cast<std::uint16_t>(moved.kfree.id);
  std::memcpy(record.data(), &id, 2);
  const std::uint64_t ptr = 0xabc, site = 0xdef;
  std::memcpy(record.data() + 8, &ptr, 8);
  std::memcpy(record.data() + 16, &site, 8);
  KmemEvent event;
  ASSERT_TRUE(decoder2->decode(1, record, event));
  EXPECT_EQ(event.ptr, 0xabcu);
  EXPECT_EQ(event.call_site, 0xdefu);
  EXPECT_FALSE(decoder2->decode(1, std::span(record).first(10), event));
}

TEST(KmallocCache, NamesTheGenericCacheOfTheSize) {
  EXPECT_EQ(kmalloc_cache_for(64), "kmalloc-64");
  EXPECT_EQ(kmalloc_cache_for(2048), "kmalloc-2k");
  EXPECT_EQ(kmalloc_cache_for(16384), "kmalloc-large");
}

}  // namespace
}  // namespace poolscope::trace

namespace poolscope::trace {
namespace {

// Two pages read from per_cpu/cpu0/trace_pipe_raw on the test machine (mono clock) while
// `ls -R /usr/share/doc` ran; the expected values come from an independent Python decoder.
TEST(RingBufferRealPages, DecodesRecordedKmemPages) {
  const auto layout = testing::real_page_layout();
  auto decoder = KmemDecoder::create(testing::real_kmem_formats());
  ASSERT_TRUE(decoder);
  const std::string page0 = testing::trace_data("kmem_page_0.bin");
  const std::string page1 = testing::trace_data("kmem_page_1.bin");
  std::vector<KmemEvent> events;
  auto collect = [&](std::uint64_t time, auto record) {
    KmemEvent event;
    if (decoder->decode(time, record, event)) events.push_back(event);
  };
  auto bytes = [](const std::string& s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  PageInfo info = decode_page(bytes(page0), layout, collect);
  EXPECT_EQ(info.records, 57u);
  EXPECT_EQ(info.data_bytes, 0xfccu);
  EXPECT_FALSE(info.truncated);
  ASSERT_EQ(events.size(), 57u);
  EXPECT_EQ(events[0].time, 1375089101919u);
  EXPECT_EQ(events[0].kind, KmemKind::kKmalloc);
  EXPECT_EQ(events[0].pid, 17186);
  EXPECT_EQ(events[0].call_site, 0xffffffff8197f76du);
  EXPECT_EQ(events[0].ptr, 0xffff8881863a8e80u);
  EXPECT_EQ(events.back().time, 1375092054526u);
  EXPECT_EQ(events.back().kind, KmemKind::kCacheAlloc);
  int kmalloc = 0, kfree = 0, cache_alloc = 0, cache_free = 0;
  for (const auto& e : events) {
    kmalloc += e.kind == KmemKind::kKmalloc;
    kfree += e.kind == KmemKind::kKfree;
    cache_alloc += e.kind == KmemKind::kCacheAlloc;
    cache_free += e.kind == KmemKind::kCacheFree;
  }
  EXPECT_EQ(kmalloc, 17);
  EXPECT_EQ(kfree, 2);
  EXPECT_EQ(cache_alloc, 35);
  EXPECT_EQ(cache_free, 3);
  events.clear();
  info = decode_page(bytes(page1), layout, collect);
  EXPECT_EQ(info.records, 56u);
  EXPECT_EQ(events.front().time, 1375092058433u);
  EXPECT_EQ(events.back().ptr, 0xffff888100ce3000u);
  EXPECT_FALSE(decoder->cache_name(events.front().cache).empty());
}

}  // namespace
}  // namespace poolscope::trace

namespace poolscope::trace {
namespace {

// The live reader stops reading a CPU at the page its writer is still on (a part of a page).
TEST(RingBufferPages, FullAndPartlyWrittenPagesAreToldApart) {
  const PageLayout layout = testing::real_page_layout();
  const KmemFormats formats = testing::real_kmem_formats();
  const auto record = testing::RecordBuilder(formats.kfree).set("ptr", 0x1000).bytes();
  PageBuilder partial(layout, 1000);
  ASSERT_TRUE(partial.add(0, record));
  const auto one_event = partial.finish();
  EXPECT_EQ(page_data_bytes(one_event, layout), 4 + record.size());
  EXPECT_FALSE(page_is_full(one_event, layout));

  PageBuilder full(layout, 1000);
  while (full.add(10, record)) {
  }
  // Flags for lost events do not count as data.
  const auto filled = full.finish(std::uint64_t{1} << 31);
  EXPECT_TRUE(page_is_full(filled, layout));
  EXPECT_LE(page_data_bytes(filled, layout), layout.data_size);

  EXPECT_EQ(page_data_bytes(std::vector<std::uint8_t>(8, 0xff), layout), 0u);  // no header
  EXPECT_FALSE(page_is_full(std::vector<std::uint8_t>(8, 0xff), layout));
}

}  // namespace
}  // namespace poolscope::trace
