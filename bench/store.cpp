// The recording store against its baselines, in one run:
// - read-back of a week of 1 Hz samples of 300 keys (180 M key-samples, synthetic but shaped like
//   a real slab recording) with the change-set cursor, against a plain SQLite table with one row
//   per key-sample (6 hours of the same data). Goal: >= 50 M key-samples/s.
// - bytes per key-sample of a real 1 Hz recording of this machine (file + WAL after a checkpoint)
//   against the same key-samples as gzip -9'ed CSV. Goal: <= 2 bytes; stretch: <= 1/10 of gzip.
//   POOLSCOPE_BENCH_RECORDING=FILE.db uses an existing recording (e.g. an hour of `poolscope
//   record --interval 1`); otherwise one is recorded first for POOLSCOPE_BENCH_RECORD_MINUTES
//   (default 10).
// - CPU time per sample when recording at 1 Hz (getrusage around POOLSCOPE_BENCH_1HZ_SAMPLES
//   samples, default 180, live source + process facts at the default automatic interval +
//   commit) against the same with process facts at every sample, the live snapshot alone and the
//   append alone (the kernel's own cost of /proc/slabinfo: bench_live_snapshot's bare read).
//   Goal: < 1 ms per sample (0.1% of a core at 1 Hz).
// - resident memory over a 10 Hz soak of POOLSCOPE_SOAK_SECONDS (default 600; the issue asks for
//   3600): start (after 30 s), end and peak RSS. Goal: flat.
// Generated and recorded files live in POOLSCOPE_BENCH_DIR (default: <build>/bench-data) and are
// reused by later runs.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/time_format.h"
#include "source/host.h"
#include "source/process_facts.h"
#include "source/source.h"
#include "store/recorder.h"
#include "store/recording.h"

namespace {

using namespace poolscope;
namespace fs = std::filesystem;

constexpr std::int64_t kWeekSamples = 7 * 24 * 3600;
constexpr std::int64_t kNaiveSamples = 6 * 3600;
constexpr int kKeys = 300;
constexpr std::int64_t kStartSeconds = 1'790'000'000;

std::string bench_dir() {
  const char* env = std::getenv("POOLSCOPE_BENCH_DIR");
  std::string dir = env ? env : POOLSCOPE_BENCH_DEFAULT_DIR;
  fs::create_directories(dir);
  return dir;
}

long env_long(const char* name, long fallback) {
  const char* env = std::getenv(name);
  return env ? std::strtol(env, nullptr, 10) : fallback;
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::int64_t thread_cpu_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

long rss_kib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

// ---------------------------------------------------------------------------------------------
// Synthetic slab caches shaped like a real host: most flat, some slowly growing (leak-like), some
// churning every second, a few created and destroyed every few hours.

class SyntheticHost {
 public:
  SyntheticHost() : rng_(1234) {
    for (int i = 0; i < kKeys; ++i) {
      Cache c;
      c.name = "cache-" + std::to_string(i);
      c.object_size = 32u << (rng_() % 8);
      c.per_slab = std::max<std::uint64_t>(1, 8192 / c.object_size);
      c.outstanding = rng_() % 200000;
      c.kind = i < 200 ? kFlat : i < 260 ? kGrowing : i < 290 ? kChurning : kTransient;
      c.next_change = rng_() % 60;
      transient_on_.push_back(true);
      caches_.push_back(c);
    }
  }

  // The snapshot at second t (t increases by one per call).
  const Snapshot& next(std::int64_t t) {
    snapshot_.wall_time =
        std::chrono::system_clock::time_point(std::chrono::seconds(kStartSeconds + t));
    snapshot_.monotonic_ns = t * 1'000'000'000;
    snapshot_.host = "synthetic";
    snapshot_.source = "live:linux";
    snapshot_.format = "slabinfo";
    snapshot_.entries.clear();
    std::uint64_t used = 0;
    for (std::size_t i = 0; i < caches_.size(); ++i) {
      Cache& c = caches_[i];
      switch (c.kind) {
        case kFlat:
          break;
        case kGrowing:
          if (t >= c.next_change) {
            c.outstanding += 1 + rng_() % 5;
            c.next_change = t + 30 + static_cast<std::int64_t>(rng_() % 90);
          }
          break;
        case kChurning: {
          const auto step = static_cast<std::int64_t>(rng_() % 41) - 20;
          c.outstanding = static_cast<std::uint64_t>(
              std::max<std::int64_t>(0, static_cast<std::int64_t>(c.outstanding) + step));
          break;
        }
        case kTransient:
          if (t >= c.next_change) {
            transient_on_[i] = !transient_on_[i];
            c.next_change = t + 3600 + static_cast<std::int64_t>(rng_() % (5 * 3600));
          }
          if (!transient_on_[i]) continue;
          break;
      }
      Entry e;
      e.key = slab_cache(c.name);
      e.pool = i % 3 == 0 ? PoolKind::kReclaimable : PoolKind::kUnreclaimable;
      e.counters.outstanding = c.outstanding;
      // Slabs hold per_slab objects; bytes move in whole slabs (8 KiB).
      e.counters.bytes = (c.outstanding + c.per_slab - 1) / c.per_slab * 8192;
      e.object_size = c.object_size;
      used += *e.counters.bytes;
      snapshot_.entries.push_back(std::move(e));
    }
    snapshot_.totals = {PoolTotal{PoolKind::kUnreclaimable, used, std::nullopt, std::nullopt, ""}};
    return snapshot_;
  }

 private:
  enum Kind { kFlat, kGrowing, kChurning, kTransient };
  struct Cache {
    std::string name;
    std::uint64_t object_size = 0, per_slab = 1, outstanding = 0;
    Kind kind = kFlat;
    std::int64_t next_change = 0;
  };
  std::mt19937_64 rng_;
  std::vector<Cache> caches_;
  std::vector<bool> transient_on_;
  Snapshot snapshot_;
};

// Builds (once) the week of synthetic samples and the naive one-row-per-key-sample table of its
// first hours.
struct SyntheticFiles {
  std::string week, naive;
  std::int64_t week_key_samples = 0, naive_key_samples = 0;
};

const SyntheticFiles& synthetic_files() {
  static SyntheticFiles files = [] {
    SyntheticFiles f;
    const std::string dir = bench_dir();
    f.week = dir + "/synthetic-week-300.db";
    f.naive = dir + "/synthetic-naive-6h.db";
    // Bump the suffix when the encoding changes, so an old file is rebuilt.
    const std::string done = f.week + ".complete-v2";
    if (!fs::exists(done)) {
      fs::remove(f.week);
      fs::remove(f.naive);
      std::fprintf(stderr, "building %s (a week of 1 Hz samples of %d keys)...\n", f.week.c_str(),
                   kKeys);
      auto rec = store::Recording::open_write(f.week);
      if (!rec) {
        std::fprintf(stderr, "%s\n", rec.error().message.c_str());
        std::exit(1);
      }
      sqlite3* naive = nullptr;
      sqlite3_open(f.naive.c_str(), &naive);
      sqlite3_exec(naive,
                   "PRAGMA journal_mode=WAL; CREATE TABLE samples(seq INTEGER, key_id INTEGER, "
                   "outstanding INTEGER, bytes INTEGER, PRIMARY KEY(seq, key_id)) WITHOUT ROWID; "
                   "BEGIN",
                   nullptr, nullptr, nullptr);
      sqlite3_stmt* ins = nullptr;
      sqlite3_prepare_v2(naive, "INSERT INTO samples VALUES (?1, ?2, ?3, ?4)", -1, &ins, nullptr);
      SyntheticHost host;
      (void)rec->begin();
      for (std::int64_t t = 0; t < kWeekSamples; ++t) {
        const Snapshot& s = host.next(t);
        if (!rec->append(s)) std::exit(1);
        if (t < kNaiveSamples) {
          for (const Entry& e : s.entries) {
            // Key ids as the recording numbers them: first seen order, which is cache index + 1
            // for the caches present from the start.
            sqlite3_bind_int64(ins, 1, t + 1);
            sqlite3_bind_int64(ins, 2, std::stoll(e.key.name.substr(6)) + 1);
            sqlite3_bind_int64(ins, 3, static_cast<std::int64_t>(*e.counters.outstanding));
            sqlite3_bind_int64(ins, 4, static_cast<std::int64_t>(*e.counters.bytes));
            sqlite3_step(ins);
            sqlite3_reset(ins);
          }
        }
        if ((t + 1) % 3600 == 0) {
          (void)rec->commit();
          (void)rec->begin();
        }
      }
      (void)rec->commit();
      (void)rec->checkpoint();
      sqlite3_finalize(ins);
      sqlite3_exec(naive, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
      sqlite3_close(naive);
      std::ofstream(done) << "ok\n";
    }
    sqlite3* db = nullptr;
    sqlite3_open_v2(f.naive.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* count = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM samples", -1, &count, nullptr);
    sqlite3_step(count);
    f.naive_key_samples = sqlite3_column_int64(count, 0);
    sqlite3_finalize(count);
    sqlite3_close(db);
    return f;
  }();
  return files;
}

// ---------------------------------------------------------------------------------------------
// Read-back

void BM_ReadWeek_ChangeSetCursor(benchmark::State& state) {
  const auto& files = synthetic_files();
  auto rec = store::Recording::open_read(files.week);
  if (!rec) {
    state.SkipWithError(rec.error().message.c_str());
    return;
  }
  std::int64_t key_samples = 0, samples = 0;
  for (auto _ : state) {
    auto cursor = rec->cursor();
    std::uint64_t sum = 0;
    key_samples = samples = 0;
    while (cursor->next().value_or(false)) {
      ++samples;
      for (const store::KeySample& k : cursor->keys()) {
        sum += k.value[store::kOutstanding] + k.value[store::kBytes];
      }
      key_samples += static_cast<std::int64_t>(cursor->keys().size());
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * key_samples);
  state.counters["samples"] = static_cast<double>(samples);
  state.counters["key_samples"] = static_cast<double>(key_samples);
  state.counters["file_MiB"] = static_cast<double>(rec->file_bytes()) / (1 << 20);
  state.counters["bytes_per_key_sample"] =
      static_cast<double>(rec->file_bytes()) / static_cast<double>(key_samples);
}

// The last day of the week into per-key columns (outstanding and bytes), as analysis reads it.
void BM_ReadDay_Columns(benchmark::State& state) {
  const auto& files = synthetic_files();
  auto rec = store::Recording::open_read(files.week);
  if (!rec) {
    state.SkipWithError(rec.error().message.c_str());
    return;
  }
  std::int64_t key_samples = 0;
  for (auto _ : state) {
    auto columns =
        store::read_columns(*rec, store::CursorOptions{.from_seq = kWeekSamples - 24 * 3600 + 1},
                            (1u << store::kOutstanding) | (1u << store::kBytes));
    if (!columns) {
      state.SkipWithError(columns.error().message.c_str());
      return;
    }
    key_samples = 0;
    for (const auto& k : columns->keys) key_samples += static_cast<std::int64_t>(k.sample.size());
    benchmark::DoNotOptimize(columns);
  }
  state.SetItemsProcessed(state.iterations() * key_samples);
  state.counters["key_samples"] = static_cast<double>(key_samples);
}

// Baseline: the obvious schema, one row per key-sample, read in order.
void BM_ReadSixHours_RowPerKeySample(benchmark::State& state) {
  const auto& files = synthetic_files();
  sqlite3* db = nullptr;
  sqlite3_open_v2(files.naive.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  std::int64_t rows = 0;
  for (auto _ : state) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT seq, key_id, outstanding, bytes FROM samples ORDER BY seq, key_id",
                       -1, &stmt, nullptr);
    std::uint64_t sum = 0;
    rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      sum +=
          static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 2) + sqlite3_column_int64(stmt, 3));
      ++rows;
    }
    sqlite3_finalize(stmt);
    benchmark::DoNotOptimize(sum);
  }
  sqlite3_close(db);
  state.SetItemsProcessed(state.iterations() * rows);
  state.counters["key_samples"] = static_cast<double>(rows);
  const auto bytes = fs::file_size(files.naive);
  state.counters["file_MiB"] = static_cast<double>(bytes) / (1 << 20);
  state.counters["bytes_per_key_sample"] = static_cast<double>(bytes) / static_cast<double>(rows);
}

// ---------------------------------------------------------------------------------------------
// Size of a real recording against gzip'ed CSV of the same key-samples

std::string real_recording(bool processes) {
  if (const char* env = std::getenv(processes ? "POOLSCOPE_BENCH_RECORDING"
                                              : "POOLSCOPE_BENCH_RECORDING_NOPROC")) {
    return env;
  }
  const long minutes = env_long("POOLSCOPE_BENCH_RECORD_MINUTES", 10);
  const std::string path = bench_dir() + "/real-" + std::to_string(minutes) + "min" +
                           (processes ? "" : "-noproc") + ".db";
  if (fs::exists(path + ".complete")) return path;
  fs::remove(path);
  std::fprintf(stderr, "recording this machine at 1 Hz for %ld minutes into %s...\n", minutes,
               path.c_str());
  SystemClock clock;
  auto source = open_live_source(clock);
  if (!source) return {};
  std::unique_ptr<ProcessFactsCollector> collector;
  if (processes) {
    if (auto c = open_process_facts_collector(clock)) collector = std::move(*c);
  }
  auto rec = store::Recording::open_write(path);
  if (!rec) return {};
  store::RecorderHooks hooks;
  hooks.sample = [&] { return (*source)->sample(); };
  if (collector) hooks.processes = [&] { return collector->collect(); };
  std::atomic<bool> stop{false};
  hooks.sleep_until = [&](std::int64_t until) { host::sleep_until_monotonic(until, stop); };
  auto result =
      store::run_recorder(*rec, clock, hooks,
                          store::RecorderOptions{.interval = std::chrono::seconds(1),
                                                 .duration = std::chrono::minutes(minutes)},
                          stop);
  if (result.error) return {};
  std::ofstream(path + ".complete") << "ok\n";
  return path;
}

void size_against_gzip_csv(benchmark::State& state, bool processes) {
  const std::string original = real_recording(processes);
  if (original.empty() || !fs::exists(original)) {
    state.SkipWithError("no real recording (needs a readable /proc/slabinfo)");
    return;
  }
  // Work on a copy: the checkpoint writes.
  const std::string copy = bench_dir() + "/size-check.db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(copy + suffix);
  fs::copy_file(original, copy);
  if (fs::exists(original + "-wal")) fs::copy_file(original + "-wal", copy + "-wal");
  {
    // Plain SQLite: the copy still names the recorder that was writing the original.
    sqlite3* db = nullptr;
    sqlite3_open(copy.c_str(), &db);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  auto rec = store::Recording::open_read(copy);
  auto keys = rec->keys();
  std::vector<std::string> names, pools;
  for (const auto& k : *keys) {
    if (names.size() <= k.id) {
      names.resize(k.id + 1);
      pools.resize(k.id + 1);
    }
    names[k.id] = display_key(k.key);
    pools[k.id] = std::string(pool_kind_name(k.pool));
  }
  const std::uint64_t file_bytes = rec->file_bytes();
  std::int64_t key_samples = 0, samples = 0;
  std::uint64_t csv_bytes = 0, gzip_bytes = 0;
  for (auto _ : state) {
    // The CSV `poolscope export --format csv --kind pool` writes, through gzip -9.
    const std::string gz = bench_dir() + "/size-check.csv.gz";
    FILE* pipe = ::popen(("gzip -9 -c > '" + gz + "'").c_str(), "w");
    std::string buf = "kind,time,seq,key,pool,allocs,frees,outstanding,bytes,value,detail\n";
    auto cursor = rec->cursor();
    key_samples = samples = 0;
    csv_bytes = 0;
    while (cursor->next().value_or(false)) {
      ++samples;
      const std::string time = format_utc(store::from_wall_ns(cursor->info().wall_ns), true);
      for (const store::KeySample& k : cursor->keys()) {
        ++key_samples;
        buf += "pool," + time + "," + std::to_string(cursor->info().seq) + "," + names[k.key_id] +
               "," + pools[k.key_id];
        for (store::Field f : {store::kAllocs, store::kFrees, store::kOutstanding, store::kBytes}) {
          buf += ',';
          if (k.present & (1u << f)) buf += std::to_string(k.value[f]);
        }
        buf += ",,\n";
      }
      if (buf.size() > (1 << 20)) {
        csv_bytes += buf.size();
        std::fwrite(buf.data(), 1, buf.size(), pipe);
        buf.clear();
      }
    }
    csv_bytes += buf.size();
    std::fwrite(buf.data(), 1, buf.size(), pipe);
    ::pclose(pipe);
    gzip_bytes = fs::file_size(gz);
  }
  const auto ks = static_cast<double>(key_samples);
  state.counters["samples"] = static_cast<double>(samples);
  state.counters["key_samples"] = ks;
  state.counters["keys_per_sample"] = ks / static_cast<double>(samples);
  state.counters["file_plus_wal_bytes"] = static_cast<double>(file_bytes);
  state.counters["bytes_per_key_sample"] = static_cast<double>(file_bytes) / ks;
  state.counters["csv_bytes_per_key_sample"] = static_cast<double>(csv_bytes) / ks;
  state.counters["gzip_csv_bytes_per_key_sample"] = static_cast<double>(gzip_bytes) / ks;
  state.counters["recording_over_gzip_csv"] =
      static_cast<double>(file_bytes) / static_cast<double>(gzip_bytes);
}

void BM_RealRecordingSize_WithProcesses(benchmark::State& state) {
  size_against_gzip_csv(state, true);
}
void BM_RealRecordingSize_PoolsOnly(benchmark::State& state) {
  size_against_gzip_csv(state, false);
}

// ---------------------------------------------------------------------------------------------
// CPU per sample at 1 Hz, and the live snapshot alone as its baseline

// every_sample: process facts with every sample (the baseline); otherwise the default (auto).
void record_for(benchmark::State& state, std::chrono::nanoseconds interval, long samples, bool rss,
                bool every_sample = false) {
  SystemClock clock;
  auto source = open_live_source(clock);
  if (!source) {
    state.SkipWithError(source.error().message.c_str());
    return;
  }
  std::unique_ptr<ProcessFactsCollector> collector;
  if (auto c = open_process_facts_collector(clock)) collector = std::move(*c);
  const std::string path = bench_dir() + (rss ? "/soak.db" : "/cpu-1hz.db");
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
  for (auto _ : state) {
    auto rec = store::Recording::open_write(path);
    if (!rec) {
      state.SkipWithError(rec.error().message.c_str());
      return;
    }
    std::atomic<bool> stop{false};
    long start_rss = 0, max_rss = 0, n = 0;
    std::vector<long> rss_tenths;  // RSS after each tenth of the run: flat means no growth
    store::RecorderHooks hooks;
    hooks.sample = [&] { return (*source)->sample(); };
    if (collector) hooks.processes = [&] { return collector->collect(); };
    hooks.cpu_ns = host::process_cpu_time_ns;
    hooks.sleep_until = [&](std::int64_t until) { host::sleep_until_monotonic(until, stop); };
    const long warm = rss ? static_cast<long>(std::chrono::seconds(30) / interval) : 1;
    double cpu_start = 0;
    hooks.on_commit = [&](std::int64_t, const Snapshot&) {
      ++n;
      if (n == warm) {  // the first samples scan sysfs and fill caches
        cpu_start = cpu_seconds();
        start_rss = rss_kib();
      }
      if (n >= warm) max_rss = std::max(max_rss, rss_kib());
      if (n > warm && (n - warm) % std::max(1L, samples / 10) == 0) rss_tenths.push_back(rss_kib());
      if (n >= warm + samples) stop = true;
    };
    store::RecorderOptions options{.interval = interval};
    if (every_sample) options.process_interval = interval;
    // Baseline in the same run: what `cat /proc/slabinfo` costs at the same rate and moment, read
    // by a thread half an interval after each tick (cold, like the recorder's own read). Its CPU
    // is measured per thread and taken out of the process total below.
    std::atomic<std::int64_t> bare_ns{0}, bare_reads{0};
    std::atomic<bool> counting{false};
    std::thread baseline([&] {
      std::vector<char> buffer(1 << 16);
      auto next = std::chrono::steady_clock::now() + interval / 2;
      while (!stop) {
        std::this_thread::sleep_until(next);
        next += interval;
        if (stop) break;
        const auto t0 = thread_cpu_ns();
        if (std::FILE* f = std::fopen("/proc/slabinfo", "re")) {
          std::setvbuf(f, nullptr, _IONBF, 0);
          while (std::fread(buffer.data(), 1, buffer.size(), f) > 0) {
          }
          std::fclose(f);
        }
        if (counting) {
          bare_ns += thread_cpu_ns() - t0;
          ++bare_reads;
        }
      }
    });
    hooks.on_commit = [&, inner = hooks.on_commit](std::int64_t seq, const Snapshot& s) {
      inner(seq, s);
      if (n == warm) {
        bare_ns = 0;
        bare_reads = 0;
        counting = true;
      }
    };
    auto result = store::run_recorder(*rec, clock, hooks, options, stop);
    const double cpu = cpu_seconds() - cpu_start;
    stop = true;
    baseline.join();
    if (result.error) {
      state.SkipWithError(result.error->message.c_str());
      return;
    }
    state.counters["samples"] = static_cast<double>(samples);
    const double bare_s = static_cast<double>(bare_ns) / 1e9;
    const double own = cpu - bare_s;
    state.counters["cpu_ms_per_sample"] = own * 1000 / static_cast<double>(samples);
    state.counters["core_percent_at_1Hz"] = own * 100 / static_cast<double>(samples);
    if (bare_reads > 0) {
      const double bare_ms = bare_s * 1000 / static_cast<double>(bare_reads);
      state.counters["baseline_cat_slabinfo_ms"] = bare_ms;
      state.counters["poolscope_beyond_slabinfo_ms"] =
          own * 1000 / static_cast<double>(samples) - bare_ms;
    }
    state.counters["skipped_ticks"] = static_cast<double>(result.stats.skipped_ticks);
    state.counters["process_samples"] = static_cast<double>(result.stats.process_samples);
    if (result.stats.process_samples > 0) {
      state.counters["process_ms_per_collection"] =
          static_cast<double>(result.stats.process_cpu_ns) / 1e6 /
          static_cast<double>(result.stats.process_samples);
    }
    if (rss) {
      state.counters["rss_start_KiB"] = static_cast<double>(start_rss);
      state.counters["rss_end_KiB"] = static_cast<double>(rss_kib());
      state.counters["rss_max_KiB"] = static_cast<double>(max_rss);
      state.counters["file_MiB"] = static_cast<double>(rec->file_bytes()) / (1 << 20);
      // Growth over the second half of the run, when caches (SQLite's 2 MB page cache) are full.
      if (rss_tenths.size() >= 10) {
        state.counters["rss_growth_2nd_half_KiB"] =
            static_cast<double>(rss_tenths[9] - rss_tenths[4]);
      }
      std::string trail;
      for (long r : rss_tenths) trail += std::to_string(r) + " ";
      std::fprintf(stderr, "RSS (KiB) after each tenth of the soak: %s\n", trail.c_str());
    }
  }
}

// The default configuration: pools every second, process facts at the automatic interval.
void BM_Record1Hz_CpuPerSample(benchmark::State& state) {
  record_for(state, std::chrono::seconds(1), env_long("POOLSCOPE_BENCH_1HZ_SAMPLES", 180), false);
}

// Baseline: process facts with every sample (`--process-interval 1s`).
void BM_Record1Hz_ProcessesEverySample_CpuPerSample(benchmark::State& state) {
  record_for(state, std::chrono::seconds(1), env_long("POOLSCOPE_BENCH_1HZ_SAMPLES", 180), false,
             true);
}

// Baseline: the live snapshot alone (read + parse slabinfo and meminfo), no store, no processes.
void BM_LiveSnapshotOnly_CpuPerSample(benchmark::State& state) {
  SystemClock clock;
  auto source = open_live_source(clock);
  if (!source) {
    state.SkipWithError(source.error().message.c_str());
    return;
  }
  (void)(*source)->sample();
  const double start = cpu_seconds();
  for (auto _ : state) benchmark::DoNotOptimize((*source)->sample());
  state.counters["cpu_ms_per_sample"] =
      (cpu_seconds() - start) * 1000 / static_cast<double>(state.iterations());
}

// The store's own part of a sample: encode + insert + commit of a real snapshot (two live
// snapshots alternate, so every append writes a real change set).
void BM_AppendOnly_CpuPerSample(benchmark::State& state) {
  SystemClock clock;
  auto source = open_live_source(clock);
  if (!source) {
    state.SkipWithError(source.error().message.c_str());
    return;
  }
  (void)(*source)->sample();
  auto a = (*source)->sample();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto b = (*source)->sample();
  const std::string path = bench_dir() + "/append.db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
  auto rec = store::Recording::open_write(path);
  if (!rec || !a || !b) {
    state.SkipWithError("cannot open");
    return;
  }
  const double start = cpu_seconds();
  std::int64_t n = 0;
  for (auto _ : state) benchmark::DoNotOptimize(rec->append(++n % 2 ? *a : *b));
  state.counters["cpu_ms_per_sample"] =
      (cpu_seconds() - start) * 1000 / static_cast<double>(state.iterations());
  state.counters["keys"] = static_cast<double>(a->entries.size());
}

void BM_Soak10Hz_Rss(benchmark::State& state) {
  const long seconds = env_long("POOLSCOPE_SOAK_SECONDS", 600);
  record_for(state, std::chrono::milliseconds(100), seconds * 10, true);
}

// Real time: items_per_second is key-samples per wall-clock second (the CPU column is shown too).
BENCHMARK(BM_ReadWeek_ChangeSetCursor)
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime();
BENCHMARK(BM_ReadDay_Columns)
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime();
BENCHMARK(BM_ReadSixHours_RowPerKeySample)
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime();
BENCHMARK(BM_RealRecordingSize_WithProcesses)->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK(BM_RealRecordingSize_PoolsOnly)->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK(BM_LiveSnapshotOnly_CpuPerSample)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK(BM_AppendOnly_CpuPerSample)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK(BM_Record1Hz_CpuPerSample)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
BENCHMARK(BM_Record1Hz_ProcessesEverySample_CpuPerSample)
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();
BENCHMARK(BM_Soak10Hz_Rss)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

}  // namespace
