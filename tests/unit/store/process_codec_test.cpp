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

TEST(ProcessCodec, WindowsHandleKindsRoundTripAsFormat3) {
  ProcessState a;
  a.processes = {windows_process(4, 100, 2000), windows_process(1234, 500, 40)};
  a.processes[1].threads = 24;  // a format-2 fact beside the format-3 ones
  ProcessState b = a;
  (*b.processes[1].handle_kinds)[HandleKind::kEvent] += 12400;
  *b.processes[1].exited_process_handles += 7;
  *b.processes[1].threads += 1;
  b.processes[0].exited_thread_handles = 3;  // the collector learnt the threads
  std::string key, delta;
  encode_process_sample(nullptr, a, key);
  encode_process_sample(&a, b, delta);
  EXPECT_EQ(key[0], 3);
  EXPECT_EQ(delta[0], 3);
  ProcessDecoder decoder;
  ASSERT_TRUE(decoder.apply(bytes_of(key)).has_value());
  EXPECT_EQ(decoder.state(), a);
  ASSERT_TRUE(decoder.apply(bytes_of(delta)).has_value());
  EXPECT_EQ(decoder.state(), b);
  // Losing the facts (the handle table was refused) is a change too, still in format 3 (the
  // presence bits it clears are format 3's); the sample after is format 2 again.
  ProcessState c = b;
  for (auto& p : c.processes) {
    p.handle_kinds.reset();
    p.exited_process_handles.reset();
    p.exited_thread_handles.reset();
  }
  std::string back, after;
  encode_process_sample(&b, c, back);
  EXPECT_EQ(back[0], 3);
  ASSERT_TRUE(decoder.apply(bytes_of(back)).has_value());
  EXPECT_EQ(decoder.state(), c);
  ProcessState d = c;
  *d.processes[0].handle_count += 1;
  encode_process_sample(&c, d, after);
  EXPECT_EQ(after[0], 2);
  ASSERT_TRUE(decoder.apply(bytes_of(after)).has_value());
  EXPECT_EQ(decoder.state(), d);
  // And back: a format-3 change set applies onto a state built from format-2 blobs.
  std::string again;
  encode_process_sample(&d, b, again);
  EXPECT_EQ(again[0], 3);
  ASSERT_TRUE(decoder.apply(bytes_of(again)).has_value());
  EXPECT_EQ(decoder.state(), b);
}

// Recordings without handle facts (every Linux one) stay byte for byte what the format-2 writer
// of issue 15 wrote, and a format-2 blob with a format-3 presence bit or slot is damage.
TEST(ProcessCodec, WithoutHandleFactsTheBlobIsFormat2ByteForByte) {
  ProcessState a;
  a.processes = {linux_process(7, 70, "cat", 1, 0)};
  std::string key;
  encode_process_sample(nullptr, a, key);
  // Format 2, keyframe, 0 exits, 1 record: gap 7, tag, start 70, "cat", presence 0x31 (parent,
  // fd total, fds), mask (slots 0, 4, 5, 15), deltas.
  const std::vector<unsigned char> written = bytes_of(key);
  const std::vector<unsigned char> format2 = {0x02, 0x01, 0x00, 0x01, 0x07, 0x0f, 0x46,
                                              0x03, 0x63, 0x61, 0x74, 0x31, 0xb1, 0x80,
                                              0x02, 0x02, 0x08, 0x02, 0x06};
  EXPECT_EQ(written, format2);
  ProcessDecoder decoder;
  ASSERT_TRUE(decoder.apply(written).has_value());
  EXPECT_EQ(decoder.state(), a);
  auto bad = written;
  bad[11] = 0x80;  // presence as a 2-byte varint: bit 11 (handle kinds) in a format-2 blob
  bad.insert(bad.begin() + 12, 0x10);
  auto refused = decoder.apply(bad);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("bad presence"), std::string::npos);
  auto newer = written;
  newer[0] = 5;
  refused = decoder.apply(newer);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("unknown format byte 5 (expected 1 to 4)"),
            std::string::npos)
      << refused.error().message;
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

namespace poolscope::store {
namespace {

// Before process format 4 the recording dropped each process's RLIMIT_NOFILE and the sample's
// file-nr, fs.file-max and sockstat socket counts: the census and the fd wall worked live only.
TEST(ProcessCodec, FdLimitsAndSystemCountsAreRecordedAsFormat4) {
  ProcessState a;
  a.processes.push_back(linux_process(7, 70, "leaker", 1, 2));
  a.processes[0].fd_limit = 1024;
  a.open_files = 5000;
  a.open_files_max = 9223372036854775807ull;
  a.tcp_sockets = 12;
  ProcessState b = a;
  b.processes[0].fd_limit = 4096;
  b.open_files = 5600;
  b.tcp_sockets.reset();
  b.udp_sockets = 3;
  std::string key, delta, same;
  encode_process_sample(nullptr, a, key);
  encode_process_sample(&a, b, delta);
  encode_process_sample(&b, b, same);
  EXPECT_EQ(static_cast<unsigned char>(key[0]), 4);
  EXPECT_EQ(static_cast<unsigned char>(delta[0]), 4);
  // Nothing changed: header, no exits, no records.
  EXPECT_EQ(bytes_of(same), (std::vector<unsigned char>{4, 0, 0, 0}));
  ProcessDecoder decoder;
  ASSERT_TRUE(decoder.apply(bytes_of(key)).has_value());
  EXPECT_EQ(decoder.state(), a);
  ASSERT_TRUE(decoder.apply(bytes_of(delta)).has_value());
  EXPECT_EQ(decoder.state(), b);
  ASSERT_TRUE(decoder.apply(bytes_of(same)).has_value());
  EXPECT_EQ(decoder.state(), b);
  const ProcessSample counts = system_counts_of(decoder.state());
  EXPECT_EQ(counts.open_files, 5600u);
  EXPECT_EQ(counts.open_files_max, 9223372036854775807ull);
  EXPECT_FALSE(counts.tcp_sockets.has_value());
  EXPECT_EQ(counts.udp_sockets, 3u);

  // The system-counts flag in an older format is damage.
  auto old = bytes_of(delta);
  old[0] = 3;
  ProcessDecoder other;
  ASSERT_TRUE(other.apply(bytes_of(key)).has_value());
  auto refused = other.apply(old);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("system counts before format 4"), std::string::npos)
      << refused.error().message;
}

}  // namespace
}  // namespace poolscope::store
