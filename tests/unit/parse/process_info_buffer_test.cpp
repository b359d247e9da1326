#include "parse/process_info_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "parse/encoding.h"

namespace poolscope::parse {
namespace {

// Builds SystemProcessInformation buffers the way the kernel lays them out: each record followed
// by its SYSTEM_THREAD_INFORMATION array, image names after the threads, Buffer pointers made
// from base_address.
class ProcessBuffer {
 public:
  ProcessBuffer(PointerWidth width, std::uint64_t base_address)
      : width_(width), base_(base_address), layout_(process_info_layout(width)) {}

  struct Process {
    std::uint64_t pid = 0;
    std::uint64_t parent = 0;
    std::uint64_t create_time = 0;
    std::u16string name;
    std::uint32_t handles = 0;
    std::uint64_t paged_quota = 0;
    std::uint64_t nonpaged_quota = 0;
    std::uint32_t threads = 1;
  };

  void add(const Process& p) {
    const std::size_t thread_size = width_ == PointerWidth::k64 ? 80 : 64;
    const std::size_t start = bytes_.size();
    if (last_ != kNone) put(last_, start - last_, 4);  // link the previous record to this one
    last_ = start;
    bytes_.resize(start + layout_.record_size + p.threads * thread_size);
    put(start + 4, p.threads, 4);
    // Each thread: ClientId (this pid, tid = pid * 1000 + i) and CreateTime (the process's + i).
    for (std::uint32_t i = 0; i < p.threads; ++i) {
      const std::size_t at = start + layout_.record_size + i * thread_size;
      const bool x64 = width_ == PointerWidth::k64;
      put(at + 16, p.create_time + i, 8);
      put(at + (x64 ? 40 : 32), p.pid, pointer());
      put(at + (x64 ? 48 : 36), p.pid * 1000 + i, pointer());
    }
    put(start + layout_.create_time, p.create_time, 8);
    put(start + layout_.unique_process_id, p.pid, pointer());
    put(start + layout_.inherited_from_process_id, p.parent, pointer());
    put(start + layout_.handle_count, p.handles, 4);
    put(start + layout_.quota_paged_pool_usage, p.paged_quota, pointer());
    put(start + layout_.quota_nonpaged_pool_usage, p.nonpaged_quota, pointer());
    if (!p.name.empty()) {
      const std::size_t name_at = bytes_.size();
      for (char16_t unit : p.name) {
        bytes_.push_back(static_cast<std::byte>(unit & 0xFF));
        bytes_.push_back(static_cast<std::byte>(unit >> 8));
      }
      bytes_.resize(bytes_.size() + 2);  // the kernel NUL-terminates; Length does not count it
      bytes_.resize((bytes_.size() + 7) & ~std::size_t{7});
      put(start + layout_.image_name_length, p.name.size() * 2, 2);
      put(start + layout_.image_name_length + 2, p.name.size() * 2 + 2, 2);
      put(start + layout_.image_name_buffer, base_ + name_at, pointer());
    }
  }

  void put(std::size_t offset, std::uint64_t value, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      bytes_[offset + i] = static_cast<std::byte>((value >> (8 * i)) & 0xFF);
    }
  }
  std::size_t pointer() const { return width_ == PointerWidth::k64 ? 8 : 4; }
  std::vector<std::byte>& bytes() { return bytes_; }
  std::span<const std::byte> span() const { return bytes_; }

 private:
  static constexpr std::size_t kNone = ~std::size_t{0};
  PointerWidth width_;
  std::uint64_t base_;
  ProcessInfoLayout layout_;
  std::vector<std::byte> bytes_;
  std::size_t last_ = kNone;
};

constexpr std::uint64_t kBase64 = 0x000001F23A450000ull;
constexpr std::uint32_t kBase32 = 0x00A50000u;

void add_three(ProcessBuffer& buffer) {
  buffer.add({.pid = 0, .handles = 0, .threads = 4});  // the idle process: no name
  buffer.add({.pid = 4,
              .create_time = 133400000000000000ull,
              .name = u"System",
              .handles = 3120,
              .paged_quota = 0,
              .nonpaged_quota = 272,
              .threads = 150});
  buffer.add({.pid = 7812,
              .parent = 912,
              .create_time = 133401234567890123ull,
              .name = u"Проц\U0001F600.exe",
              .handles = 48211,
              .paged_quota = 1234567,
              .nonpaged_quota = 98765,
              .threads = 3});
}

void expect_three(const std::vector<ProcessFacts>& processes) {
  ASSERT_EQ(processes.size(), 3u);
  EXPECT_EQ(processes[0].pid, 0u);
  EXPECT_EQ(processes[0].name, "");
  EXPECT_EQ(processes[0].handle_count, 0u);
  EXPECT_EQ(processes[1].pid, 4u);
  EXPECT_EQ(processes[1].name, "System");
  EXPECT_EQ(processes[1].start_time, 133400000000000000ull);
  EXPECT_EQ(processes[1].handle_count, 3120u);
  EXPECT_EQ(processes[1].paged_pool_quota_bytes, 0u);
  EXPECT_EQ(processes[1].nonpaged_pool_quota_bytes, 272u);
  EXPECT_EQ(processes[2].pid, 7812u);
  EXPECT_EQ(processes[2].parent_pid, 912u);
  EXPECT_EQ(processes[2].start_time, 133401234567890123ull);
  EXPECT_EQ(processes[2].name, "Проц\xF0\x9F\x98\x80.exe");
  EXPECT_EQ(processes[2].handle_count, 48211u);
  EXPECT_EQ(processes[2].paged_pool_quota_bytes, 1234567u);
  EXPECT_EQ(processes[2].nonpaged_pool_quota_bytes, 98765u);
  EXPECT_FALSE(processes[2].fds.has_value());
  EXPECT_FALSE(processes[2].fd_total.has_value());
}

TEST(ProcessInfoBuffer, LayoutsMatchPhnt) {
  const auto x64 = process_info_layout(PointerWidth::k64);
  EXPECT_EQ(x64.unique_process_id, 80u);
  EXPECT_EQ(x64.handle_count, 96u);
  EXPECT_EQ(x64.quota_paged_pool_usage, 160u);
  EXPECT_EQ(x64.quota_nonpaged_pool_usage, 176u);
  EXPECT_EQ(x64.record_size, 256u);
  const auto x86 = process_info_layout(PointerWidth::k32);
  EXPECT_EQ(x86.unique_process_id, 68u);
  EXPECT_EQ(x86.handle_count, 76u);
  EXPECT_EQ(x86.quota_paged_pool_usage, 112u);
  EXPECT_EQ(x86.quota_nonpaged_pool_usage, 120u);
  EXPECT_EQ(x86.record_size, 184u);
}

TEST(ProcessInfoBuffer, DecodesX64) {
  ProcessBuffer buffer(PointerWidth::k64, kBase64);
  add_three(buffer);
  auto processes = decode_process_info_buffer(buffer.span(), PointerWidth::k64, kBase64);
  ASSERT_TRUE(processes.has_value()) << processes.error().message;
  expect_three(*processes);
}

TEST(ProcessInfoBuffer, DecodesX86) {
  ProcessBuffer buffer(PointerWidth::k32, kBase32);
  add_three(buffer);
  auto processes = decode_process_info_buffer(buffer.span(), PointerWidth::k32, kBase32);
  ASSERT_TRUE(processes.has_value()) << processes.error().message;
  expect_three(*processes);
}

TEST(ProcessInfoBuffer, IgnoresBytesAfterTheLastRecord) {
  ProcessBuffer buffer(PointerWidth::k64, kBase64);
  add_three(buffer);
  buffer.bytes().resize(buffer.bytes().size() + 4096, std::byte{0xCC});
  auto processes = decode_process_info_buffer(buffer.span(), PointerWidth::k64, kBase64);
  ASSERT_TRUE(processes.has_value());
  EXPECT_EQ(processes->size(), 3u);
}

TEST(ProcessInfoBuffer, EmptyBufferIsNoProcesses) {
  auto processes = decode_process_info_buffer({}, PointerWidth::k64, kBase64);
  ASSERT_TRUE(processes.has_value());
  EXPECT_TRUE(processes->empty());
}

TEST(ProcessInfoBuffer, ShortBufferIsAnError) {
  std::vector<std::byte> bytes(255);
  auto processes = decode_process_info_buffer(bytes, PointerWidth::k64, kBase64);
  ASSERT_FALSE(processes.has_value());
  EXPECT_EQ(processes.error().code, ErrorCode::kInput);
  EXPECT_NE(processes.error().message.find("needs 256 bytes"), std::string::npos);
  EXPECT_TRUE(decode_process_info_buffer(std::span(bytes).first(184), PointerWidth::k32, 0));
}

TEST(ProcessInfoBuffer, ChainsThatLoopOverlapOrLeaveTheBufferAreRefused) {
  ProcessBuffer buffer(PointerWidth::k64, kBase64);
  add_three(buffer);
  // A NextEntryOffset smaller than a record would overlap it (and 1 would crawl byte by byte).
  for (std::uint64_t next : {1ull, 8ull, 255ull}) {
    buffer.put(0, next, 4);
    auto processes = decode_process_info_buffer(buffer.span(), PointerWidth::k64, kBase64);
    ASSERT_FALSE(processes.has_value()) << next;
    EXPECT_NE(processes.error().message.find("NextEntryOffset " + std::to_string(next)),
              std::string::npos);
  }
  buffer.put(0, buffer.bytes().size(), 4);  // points just past the end
  EXPECT_FALSE(decode_process_info_buffer(buffer.span(), PointerWidth::k64, kBase64));
  buffer.put(0, 0xFFFFFFFFull, 4);
  EXPECT_FALSE(decode_process_info_buffer(buffer.span(), PointerWidth::k64, kBase64));
}

TEST(ProcessInfoBuffer, NamesOutsideTheBufferAreRefused) {
  ProcessBuffer buffer(PointerWidth::k64, kBase64);
  add_three(buffer);
  // The wrong base address: every name seems to lie elsewhere.
  auto wrong_base = decode_process_info_buffer(buffer.span(), PointerWidth::k64, kBase64 + 0x10000);
  ASSERT_FALSE(wrong_base.has_value());
  EXPECT_NE(wrong_base.error().message.find("pid 4: ImageName.Buffer 0x000001f23a45"),
            std::string::npos)
      << wrong_base.error().message;
  EXPECT_NE(wrong_base.error().message.find("base address"), std::string::npos);

  const auto layout = process_info_layout(PointerWidth::k64);
  const std::size_t second = 256 + 4 * 80;  // System's record follows the idle one and 4 threads
  buffer.put(second + layout.image_name_length, 13, 2);  // odd length
  auto odd = decode_process_info_buffer(buffer.span(), PointerWidth::k64, kBase64);
  ASSERT_FALSE(odd.has_value());
  EXPECT_NE(odd.error().message.find("is odd"), std::string::npos);

  buffer.put(second + layout.image_name_length, 12, 2);
  buffer.put(second + layout.image_name_buffer, 0, 8);  // null Buffer with a length
  EXPECT_FALSE(decode_process_info_buffer(buffer.span(), PointerWidth::k64, kBase64));

  // Length running past the end by one unit.
  buffer.put(second + layout.image_name_buffer, kBase64 + buffer.bytes().size() - 10, 8);
  EXPECT_FALSE(decode_process_info_buffer(buffer.span(), PointerWidth::k64, kBase64));
  buffer.put(second + layout.image_name_length, 10, 2);  // exactly up to the end: fine
  EXPECT_TRUE(decode_process_info_buffer(buffer.span(), PointerWidth::k64, kBase64));
}

TEST(ProcessInfoBuffer, X86NamePointerBelowTheBaseWrapsAndIsRefused) {
  ProcessBuffer buffer(PointerWidth::k32, kBase32);
  add_three(buffer);
  const auto layout = process_info_layout(PointerWidth::k32);
  const std::size_t second = 184 + 4 * 64;
  buffer.put(second + layout.image_name_buffer, kBase32 - 2, 4);
  EXPECT_FALSE(decode_process_info_buffer(buffer.span(), PointerWidth::k32, kBase32));
}

void expect_threads_of_three(const std::vector<ThreadIdentity>& threads) {
  ASSERT_EQ(threads.size(), 4u + 150u + 3u);
  EXPECT_EQ(threads[0], (ThreadIdentity{.pid = 0, .tid = 0, .create_time = 0}));
  EXPECT_EQ(threads[3], (ThreadIdentity{.pid = 0, .tid = 3, .create_time = 3}));
  EXPECT_EQ(threads[4],
            (ThreadIdentity{.pid = 4, .tid = 4000, .create_time = 133400000000000000ull}));
  EXPECT_EQ(threads[153],
            (ThreadIdentity{.pid = 4, .tid = 4149, .create_time = 133400000000000149ull}));
  EXPECT_EQ(threads[156],
            (ThreadIdentity{.pid = 7812, .tid = 7812002, .create_time = 133401234567890125ull}));
}

TEST(ProcessThreads, DecodesTheThreadArraysOfX64AndX86) {
  ProcessBuffer x64(PointerWidth::k64, kBase64);
  add_three(x64);
  auto threads = decode_process_threads(x64.span(), PointerWidth::k64);
  ASSERT_TRUE(threads.has_value()) << threads.error().message;
  expect_threads_of_three(*threads);
  ProcessBuffer x86(PointerWidth::k32, kBase32);
  add_three(x86);
  threads = decode_process_threads(x86.span(), PointerWidth::k32);
  ASSERT_TRUE(threads.has_value()) << threads.error().message;
  expect_threads_of_three(*threads);
}

TEST(ProcessThreads, AThreadCountThatOverrunsTheNextRecordIsRefused) {
  for (const PointerWidth width : {PointerWidth::k64, PointerWidth::k32}) {
    ProcessBuffer buffer(width, width == PointerWidth::k64 ? kBase64 : kBase32);
    add_three(buffer);
    // The System record (the second) claims one thread more than lies before the third record.
    const std::uint64_t first_next = static_cast<std::uint64_t>(buffer.bytes()[0]) |
                                     static_cast<std::uint64_t>(buffer.bytes()[1]) << 8 |
                                     static_cast<std::uint64_t>(buffer.bytes()[2]) << 16;
    buffer.put(first_next + 4, 151, 4);
    const auto threads = decode_process_threads(buffer.span(), width);
    ASSERT_FALSE(threads.has_value());
    EXPECT_NE(threads.error().message.find("pid 4: NumberOfThreads 151"), std::string::npos)
        << threads.error().message;
    // The last record's threads must fit before the buffer's end.
    ProcessBuffer last(width, width == PointerWidth::k64 ? kBase64 : kBase32);
    last.add({.pid = 8, .threads = 2});
    last.put(4, 3, 4);
    EXPECT_FALSE(decode_process_threads(last.span(), width).has_value());
    // A huge count is refused without reserving or reading anything.
    last.put(4, 0xFFFFFFFFu, 4);
    EXPECT_FALSE(decode_process_threads(last.span(), width).has_value());
  }
}

TEST(ProcessThreads, EmptyBufferIsNoThreadsAndAShortOneAnError) {
  auto threads = decode_process_threads({}, PointerWidth::k64);
  ASSERT_TRUE(threads.has_value());
  EXPECT_TRUE(threads->empty());
  std::vector<std::byte> short_buffer(100);
  EXPECT_FALSE(decode_process_threads(short_buffer, PointerWidth::k64).has_value());
}

TEST(Utf16, SurrogatesAndOddBytes) {
  const unsigned char pair[] = {0x3D, 0xD8, 0x00, 0xDE, 0x41, 0x00};  // U+1F600 'A'
  EXPECT_EQ(utf16le_to_utf8(std::as_bytes(std::span(pair))),
            "\xF0\x9F\x98\x80"
            "A");
  const unsigned char lone[] = {0x3D, 0xD8, 0x41, 0x00, 0x00, 0xDC};  // high, 'A', low
  EXPECT_EQ(utf16le_to_utf8(std::as_bytes(std::span(lone))),
            "\xEF\xBF\xBD"
            "A\xEF\xBF\xBD");
  const unsigned char odd[] = {0x41, 0x00, 0x42};
  EXPECT_EQ(utf16le_to_utf8(std::as_bytes(std::span(odd))), "A");
}

}  // namespace
}  // namespace poolscope::parse
