// Allocation tracing (src/trace).
//
// Offline: pages of kmem events (built from this kernel's real format files) through the whole
// pipeline — page decode, kmem decode, CPU merge, pairing — against decoding alone. Goal:
// >= 5 M events/s for the pipeline.
//
// BPF: the same events as the BPF backend's ring-buffer records, through the processor. Goal:
// >= 5 M events/s.
//
// Saved: the same pages written as `trace --save` writes them, read back and processed as
// `trace --load` does (file reading included). Goal: >= 5 M events/s.
//
// Live (root, tracefs): a kmalloc-heavy workload (`ls -R /usr/share`, repeated, bounded) untraced;
// while the real `poolscope trace` binary traces it (all caches with the default address sampling,
// 1 object page in 8, through the BPF backend (the default) and through tracefs; all caches, every
// object (--sample 1), both backends; `--cache dentry` and `--cache kmalloc-64`, the default
// backend), with the tracer's own CPU; with the
// same four kmem events going into an ftrace text buffer read through trace_pipe (the usual way);
// and under a bpftrace memleak-style script (a map of live pointers), when bpftrace is installed.
// Goal: poolscope slows the workload by <= 15%.
// Pages (root, BTF): a pipe write/read loop untraced, under `trace --pages` (default sampling and
// every page) and under a bpftrace script doing the same (kernel stack per page, live pages in a
// map): BM_PipeWorkload*. Goal: <= 15%. The workload's CPU drifts between rows run one
// after another (page cache, slab state): run them with --benchmark_enable_random_interleaving=true
// so that the 6 repetitions of every row are shuffled among the others'. Each uses its own tracefs
// instance and leaves the tracing state as found.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "trace/bpf_kmem.h"
#include "trace/processor.h"
#include "trace/saved_trace.h"
#include "unit/trace/page_builder.h"

namespace {

namespace fs = std::filesystem;
using namespace poolscope;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Recorded {
  trace::PageLayout layout;
  trace::KmemFormats formats;
  std::vector<std::uint8_t> pages;
  std::size_t events = 0;
};

// 2 CPUs' worth of pages: allocations from 64 call sites and 8 caches, 90% freed a little later
// (some on the other CPU), the rest outstanding; pointers reused as the slab allocator does.
const Recorded& recorded() {
  static const Recorded data = [] {
    Recorded r;
    const fs::path dir = fs::path(POOLSCOPE_TEST_DATA) / "trace";
    r.layout =
        *trace::parse_page_layout(read_all(dir / "header_page"), read_all(dir / "header_event"));
    r.formats = testing::kmem_formats_from(
        read_all(dir / "kmalloc.format"), read_all(dir / "kfree.format"),
        read_all(dir / "kmem_cache_alloc.format"), read_all(dir / "kmem_cache_free.format"));
    std::mt19937_64 rng(7);
    const char* caches[8] = {"dentry",          "filp",        "vm_area_struct",
                             "anon_vma",        "buffer_head", "ext4_inode_cache",
                             "radix_tree_node", "eventfd_ctx"};
    std::vector<std::uint64_t> live;
    std::uint64_t time = 1'000'000'000;
    const std::size_t target = 4'000'000;
    std::uint64_t next_ptr = 0xffff888100000000ull;
    while (r.events < target) {
      testing::PageBuilder page(r.layout, time);
      for (;;) {
        std::vector<std::uint8_t> record;
        const bool free_one = !live.empty() && (rng() % 100) < 48;
        if (free_one) {
          const std::size_t pick = rng() % live.size();
          const std::uint64_t ptr = live[pick];
          live[pick] = live.back();
          live.pop_back();
          record = testing::RecordBuilder(rng() & 1 ? r.formats.kfree : r.formats.cache_free)
                       .set("ptr", ptr)
                       .set("call_site", 0xffffffff81100000ull + (rng() % 64) * 0x40)
                       .set_string("name", caches[rng() % 8])
                       .bytes();
        } else {
          const std::uint64_t ptr = next_ptr += 64;
          live.push_back(ptr);
          const bool kmalloc = rng() & 1;
          testing::RecordBuilder builder(kmalloc ? r.formats.kmalloc : r.formats.cache_alloc);
          builder.set("ptr", ptr)
              .set("call_site", 0xffffffff81000000ull + (rng() % 64) * 0x100)
              .set("common_pid", 1000 + rng() % 32)
              .set("bytes_alloc", 64u << (rng() % 4));
          if (!kmalloc) builder.set_string("name", caches[rng() % 8]);
          record = builder.bytes();
        }
        if (!page.add(250, record)) break;
        time += 250;
        ++r.events;
      }
      const auto bytes = page.finish();
      r.pages.insert(r.pages.end(), bytes.begin(), bytes.end());
    }
    return r;
  }();
  return data;
}

void BM_OfflineDecodeOnly(benchmark::State& state) {
  const Recorded& r = recorded();
  for (auto _ : state) {
    auto decoder = *trace::KmemDecoder::create(r.formats);
    std::uint64_t sum = 0;
    const std::size_t page_size = r.layout.page_size();
    for (std::size_t at = 0; at < r.pages.size(); at += page_size) {
      trace::decode_page(std::span(r.pages).subspan(at, page_size), r.layout,
                         [&](std::uint64_t time, auto record) {
                           trace::KmemEvent event;
                           if (decoder.decode(time, record, event)) sum += event.ptr;
                         });
    }
    benchmark::DoNotOptimize(sum);
  }
  state.counters["events_per_s"] = benchmark::Counter(
      static_cast<double>(r.events), benchmark::Counter::kIsIterationInvariantRate);
}

// The report at the end of a run (what the live verb computes); its outstanding count.
std::uint64_t report_outstanding(const trace::TraceProcessor& processor) {
  auto report = processor.tracker().report(0, 0);
  benchmark::DoNotOptimize(report);
  return report.totals.tracked;
}

void set_counters(benchmark::State& state, std::size_t events, std::uint64_t outstanding) {
  state.counters["events_per_s"] = benchmark::Counter(
      static_cast<double>(events), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["outstanding"] = static_cast<double>(outstanding);
}

void BM_OfflinePipeline(benchmark::State& state) {
  const Recorded& r = recorded();
  std::uint64_t tracked = 0;
  for (auto _ : state) {
    trace::TraceProcessor processor(r.layout, *trace::KmemDecoder::create(r.formats));
    // Fed as the live reader does: a batch of pages, then a flush.
    const std::size_t batch = r.layout.page_size() * 256;
    for (std::size_t at = 0; at < r.pages.size(); at += batch) {
      processor.add_pages(std::span(r.pages).subspan(at, std::min(batch, r.pages.size() - at)));
      processor.flush();
    }
    tracked = report_outstanding(processor);
  }
  set_counters(state, r.events, tracked);
}

// The same events as the BPF backend's programs write them to the BPF ring buffer, read as the
// live reader reads them: 1 MiB of records at a time, then a flush.
const std::vector<std::uint8_t>& bpf_ring() {
  static const std::vector<std::uint8_t> ring = [] {
    const Recorded& r = recorded();
    auto decoder = *trace::KmemDecoder::create(r.formats);
    std::vector<std::uint8_t> out;
    const std::size_t page_size = r.layout.page_size();
    for (std::size_t at = 0; at < r.pages.size(); at += page_size) {
      trace::decode_page(std::span(r.pages).subspan(at, page_size), r.layout,
                         [&](std::uint64_t time, auto record) {
                           trace::KmemEvent event;
                           if (!decoder.decode(time, record, event)) return;
                           trace::append_bpf_ring_record(out, event,
                                                         decoder.cache_name(event.cache));
                         });
    }
    return out;
  }();
  return ring;
}

void BM_OfflineBpfRecords(benchmark::State& state) {
  const Recorded& r = recorded();
  const auto& ring = bpf_ring();
  std::uint64_t tracked = 0;
  for (auto _ : state) {
    trace::TraceProcessor processor(trace::PageLayout{}, trace::KmemDecoder{});
    constexpr std::size_t kRead = std::size_t{1} << 20;
    std::size_t at = 0;
    while (at < ring.size()) {
      const std::size_t used =
          processor.add_bpf_records(std::span(ring).subspan(at, std::min(kRead, ring.size() - at)));
      if (used == 0) break;
      at += used;
      processor.flush();
    }
    tracked = report_outstanding(processor);
  }
  set_counters(state, r.events, tracked);
}

// The recorded pages as `trace --save` writes them: one record per page, alternating CPUs in
// 256-page rounds, a flush after each round.
const std::string& saved_file() {
  static const std::string path = [] {
    const Recorded& r = recorded();
    const std::string file = (fs::temp_directory_path() /
                              ("poolscope-bench-trace-" + std::to_string(::getpid()) + ".pst"))
                                 .string();
    auto writer = *trace::SavedTraceWriter::create(file);
    auto read_text = [](const char* name) {
      return read_all(fs::path(POOLSCOPE_TEST_DATA) / "trace" / name);
    };
    (void)writer.text(trace::SavedRecord::kMeta, 0, "cpus 2\nclock mono\n");
    (void)writer.text(trace::SavedRecord::kHeaderPage, 0, read_text("header_page"));
    (void)writer.text(trace::SavedRecord::kHeaderEvent, 0, read_text("header_event"));
    const char* names[4] = {"kmalloc.format", "kfree.format", "kmem_cache_alloc.format",
                            "kmem_cache_free.format"};
    for (std::uint32_t i = 0; i < 4; ++i) {
      (void)writer.text(trace::SavedRecord::kEventFormat, i, read_text(names[i]));
    }
    const std::size_t page_size = r.layout.page_size();
    std::uint32_t cpu = 0;
    for (std::size_t at = 0; at < r.pages.size(); at += page_size) {
      (void)writer.pages(cpu, std::span(r.pages).subspan(at, page_size));
      if ((at / page_size) % 256 == 255) {
        (void)writer.flush(UINT64_MAX);
        cpu ^= 1;
      }
    }
    (void)writer.flush(UINT64_MAX);
    (void)writer.text(trace::SavedRecord::kEnd, 0, "end_time 0\n");
    (void)writer.close();
    std::atexit([] { std::remove(saved_file().c_str()); });
    return file;
  }();
  return path;
}

void BM_OfflineSavedTraceLoad(benchmark::State& state) {
  const Recorded& r = recorded();
  const std::string& file = saved_file();
  std::uint64_t tracked = 0;
  for (auto _ : state) {
    std::ifstream in(file, std::ios::binary);
    auto replay = trace::replay_saved_trace(in);
    if (!replay || !replay->processor) {
      state.SkipWithError("the saved trace could not be replayed");
      return;
    }
    tracked = report_outstanding(*replay->processor);
  }
  set_counters(state, r.events, tracked);
  state.counters["file_mb"] = static_cast<double>(fs::file_size(file)) / 1e6;
}

// ---- live overhead ----------------------------------------------------------------------------

bool can_trace() {
  return ::geteuid() == 0 && fs::exists("/sys/kernel/tracing");
}

// One run of the workload; returns its CPU seconds (user + sys of the child).
// The page-heavy workload of `trace --pages`: 64 KiB written into a pipe and read back, 8,000
// times: 16 pages allocated by pipe_write and freed by the read each time (the pipe keeps one
// spare page), some 120,000 page allocations.
void pipe_loop() {
  int p[2];
  if (::pipe(p) != 0) ::_exit(1);
  static char data[65536];
  for (int i = 0; i < 8000; ++i) {
    for (std::size_t done = 0; done < sizeof data;) {
      const ssize_t n = ::write(p[1], data + done, sizeof data - done);
      if (n <= 0) ::_exit(1);
      done += static_cast<std::size_t>(n);
    }
    for (std::size_t done = 0; done < sizeof data;) {
      const ssize_t n = ::read(p[0], data + done, sizeof data - done);
      if (n <= 0) ::_exit(1);
      done += static_cast<std::size_t>(n);
    }
  }
  ::_exit(0);
}

bool g_pipe_workload = false;  // the page rows run pipe_loop instead of ls -R
struct PipeWorkload {          // for the duration of one BM_PipeWorkload* row
  PipeWorkload() { g_pipe_workload = true; }
  ~PipeWorkload() { g_pipe_workload = false; }
};

double run_workload() {
  rusage before{}, after{};
  ::getrusage(RUSAGE_CHILDREN, &before);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (g_pipe_workload) pipe_loop();
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execlp("ls", "ls", "-R", "/usr/share", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::getrusage(RUSAGE_CHILDREN, &after);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
  };
  return seconds(after.ru_utime) - seconds(before.ru_utime) + seconds(after.ru_stime) -
         seconds(before.ru_stime);
}

void workload_loop(benchmark::State& state) {
  double cpu = 0;
  for (auto _ : state) cpu += run_workload();
  state.counters["workload_cpu_s"] = benchmark::Counter(cpu, benchmark::Counter::kAvgIterations);
}

// The page workload untraced, under `trace --pages` (default: 1 page allocation in 8 by address
// hash, and every one), and under bpftrace doing the same (a kernel stack per page allocation,
// live pages in a map).
void BM_PipeWorkloadUntraced(benchmark::State& state) {
  const PipeWorkload pipe;
  if (!can_trace()) {
    state.SkipWithError("needs root");
    return;
  }
  workload_loop(state);
}
void workload_under_poolscope(benchmark::State& state, std::vector<std::string> extra);
void BM_PipeWorkloadPoolscopePages(benchmark::State& state) {
  const PipeWorkload pipe;
  workload_under_poolscope(state, {"--pages"});
}
void BM_PipeWorkloadPoolscopePagesEveryPage(benchmark::State& state) {
  const PipeWorkload pipe;
  workload_under_poolscope(state, {"--pages", "--sample", "1"});
}
void workload_under_bpftrace(benchmark::State& state, const std::string& script);
void BM_PipeWorkloadBpftracePages(benchmark::State& state) {
  const PipeWorkload pipe;
  workload_under_bpftrace(state,
                          "tracepoint:kmem:mm_page_alloc { @live[args->pfn] = (kstack, pid); } "
                          "tracepoint:kmem:mm_page_free { delete(@live[args->pfn]); } "
                          "END { clear(@live); }");
}

void BM_WorkloadUntraced(benchmark::State& state) {
  if (!can_trace()) {
    state.SkipWithError("needs root and tracefs (the traced runs would be skipped)");
    return;
  }
  workload_loop(state);
}

struct MountGuard {  // mounts tracefs for the text-buffer baseline when absent; unmounts after
  bool mounted = false;
  MountGuard() {
    if (!fs::exists("/sys/kernel/tracing/instances")) {
      mounted = ::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0;
    }
  }
  ~MountGuard() {
    if (mounted) ::umount2("/sys/kernel/tracing", 0);
  }
};

// Starts a tracer (argv) and waits until `ready` says it traces; 0 when it did not start.
pid_t start_tracer(const std::vector<std::string>& argv, const std::function<bool(pid_t)>& ready) {
  const pid_t tracer = ::fork();
  if (tracer == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  for (int i = 0; i < 600 && !ready(tracer); ++i) {  // bpftrace compiles for a few seconds
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (::waitpid(tracer, nullptr, WNOHANG) == tracer) return 0;
  }
  if (!ready(tracer)) {
    ::kill(tracer, SIGKILL);
    ::waitpid(tracer, nullptr, 0);
    return 0;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return tracer;
}

// SIGTERM (SIGINT for bpftrace), then SIGKILL after 10 s: a tracer that hangs on exit (bpftrace
// did once here) must not hang the benchmark. Neither leaves kernel state behind when killed:
// poolscope's instance is removed by its next run, bpftrace's programs go with its fds.
void stop_tracer(pid_t tracer, int signal = SIGTERM) {
  ::kill(tracer, signal);
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(tracer, nullptr, WNOHANG) == tracer) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(tracer, SIGKILL);
  ::waitpid(tracer, nullptr, 0);
}

// utime + stime of a process, from /proc/PID/stat (fields 14 and 15, in clock ticks).
double process_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::strtod(field.c_str(), nullptr);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

void workload_under_poolscope(benchmark::State& state, std::vector<std::string> extra) {
  if (!can_trace()) {
    state.SkipWithError("needs root and tracefs");
    return;
  }
  std::vector<std::string> argv = {POOLSCOPE_BINARY, "trace", "--duration", "10m"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  // Tracing once its tracefs instance exists or its BPF programs are attached (links: 2 to 4).
  const pid_t tracer = start_tracer(argv, [](pid_t pid) {
    if (fs::exists("/sys/kernel/tracing/instances/poolscope-" + std::to_string(pid))) return true;
    int links = 0;
    std::error_code ec;
    for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
      links += fs::read_symlink(fd.path(), ec).string() == "anon_inode:bpf_link";
    }
    return links >= 2;  // kfree and at least one allocation event, attached back to back
  });
  if (tracer == 0) {
    state.SkipWithError("poolscope trace did not start");
    return;
  }
  const double tracer_before = process_cpu_seconds(tracer);
  workload_loop(state);
  // The tracer's own CPU while the workload ran (reading and pairing on the other core).
  state.counters["tracer_cpu_s"] = benchmark::Counter(process_cpu_seconds(tracer) - tracer_before,
                                                      benchmark::Counter::kAvgIterations);
  stop_tracer(tracer);
}

// The default: the BPF backend where the kernel allows it, objects in 1 of 8 pages (--sample 8),
// counts scaled up as estimates.
void BM_WorkloadPoolscopeTrace(benchmark::State& state) {
  workload_under_poolscope(state, {});
}
// The same through the tracefs backend.
void BM_WorkloadPoolscopeTraceTracefs(benchmark::State& state) {
  workload_under_poolscope(state, {"--backend", "tracefs"});
}
// Every object (--sample 1), BPF and tracefs.
void BM_WorkloadPoolscopeTraceEveryObject(benchmark::State& state) {
  workload_under_poolscope(state, {"--sample", "1"});
}
void BM_WorkloadPoolscopeTraceEveryObjectTracefs(benchmark::State& state) {
  workload_under_poolscope(state, {"--sample", "1", "--backend", "tracefs"});
}
void BM_WorkloadPoolscopeTraceCacheDentry(benchmark::State& state) {
  workload_under_poolscope(state, {"--cache", "dentry"});
}
void BM_WorkloadPoolscopeTraceCacheKmalloc64(benchmark::State& state) {
  workload_under_poolscope(state, {"--cache", "kmalloc-64"});
}

// bpftrace with a memleak-style script: live pointers in a map, call site and time per pointer.
void BM_WorkloadBpftraceMemleak(benchmark::State& state) {
  workload_under_bpftrace(
      state,
      "tracepoint:kmem:kmalloc,tracepoint:kmem:kmem_cache_alloc "
      "{ @live[args->ptr] = (args->call_site, nsecs); } "
      "tracepoint:kmem:kfree,tracepoint:kmem:kmem_cache_free { delete(@live[args->ptr]); } "
      "END { clear(@live); }");
}

void workload_under_bpftrace(benchmark::State& state, const std::string& script) {
  if (!can_trace()) {
    state.SkipWithError("needs root and tracefs");
    return;
  }
  if (std::system("command -v bpftrace >/dev/null 2>&1") != 0) {
    state.SkipWithError("bpftrace is not installed (apt-get install bpftrace)");
    return;
  }
  ::setenv("BPFTRACE_MAP_KEYS_MAX", "1048576", 1);
  // Ready when it prints "Attaching N probes...": it compiles for a few seconds first.
  int out[2];
  if (::pipe(out) != 0) {
    state.SkipWithError("pipe failed");
    return;
  }
  const pid_t tracer = ::fork();
  if (tracer == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::execlp("bpftrace", "bpftrace", "-e", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string printed;
  char buffer[256];
  pollfd wait{out[0], POLLIN, 0};
  while (printed.find("Attaching") == std::string::npos && ::poll(&wait, 1, 30'000) == 1) {
    const ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;
    printed.append(buffer, static_cast<std::size_t>(n));
  }
  if (printed.find("Attaching") == std::string::npos) {
    stop_tracer(tracer);
    ::close(out[0]);
    state.SkipWithError("bpftrace did not start");
    return;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // attached after the message
  workload_loop(state);
  stop_tracer(tracer, SIGINT);
  ::close(out[0]);
}

// A tracefs instance of the benchmark's own (the baselines below), removed at the end of scope.
struct BenchInstance {
  fs::path path;
  bool created = false;
  explicit BenchInstance(const std::string& name)
      : path(fs::path("/sys/kernel/tracing/instances") /
             ("poolscope-bench-" + name + "-" + std::to_string(getpid()))),
        created(::mkdir(path.c_str(), 0700) == 0) {}
  ~BenchInstance() {
    if (!created) return;
    write("tracing_on", "0");
    for (int i = 0; i < 50 && ::rmdir(path.c_str()) != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  void write(const fs::path& file, const char* value) const {
    std::ofstream out(path / file);
    out << value;
  }
  void kmem_events(const char* file, const char* value) const {
    for (const char* event : {"kmalloc", "kfree", "kmem_cache_alloc", "kmem_cache_free"}) {
      write(fs::path("events") / "kmem" / event / file, value);
    }
  }
};

// The floor of any tracefs consumer: the four kmem events enabled in an instance, each with a
// filter no event passes ("ptr == 1"), so nothing is ever written or read. What remains is what
// the kernel spends at every kmalloc/kfree to fire the event and run its filter.
void BM_WorkloadKmemEventsEnabledNothingWritten(benchmark::State& state) {
  if (!can_trace()) {
    state.SkipWithError("needs root and tracefs");
    return;
  }
  MountGuard mount;
  BenchInstance instance("floor");
  if (!instance.created) {
    state.SkipWithError("cannot create a tracefs instance");
    return;
  }
  instance.kmem_events("filter", "ptr == 1");
  instance.kmem_events("enable", "1");
  workload_loop(state);
  instance.kmem_events("enable", "0");
}

void BM_WorkloadFtraceTextBuffer(benchmark::State& state) {
  if (!can_trace()) {
    state.SkipWithError("needs root and tracefs");
    return;
  }
  MountGuard mount;
  BenchInstance instance("text");
  if (!instance.created) {
    state.SkipWithError("cannot create a tracefs instance");
    return;
  }
  instance.write("buffer_size_kb", "12500");
  instance.kmem_events("enable", "1");
  // The text consumer: trace_pipe formats every event in the kernel; its output is discarded.
  std::atomic<bool> stop{false};
  const int fd = ::open((instance.path / "trace_pipe").c_str(), O_RDONLY | O_NONBLOCK);
  std::thread reader([&] {
    std::vector<char> buffer(1 << 16);
    while (!stop) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  workload_loop(state);
  stop = true;
  reader.join();
  ::close(fd);
}

BENCHMARK(BM_OfflineDecodeOnly)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_OfflinePipeline)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_OfflineBpfRecords)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_OfflineSavedTraceLoad)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_PipeWorkloadUntraced)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_PipeWorkloadPoolscopePages)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_PipeWorkloadPoolscopePagesEveryPage)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_PipeWorkloadBpftracePages)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_WorkloadUntraced)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_WorkloadPoolscopeTrace)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_WorkloadPoolscopeTraceTracefs)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_WorkloadPoolscopeTraceEveryObject)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_WorkloadPoolscopeTraceEveryObjectTracefs)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_WorkloadPoolscopeTraceCacheDentry)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_WorkloadPoolscopeTraceCacheKmalloc64)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_WorkloadBpftraceMemleak)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_WorkloadKmemEventsEnabledNothingWritten)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_WorkloadFtraceTextBuffer)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Repetitions(6)
    ->ReportAggregatesOnly(true);

}  // namespace
