#include "store/process_codec.h"

#include <gtest/gtest.h>

#include <random>

namespace poolscope::store {
namespace {

ProcessFacts linux_process(std::uint64_t pid, std::uint64_t start, std::string name,
                           std::uint64_t eventfds, std::uint64_t sockets) {
  ProcessFacts p;
  p.pid = pid;
  p.start_time = start;
  p.name = std::move(name);
  p.parent_pid = 1;
  FdCounts fds;
  fds.eventfd = eventfds;
  fds.socket = sockets;
  fds.file = 3;
  p.fds = fds;
  p.fd_total = fd_counts_total(fds);
  return p;
}

std::vector<unsigned char> bytes_of(const std::string& s) {
  return std::vector<unsigned char>(s.begin(), s.end());
}

TEST(ProcessCodec, OnlyChangedProcessesAreWritten) {
  ProcessState a;
  for (std::uint64_t pid = 100; pid < 1100; ++pid) {
    a.processes.push_back(linux_process(pid, pid * 10, "worker", 1, 2));
  }
  ProcessState b = a;
  b.processes[500].fds->eventfd = 2;  // one eventfd more
  b.processes[500].fd_total = *b.processes[500].fd_total + 1;
  std::string key, delta;
  encode_process_sample(nullptr, a, key);
  encode_process_sample(&a, b, delta);
  EXPECT_GT(key.size(), 10000u);
  // version, flags, 0 exits, 1 record: pid gap 600 (2 bytes), tag, changed mask (fd total and
  // eventfd), 2 deltas.
  EXPECT_EQ(delta.size(), 10u);
  ProcessDecoder decoder;
  ASSERT_TRUE(decoder.apply(bytes_of(key)).has_value());
  ASSERT_TRUE(decoder.apply(bytes_of(delta)).has_value());
  EXPECT_EQ(decoder.state(), b);
}

TEST(ProcessCodec, ExitsStartsReusedPidsAndRenamesRoundTrip) {
  ProcessState a;
  a.processes = {linux_process(0, 0, "", 0, 0), linux_process(5, 50, "a", 1, 1),
                 linux_process(9, 90, "b", 2, 2), linux_process(12, 120, "c", 0, 4)};
  ProcessState b;
  b.processes = {linux_process(0, 0, "", 0, 0),
                 linux_process(5, 50, "a-renamed", 1, 1),  // exec changes comm
                 linux_process(9, 95, "b2", 7, 0),         // pid reused by another process
                 linux_process(20, 200, "new", 1, 0)};     // 12 exited, 20 started
  b.processes[1].fds.reset();                              // kinds became unreadable
  b.fd_kinds_unreadable = 1;
  b.notes = {"run as root to see fd kinds of 1 process"};
  ProcessFacts windows;
  windows.pid = 30;
  windows.start_time = 133000000000000000ull;
  windows.name = "svchost.exe";
  windows.handle_count = 812;
  windows.paged_pool_quota_bytes = 120000;
  windows.nonpaged_pool_quota_bytes = 9000;
  b.processes.push_back(windows);
  std::string blob;
  ProcessDecoder decoder;
  encode_process_sample(nullptr, a, blob);
  ASSERT_TRUE(decoder.apply(bytes_of(blob)).has_value());
  encode_process_sample(&a, b, blob);
  auto ok = decoder.apply(bytes_of(blob));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(decoder.state(), b);
  // Notes belong to their sample only.
  ProcessState c = b;
  c.notes.clear();
  encode_process_sample(&b, c, blob);
  ASSERT_TRUE(decoder.apply(bytes_of(blob)).has_value());
  EXPECT_EQ(decoder.state(), c);
}

TEST(ProcessCodec, RandomChurnRoundTripsAndDamageIsAnError) {
  std::mt19937_64 rng(3);
  ProcessState prev;
  ProcessDecoder decoder;
  std::string blob;
  for (int step = 0; step < 500; ++step) {
    ProcessState cur;
    std::size_t i = 0;
    for (std::uint64_t pid = 1; pid < 300; ++pid) {
      while (i < prev.processes.size() && prev.processes[i].pid < pid) ++i;
      const bool had = i < prev.processes.size() && prev.processes[i].pid == pid;
      if (had && rng() % 30 != 0) {
        ProcessFacts p = prev.processes[i];
        if (rng() % 5 == 0) p.fds->socket = rng() % 100;
        if (rng() % 50 == 0) p.start_time += 1;  // reused
        cur.processes.push_back(p);
      } else if (!had && rng() % 40 == 0) {
        cur.processes.push_back(
            linux_process(pid, rng() % 1000, "p" + std::to_string(pid), rng() % 3, rng() % 9));
      }
    }
    encode_process_sample(step % 50 == 0 ? nullptr : &prev, cur, blob);
    auto ok = decoder.apply(bytes_of(blob));
    ASSERT_TRUE(ok.has_value()) << step << ": " << ok.error().message;
    ASSERT_EQ(decoder.state(), cur) << step;
    // Truncations and corruptions fail or decode, never read out of bounds.
    for (int k = 0; k < 20 && !blob.empty(); ++k) {
      ProcessDecoder scratch;
      auto bad = bytes_of(blob);
      bad.resize(rng() % bad.size());
      if (!bad.empty()) bad[rng() % bad.size()] ^= static_cast<unsigned char>(rng());
      (void)scratch.apply(bad);
    }
    prev = cur;
  }
}

}  // namespace
}  // namespace poolscope::store

namespace poolscope::store {
namespace {

// Format 2 carries the kernel memory facts; a format-1 blob (a presence byte, 17 slots), as
// recordings made before them hold, still reads.
TEST(ProcessCodec, KernelMemoryFactsRoundTripAndFormatOneStillReads) {
  ProcessState a;
  a.processes.push_back(linux_process(7, 70, "leaker", 1, 2));
  ProcessState b = a;
  b.processes[0].threads = 40;
  b.processes[0].page_table_bytes = 1 << 20;
  b.processes[0].socket_queue_bytes = 65536;
  b.processes[0].bpf_memlock_bytes = 1052672;
  b.processes[0].dmabuf_bytes = 4096;
  std::string key, delta;
  encode_process_sample(nullptr, a, key);
  encode_process_sample(&a, b, delta);
  EXPECT_EQ(static_cast<unsigned char>(key[0]), 2);
  ProcessDecoder decoder;
  ASSERT_TRUE(decoder.apply(bytes_of(key)).has_value());
  ASSERT_TRUE(decoder.apply(bytes_of(delta)).has_value());
  EXPECT_EQ(decoder.state(), b);

  // Format 1 keyframe of pid 7 (start 70, "ab"), presence byte 0x31 (parent pid, fd total, fds),
  // parent pid 1, fd total 3, 3 files: version 1, flags 1 (keyframe), no exits, one record.
  const std::vector<unsigned char> v1 = {1, 1, 0, 1, 7, 1 | 2 | 4 | 8, 70, 2, 'a', 'b', 0x31,
                                         // mask: slot 0 (parent), 4 (fd total), 15 (file fds)
                                         0x91, 0x80, 0x02, 2, 6, 6};
  ProcessDecoder old;
  auto ok = old.apply(v1);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  ASSERT_EQ(old.state().processes.size(), 1u);
  const ProcessFacts& p = old.state().processes[0];
  EXPECT_EQ(p.name, "ab");
  EXPECT_EQ(p.parent_pid, 1u);
  EXPECT_EQ(p.fd_total, 3u);
  ASSERT_TRUE(p.fds.has_value());
  EXPECT_EQ(p.fds->file, 3u);
  EXPECT_FALSE(p.threads.has_value());
}

}  // namespace
}  // namespace poolscope::store
