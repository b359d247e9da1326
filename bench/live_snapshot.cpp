// One live Linux snapshot in process (read + parse slabinfo and meminfo, build the model) against
// its baseline, a bare open/read/close of /proc/slabinfo. Goal: at most 1.2x the baseline.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "core/clock.h"
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

void BM_LiveSnapshot(benchmark::State& state) {
  poolscope::SystemClock clock;
  auto source = poolscope::open_live_source(clock);
  if (!source) {
    state.SkipWithError(source.error().message.c_str());
    return;
  }
  if (auto warm = (*source)->sample(); !warm) {  // first sample scans /sys/kernel/slab once
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

// Interleaved repetitions so both see the same machine noise; compare the medians.
BENCHMARK(BM_BareReadSlabinfo)->Repetitions(9)->ReportAggregatesOnly(true);
BENCHMARK(BM_LiveSnapshot)->Repetitions(9)->ReportAggregatesOnly(true);

}  // namespace
