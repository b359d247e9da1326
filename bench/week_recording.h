// Shared by the benchmarks that analyse or render a long recording (bench/detect.cpp,
// bench/report.cpp): running the real poolscope binary and measuring it, and the synthetic week of
// 1 Hz samples of 300 keys, written once through the real store.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "store/recording.h"

namespace poolscope::bench {

struct ChildCost {
  int status = -1;
  double wall_s = 0, cpu_s = 0;
  long max_rss_kib = 0;
};

// Runs the poolscope binary with args (output to /dev/null) and measures it with wait4.
inline ChildCost run_poolscope(std::vector<std::string> args) {
  ChildCost cost;
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* null = std::freopen("/dev/null", "w", stdout);
    (void)null;
    std::string binary = POOLSCOPE_BINARY;
    std::vector<char*> argv{binary.data()};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  rusage u{};
  ::wait4(pid, &status, 0, &u);
  cost.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  cost.cpu_s = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
               static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  cost.max_rss_kib = u.ru_maxrss;
  cost.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return cost;
}

inline std::string bench_dir() {
  const char* env = std::getenv("POOLSCOPE_BENCH_DIR");
  std::string dir = env ? env : POOLSCOPE_BENCH_DEFAULT_DIR;
  std::filesystem::create_directories(dir);
  return dir;
}

// A week at 1 Hz of 300 slab caches: 280 flat with slab-sized noise, 10 churning, 10 leaking at
// 1..10 objects a minute. Written once (about 180 M key-samples) and reused.
inline const std::string& week_recording() {
  static const std::string path = [] {
    const std::string file = bench_dir() + "/detect-week-300.db";
    const std::string done = file + ".complete-v1";
    if (std::filesystem::exists(done)) return file;
    std::filesystem::remove(file);
    std::fprintf(stderr, "building %s (a week of 1 Hz samples of 300 keys)...\n", file.c_str());
    auto rec = store::Recording::open_write(file);
    if (!rec) {
      std::fprintf(stderr, "%s\n", rec.error().message.c_str());
      std::exit(1);
    }
    std::mt19937_64 rng(7);
    std::vector<double> level(300, 0);
    Snapshot s;
    s.host = "synthetic";
    s.source = "live:linux";
    s.format = "slabinfo";
    s.memory_available_bytes = 8ULL << 30;
    for (int i = 0; i < 300; ++i) {
      Entry e;
      e.key = slab_cache("cache-" + std::to_string(i));
      e.pool = i % 4 == 0 ? PoolKind::kReclaimable : PoolKind::kUnreclaimable;
      e.object_size = 64;
      s.entries.push_back(e);
    }
    (void)rec->begin();
    constexpr std::int64_t kWeek = 7 * 24 * 3600;
    for (std::int64_t t = 0; t < kWeek; ++t) {
      s.wall_time = std::chrono::system_clock::time_point(std::chrono::seconds(1'790'000'000 + t));
      s.monotonic_ns = t * 1'000'000'000;
      for (int i = 0; i < 300; ++i) {
        if (rng() % 8 == 0) level[i] = static_cast<double>(rng() % 128) - 64;
        double v = 20000 + 50.0 * i + level[i];
        if (i >= 280 && i < 290) v += 20.0 * static_cast<double>(t % 20);
        if (i >= 290) v += static_cast<double>((i - 289) * t / 60);
        const auto n = static_cast<std::uint64_t>(v);
        s.entries[i].counters.outstanding = n;
        s.entries[i].counters.bytes = (n + 63) / 64 * 4096;
      }
      if (!rec->append(s)) std::exit(1);
      if ((t + 1) % 3600 == 0) {
        (void)rec->commit();
        (void)rec->begin();
      }
    }
    (void)rec->commit();
    (void)rec->checkpoint();
    std::ofstream(done) << "ok\n";
    return file;
  }();
  return path;
}

}  // namespace poolscope::bench
