// Windows pool tracing, offline (src/trace/etw_pool): ETW records as the session hands them over —
// an image rundown, then per allocation a pool alloc record, its stack walk (8 frames: ntoskrnl's
// allocator, then a driver) and, for most, a later free — through the whole EtwPoolProcessor
// (decode, stack matching, time ordering, pairing), against its two parts alone: decoding only,
// and the AllocationTracker fed the already-decoded events (the pairing floor). Goal as on Linux:
// >= 5 M events/s, counting pool events and stack walks.
#include "trace/etw_pool.h"

#include <benchmark/benchmark.h>

#include <cstring>
#include <string_view>
#include <vector>

namespace {

using namespace poolscope::trace;
using namespace poolscope::trace::etw;

constexpr std::uint64_t kKernelBase = 0xFFFFF80000000000ull;
constexpr std::uint64_t kDriverBase = 0xFFFFF80010000000ull;
constexpr std::size_t kAllocations = 500'000;
constexpr std::size_t kDrivers = 64;

struct Recorded {
  std::vector<EtwRecord> records;
  std::vector<std::vector<std::uint8_t>> payloads;
  std::vector<KmemEvent> events;  // the same pool events, decoded, for the tracker floor
  std::size_t pool_and_stack = 0;
};

void put(std::vector<std::uint8_t>& out, std::uint64_t value, unsigned size) {
  for (unsigned i = 0; i < size; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

const Recorded& recorded() {
  static const Recorded r = [] {
    Recorded out;
    out.payloads.reserve(kAllocations * 3 + kDrivers + 1);
    auto add = [&](const Guid& guid, std::uint8_t opcode, std::vector<std::uint8_t> payload,
                   std::uint64_t time, std::uint32_t tid) {
      out.payloads.push_back(std::move(payload));
      EtwRecord record;
      record.provider = guid;
      record.opcode = opcode;
      record.version = 2;
      record.header_flags = kHeaderFlag64Bit;
      record.pid = 4;
      record.tid = tid;
      record.timestamp = time;
      record.user_data = out.payloads.back();
      out.records.push_back(record);
    };
    auto image = [&](std::uint64_t base, std::uint64_t size, std::string_view name) {
      std::vector<std::uint8_t> p;
      put(p, base, 8), put(p, size, 8), put(p, 0, 16), put(p, base, 8), put(p, 0, 16);
      for (char c : name) put(p, static_cast<unsigned char>(c), 2);
      put(p, 0, 2);
      add(kImageLoadGuid, kOpImageDcStart, std::move(p), 1, 0);
    };
    image(kKernelBase, 0x1000000, "\\SystemRoot\\system32\\ntoskrnl.exe");
    for (std::size_t d = 0; d < kDrivers; ++d) {
      image(kDriverBase + d * 0x100000, 0x100000,
            "\\SystemRoot\\System32\\drivers\\d" + std::to_string(d) + ".sys");
    }
    const std::uint32_t tag = 'L' | 'e' << 8 | 'a' << 16 | 'k' << 24;
    std::uint64_t time = 100;
    for (std::size_t i = 0; i < kAllocations; ++i, time += 10) {
      const std::uint64_t address = 0xFFFFA00000000000ull + (i % 50'000) * 0x40 + (i / 50'000);
      const auto tid = static_cast<std::uint32_t>(i % 16);
      std::vector<std::uint8_t> pool;
      put(pool, 512, 4), put(pool, tag, 4), put(pool, 64, 8), put(pool, address, 8);
      add(kPoolGuid, kOpPoolAlloc, pool, time, tid);
      std::vector<std::uint8_t> stack;
      put(stack, time, 8), put(stack, 4, 4), put(stack, tid, 4);
      for (int f = 0; f < 3; ++f)
        put(stack, kKernelBase + 0x1000 + static_cast<std::uint64_t>(f), 8);
      const std::uint64_t site = kDriverBase + (i % kDrivers) * 0x100000 + 0x40 + (i % 7);
      for (int f = 0; f < 5; ++f) put(stack, site + static_cast<std::uint64_t>(f) * 0x10, 8);
      add(kStackWalkGuid, kOpStackWalk, std::move(stack), time, tid);
      KmemEvent event;
      event.time = time, event.ptr = address, event.call_site = site, event.bytes = 64;
      event.kind = KmemKind::kKmalloc, event.cache = 0;
      out.events.push_back(event);
      if (i % 10 != 0) {  // nine in ten are freed, a little later
        pool[8] = 0;
        add(kPoolGuid, kOpPoolFree, pool, time + 5, tid);
        event.time = time + 5, event.kind = KmemKind::kKfree, event.call_site = 0;
        out.events.push_back(event);
      }
    }
    out.pool_and_stack = out.records.size() - kDrivers - 1;
    return out;
  }();
  return r;
}

void BM_EtwProcessor(benchmark::State& state) {
  const Recorded& r = recorded();
  for (auto _ : state) {
    EtwPoolProcessor processor;
    std::size_t n = 0;
    for (const EtwRecord& record : r.records) {
      processor.add(record);
      if (++n % 8192 == 0) processor.flush(processor.latest_timestamp() - 1000);
    }
    processor.flush();
    benchmark::DoNotOptimize(processor.tracker().totals().tracked);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * r.pool_and_stack));
}
BENCHMARK(BM_EtwProcessor)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_DecodeOnly(benchmark::State& state) {
  const Recorded& r = recorded();
  for (auto _ : state) {
    std::size_t pool = 0;
    for (const EtwRecord& record : r.records) {
      auto decoded = decode(record);
      pool += decoded && std::holds_alternative<PoolEvent>(*decoded);
    }
    benchmark::DoNotOptimize(pool);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * r.pool_and_stack));
}
BENCHMARK(BM_DecodeOnly)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_TrackerOnly(benchmark::State& state) {
  const Recorded& r = recorded();
  for (auto _ : state) {
    AllocationTracker tracker;
    for (const KmemEvent& event : r.events) tracker.add(event);
    benchmark::DoNotOptimize(tracker.totals().tracked);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * r.pool_and_stack));
}
BENCHMARK(BM_TrackerOnly)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
