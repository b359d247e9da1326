// Pool traces read from an ETL file (src/trace/etl + etw_pool), end to end, against the
// decompression of its buffers alone and the buffer walk without the pool decoder. The trace is
// synthetic (no real pool trace exists): 10 M events as xperf writes them with stack caching —
// per allocation a pool alloc (SYSTEM header), its kernel stack key (PERFINFO), and for 7 in 8 a
// free and its key — in 64 KiB LZXPRESS-compressed buffers, 64 drivers in the image rundown and
// the keys' rundown at the end. Goal: >= 5 M events/s end to end, memory bounded by the tracking
// cap (--max-tracked).
#include "trace/etl.h"

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "trace/etl_trace.h"
#include "unit/trace/etl_builder.h"

namespace {

using namespace poolscope::trace;
using poolscope::testing::etl::Bytes;
using poolscope::testing::etl::EtlBuilder;

constexpr std::size_t kEvents = 10'000'000;
constexpr std::uint64_t kKernel = 0xFFFFF80000000000ull;
constexpr std::uint64_t kDrivers = 0xFFFFF88000000000ull;
constexpr std::uint64_t kHeap = 0xFFFFA00000000000ull;
constexpr std::uint64_t kKeys = 0xFFFFFA8000000000ull;
constexpr int kDriverCount = 64;
constexpr int kKeyCount = 1024;

struct Trace {
  std::vector<std::uint8_t> file;
  std::size_t events = 0, buffers = 0;
};

const Trace& trace() {
  static const Trace t = [] {
    EtlBuilder b;
    b.compress = true;
    b.buffer_size = 65536;
    b.trace_header(1);
    for (int d = 0; d < kDriverCount; ++d) {
      b.system(0x14, 3, 0, 0, 2,
               b.image(kDrivers + 0x100000ull * d, 0x100000,
                       "\\SystemRoot\\drivers\\d" + std::to_string(d) + ".sys"));
    }
    std::uint64_t time = 10;
    std::size_t i = 0;
    const std::string tags[] = {"Leak", "Irp ", "File", "MmSt", "Ntfx", "Strg", "Even", "Toke"};
    while (b.events() < kEvents - kKeyCount) {
      const std::uint64_t ptr = kHeap + 0x40ull * (i % 200'000);  // reused once freed
      const std::uint64_t key = kKeys + 0x80ull * (i % kKeyCount);
      const auto tid = static_cast<std::uint32_t>(100 + i % 16);
      b.system(0x0E, 32, 4, tid, time, b.pool(512, tags[i % 8], 64 + i % 512, ptr));
      b.perfinfo(0x18, 37, time, b.stack_key(time, 4, tid, key));
      ++time;
      if (i % 8 != 0) {  // freed right away; 1 in 8 stays (then its slot is reused: a lost free)
        b.system(0x0E, 34, 4, tid, time, b.pool(512, tags[i % 8], 64 + i % 512, ptr));
        b.perfinfo(0x18, 37, time, b.stack_key(time, 4, tid, key + 0x40));
        ++time;
      }
      ++i;
    }
    for (int k = 0; k < kKeyCount; ++k) {
      b.perfinfo(0x18, 36, time++,
                 b.key_frames(kKeys + 0x80ull * k,
                              {kKernel + 0x1000, kKernel + 0x2000,
                               kDrivers + 0x100000ull * (k % kDriverCount) + 0x400 + k, kKernel}));
    }
    Trace out;
    out.file = b.file();
    out.events = b.events();
    out.buffers = b.buffers();
    return out;
  }();
  return t;
}

void set_counters(benchmark::State& state, std::size_t events) {
  state.SetItemsProcessed(static_cast<std::int64_t>(events) *
                          static_cast<std::int64_t>(state.iterations()));
  state.counters["events"] = static_cast<double>(events);
  state.counters["file_MB"] = static_cast<double>(trace().file.size()) / 1e6;
}

// Everything `trace --load` does before printing: buffers, decompression, headers, pool decoder,
// stack keys, pairing, the report.
void BM_EtlEndToEnd(benchmark::State& state) {
  const Trace& t = trace();
  for (auto _ : state) {
    auto read = etl::read_pool_trace(etl::span_source(t.file), {});
    if (!read || read->stats.events != t.events) state.SkipWithError("wrong event count");
    auto facts = etl::run_facts(*read, "bench.etl");
    benchmark::DoNotOptimize(etw::render_report(*read->processor, read->end_ticks, facts));
  }
  set_counters(state, t.events);
}
BENCHMARK(BM_EtlEndToEnd)->Unit(benchmark::kMillisecond)->Iterations(3);

// The reader alone: buffers decompressed and every record's header decoded, no pool decoder.
void BM_EtlWalkOnly(benchmark::State& state) {
  const Trace& t = trace();
  for (auto _ : state) {
    etl::EtlReader reader(etl::span_source(t.file));
    (void)reader.open();
    std::uint64_t n = 0;
    reader.walk([&](const etl::EtlRecord& record) { n += record.opcode; });
    benchmark::DoNotOptimize(n);
  }
  set_counters(state, t.events);
}
BENCHMARK(BM_EtlWalkOnly)->Unit(benchmark::kMillisecond)->Iterations(3);

// The floor: LZXPRESS decompression of every compressed buffer, nothing else.
void BM_EtlDecompressOnly(benchmark::State& state) {
  const Trace& t = trace();
  std::vector<std::uint8_t> out(65536);
  for (auto _ : state) {
    std::size_t at = 0, bytes = 0;
    while (at + etl::kBufferHeaderSize <= t.file.size()) {
      std::uint32_t size, flags;
      std::memcpy(&size, t.file.data() + at, 4);
      flags = t.file[at + 0x34];
      if (flags & etl::kBufferCompressed) {
        auto n =
            etl::xpress_decompress(std::span<const std::uint8_t>(t.file).subspan(
                                       at + etl::kBufferHeaderSize, size - etl::kBufferHeaderSize),
                                   out);
        bytes += n ? *n : 0;
      }
      at += size;
    }
    benchmark::DoNotOptimize(bytes);
  }
  set_counters(state, t.events);
}
BENCHMARK(BM_EtlDecompressOnly)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
