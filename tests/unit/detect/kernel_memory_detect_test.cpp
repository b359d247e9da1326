// The detector on bytes-only kernel memory keys: a pipe leak in mem:unaccounted names the process
// whose pipes grow (with the bytes per pipe), socket memory is forecast against tcp_mem, and a
// compiler's page tables are no evidence for a slab cache.
#include <gtest/gtest.h>

#include "core/kernel_memory.h"
#include "detect/detector.h"

namespace poolscope::detect {
namespace {

// tcp_limits: the tcp pool's total with tcp_mem's pressure (1.5 GB) and hard limit (2 GB), as the
// live source and recordings give it; recordings from before sample format 2 have none.
Snapshot kernel(double t, std::uint64_t unaccounted, std::uint64_t tcp, std::uint64_t cache,
                bool tcp_limits = true) {
  Snapshot s;
  s.wall_time = std::chrono::system_clock::time_point(
      std::chrono::seconds(1'790'000'000) +
      std::chrono::milliseconds(static_cast<long long>(t * 1000)));
  s.memory_available_bytes = 1'000'000'000'000;
  auto add = [&](PoolKey key, PoolKind pool, std::uint64_t bytes) {
    Entry e;
    e.key = std::move(key);
    e.pool = pool;
    e.counters.bytes = bytes;
    s.entries.push_back(e);
  };
  add(kernel_memory_key(kUnaccountedKey), PoolKind::kKernel, unaccounted);
  add(kernel_memory_key("sock:TCP"), PoolKind::kTcp, tcp);
  if (tcp_limits) {
    s.totals.push_back(PoolTotal{.pool = PoolKind::kTcp,
                                 .used_bytes = tcp,
                                 .limit_bytes = 2'000'000'000,
                                 .pressure_bytes = 1'500'000'000});
  }
  Entry c;
  c.key = slab_cache("kmalloc-64");
  c.pool = PoolKind::kUnreclaimable;
  c.counters.outstanding = cache;
  c.counters.bytes = cache * 64;
  c.object_size = 64;
  s.entries.push_back(c);
  return s;
}

// pipe_facts: the collector's pipes (inodes: half the pipe fds, both ends held) and their unread
// bytes (64 KiB each), as it reads them since pipes are counted by inode.
ProcessSample processes(std::uint64_t pipe_fds, std::uint64_t compiler_pte,
                        bool pipe_facts = false) {
  ProcessSample sample;
  ProcessFacts leaker;
  leaker.pid = 4242;
  leaker.name = "leaker";
  leaker.fds = FdCounts{};
  leaker.fds->pipe = pipe_fds;
  leaker.fd_total = pipe_fds;
  if (pipe_facts) {
    leaker.pipes = pipe_fds / 2;
    leaker.pipe_unread_bytes = pipe_fds / 2 * 65536;
  }
  sample.processes.push_back(leaker);
  ProcessFacts compiler;
  compiler.pid = 5000;
  compiler.name = "cc1plus";
  compiler.page_table_bytes = compiler_pte;
  compiler.fds = FdCounts{};
  compiler.fd_total = 0;
  sample.processes.push_back(compiler);
  return sample;
}

TEST(KernelMemoryDetect, PipePagesInUnaccountedNameThePipesAndTheirSize) {
  History h;
  for (int i = 0; i < 120; ++i) {
    // 10 pipes (20 fds) a second, 64 KiB each; a 16 MiB step of unrelated noise mid-way.
    const std::uint64_t noise = (i >= 58 && i < 64) ? 0 : 16u << 20;
    const ProcessSample procs = processes(20 * i, 4096 * i);
    h.add_snapshot(kernel(i, (100u << 20) + noise + i * 10 * 65536ull, 1'000'000 + i * 100'000,
                          30000 + 10 * i),
                   &procs, i);
  }
  Report r = analyze(h);
  const Finding* unaccounted = nullptr;
  const Finding* cache = nullptr;
  const Finding* tcp = nullptr;
  for (const Finding& f : r.findings) {
    if (f.key.name == kUnaccountedKey) unaccounted = &f;
    if (f.key.name == "kmalloc-64") cache = &f;
    if (f.key.name == "sock:TCP") tcp = &f;
  }
  ASSERT_NE(unaccounted, nullptr);
  EXPECT_EQ(unaccounted->unit, "bytes");
  EXPECT_NEAR(*unaccounted->rate_bytes_per_hour / 3600, 655360, 655360 * 0.05);
  ASSERT_FALSE(unaccounted->processes.empty());
  EXPECT_EQ(unaccounted->processes[0].pid, 4242u);
  // Without the pipes fact (an older recording) the evidence is the pipe fds, both ends counted.
  EXPECT_EQ(unaccounted->processes[0].metric, "pipe");
  EXPECT_NE(unaccounted->processes[0].evidence.find("32.0 KiB per pipe fd"), std::string::npos)
      << unaccounted->processes[0].evidence;
  // The compiler's page tables grow too, but they cannot hold pages of pipes nor slab objects.
  for (const auto& p : unaccounted->processes) EXPECT_NE(p.pid, 5000u);
  ASSERT_NE(cache, nullptr);
  for (const auto& p : cache->processes) EXPECT_NE(p.metric, "page-table bytes");
  // Socket memory has its own limit: the forecast is against tcp_mem's 2 GB, not MemAvailable.
  ASSERT_NE(tcp, nullptr);
  ASSERT_TRUE(tcp->exhaustion_eta_seconds);
  EXPECT_NE(tcp->exhaustion_note.find("tcp_mem"), std::string::npos) << tcp->exhaustion_note;
  EXPECT_LT(*tcp->exhaustion_eta_seconds, 2e9 / 100'000);
  // ... and against its pressure threshold, where the kernel starts shrinking buffers: 1.5 GB
  // minus the 12.9 MB used, at 100 kB/s.
  ASSERT_TRUE(tcp->pressure_eta_seconds);
  EXPECT_NEAR(*tcp->pressure_eta_seconds, (1.5e9 - 12.9e6) / 1e5, 200);
  EXPECT_NE(tcp->exhaustion_note.find("memory pressure"), std::string::npos)
      << tcp->exhaustion_note;
}

// The evidence said "32 KiB per pipe" for pipes holding 64 KiB each: the fd kind `pipe` counts
// both ends. Pipes counted by inode give the true size per pipe, and the bytes unread in them.
TEST(KernelMemoryDetect, PipeEvidenceCountsPipesByInodeNotBothEnds) {
  History h;
  for (int i = 0; i < 120; ++i) {
    const ProcessSample procs = processes(20 * i, 4096 * i, true);
    h.add_snapshot(kernel(i, (100u << 20) + i * 10 * 65536ull, 1'000'000, 30000), &procs, i);
  }
  const Report r = analyze(h);
  const Finding* unaccounted = nullptr;
  for (const Finding& f : r.findings) {
    if (f.key.name == kUnaccountedKey) unaccounted = &f;
  }
  ASSERT_NE(unaccounted, nullptr);
  ASSERT_FALSE(unaccounted->processes.empty());
  const ProcessEvidence& p = unaccounted->processes[0];
  EXPECT_EQ(p.pid, 4242u);
  EXPECT_EQ(p.metric, "pipes");
  EXPECT_NE(p.evidence.find("+1,190 pipes in"), std::string::npos) << p.evidence;
  EXPECT_NE(p.evidence.find("64.0 KiB per pipe;"), std::string::npos) << p.evidence;
  EXPECT_NE(p.evidence.find("74.4 MiB unread in its pipes (+74.4 MiB in"), std::string::npos)
      << p.evidence;
}

// A recording from before sample format 2 keeps no socket pool total: socket memory read back
// from one is forecast against MemAvailable, and the note says where the limit would come from.
TEST(KernelMemoryDetect, SocketMemoryWithoutItsLimitFallsBackToMemAvailable) {
  History h;
  for (int i = 0; i < 120; ++i) {
    h.add_snapshot(kernel(i, 100u << 20, 1'000'000 + i * 100'000, 30000, false), nullptr, i);
  }
  const Report r = analyze(h);
  const Finding* tcp = nullptr;
  for (const Finding& f : r.findings) {
    if (f.key.name == "sock:TCP") tcp = &f;
  }
  ASSERT_NE(tcp, nullptr);
  ASSERT_TRUE(tcp->exhaustion_eta_seconds);
  EXPECT_NEAR(*tcp->exhaustion_eta_seconds, 1e12 / 1e5, 1e12 / 1e5 * 0.05);
  EXPECT_FALSE(tcp->pressure_eta_seconds);
  EXPECT_NE(tcp->exhaustion_note.find("MemAvailable"), std::string::npos) << tcp->exhaustion_note;
  EXPECT_NE(tcp->exhaustion_note.find("no net.ipv4.tcp_mem limit in this data"), std::string::npos)
      << tcp->exhaustion_note;
}

}  // namespace
}  // namespace poolscope::detect
