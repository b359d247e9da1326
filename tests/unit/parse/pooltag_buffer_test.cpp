#include "parse/pooltag_buffer.h"

#include <gtest/gtest.h>

#include <cstring>

namespace poolscope::parse {
namespace {

// Writes NtQuerySystemInformation buffers the way the kernel lays them out, independently of the
// decoder: every field and padding is spelled out per width here.
class BufferBuilder {
 public:
  explicit BufferBuilder(PointerWidth width) : width_(width) {}

  BufferBuilder& u32(std::uint32_t v) { return put(v, 4); }
  BufferBuilder& u64(std::uint64_t v) { return put(v, 8); }
  BufferBuilder& ptr(std::uint64_t v) { return put(v, x64() ? 8 : 4); }  // SIZE_T / PVOID
  BufferBuilder& zeros(std::size_t n) {
    bytes_.insert(bytes_.end(), n, std::byte{0});
    return *this;
  }

  // SYSTEM_POOLTAG
  BufferBuilder& pooltag(std::uint32_t tag, std::uint32_t paged_allocs, std::uint32_t paged_frees,
                         std::uint64_t paged_used, std::uint32_t nonpaged_allocs,
                         std::uint32_t nonpaged_frees, std::uint64_t nonpaged_used) {
    u32(tag).u32(paged_allocs).u32(paged_frees);
    if (x64()) zeros(4);  // SIZE_T PagedUsed is 8-aligned
    ptr(paged_used).u32(nonpaged_allocs).u32(nonpaged_frees).ptr(nonpaged_used);
    return *this;
  }
  // SYSTEM_POOLTAG_INFORMATION header: ULONG Count, padded to the array's alignment on x64.
  BufferBuilder& pooltag_header(std::uint32_t count) {
    u32(count);
    if (x64()) zeros(4);
    return *this;
  }
  // SYSTEM_SESSION_POOLTAG_INFORMATION header.
  BufferBuilder& session_header(std::uint64_t next, std::uint32_t session, std::uint32_t count) {
    return ptr(next).u32(session).u32(count);
  }
  // SYSTEM_BIGPOOL_ENTRY
  BufferBuilder& bigpool_entry(std::uint64_t address, std::uint64_t size, std::uint32_t tag) {
    ptr(address).ptr(size).u32(tag);
    if (x64()) zeros(4);  // struct size rounds up to 24
    return *this;
  }
  BufferBuilder& set_u32(std::size_t offset, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes_[offset + i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
    return *this;
  }

  std::size_t size() const { return bytes_.size(); }
  std::span<const std::byte> span() const { return bytes_; }
  std::span<const std::byte> prefix(std::size_t n) const { return span().first(n); }

 private:
  bool x64() const { return width_ == PointerWidth::k64; }
  BufferBuilder& put(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xFF));
    return *this;
  }

  PointerWidth width_;
  std::vector<std::byte> bytes_;
};

constexpr std::uint32_t kWDiv = 0x76694457;  // 'viDW' in WinDivert's C source
constexpr std::uint32_t kFile = 0x656c6946;  // 'eliF' -> "File"
constexpr std::uint32_t kIrp = 0x20707249;   // ' prI' -> "Irp "

Counters counters(std::uint64_t allocs, std::uint64_t frees, std::uint64_t outstanding,
                  std::uint64_t bytes) {
  return Counters{allocs, frees, outstanding, bytes};
}

BufferBuilder two_tags(PointerWidth width) {
  BufferBuilder b(width);
  b.pooltag_header(2)
      .pooltag(kWDiv, 0, 0, 0, 120, 20, 100 * 256)            // nonpaged only
      .pooltag(kFile, 7000, 6000, 1000 * 304, 3, 1, 2 * 64);  // both pools
  return b;
}

void expect_two_tags(const ParsedSnapshot& parsed) {
  const Snapshot& s = parsed.snapshot;
  EXPECT_EQ(s.format, "system_pooltag");
  EXPECT_EQ(s.counter_width, CounterWidth::k32);
  EXPECT_TRUE(parsed.diagnostics.empty());
  EXPECT_TRUE(s.notes.empty());
  EXPECT_TRUE(s.totals.empty());
  ASSERT_EQ(s.entries.size(), 3u);
  EXPECT_EQ(s.entries[0].key, tag_from_text("WDiv"));
  EXPECT_EQ(display_key(s.entries[0].key), "WDiv");
  EXPECT_EQ(s.entries[0].pool, PoolKind::kNonPaged);
  EXPECT_EQ(s.entries[0].counters, counters(120, 20, 100, 25600));
  EXPECT_FALSE(s.entries[0].session_id.has_value());
  EXPECT_EQ(display_key(s.entries[1].key), "File");
  EXPECT_EQ(s.entries[1].pool, PoolKind::kPaged);
  EXPECT_EQ(s.entries[1].counters, counters(7000, 6000, 1000, 304000));
  EXPECT_EQ(s.entries[2].pool, PoolKind::kNonPaged);
  EXPECT_EQ(s.entries[2].counters, counters(3, 1, 2, 128));
}

TEST(PoolTagBuffer, LayoutsMatchPhnt) {
  auto x64 = pooltag_layout(PointerWidth::k64);
  EXPECT_EQ(x64.header_size, 8u);
  EXPECT_EQ(x64.entry_size, 40u);
  EXPECT_EQ(x64.session_header_size, 16u);
  EXPECT_EQ(x64.bigpool_entry_size, 24u);
  auto x86 = pooltag_layout(PointerWidth::k32);
  EXPECT_EQ(x86.header_size, 4u);
  EXPECT_EQ(x86.entry_size, 28u);
  EXPECT_EQ(x86.session_header_size, 12u);
  EXPECT_EQ(x86.bigpool_entry_size, 12u);
  // The builder agrees with the table above.
  EXPECT_EQ(two_tags(PointerWidth::k64).size(), 8u + 2 * 40);
  EXPECT_EQ(two_tags(PointerWidth::k32).size(), 4u + 2 * 28);
}

TEST(PoolTagBuffer, DecodesX64) {
  auto b = two_tags(PointerWidth::k64);
  auto parsed = decode_pooltag_buffer(b.span(), PointerWidth::k64);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  expect_two_tags(*parsed);
}

TEST(PoolTagBuffer, DecodesX86) {
  auto b = two_tags(PointerWidth::k32);
  auto parsed = decode_pooltag_buffer(b.span(), PointerWidth::k32);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  expect_two_tags(*parsed);
}

TEST(PoolTagBuffer, WrongWidthIsNotSilentlyRight) {
  // An x86 buffer read as x64 needs 88 bytes and has 60: refused, not misread.
  auto b = two_tags(PointerWidth::k32);
  auto parsed = decode_pooltag_buffer(b.span(), PointerWidth::k64);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code, ErrorCode::kInput);
}

TEST(PoolTagBuffer, TagKeepsRawBytesInMemoryOrder) {
  BufferBuilder b(PointerWidth::k64);
  b.pooltag_header(2).pooltag(kIrp, 1, 0, 96, 0, 0, 0).pooltag(0x00FF5C41, 1, 0, 8, 0, 0, 0);
  auto parsed = decode_pooltag_buffer(b.span(), PointerWidth::k64);
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->snapshot.entries.size(), 2u);
  EXPECT_EQ(display_key(parsed->snapshot.entries[0].key), "Irp ");  // trailing space kept
  EXPECT_EQ(parsed->snapshot.entries[1].key.name, std::string("A\\\xFF\0", 4));
  EXPECT_EQ(display_key(parsed->snapshot.entries[1].key), "A\\\\\\xff\\x00");
}

TEST(PoolTagBuffer, WrappedCountersGiveOutstandingModulo2To32) {
  for (auto width : {PointerWidth::k64, PointerWidth::k32}) {
    BufferBuilder b(width);
    b.pooltag_header(1).pooltag(kWDiv, 5, 0xFFFFFFFE, 7 * 64, 0, 0, 0);
    auto parsed = decode_pooltag_buffer(b.span(), width);
    ASSERT_TRUE(parsed.has_value());
    ASSERT_EQ(parsed->snapshot.entries.size(), 1u);
    EXPECT_EQ(parsed->snapshot.entries[0].counters, counters(5, 0xFFFFFFFE, 7, 448));
  }
}

TEST(PoolTagBuffer, PoolsWithoutActivityHaveNoEntry) {
  BufferBuilder b(PointerWidth::k64);
  b.pooltag_header(3)
      .pooltag(kFile, 0, 0, 0, 0, 0, 0)    // nothing at all
      .pooltag(kIrp, 0, 0, 0, 0, 0, 4096)  // bytes only (allocs wrapped to exactly 2^32)
      .pooltag(kWDiv, 0, 2, 0, 0, 0, 0);   // frees only
  auto parsed = decode_pooltag_buffer(b.span(), PointerWidth::k64);
  ASSERT_TRUE(parsed.has_value());
  const auto& e = parsed->snapshot.entries;
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(display_key(e[0].key), "Irp ");
  EXPECT_EQ(e[0].pool, PoolKind::kNonPaged);
  EXPECT_EQ(e[0].counters, counters(0, 0, 0, 4096));
  EXPECT_EQ(display_key(e[1].key), "WDiv");
  EXPECT_EQ(e[1].pool, PoolKind::kPaged);
  EXPECT_EQ(e[1].counters, counters(0, 2, 0xFFFFFFFE, 0));
}

TEST(PoolTagBuffer, EmptyTableAndTrailingSlack) {
  BufferBuilder empty(PointerWidth::k64);
  empty.u32(0);  // Count = 0 and nothing else: a 4-byte buffer is complete
  auto parsed = decode_pooltag_buffer(empty.span(), PointerWidth::k64);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(parsed->snapshot.entries.empty());

  auto b = two_tags(PointerWidth::k64);
  b.zeros(4096);  // the caller's buffer is larger than the data
  parsed = decode_pooltag_buffer(b.span(), PointerWidth::k64);
  ASSERT_TRUE(parsed.has_value());
  expect_two_tags(*parsed);
}

TEST(PoolTagBuffer, TruncatedBuffersAreInputErrorsNeverReadsPastTheEnd) {
  for (auto width : {PointerWidth::k64, PointerWidth::k32}) {
    auto b = two_tags(width);
    // Every prefix shorter than the data is refused (ASan checks no byte past it is read).
    for (std::size_t n = 0; n < b.size(); ++n) {
      std::vector<std::byte> copy(b.span().begin(), b.span().begin() + n);
      auto parsed = decode_pooltag_buffer(copy, width);
      ASSERT_FALSE(parsed.has_value()) << n;
      EXPECT_EQ(parsed.error().code, ErrorCode::kInput);
    }
  }
  BufferBuilder b(PointerWidth::k64);
  b.pooltag_header(3).pooltag(kWDiv, 1, 0, 8, 0, 0, 0).pooltag(kFile, 1, 0, 8, 0, 0, 0);
  auto parsed = decode_pooltag_buffer(b.span(), PointerWidth::k64);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message,
            "SystemPoolTagInformation: Count = 3 needs 128 bytes (x64 entries of 40 bytes from "
            "offset 8) but the buffer holds only 88");

  BufferBuilder huge(PointerWidth::k32);
  huge.pooltag_header(0xFFFFFFFF).pooltag(kWDiv, 1, 0, 8, 0, 0, 0);
  parsed = decode_pooltag_buffer(huge.span(), PointerWidth::k32);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_NE(parsed.error().message.find("Count = 4294967295 needs 120259084264 bytes"),
            std::string::npos)
      << parsed.error().message;

  parsed = decode_pooltag_buffer(std::span<const std::byte>(), PointerWidth::k64);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message,
            "SystemPoolTagInformation buffer is 0 bytes; at least 4 (the ULONG Count) expected");
}

TEST(PoolTagBuffer, TagListedTwiceIsMergedWithANote) {
  BufferBuilder b(PointerWidth::k64);
  b.pooltag_header(2)
      .pooltag(kWDiv, 0xFFFFFFFF, 10, 1000, 0, 0, 0)
      .pooltag(kWDiv, 3, 1, 24, 0, 0, 0);
  auto parsed = decode_pooltag_buffer(b.span(), PointerWidth::k64);
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->snapshot.entries.size(), 1u);
  // 0xFFFFFFFF + 3 wraps to 2 like the kernel's own counter would.
  EXPECT_EQ(parsed->snapshot.entries[0].counters, counters(2, 11, 0xFFFFFFF7, 1024));
  ASSERT_EQ(parsed->snapshot.notes.size(), 1u);
  EXPECT_EQ(parsed->snapshot.notes[0],
            "SystemPoolTagInformation listed 1 tag(s) more than once (first: \"WDiv\"); their "
            "counts were added together");
}

TEST(PoolTagBuffer, IntoAppendsAfterExistingEntries) {
  Snapshot s;
  s.entries.push_back(Entry{.key = tag_from_text("Old")});
  auto b = two_tags(PointerWidth::k64);
  ASSERT_TRUE(decode_pooltag_into(b.span(), PointerWidth::k64, s).has_value());
  ASSERT_EQ(s.entries.size(), 4u);
  EXPECT_EQ(display_key(s.entries[0].key), "Old ");
  EXPECT_EQ(display_key(s.entries[1].key), "WDiv");
}

// Two sessions: 0 (services) and 1 (console). Session 1's record is padded by 8 bytes after its
// data, as a kernel may align records; NextEntryOffset says where the next one starts.
BufferBuilder two_sessions(PointerWidth width) {
  const bool x64 = width == PointerWidth::k64;
  const std::size_t header = x64 ? 16 : 12, entry = x64 ? 40 : 28;
  BufferBuilder b(width);
  b.session_header(header + 2 * entry + 8, 0, 2)
      .pooltag(kFile, 10, 4, 6 * 128, 0, 0, 0)
      .pooltag(kIrp, 5, 0xFFFFFFFE, 7 * 96, 1, 0, 64)  // paged + nonpaged: allocs 6, frees 2^32-2
      .zeros(8)
      .session_header(0, 1, 1)
      .pooltag(kWDiv, 2, 1, 256, 0, 0, 0);
  return b;
}

void expect_two_sessions(const Snapshot& s) {
  ASSERT_EQ(s.entries.size(), 3u);
  EXPECT_EQ(s.counter_width, CounterWidth::k32);
  EXPECT_EQ(display_key(s.entries[0].key), "File");
  EXPECT_EQ(s.entries[0].pool, PoolKind::kSession);
  EXPECT_EQ(s.entries[0].session_id, 0u);
  EXPECT_EQ(s.entries[0].counters, counters(10, 4, 6, 768));
  EXPECT_EQ(display_key(s.entries[1].key), "Irp ");
  EXPECT_EQ(s.entries[1].session_id, 0u);
  EXPECT_EQ(s.entries[1].counters, counters(6, 0xFFFFFFFE, 8, 672 + 64));
  EXPECT_EQ(display_key(s.entries[2].key), "WDiv");
  EXPECT_EQ(s.entries[2].pool, PoolKind::kSession);
  EXPECT_EQ(s.entries[2].session_id, 1u);
  EXPECT_EQ(s.entries[2].counters, counters(2, 1, 1, 256));
}

TEST(SessionPoolTagBuffer, ChainX64) {
  auto b = two_sessions(PointerWidth::k64);
  EXPECT_EQ(b.size(), 16u + 80 + 8 + 16 + 40);
  Snapshot s;
  auto ok = decode_session_pooltag_into(b.span(), PointerWidth::k64, s);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  expect_two_sessions(s);
}

TEST(SessionPoolTagBuffer, ChainX86) {
  auto b = two_sessions(PointerWidth::k32);
  EXPECT_EQ(b.size(), 12u + 56 + 8 + 12 + 28);
  Snapshot s;
  auto ok = decode_session_pooltag_into(b.span(), PointerWidth::k32, s);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  expect_two_sessions(s);
}

TEST(SessionPoolTagBuffer, EmptyBufferIsNoSessions) {
  Snapshot s;
  EXPECT_TRUE(decode_session_pooltag_into({}, PointerWidth::k64, s).has_value());
  EXPECT_TRUE(s.entries.empty());
}

TEST(SessionPoolTagBuffer, NextEntryOffsetLoopTerminatesWithAnError) {
  // x86: the second record (at 76) points 2^32 - 76 bytes on, which a 32-bit pointer add wraps
  // back to the first record: an endless loop for a naive walker.
  auto b = two_sessions(PointerWidth::k32);
  const std::size_t second = 12 + 56 + 8;
  b.set_u32(second, static_cast<std::uint32_t>(0x100000000ull - second));
  Snapshot s;
  s.entries.push_back(Entry{.key = tag_from_text("Keep")});
  auto ok = decode_session_pooltag_into(b.span(), PointerWidth::k32, s);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error().code, ErrorCode::kInput);
  EXPECT_EQ(ok.error().message,
            "SystemSessionPoolTagInformation: session record at offset 76: NextEntryOffset "
            "4294967220 leaves the buffer (40 bytes left)");
  // Nothing half-decoded stays behind: session 0's entries were rolled back.
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(display_key(s.entries[0].key), "Keep");

  // A record pointing at itself + 4 (inside its own data) is refused too.
  auto c = two_sessions(PointerWidth::k32);
  c.set_u32(0, 4);
  ok = decode_session_pooltag_into(c.span(), PointerWidth::k32, s);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error().message,
            "SystemSessionPoolTagInformation: session record at offset 0: NextEntryOffset 4 "
            "points inside this record (68 bytes)");
}

TEST(SessionPoolTagBuffer, TruncatedChainsAreErrors) {
  for (auto width : {PointerWidth::k64, PointerWidth::k32}) {
    auto b = two_sessions(width);
    for (std::size_t n = 1; n < b.size(); ++n) {
      std::vector<std::byte> copy(b.span().begin(), b.span().begin() + n);
      Snapshot s;
      auto ok = decode_session_pooltag_into(copy, width, s);
      ASSERT_FALSE(ok.has_value()) << n;
      EXPECT_TRUE(s.entries.empty()) << n;
    }
  }
  BufferBuilder b(PointerWidth::k64);
  b.session_header(0, 3, 2).pooltag(kWDiv, 1, 0, 8, 0, 0, 0);
  Snapshot s;
  auto ok = decode_session_pooltag_into(b.span(), PointerWidth::k64, s);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error().message,
            "SystemSessionPoolTagInformation: session record at offset 0: Count = 2 needs 96 "
            "bytes but only 56 are left");
}

TEST(BigPoolBuffer, AggregatesPerTagAndPool) {
  for (auto width : {PointerWidth::k64, PointerWidth::k32}) {
    BufferBuilder b(width);
    b.u32(4);
    if (width == PointerWidth::k64) b.zeros(4);
    b.bigpool_entry(0xFFFFA000'00010001ull & (width == PointerWidth::k64 ? ~0ull : 0xFFFFFFFF),
                    0x10000, kWDiv)                 // nonpaged
        .bigpool_entry(0x80020001, 0x3000, kWDiv)   // nonpaged
        .bigpool_entry(0x80030000, 0x2000, kWDiv)   // paged
        .bigpool_entry(0x80040000, 0x1000, kFile);  // paged
    auto usage = decode_bigpool_buffer(b.span(), width);
    ASSERT_TRUE(usage.has_value()) << usage.error().message;
    ASSERT_EQ(usage->size(), 3u);
    EXPECT_EQ((*usage)[0], (BigPoolUsage{tag_from_text("File"), PoolKind::kPaged, 1, 0x1000}));
    EXPECT_EQ((*usage)[1], (BigPoolUsage{tag_from_text("WDiv"), PoolKind::kPaged, 1, 0x2000}));
    EXPECT_EQ((*usage)[2], (BigPoolUsage{tag_from_text("WDiv"), PoolKind::kNonPaged, 2, 0x13000}));
  }
}

TEST(BigPoolBuffer, CountBeyondTheBufferIsAnError) {
  BufferBuilder b(PointerWidth::k64);
  b.u32(2).zeros(4).bigpool_entry(1, 0x1000, kWDiv);
  auto usage = decode_bigpool_buffer(b.span(), PointerWidth::k64);
  ASSERT_FALSE(usage.has_value());
  EXPECT_EQ(usage.error().message,
            "SystemBigPoolInformation: Count = 2 needs 56 bytes (x64 entries of 24 bytes) but "
            "the buffer holds only 32");
  EXPECT_FALSE(decode_bigpool_buffer(b.prefix(3), PointerWidth::k64).has_value());
}

// SYSTEM_PERFORMANCE_INFORMATION as Windows 8.1 returns it (312 bytes; Wine returns the same
// size): only the pool fields are set here.
BufferBuilder performance_buffer() {
  BufferBuilder b(PointerWidth::k64);
  b.zeros(312);
  b.set_u32(44, 1'000'000)   // AvailablePages
      .set_u32(112, 50'000)  // PagedPoolPages
      .set_u32(116, 30'000)  // NonPagedPoolPages
      .set_u32(120, 0xFFFFFFF0)
      .set_u32(124, 0xFFFFFF00)
      .set_u32(128, 77)
      .set_u32(132, 70)
      .set_u32(136, 0xDEADBEEF);  // FreeSystemPtes: must not leak into the pool fields
  return b;
}

TEST(PerformanceBuffer, DecodesPoolFieldsAtPhntOffsets) {
  auto b = performance_buffer();
  for (auto width : {PointerWidth::k64, PointerWidth::k32}) {
    auto perf = decode_performance_buffer(b.span(), width);
    ASSERT_TRUE(perf.has_value());
    EXPECT_EQ(*perf, (PoolPerformance{.available_pages = 1'000'000,
                                      .paged_pool_pages = 50'000,
                                      .nonpaged_pool_pages = 30'000,
                                      .paged_pool_allocs = 0xFFFFFFF0,
                                      .paged_pool_frees = 0xFFFFFF00,
                                      .nonpaged_pool_allocs = 77,
                                      .nonpaged_pool_frees = 70}));
  }
  auto minimal = decode_performance_buffer(b.prefix(136), PointerWidth::k64);
  EXPECT_TRUE(minimal.has_value());
  auto short_one = decode_performance_buffer(b.prefix(135), PointerWidth::k64);
  ASSERT_FALSE(short_one.has_value());
  EXPECT_EQ(short_one.error().message,
            "SystemPerformanceInformation buffer is 135 bytes; at least 136 (through "
            "NonPagedPoolFrees) expected");
}

TEST(PerformanceBuffer, ApplySetsPoolTotals) {
  auto perf = decode_performance_buffer(performance_buffer().span(), PointerWidth::k64);
  ASSERT_TRUE(perf.has_value());
  Snapshot s;
  apply_pool_performance(*perf, 4096, s);
  const PoolTotal* paged = find_total(s, PoolKind::kPaged);
  const PoolTotal* nonpaged = find_total(s, PoolKind::kNonPaged);
  ASSERT_NE(paged, nullptr);
  ASSERT_NE(nonpaged, nullptr);
  EXPECT_EQ(paged->used_bytes, 50'000ull * 4096);
  EXPECT_EQ(nonpaged->used_bytes, 30'000ull * 4096);
  EXPECT_EQ(s.memory_available_bytes, 1'000'000ull * 4096);
}

}  // namespace
}  // namespace poolscope::parse
