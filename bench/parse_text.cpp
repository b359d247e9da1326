// Parsing throughput of 100k-line poolmon and !poolused texts through the same entry point that
// `--source FILE` uses, beside the baseline of merely finding the line ends (memchr). Goal: 200
// MB/s.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

#include "parse/sniff.h"

namespace {

constexpr int kLines = 100'000;

std::string tag_for(int i) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string tag(4, ' ');
  for (int k = 0; k < 4; ++k) {
    tag[k] = kChars[i % 62];
    i /= 62;
  }
  return tag;
}

// A poolmon /n-style log: header, column titles, then rows with (delta) columns as poolmon writes.
const std::string& poolmon_text() {
  static const std::string text = [] {
    std::string t =
        " Memory:33473120K Avail:20055132K  PageFlts:     5   InRam Krnl:10444K P:1843072K\n"
        " Commit:15035764K Limit:67027552K Peak:16677444K            Pool N:1023400K P:1955448K\n"
        " System pool information\n"
        " Tag  Type     Allocs            Frees            Diff   Bytes      Per Alloc\n\n";
    char line[160];
    for (int i = 0; i < kLines; ++i) {
      unsigned allocs = 1000u + static_cast<unsigned>(i) * 37u,
               frees = allocs - static_cast<unsigned>(i % 500);
      unsigned diff = allocs - frees;
      unsigned per = 16u + static_cast<unsigned>(i % 4096);
      std::snprintf(line, sizeof line, " %s %-5s %10u (%4u) %10u (%4u) %8u %9u (%6u) %6u\n",
                    tag_for(i).c_str(), (i & 1) ? "Paged" : "Nonp", allocs, i % 7u, frees, i % 5u,
                    diff, diff * per, i % 11u, diff ? per : 0u);
      t += line;
    }
    return t;
  }();
  return text;
}

// !poolused 2: two pools per line, description after a TAB.
const std::string& poolused_text() {
  static const std::string text = [] {
    std::string t =
        "0: kd> !poolused 2\n....................\n Sorting by NonPaged Pool Consumed\n\n"
        "               NonPaged                  Paged\n"
        " Tag     Allocs         Used     Allocs         Used\n\n";
    char line[200];
    for (int i = 0; i < kLines; ++i) {
      std::snprintf(line, sizeof line,
                    " %s %9u %12u %10u %12u\tUNKNOWN pooltag '%s', please update pooltag.txt\n",
                    tag_for(i).c_str(), 100u + static_cast<unsigned>(i),
                    4096u * static_cast<unsigned>(i % 1000), static_cast<unsigned>(i % 13),
                    64u * static_cast<unsigned>(i % 13), tag_for(i).c_str());
      t += line;
    }
    return t;
  }();
  return text;
}

void BM_Baseline_FindLineEnds(benchmark::State& state) {
  const std::string& text = state.range(0) == 0 ? poolmon_text() : poolused_text();
  for (auto _ : state) {
    std::size_t lines = 0;
    const char* p = text.data();
    const char* end = p + text.size();
    while (const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p))) {
      p = static_cast<const char*>(nl) + 1;
      ++lines;
    }
    benchmark::DoNotOptimize(lines);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void BM_Parse(benchmark::State& state) {
  const std::string& text = state.range(0) == 0 ? poolmon_text() : poolused_text();
  std::size_t entries = 0;
  for (auto _ : state) {
    auto parsed = poolscope::parse::parse_pool_text(text);
    if (!parsed) {
      state.SkipWithError(parsed.error().message.c_str());
      return;
    }
    entries = parsed->snapshot.entries.size();
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["entries"] = static_cast<double>(entries);
}

// Arg 0 = poolmon, 1 = !poolused.
BENCHMARK(BM_Baseline_FindLineEnds)->Arg(0)->Arg(1)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_Parse)->Arg(0)->Arg(1)->Repetitions(5)->ReportAggregatesOnly(true)->Unit(
    benchmark::kMillisecond);

}  // namespace
