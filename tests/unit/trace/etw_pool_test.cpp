// The ETW pool decoder on byte fixtures built from the documented layouts (ETW_POOL_EVENT,
// StackWalk_Event, Image; 32- and 64-bit), hostile payloads, and the pairing on top of it.
#include "trace/etw_pool.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "trace/etw_report.h"
#include "unit/trace/etl_builder.h"

namespace poolscope::trace::etw {
namespace {

constexpr std::uint64_t kDriverBase = 0xFFFFF80012340000ull;
constexpr std::uint64_t kKernelBase = 0xFFFFF80000000000ull;
constexpr std::uint64_t kSecondTicks = 10'000'000;  // the default clock: 100 ns ticks

using testing::etl::Bytes;  // the ETL tests' payload writer

std::uint32_t tag(const char (&name)[5]) {
  return *parse_tag(name);
}

Bytes pool_payload(std::uint32_t pool_tag, std::uint64_t bytes, std::uint64_t address,
                   unsigned p = 8) {
  return Bytes{}.u(512 /* NonPagedPoolNx */, 4).u(pool_tag, 4).u(bytes, p).u(address, p);
}

Bytes stack_payload(std::uint64_t event_time, std::uint32_t pid, std::uint32_t tid,
                    std::initializer_list<std::uint64_t> frames, unsigned p = 8) {
  Bytes b;
  b.u(event_time, 8).u(pid, 4).u(tid, 4);
  for (auto frame : frames) b.u(frame, p);
  return b;
}

Bytes image_payload(std::uint64_t base, std::uint64_t size, std::string_view file, unsigned p = 8) {
  Bytes b;
  b.u(base, p).u(size, p).u(0, 4).u(0x1234, 4).u(0x5f000000, 4).u(0, 4).u(base, p);
  b.u(0, 4).u(0, 4).u(0, 4).u(0, 4);
  return b.wide(file);
}

EtwRecord record(const Guid& provider, std::uint8_t opcode, const Bytes& payload,
                 std::uint64_t timestamp = 0, std::uint32_t tid = 7, std::uint32_t pid = 4,
                 unsigned p = 8, std::uint8_t version = 2) {
  EtwRecord r;
  r.provider = provider;
  r.opcode = opcode;
  r.version = version;
  r.header_flags = p == 4 ? kHeaderFlag32Bit : kHeaderFlag64Bit;
  r.pid = pid;
  r.tid = tid;
  r.timestamp = timestamp;
  r.user_data = payload.data;
  return r;
}

TEST(EtwPool, DecodesA64BitPoolAllocation) {
  const auto payload = pool_payload(tag("Strg"), 0x90, 0xFFFFA00011112220ull);
  ASSERT_EQ(payload.data.size(), 24u);  // ETW_POOL_EVENT on x64
  auto decoded = decode(record(kPoolGuid, kOpPoolAlloc, payload, 1234, 9, 88));
  ASSERT_TRUE(decoded) << decoded.error().message;
  const auto* event = std::get_if<PoolEvent>(&*decoded);
  ASSERT_NE(event, nullptr);
  EXPECT_EQ(event->op, PoolOp::kAlloc);
  EXPECT_EQ(tag_text(event->tag), "Strg");
  EXPECT_EQ(event->bytes, 0x90u);
  EXPECT_EQ(event->address, 0xFFFFA00011112220ull);
  EXPECT_EQ(event->pid, 88u);
  EXPECT_EQ(event->tid, 9u);
  EXPECT_EQ(event->timestamp, 1234u);
}

TEST(EtwPool, Decodes32BitPoolFreesAndSessionVariants) {
  auto payload = pool_payload(tag("Irp "), 0x40, 0x8a001230, 4);
  ASSERT_EQ(payload.data.size(), 16u);  // ETW_POOL_EVENT on x86
  auto decoded = decode(record(kPoolGuid, kOpPoolFree, payload, 1, 1, 1, 4));
  ASSERT_TRUE(decoded);
  const auto& event = std::get<PoolEvent>(*decoded);
  EXPECT_EQ(event.op, PoolOp::kFree);
  EXPECT_EQ(event.address, 0x8a001230u);
  EXPECT_EQ(tag_text(event.tag), "Irp ");
  payload.u(3, 4);  // the session variants append a SessionId
  decoded = decode(record(kPoolGuid, kOpPoolAllocSession, payload, 1, 1, 1, 4));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<PoolEvent>(*decoded).op, PoolOp::kAllocSession);
  decoded = decode(record(kPoolGuid, kOpPoolFreeSession, payload, 1, 1, 1, 4));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<PoolEvent>(*decoded).op, PoolOp::kFreeSession);
}

TEST(EtwPool, OtherOpcodesAndClassesAreIgnored) {
  const auto payload = pool_payload(tag("Strg"), 1, 2);
  for (std::uint8_t opcode : {0x24, 0x26, 0x28, 0x1f}) {  // pages, big pages, snapshots
    auto decoded = decode(record(kPoolGuid, opcode, payload));
    ASSERT_TRUE(decoded);
    EXPECT_TRUE(std::holds_alternative<Ignored>(*decoded));
  }
  Guid other = kPoolGuid;
  other.data1 ^= 1;
  auto decoded = decode(record(other, kOpPoolAlloc, payload));
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(std::holds_alternative<Ignored>(*decoded));
}

TEST(EtwPool, TruncatedPayloadsAreErrorsNotReads) {
  const auto full = pool_payload(tag("Strg"), 1, 2);
  for (std::size_t size = 0; size < full.data.size(); ++size) {
    Bytes cut;
    cut.data.assign(full.data.begin(), full.data.begin() + static_cast<std::ptrdiff_t>(size));
    auto decoded = decode(record(kPoolGuid, kOpPoolAlloc, cut));
    ASSERT_FALSE(decoded) << size;
    EXPECT_EQ(decoded.error().code, ErrorCode::kInput);
    EXPECT_NE(decoded.error().message.find("needs at least 24"), std::string::npos)
        << decoded.error().message;
  }
  // A 32-bit payload read as 64-bit is too short.
  auto decoded = decode(record(kPoolGuid, kOpPoolAlloc, pool_payload(1, 2, 3, 4)));
  EXPECT_FALSE(decoded);
  // Stack and image events shorter than their fixed parts.
  EXPECT_FALSE(decode(record(kStackWalkGuid, kOpStackWalk, Bytes{}.u(1, 8).u(2, 4).u(3, 4))));
  EXPECT_FALSE(decode(record(kImageLoadGuid, kOpImageDcStart, Bytes{}.u(1, 8).u(2, 8))));
  EXPECT_FALSE(decode(record(kImageLoadGuid, kOpImageLoad, image_payload(1, 2, "x"), 0, 0, 0, 8,
                             0)));  // version 0
}

TEST(EtwPool, DecodesStackWalksInBothPointerSizes) {
  auto decoded = decode(record(kStackWalkGuid, kOpStackWalk,
                               stack_payload(555, 4, 7, {kKernelBase + 0x10, kDriverBase + 0x20})));
  ASSERT_TRUE(decoded);
  const auto& stack = std::get<StackEvent>(*decoded);
  EXPECT_EQ(stack.event_timestamp, 555u);
  EXPECT_EQ(stack.pid, 4u);
  EXPECT_EQ(stack.tid, 7u);
  ASSERT_EQ(stack.frames.size(), 2u);
  EXPECT_EQ(stack.frames[1], kDriverBase + 0x20);

  // 32-bit, with a trailing partial pointer that is not a frame.
  auto payload = stack_payload(9, 1, 2, {0x80401000, 0x8f001234, 0x00401000}, 4);
  payload.u(0xab, 2);
  decoded = decode(record(kStackWalkGuid, kOpStackWalk, payload, 0, 0, 0, 4));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<StackEvent>(*decoded).frames,
            (std::vector<std::uint64_t>{0x80401000, 0x8f001234, 0x00401000}));
}

TEST(EtwPool, HugeStacksAreCutAtTheDocumentedMaximum) {
  Bytes payload = stack_payload(1, 2, 3, {});
  for (int i = 0; i < 1000; ++i) payload.u(kDriverBase + static_cast<std::uint64_t>(i), 8);
  auto decoded = decode(record(kStackWalkGuid, kOpStackWalk, payload));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<StackEvent>(*decoded).frames.size(), kMaxStackFrames);
}

TEST(EtwPool, DecodesImageEventsOfEveryVersionWeRead) {
  auto decoded = decode(
      record(kImageLoadGuid, kOpImageDcStart,
             image_payload(kDriverBase, 0x10000, "\\SystemRoot\\System32\\drivers\\leaky.sys")));
  ASSERT_TRUE(decoded) << decoded.error().message;
  const auto& image = std::get<ImageEvent>(*decoded);
  EXPECT_EQ(image.base, kDriverBase);
  EXPECT_EQ(image.size, 0x10000u);
  EXPECT_EQ(image.file_name, "\\SystemRoot\\System32\\drivers\\leaky.sys");

  decoded = decode(record(kImageLoadGuid, kOpImageLoad,
                          image_payload(0x8f000000, 0x2000, "\\Windows\\x.sys", 4), 0, 0, 0, 4, 3));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<ImageEvent>(*decoded).base, 0x8f000000u);
  EXPECT_EQ(std::get<ImageEvent>(*decoded).file_name, "\\Windows\\x.sys");

  // Version 1: ImageBase, ImageSize, ProcessId, FileName.
  Bytes v1;
  v1.u(kDriverBase, 8).u(0x1000, 8).u(0, 4).wide("a.sys");
  decoded = decode(record(kImageLoadGuid, kOpImageLoad, v1, 0, 0, 0, 8, 1));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<ImageEvent>(*decoded).file_name, "a.sys");

  // No terminating NUL, and an odd last byte: the name ends with the payload.
  auto cut = image_payload(kDriverBase, 1, "abc");
  cut.data.resize(cut.data.size() - 3);
  decoded = decode(record(kImageLoadGuid, kOpImageLoad, cut));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<ImageEvent>(*decoded).file_name, "ab");
}

TEST(EtwPool, LostEventRecordsAreCounted) {
  EtwPoolProcessor processor;
  for (std::uint8_t opcode : {32, 33, 34, 35}) {
    processor.add(record(kLostEventGuid, opcode, Bytes{}));
  }
  EXPECT_EQ(processor.stats().lost_records, 3u);  // 35 is no lost-event type
  EtwRunFacts facts;
  facts.format = "json";
  const auto j = nlohmann::json::parse(render_report(processor, 0, facts));
  EXPECT_EQ(j["lost"]["lost_event_records"], 3);
  EXPECT_NE(j["notes"].dump().find("events were lost"), std::string::npos);
}

TEST(EtwPool, TagsParseAndPrint) {
  EXPECT_EQ(tag_text(tag("Strg")), "Strg");
  EXPECT_EQ(*parse_tag("Ip"), *parse_tag("Ip  "));
  EXPECT_EQ(tag_text(*parse_tag("Ip")), "Ip  ");
  EXPECT_FALSE(parse_tag(""));
  EXPECT_FALSE(parse_tag("Toolong"));
  EXPECT_EQ(parse_tag("").error().code, ErrorCode::kUsage);
  EXPECT_EQ(tag_text(0x00ff4141), "AA??");
}

TEST(EtwPool, CallSiteIsTheFirstFrameOutsideTheKernel) {
  ImageMap images;
  ImageEvent kernel{kOpImageDcStart, kKernelBase, 0x1000000, 0,
                    "\\SystemRoot\\system32\\ntoskrnl.exe"};
  ImageEvent driver{kOpImageDcStart, kDriverBase, 0x10000, 0, "\\SystemRoot\\drivers\\leaky.sys"};
  ImageEvent user{kOpImageDcStart, 0x7ff600000000, 0x10000, 1234, "C:\\x.exe"};
  images.add(kernel, 8);
  images.add(driver, 8);
  images.add(user, 8);  // user-mode images are not kept
  EXPECT_EQ(images.size(), 2u);
  const std::vector<std::uint64_t> frames = {kKernelBase + 0x100, kKernelBase + 0x200,
                                             kDriverBase + 0x42, kKernelBase + 0x300};
  EXPECT_EQ(call_site_of(frames, images, 8), kDriverBase + 0x42);
  // The kernel allocating for itself, then user mode: the first frame.
  const std::vector<std::uint64_t> own = {kKernelBase + 0x100, kKernelBase + 0x200, 0x7ff600001000};
  EXPECT_EQ(call_site_of(own, images, 8), kKernelBase + 0x100);
  EXPECT_EQ(call_site_of({}, images, 8), 0u);
  // An address in no known image is outside the kernel too.
  const std::vector<std::uint64_t> unknown = {kKernelBase + 1, 0xFFFFF80099990000ull};
  EXPECT_EQ(call_site_of(unknown, images, 8), 0xFFFFF80099990000ull);
}

// A small trace: the rundown names the images, leaky.sys allocates three Leak blocks and frees
// one, good.sys allocates and frees, and a free of something allocated before the trace.
std::vector<std::pair<EtwRecord, Bytes>> small_trace() {
  std::vector<std::pair<EtwRecord, Bytes>> out;
  auto add = [&](const Guid& guid, std::uint8_t opcode, Bytes payload, std::uint64_t time,
                 std::uint32_t tid, std::uint32_t pid) {
    out.emplace_back(EtwRecord{}, std::move(payload));
    out.back().first = record(guid, opcode, out.back().second, time, tid, pid);
  };
  add(kImageLoadGuid, kOpImageDcStart,
      image_payload(kKernelBase, 0x1000000, "\\SystemRoot\\system32\\ntoskrnl.exe"), 1, 0, 0);
  add(kImageLoadGuid, kOpImageDcStart,
      image_payload(kDriverBase, 0x10000, "\\SystemRoot\\System32\\drivers\\leaky.sys"), 1, 0, 0);
  add(kImageLoadGuid, kOpImageDcStart,
      image_payload(kDriverBase + 0x100000, 0x10000, "\\SystemRoot\\System32\\drivers\\good.sys"),
      1, 0, 0);
  const std::uint64_t leak_site = kDriverBase + 0x1a2b, good_site = kDriverBase + 0x100000 + 0x10;
  std::uint64_t t = 1 * kSecondTicks;
  for (int i = 0; i < 3; ++i, t += kSecondTicks) {
    const std::uint64_t address = 0xFFFFA00000001000ull + static_cast<std::uint64_t>(i) * 0x100;
    add(kPoolGuid, kOpPoolAlloc, pool_payload(tag("Leak"), 0x100, address), t, 10, 500);
    add(kStackWalkGuid, kOpStackWalk, stack_payload(t, 500, 10, {kKernelBase + 0x500, leak_site}),
        t, 10, 500);
    add(kPoolGuid, kOpPoolAlloc, pool_payload(tag("Good"), 0x20, address + 0x10000), t + 1, 11,
        600);
    add(kStackWalkGuid, kOpStackWalk,
        stack_payload(t + 1, 600, 11, {kKernelBase + 0x500, good_site}), t + 1, 11, 600);
    add(kPoolGuid, kOpPoolFree, pool_payload(tag("Good"), 0, address + 0x10000), t + 2, 11, 600);
  }
  add(kPoolGuid, kOpPoolFree, pool_payload(tag("Leak"), 0, 0xFFFFA00000001100ull), t, 10, 500);
  add(kPoolGuid, kOpPoolFree, pool_payload(tag("Leak"), 0, 0xFFFFA000DEAD0000ull), t, 10, 500);
  return out;
}

TEST(EtwPoolProcessor, PairsAllocationsAndNamesTheDriverCallSite) {
  EtwPoolProcessor processor;
  for (const auto& [r, payload] : small_trace()) processor.add(r);
  processor.flush();
  const auto report = processor.tracker().report(processor.to_ns(5 * kSecondTicks), 0);
  EXPECT_EQ(report.totals.allocations, 6u);
  EXPECT_EQ(report.totals.frees, 5u);
  EXPECT_EQ(report.totals.paired_frees, 4u);
  EXPECT_EQ(report.totals.unpaired_frees, 1u);
  ASSERT_EQ(report.call_sites.size(), 1u);
  const auto& site = report.call_sites[0];
  EXPECT_EQ(processor.name(site.call_site).symbol, "leaky.sys+0x1a2b");
  EXPECT_EQ(processor.name(site.call_site).module, "leaky.sys");
  EXPECT_EQ(site.outstanding, 2u);
  EXPECT_EQ(site.bytes, 0x200u);
  EXPECT_DOUBLE_EQ(site.oldest_age_s, 4.0);
  ASSERT_EQ(site.caches.size(), 1u);
  EXPECT_EQ(processor.tag_name(site.caches[0].first), "Leak");
  ASSERT_EQ(site.pids.size(), 1u);
  EXPECT_EQ(site.pids[0].first, 500);
  EXPECT_EQ(processor.stats().stacks_matched, 6u);
  EXPECT_EQ(processor.stats().allocations_without_stack, 0u);
  EXPECT_EQ(processor.images().size(), 3u);
}

TEST(EtwPoolProcessor, TagFilterKeepsOnlyTheTagsAskedFor) {
  EtwOptions options;
  options.tags = {tag("Good")};
  EtwPoolProcessor processor(options);
  for (const auto& [r, payload] : small_trace()) processor.add(r);
  processor.flush();
  EXPECT_EQ(processor.tracker().totals().allocations, 3u);
  EXPECT_EQ(processor.tracker().totals().paired_frees, 3u);
  EXPECT_EQ(processor.stats().other_tags, 5u);
  EXPECT_TRUE(processor.tracker().report(0, 0).call_sites.empty());
}

TEST(EtwPoolProcessor, OutOfOrderRecordsArePutBackInTimeOrderBeforePairing) {
  auto trace = small_trace();
  EtwPoolProcessor processor;
  // Every pool record in reverse order (images first so that names resolve).
  for (const auto& [r, payload] : trace) {
    if (r.provider == kImageLoadGuid) processor.add(r);
  }
  for (auto it = trace.rbegin(); it != trace.rend(); ++it) {
    if (it->first.provider != kImageLoadGuid) processor.add(it->first);
  }
  processor.flush();
  EXPECT_EQ(processor.tracker().totals().paired_frees, 4u);
  EXPECT_EQ(processor.tracker().report(0, 0).call_sites.size(), 1u);
}

TEST(EtwPoolProcessor, WatermarkHoldsNewerEventsAndCountsMissingStacks) {
  EtwPoolProcessor processor;
  const auto payload = pool_payload(tag("Leak"), 0x10, 0xFFFFA00000005000ull);
  processor.add(record(kPoolGuid, kOpPoolAlloc, payload, 100, 1, 2));
  processor.add(record(kPoolGuid, kOpPoolAlloc,
                       pool_payload(tag("Leak"), 0x10, 0xFFFFA00000006000ull), 300, 1, 2));
  processor.flush(200);
  EXPECT_EQ(processor.tracker().totals().allocations, 1u);
  processor.flush();
  EXPECT_EQ(processor.tracker().totals().allocations, 2u);
  EXPECT_EQ(processor.stats().allocations_without_stack, 2u);
  const auto report = processor.tracker().report(0, 0);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_EQ(processor.name(report.call_sites[0].call_site).symbol, "(no stack)");
}

TEST(EtwPoolProcessor, MalformedRecordsAreCountedAndTheCapIsHonoured) {
  EtwOptions options;
  options.tracker.max_tracked = 16;
  EtwPoolProcessor processor(options);
  processor.add(record(kPoolGuid, kOpPoolAlloc, Bytes{}.u(1, 4)));
  EXPECT_EQ(processor.stats().malformed, 1u);
  EXPECT_NE(processor.stats().first_malformed.find("pool event payload is 4 bytes"),
            std::string::npos);
  for (std::uint64_t i = 0; i < 100; ++i) {
    processor.add(record(kPoolGuid, kOpPoolAlloc,
                         pool_payload(tag("Leak"), 8, 0xFFFFA00000000000ull + i * 16), i + 1));
  }
  processor.flush();
  EXPECT_TRUE(processor.tracker().totals().cap_reached);
  EXPECT_EQ(processor.tracker().totals().tracked, 16u);
  EXPECT_EQ(processor.tracker().totals().untracked_allocations, 84u);
}

TEST(EtwPoolProcessor, BurstsBeyondThePendingLimitStayBounded) {
  EtwPoolProcessor processor;
  for (std::uint64_t i = 0; i < EtwPoolProcessor::kMaxPending + 10; ++i) {
    processor.add(record(kPoolGuid, kOpPoolAlloc,
                         pool_payload(tag("Leak"), 8, 0xFFFFA00000000000ull + i * 16), i + 1));
  }
  EXPECT_GT(processor.tracker().totals().allocations, 0u);
  processor.flush();
  EXPECT_EQ(processor.tracker().totals().allocations, EtwPoolProcessor::kMaxPending + 10);
}

TEST(EtwPoolProcessor, BurstsOfEqualTimestampsStillMakeRoom) {
  EtwPoolProcessor processor;
  const std::size_t n = 2 * EtwPoolProcessor::kMaxPending + 5;
  for (std::uint64_t i = 0; i < n; ++i) {
    processor.add(record(kPoolGuid, kOpPoolAlloc,
                         pool_payload(tag("Leak"), 8, 0xFFFFA00000000000ull + i * 16), 42));
  }
  EXPECT_GE(processor.tracker().totals().allocations, 2 * EtwPoolProcessor::kMaxPending - 1);
  processor.flush();
  EXPECT_EQ(processor.tracker().totals().allocations, n);
}

TEST(EtwReport, JsonHasTheLinuxShapeWithTagsAsCaches) {
  EtwPoolProcessor processor;
  for (const auto& [r, payload] : small_trace()) processor.add(r);
  processor.flush();
  EtwRunFacts facts;
  facts.format = "json";
  facts.seconds = 5;
  facts.events_lost = 2;
  facts.buffers_lost = 1;
  facts.tags = {"Leak"};
  const auto j = nlohmann::json::parse(render_report(processor, 5 * kSecondTicks, facts));
  EXPECT_EQ(j["lost_events"], 3);
  ASSERT_EQ(j["call_sites"].size(), 1u);
  const auto& site = j["call_sites"][0];
  EXPECT_EQ(site["symbol"], "leaky.sys+0x1a2b");
  EXPECT_EQ(site["module"], "leaky.sys");
  EXPECT_EQ(site["outstanding"], 2);
  EXPECT_EQ(site["bytes"], 512);
  EXPECT_DOUBLE_EQ(site["oldest_age_s"].get<double>(), 4.0);
  EXPECT_EQ(site["caches"][0]["cache"], "Leak");
  EXPECT_EQ(site["pids"][0]["pid"], 500);
  EXPECT_EQ(j["unpaired_frees"], 1);
  EXPECT_FALSE(j["notes"].empty());  // the lost events
}

TEST(EtwReport, TableNamesTheCallSite) {
  EtwPoolProcessor processor;
  for (const auto& [r, payload] : small_trace()) processor.add(r);
  processor.flush();
  EtwRunFacts facts;
  facts.seconds = 5;
  facts.min_age_s = 3.5;  // only the first Leak block is that old
  const std::string text = render_report(processor, 5 * kSecondTicks, facts);
  EXPECT_NE(text.find("leaky.sys+0x1a2b"), std::string::npos) << text;
  EXPECT_NE(text.find("1 allocations, 256 B, from 1 call sites"), std::string::npos) << text;
  EXPECT_NE(text.find("Leak"), std::string::npos);
}

}  // namespace
}  // namespace poolscope::trace::etw
