// Linux process facts: reading every fd link of every process at each collection (the baseline,
// what a naive "ls -l /proc/*/fd" recorder does) against poolscope's collector, which re-reads
// only processes whose fd count moved. POOLSCOPE_BENCH_EXTRA_PROCESSES=N forks N idle children
// first (killed when the benchmark exits) to stand in for a host with thousands of processes.
#include "source/linux/process_facts.h"

#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

// Idle children: they pause until killed, die with us (PR_SET_PDEATHSIG) and after 10 minutes
// at the latest (alarm), so an interrupted run leaves nothing behind.
class IdleChildren {
 public:
  IdleChildren() {
    const char* env = std::getenv("POOLSCOPE_BENCH_EXTRA_PROCESSES");
    const long wanted = env ? std::strtol(env, nullptr, 10) : 0;
    for (long i = 0; i < wanted; ++i) {
      const pid_t child = ::fork();
      if (child < 0) {
        std::perror("fork");
        break;
      }
      if (child == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::alarm(600);
        for (;;) ::pause();
      }
      children_.push_back(child);
    }
    if (wanted > 0) std::fprintf(stderr, "forked %zu idle children\n", children_.size());
  }
  ~IdleChildren() {
    for (pid_t child : children_) ::kill(child, SIGKILL);
    for (pid_t child : children_) ::waitpid(child, nullptr, 0);
  }

 private:
  std::vector<pid_t> children_;
};
IdleChildren idle_children;

void collect_loop(benchmark::State& state, bool incremental) {
  poolscope::SystemClock clock;
  auto collector = poolscope::LinuxProcessFacts::open(clock, {.incremental = incremental});
  if (!collector) {
    state.SkipWithError(collector.error().message.c_str());
    return;
  }
  if (!(*collector)->collect()) {  // warm: the first collection reads everything either way
    state.SkipWithError("collect failed");
    return;
  }
  std::uint64_t processes = 0, classified = 0, stat_reads = 0;
  for (auto _ : state) {
    auto sample = (*collector)->collect();
    if (!sample) {
      state.SkipWithError(sample.error().message.c_str());
      return;
    }
    benchmark::DoNotOptimize(sample->processes.data());
    processes += (*collector)->last_stats().processes;
    classified += (*collector)->last_stats().classified;
    stat_reads += (*collector)->last_stats().stat_reads;
  }
  const double iterations = static_cast<double>(state.iterations());
  state.counters["processes"] = static_cast<double>(processes) / iterations;
  state.counters["classified"] = static_cast<double>(classified) / iterations;
  state.counters["stat_reads"] = static_cast<double>(stat_reads) / iterations;
}

void BM_ProcessFactsFullClassification(benchmark::State& state) {
  collect_loop(state, /*incremental=*/false);
}
void BM_ProcessFactsIncremental(benchmark::State& state) {
  collect_loop(state, /*incremental=*/true);
}
BENCHMARK(BM_ProcessFactsFullClassification)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ProcessFactsIncremental)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
