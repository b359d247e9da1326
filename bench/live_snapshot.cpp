// One live Linux snapshot in process (read + parse slabinfo and meminfo, build the model) against
// its baseline, a bare open/read/close of /proc/slabinfo. Goal: at most 1.2x the baseline.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/clock.h"
#include "parse/kmem.h"
#include "source/linux/live_linux.h"
#include "source/source.h"

namespace {

void BM_BareReadSlabinfo(benchmark::State& state) {
  std::vector<char> buf(256 * 1024);
  for (auto _ : state) {
    int fd = ::open("/proc/slabinfo", O_RDONLY);
    if (fd < 0) {
      state.SkipWithError("/proc/slabinfo is not readable: run as root");
      return;
    }
    std::size_t total = 0;
    ssize_t n;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) total += static_cast<std::size_t>(n);
    ::close(fd);
    benchmark::DoNotOptimize(total);
  }
}

// A sample with kernel memory keys (the default) against today's slab-only sample (slabinfo +
// meminfo's slab totals): goal at most 1.5x. Both sources are made with the same paths.
void live_sample(benchmark::State& state, bool kernel_memory) {
  poolscope::SystemClock clock;
  poolscope::LinuxPaths paths;
  paths.kernel_memory = kernel_memory;
  auto source = poolscope::open_linux_source(clock, paths);
  if (!source) {
    state.SkipWithError(source.error().message.c_str());
    return;
  }
  if (auto warm = (*source)->sample(); !warm) {
    state.SkipWithError(warm.error().message.c_str());
    return;
  }
  std::size_t entries = 0;
  for (auto _ : state) {
    auto snapshot = (*source)->sample();
    entries = snapshot->entries.size();
    benchmark::DoNotOptimize(snapshot);
  }
  state.counters["entries"] = static_cast<double>(entries);
}

void BM_SlabOnlySample(benchmark::State& state) {
  live_sample(state, false);
}

// The live source as poolscope opens it: with the kernel memory keys.
void BM_LiveSnapshot(benchmark::State& state) {
  live_sample(state, true);
}

// What a sample adds when VmallocUsed moved: /proc/vmallocinfo read and parsed per caller.
void BM_VmallocinfoReadParse(benchmark::State& state) {
  std::string text;
  std::vector<char> buf(256 * 1024);
  std::size_t callers = 0;
  for (auto _ : state) {
    int fd = ::open("/proc/vmallocinfo", O_RDONLY);
    if (fd < 0) {
      state.SkipWithError("/proc/vmallocinfo is not readable: run as root");
      return;
    }
    text.clear();
    ssize_t n;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) {
      text.append(buf.data(), static_cast<std::size_t>(n));
    }
    ::close(fd);
    callers = poolscope::parse::parse_vmallocinfo(text, 4096).callers.size();
    benchmark::DoNotOptimize(callers);
  }
  state.counters["callers"] = static_cast<double>(callers);
}

// Interleaved repetitions so both see the same machine noise; compare the medians.
BENCHMARK(BM_BareReadSlabinfo)->Repetitions(9)->ReportAggregatesOnly(true);
BENCHMARK(BM_SlabOnlySample)->Repetitions(9)->ReportAggregatesOnly(true);
BENCHMARK(BM_LiveSnapshot)->Repetitions(9)->ReportAggregatesOnly(true);
BENCHMARK(BM_VmallocinfoReadParse)->Repetitions(9)->ReportAggregatesOnly(true);

}  // namespace
