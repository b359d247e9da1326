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

ProcessFacts windows_process(std::uint64_t pid, std::uint64_t events, std::uint64_t files) {
  ProcessFacts p;
  p.pid = pid;
  p.start_time = 133'000'000'000'000'000 + pid;
  p.name = "svc.exe";
  p.parent_pid = 600;
  p.handle_count = events + files + 10;
  p.paged_pool_quota_bytes = 4096;
  p.nonpaged_pool_quota_bytes = 1024;
  HandleCounts kinds;
  kinds[HandleKind::kEvent] = events;
  kinds[HandleKind::kFile] = files;
  kinds[HandleKind::kOther] = 10;
  p.handle_kinds = kinds;
  p.exited_process_handles = pid == 1234 ? 39000 : 0;
  return p;
}

TEST(ProcessCodec, WindowsHandleKindsRoundTripAsVersion2) {
  ProcessState a;
  a.processes = {windows_process(4, 100, 2000), windows_process(1234, 500, 40)};
  ProcessState b = a;
  (*b.processes[1].handle_kinds)[HandleKind::kEvent] += 12400;
  *b.processes[1].exited_process_handles += 7;
  b.processes[0].exited_thread_handles = 3;  // the collector learnt the threads
  std::string key, delta;
  encode_process_sample(nullptr, a, key);
  encode_process_sample(&a, b, delta);
  EXPECT_EQ(key[0], 2);
  EXPECT_EQ(delta[0], 2);
  ProcessDecoder decoder;
  ASSERT_TRUE(decoder.apply(bytes_of(key)).has_value());
  EXPECT_EQ(decoder.state(), a);
  ASSERT_TRUE(decoder.apply(bytes_of(delta)).has_value());
  EXPECT_EQ(decoder.state(), b);
  // Losing the facts (the handle table was refused) is a change too.
  ProcessState c = b;
  for (auto& p : c.processes) {
    p.handle_kinds.reset();
    p.exited_process_handles.reset();
    p.exited_thread_handles.reset();
  }
  std::string back;
  encode_process_sample(&b, c, back);
  ASSERT_TRUE(decoder.apply(bytes_of(back)).has_value());
  EXPECT_EQ(decoder.state(), c);
}

// Old recordings still read: without handle facts the writer still produces version 1, byte for
// byte what the first format wrote, and a version-1 blob with a version-2 presence bit is damage.
TEST(ProcessCodec, WithoutHandleFactsTheBlobIsVersion1) {
  ProcessState a;
  a.processes = {linux_process(7, 70, "cat", 1, 0)};
  std::string key;
  encode_process_sample(nullptr, a, key);
  // What the encoder of the first format (before version 2 existed) wrote for this state:
  // version 1, keyframe, 0 exits, 1 record: gap 7, tag, start 70, "cat", presence 0x31 (parent,
  // fd total, fds), mask, deltas.
  ASSERT_GE(key.size(), 2u);
  EXPECT_EQ(key[0], 1);
  const std::vector<unsigned char> written = bytes_of(key);
  const std::vector<unsigned char> first_format = {0x01, 0x01, 0x00, 0x01, 0x07, 0x0f, 0x46,
                                                   0x03, 0x63, 0x61, 0x74, 0x31, 0xb1, 0x80,
                                                   0x02, 0x02, 0x08, 0x02, 0x06};
  EXPECT_EQ(written, first_format);
  ProcessDecoder decoder;
  ASSERT_TRUE(decoder.apply(written).has_value());
  EXPECT_EQ(decoder.state(), a);
  auto bad = written;
  bad[11] = 0x71;  // presence bit 6 in a version-1 blob
  EXPECT_FALSE(decoder.apply(bad).has_value());
}

}  // namespace
}  // namespace poolscope::store
