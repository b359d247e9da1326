// Owner attribution against the method people use today, in one run:
// - baseline: `strings -a FILES | grep -c TAG` over a driver folder, once per tag of a snapshot
//   (how "findstr /m /l TAG *.sys" is used), run through popen;
// - poolscope: one pass over the same files (read, parse the PE, decode the code of drivers that
//   import a pool API, recover every call site's tag), then every tag of the snapshot looked up.
// Goal: >= 20x faster for a whole snapshot's tags, and >= 500 MB/s of PE input.
// Also the cost of the OWNER column on Linux (BM_OwnerResolver*): loading /proc/kallsyms once, the
// first fill of a live snapshot (constructor files read per cache), and a refresh (remembered).
// POOLSCOPE_BENCH_DRIVERS=DIR[:DIR...] chooses the folders (default: Debian wine64's .sys files
// and ../shared/data/real/drivers/*).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "attrib/call_sites.h"
#include "attrib/driver_file.h"
#include "attrib/owner_resolver.h"
#include "parse/slabinfo.h"

namespace {

using namespace poolscope;
namespace fs = std::filesystem;

// Tags of a typical snapshot: common kernel tags plus the ones of the sample drivers.
const std::vector<std::string> kSnapshotTags = {
    "WDiv", "PMEM", "FSPT", "None", "SeAl", "SeTs", "PpRb", "PpUc", "SeSd", "Ntfx",
    "MmSt", "File", "Irp",  "Thre", "Proc", "Even", "Mutx", "Sema", "Toke", "Key",
    "CM31", "CM25", "Vad",  "VadS", "ObNm", "ObSq", "Ntff", "NtFs", "FMfn", "FMsl",
    "Io",   "IoNm", "MmCa", "MmRe", "Wait", "Cont", "KSpn", "TcpE", "UdpA", "Ndnb"};

std::vector<fs::path> driver_files() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("POOLSCOPE_BENCH_DRIVERS")) {
    std::string all = env;
    for (std::size_t at = 0; at <= all.size();) {
      const auto end = std::min(all.find(':', at), all.size());
      if (end > at) dirs.push_back(all.substr(at, end - at));
      at = end + 1;
    }
  } else {
    dirs = {"/usr/lib/x86_64-linux-gnu/wine/x86_64-windows",
            std::string(POOLSCOPE_SHARED_DATA) + "/drivers/windivert",
            std::string(POOLSCOPE_SHARED_DATA) + "/drivers/winpmem"};
  }
  std::vector<fs::path> out;
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      if (it->path().extension() == ".sys") out.push_back(it->path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t total_bytes(const std::vector<fs::path>& files) {
  std::uint64_t sum = 0;
  for (const auto& f : files) sum += fs::file_size(f);
  return sum;
}

void BM_StringsGrepPerTag(benchmark::State& state) {
  const auto files = driver_files();
  if (files.empty()) {
    state.SkipWithError("no driver files (set POOLSCOPE_BENCH_DRIVERS)");
    return;
  }
  std::string list;
  for (const auto& f : files) list += " '" + f.string() + "'";
  std::size_t matches = 0;
  for (auto _ : state) {
    for (const auto& tag : kSnapshotTags) {
      const std::string cmd = "strings -a" + list + " | grep -c -- '" + tag + "'";
      FILE* pipe = ::popen(cmd.c_str(), "r");
      if (pipe == nullptr) {
        state.SkipWithError("popen failed");
        return;
      }
      char buffer[64] = {};
      if (std::fgets(buffer, sizeof buffer, pipe)) matches += std::strtoull(buffer, nullptr, 10);
      ::pclose(pipe);
    }
  }
  state.counters["files"] = static_cast<double>(files.size());
  state.counters["tags"] = static_cast<double>(kSnapshotTags.size());
  state.counters["matches"] = static_cast<double>(matches / state.iterations());
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * total_bytes(files) * kSnapshotTags.size()));
}
// Wall time: the work happens in the child processes.
BENCHMARK(BM_StringsGrepPerTag)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

void BM_PoolscopeOnePass(benchmark::State& state) {
  const auto files = driver_files();
  if (files.empty()) {
    state.SkipWithError("no driver files (set POOLSCOPE_BENCH_DRIVERS)");
    return;
  }
  std::size_t owned = 0;
  std::uint64_t decoded = 0;
  for (auto _ : state) {
    std::map<PoolKey, std::set<std::string>> owners;
    for (const auto& path : files) {
      auto file = attrib::read_driver_file(path);
      if (!file) continue;
      const auto scan = attrib::scan_call_sites(file->image, file->bytes);
      decoded += scan.decoded_bytes;
      for (const auto& tag : attrib::driver_tags(scan)) {
        owners[tag.tag].insert(path.filename().string());
      }
    }
    owned = 0;
    for (const auto& tag : kSnapshotTags) owned += owners.contains(tag_from_text(tag));
    benchmark::DoNotOptimize(owned);
  }
  state.counters["files"] = static_cast<double>(files.size());
  state.counters["tags_owned"] = static_cast<double>(owned);
  state.counters["code_MB"] = static_cast<double>(decoded) / state.iterations() / 1e6;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * total_bytes(files)));
}
BENCHMARK(BM_PoolscopeOnePass)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same pass on files already in memory: parse + decode + tag recovery, the PE input rate
// without the file system.
void BM_PoolscopeInMemory(benchmark::State& state) {
  std::vector<attrib::DriverFile> loaded;
  std::uint64_t bytes = 0;
  for (const auto& path : driver_files()) {
    auto file = attrib::read_driver_file(path);
    if (!file) continue;
    bytes += file->bytes.size();
    loaded.push_back(std::move(*file));
  }
  if (loaded.empty()) {
    state.SkipWithError("no driver files (set POOLSCOPE_BENCH_DRIVERS)");
    return;
  }
  for (auto _ : state) {
    std::size_t tags = 0;
    for (const auto& file : loaded) {
      auto image = parse::parse_pe(file.bytes);
      if (!image) continue;
      tags += attrib::driver_tags(attrib::scan_call_sites(*image, file.bytes)).size();
    }
    benchmark::DoNotOptimize(tags);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_PoolscopeInMemory)->Unit(benchmark::kMillisecond);

attrib::OwnerResolverOptions live_owner_options() {
  attrib::OwnerResolverOptions options;
  options.kallsyms = "/proc/kallsyms";
  options.read_sysfs = true;
  return options;
}

// A live slabinfo snapshot, or nullopt when /proc/slabinfo is not readable.
std::optional<Snapshot> live_slabinfo() {
  std::FILE* f = std::fopen("/proc/slabinfo", "r");
  if (f == nullptr) return std::nullopt;
  std::string text;
  char buffer[65536];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, n);
  std::fclose(f);
  auto parsed = parse::parse_slabinfo(text, {});
  if (!parsed) return std::nullopt;
  return std::move(parsed->snapshot);
}

void BM_OwnerResolverLoadKallsyms(benchmark::State& state) {
  std::size_t symbols = 0;
  for (auto _ : state) {
    auto resolver = attrib::OwnerResolver::load(live_owner_options());
    if (!resolver) {
      state.SkipWithError("/proc/kallsyms is not readable");
      return;
    }
    symbols = resolver->kernel_symbols()->size();
    benchmark::DoNotOptimize(resolver);
  }
  state.counters["symbols"] = static_cast<double>(symbols);
}
BENCHMARK(BM_OwnerResolverLoadKallsyms)->Unit(benchmark::kMillisecond)->UseRealTime();

// Load and the first fill of every cache; minus the load above, the first fill's cost.
void BM_OwnerResolverLoadAndFirstFill(benchmark::State& state) {
  const auto snapshot = live_slabinfo();
  if (!snapshot) {
    state.SkipWithError("/proc/slabinfo is not readable (needs root)");
    return;
  }
  std::size_t filled = 0;
  for (auto _ : state) {
    auto resolver = attrib::OwnerResolver::load(live_owner_options());
    if (!resolver) {
      state.SkipWithError("/proc/kallsyms is not readable");
      return;
    }
    Snapshot copy = *snapshot;
    filled = resolver->fill(copy);
    benchmark::DoNotOptimize(copy);
  }
  state.counters["caches"] = static_cast<double>(snapshot->entries.size());
  state.counters["owned"] = static_cast<double>(filled);
}
BENCHMARK(BM_OwnerResolverLoadAndFirstFill)->Unit(benchmark::kMillisecond)->UseRealTime();

// What `top` pays per refresh once every cache was seen.
void BM_OwnerResolverRefresh(benchmark::State& state) {
  const auto snapshot = live_slabinfo();
  auto resolver = attrib::OwnerResolver::load(live_owner_options());
  if (!snapshot || !resolver) {
    state.SkipWithError("needs readable /proc/slabinfo and /proc/kallsyms");
    return;
  }
  Snapshot warm = *snapshot;
  resolver->fill(warm);
  for (auto _ : state) {
    Snapshot copy = *snapshot;
    benchmark::DoNotOptimize(resolver->fill(copy));
  }
}
BENCHMARK(BM_OwnerResolverRefresh)->Unit(benchmark::kMicrosecond);

}  // namespace
