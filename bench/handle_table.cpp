// The Windows system handle table (SystemExtendedHandleInformation) of a busy server: 2,000,000
// handles held by 400 processes, x64 layout. poolscope's census (one pass over the buffer, counts
// per process and type, Process/Thread references kept for the exited-process rule) against the
// baseline that decodes every entry into a vector first and counts from it (what a straight port
// of a handle lister does). Goal: the census under 50 ms, memory bounded by processes and
// Process/Thread handles, not by the table. Counters: ns per handle, the census's own memory.
#include "parse/handle_table.h"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "../tests/unit/parse/handle_table_builder.h"

namespace {

namespace parse = poolscope::parse;
using poolscope::HandleKind;

constexpr std::size_t kHandles = 2'000'000;
constexpr std::uint64_t kProcesses = 400;

struct Fixture {
  std::vector<std::byte> table;
  parse::ObjectTypeTable types;
  parse::LiveObjects live;
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture f;
    const auto width = parse::PointerWidth::k64;
    f.types = *parse::decode_object_types(parse::testing::windows_types(width).bytes(), width);
    // Type indexes of windows_types(): Event 16, File 37, Key 44, Process 7, Thread 8, Token 5,
    // Section 42, ALPC Port 46, Job 6 (other).
    const std::uint16_t mix[] = {16, 16, 16, 37, 37, 44, 44, 8, 5, 42, 46, 6, 16, 37, 44, 7};
    parse::testing::HandleTableBuilder builder(width);
    builder.reserve(kHandles + kProcesses);
    const std::size_t per_process = kHandles / kProcesses;
    std::uint64_t object = 0xFFFFA80000000000u;
    for (std::uint64_t p = 0; p < kProcesses; ++p) {
      const std::uint64_t pid = 4 + 4 * p;
      for (std::size_t h = 0; h < per_process; ++h) {
        const std::uint16_t type = mix[(h * 7 + p) % 16];
        // Process handles mostly to a few hundred objects (the live processes), some exited.
        const std::uint64_t target =
            type == 7 ? 0xFFFFB00000000000u + ((h * 13 + p) % (kProcesses + 200)) * 0x1000
                      : (object += 0x40);
        builder.add(parse::HandleEntry{.object = target,
                                       .pid = pid,
                                       .handle = 4 + 4 * h,
                                       .granted_access = 0x1F0003,
                                       .type_index = type});
      }
    }
    f.live.own_pid = 99999;
    for (std::uint64_t p = 0; p < kProcesses; ++p) {
      builder.add(parse::HandleEntry{.object = 0xFFFFB00000000000u + p * 0x1000,
                                     .pid = 99999,
                                     .handle = 0x10000 + 4 * p,
                                     .type_index = 7});
      f.live.own_process_handles.push_back(0x10000 + 4 * p);
    }
    f.table = builder.bytes();
    return f;
  }();
  return f;
}

void BM_Census(benchmark::State& state) {
  const Fixture& f = fixture();
  std::size_t memory = 0;
  for (auto _ : state) {
    auto census = parse::census_handles(f.table, parse::PointerWidth::k64, f.types, &f.live);
    if (!census || census->handles != kHandles) state.SkipWithError("census failed");
    memory = census->processes.capacity() * sizeof(parse::ProcessHandleCensus);
    benchmark::DoNotOptimize(census);
  }
  state.counters["ns_per_handle"] = benchmark::Counter(
      static_cast<double>(kHandles),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["result_bytes"] = static_cast<double>(memory);
  state.counters["buffer_MB"] = static_cast<double>(f.table.size()) / 1e6;
}
BENCHMARK(BM_Census)->Unit(benchmark::kMillisecond)->MinTime(1.0);

// Baseline: every entry into a vector, then counts per pid and type name from it.
void BM_DecodeThenCount(benchmark::State& state) {
  const Fixture& f = fixture();
  for (auto _ : state) {
    auto entries = parse::decode_handle_table(f.table, parse::PointerWidth::k64);
    if (!entries) state.SkipWithError("decode failed");
    std::unordered_map<std::uint64_t, std::unordered_map<std::string, std::uint64_t>> counts;
    for (const auto& e : *entries) ++counts[e.pid][std::string(f.types.name_of(e.type_index))];
    benchmark::DoNotOptimize(counts);
    state.counters["result_bytes"] =
        static_cast<double>(entries->capacity() * sizeof(parse::HandleEntry));
  }
}
BENCHMARK(BM_DecodeThenCount)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace
