// Decoders for NtQuerySystemInformation pool buffers. Every read is bounds-checked against the
// span first; values are assembled little-endian byte by byte, so the host's byte order and
// alignment do not matter.
#include "parse/pooltag_buffer.h"

#include <algorithm>
#include <limits>
#include <string>
#include <unordered_map>

#include "core/bytes.h"
#include "core/forward_error.h"

namespace poolscope::parse {

namespace {

constexpr std::uint64_t kCounterMask = 0xFFFFFFFFull;  // SYSTEM_POOLTAG counters are ULONG

std::size_t pointer_size(PointerWidth width) {
  return width == PointerWidth::k64 ? 8 : 4;
}

std::string width_name(PointerWidth width) {
  return width == PointerWidth::k64 ? "x64" : "x86";
}

// One SYSTEM_POOLTAG, widened.
struct PoolTagRecord {
  std::uint32_t tag = 0;  // the 4 bytes in memory order, read little-endian
  std::uint32_t paged_allocs = 0, paged_frees = 0;
  std::uint64_t paged_used = 0;
  std::uint32_t nonpaged_allocs = 0, nonpaged_frees = 0;
  std::uint64_t nonpaged_used = 0;
};

PoolTagRecord read_pooltag(std::span<const std::byte> buffer, std::size_t offset,
                           PointerWidth width) {
  const std::size_t ptr = pointer_size(width);
  PoolTagRecord r;
  r.tag = load_le32(buffer, offset);
  r.paged_allocs = load_le32(buffer, offset + 4);
  r.paged_frees = load_le32(buffer, offset + 8);
  // x64 pads PagedUsed to 8-byte alignment: offset 16, not 12.
  const std::size_t paged_used_at = width == PointerWidth::k64 ? 16 : 12;
  r.paged_used = load_le(buffer, offset + paged_used_at, ptr);
  const std::size_t nonpaged_at = paged_used_at + ptr;
  r.nonpaged_allocs = load_le32(buffer, offset + nonpaged_at);
  r.nonpaged_frees = load_le32(buffer, offset + nonpaged_at + 4);
  r.nonpaged_used = load_le(buffer, offset + nonpaged_at + 8, ptr);
  return r;
}

Counters make_counters(std::uint64_t allocs, std::uint64_t frees, std::uint64_t bytes) {
  Counters c;
  c.allocs = allocs & kCounterMask;
  c.frees = frees & kCounterMask;
  c.outstanding = (allocs - frees) & kCounterMask;
  c.bytes = bytes;
  return c;
}

// Appends entries, merging a (tag, pool, session) seen earlier in the same buffer. The index only
// covers entries this decoder appended.
class EntrySink {
 public:
  EntrySink(Snapshot& snapshot, std::size_t expected)
      : entries_(snapshot.entries), first_(snapshot.entries.size()) {
    entries_.reserve(first_ + expected);
    index_.reserve(expected);
  }

  // False when a merged byte count would overflow 64 bits (only a forged buffer does that).
  bool add(std::uint32_t tag, PoolKind pool, std::optional<std::uint32_t> session,
           std::uint64_t allocs, std::uint64_t frees, std::uint64_t bytes) {
    // Within one buffer either the pool is fixed (sessions) or the session is absent (class 22),
    // so the tag and the other discriminator fit one 64-bit key.
    const std::uint64_t discriminator =
        session ? std::uint64_t{*session} : static_cast<std::uint64_t>(pool);
    auto [it, inserted] = index_.try_emplace(discriminator << 32 | tag, entries_.size());
    if (inserted) {
      Entry entry;
      entry.key = tag_from_ulong(tag);
      entry.pool = pool;
      entry.session_id = session;
      entry.counters = make_counters(allocs, frees, bytes);
      entries_.push_back(std::move(entry));
      return true;
    }
    Entry& entry = entries_[it->second];
    const std::uint64_t old_bytes = *entry.counters.bytes;
    if (bytes > std::numeric_limits<std::uint64_t>::max() - old_bytes) return false;
    if (duplicates_++ == 0) first_duplicate_ = display_key(entry.key);
    entry.counters = make_counters(*entry.counters.allocs + allocs, *entry.counters.frees + frees,
                                   old_bytes + bytes);
    return true;
  }

  void roll_back() { entries_.resize(first_); }
  std::size_t duplicates() const { return duplicates_; }
  const std::string& first_duplicate() const { return first_duplicate_; }

 private:
  std::vector<Entry>& entries_;
  std::size_t first_;
  std::unordered_map<std::uint64_t, std::size_t> index_;
  std::size_t duplicates_ = 0;
  std::string first_duplicate_;
};

std::string duplicate_note(const char* what, const EntrySink& sink) {
  return std::string(what) + " listed " + std::to_string(sink.duplicates()) +
         " tag(s) more than once (first: \"" + sink.first_duplicate() +
         "\"); their counts were added together";
}

unexpected<Error> overflow_error(const char* what) {
  return make_error(ErrorCode::kInput,
                    std::string(what) +
                        ": the byte counts of a tag listed twice add up to more "
                        "than 2^64; the buffer is not real NtQuerySystemInformation "
                        "output");
}

}  // namespace

PoolTagLayout pooltag_layout(PointerWidth width) {
  if (width == PointerWidth::k64) {
    return PoolTagLayout{.header_size = 8,
                         .entry_size = 40,
                         .session_header_size = 16,
                         .bigpool_header_size = 8,
                         .bigpool_entry_size = 24};
  }
  return PoolTagLayout{.header_size = 4,
                       .entry_size = 28,
                       .session_header_size = 12,
                       .bigpool_header_size = 4,
                       .bigpool_entry_size = 12};
}

Result<void> decode_pooltag_into(std::span<const std::byte> buffer, PointerWidth width,
                                 Snapshot& snapshot) {
  constexpr const char* kWhat = "SystemPoolTagInformation";
  const PoolTagLayout layout = pooltag_layout(width);
  if (buffer.size() < 4) {
    return make_error(ErrorCode::kInput, std::string(kWhat) + " buffer is " +
                                             std::to_string(buffer.size()) +
                                             " bytes; at least 4 (the ULONG Count) expected");
  }
  const std::uint32_t count = load_le32(buffer, 0);
  const std::uint64_t needed =
      count == 0 ? 4 : layout.header_size + std::uint64_t{count} * layout.entry_size;
  if (needed > buffer.size()) {
    return make_error(ErrorCode::kInput,
                      std::string(kWhat) + ": Count = " + std::to_string(count) + " needs " +
                          std::to_string(needed) + " bytes (" + width_name(width) + " entries of " +
                          std::to_string(layout.entry_size) + " bytes from offset " +
                          std::to_string(layout.header_size) + ") but the buffer holds only " +
                          std::to_string(buffer.size()));
  }
  snapshot.format = "system_pooltag";
  snapshot.counter_width = CounterWidth::k32;
  EntrySink sink(snapshot, std::size_t{count} * 2);
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto r =
        read_pooltag(buffer, layout.header_size + std::size_t{i} * layout.entry_size, width);
    if (r.paged_allocs != 0 || r.paged_frees != 0 || r.paged_used != 0) {
      if (!sink.add(r.tag, PoolKind::kPaged, std::nullopt, r.paged_allocs, r.paged_frees,
                    r.paged_used)) {
        sink.roll_back();
        return overflow_error(kWhat);
      }
    }
    if (r.nonpaged_allocs != 0 || r.nonpaged_frees != 0 || r.nonpaged_used != 0) {
      if (!sink.add(r.tag, PoolKind::kNonPaged, std::nullopt, r.nonpaged_allocs, r.nonpaged_frees,
                    r.nonpaged_used)) {
        sink.roll_back();
        return overflow_error(kWhat);
      }
    }
  }
  if (sink.duplicates() != 0) snapshot.notes.push_back(duplicate_note(kWhat, sink));
  return {};
}

Result<ParsedSnapshot> decode_pooltag_buffer(std::span<const std::byte> buffer,
                                             PointerWidth width) {
  ParsedSnapshot out;
  auto ok = decode_pooltag_into(buffer, width, out.snapshot);
  if (!ok) return forward_error(ok);
  return out;
}

Result<void> decode_session_pooltag_into(std::span<const std::byte> buffer, PointerWidth width,
                                         Snapshot& snapshot) {
  constexpr const char* kWhat = "SystemSessionPoolTagInformation";
  const PoolTagLayout layout = pooltag_layout(width);
  const std::size_t ptr = pointer_size(width);
  snapshot.counter_width = CounterWidth::k32;
  if (buffer.empty()) return {};
  EntrySink sink(snapshot, 0);
  const auto fail = [&](std::size_t offset, const std::string& what) -> unexpected<Error> {
    sink.roll_back();
    return make_error(ErrorCode::kInput, std::string(kWhat) + ": session record at offset " +
                                             std::to_string(offset) + ": " + what);
  };
  std::size_t offset = 0;
  for (;;) {
    const std::size_t left = buffer.size() - offset;
    if (left < layout.session_header_size) {
      return fail(offset, "cut off: " + std::to_string(left) + " bytes left, the " +
                              width_name(width) + " header needs " +
                              std::to_string(layout.session_header_size));
    }
    const std::uint64_t next = load_le(buffer, offset, ptr);
    const std::uint32_t session_id = load_le32(buffer, offset + ptr);
    const std::uint32_t count = load_le32(buffer, offset + ptr + 4);
    const std::uint64_t record_size =
        layout.session_header_size + std::uint64_t{count} * layout.entry_size;
    if (record_size > left) {
      return fail(offset, "Count = " + std::to_string(count) + " needs " +
                              std::to_string(record_size) + " bytes but only " +
                              std::to_string(left) + " are left");
    }
    // Offsets only move forward past the whole record, so the walk always ends: a value that
    // would wrap a 32-bit pointer back to an earlier record lands beyond the buffer here.
    if (next != 0 && next < record_size) {
      return fail(offset, "NextEntryOffset " + std::to_string(next) +
                              " points inside this record (" + std::to_string(record_size) +
                              " bytes)");
    }
    if (next > left) {
      return fail(offset, "NextEntryOffset " + std::to_string(next) + " leaves the buffer (" +
                              std::to_string(left) + " bytes left)");
    }
    for (std::uint32_t i = 0; i < count; ++i) {
      const auto r = read_pooltag(
          buffer, offset + layout.session_header_size + std::size_t{i} * layout.entry_size, width);
      const std::uint64_t allocs = std::uint64_t{r.paged_allocs} + r.nonpaged_allocs;
      const std::uint64_t frees = std::uint64_t{r.paged_frees} + r.nonpaged_frees;
      if (r.nonpaged_used > std::numeric_limits<std::uint64_t>::max() - r.paged_used) {
        return fail(offset, "paged + nonpaged bytes of a tag exceed 2^64");
      }
      const std::uint64_t bytes = r.paged_used + r.nonpaged_used;
      if (allocs == 0 && frees == 0 && bytes == 0) continue;
      if (!sink.add(r.tag, PoolKind::kSession, session_id, allocs, frees, bytes)) {
        sink.roll_back();
        return overflow_error(kWhat);
      }
    }
    if (next == 0) break;
    offset += static_cast<std::size_t>(next);
  }
  if (sink.duplicates() != 0) snapshot.notes.push_back(duplicate_note(kWhat, sink));
  return {};
}

Result<std::vector<BigPoolUsage>> decode_bigpool_buffer(std::span<const std::byte> buffer,
                                                        PointerWidth width) {
  const PoolTagLayout layout = pooltag_layout(width);
  const std::size_t ptr = pointer_size(width);
  if (buffer.size() < 4) {
    return make_error(ErrorCode::kInput, "SystemBigPoolInformation buffer is " +
                                             std::to_string(buffer.size()) +
                                             " bytes; at least 4 (the ULONG Count) expected");
  }
  const std::uint32_t count = load_le32(buffer, 0);
  const std::uint64_t needed =
      count == 0 ? 4
                 : layout.bigpool_header_size + std::uint64_t{count} * layout.bigpool_entry_size;
  if (needed > buffer.size()) {
    return make_error(ErrorCode::kInput,
                      "SystemBigPoolInformation: Count = " + std::to_string(count) + " needs " +
                          std::to_string(needed) + " bytes (" + width_name(width) + " entries of " +
                          std::to_string(layout.bigpool_entry_size) +
                          " bytes) but the buffer holds only " + std::to_string(buffer.size()));
  }
  std::vector<BigPoolUsage> usage;
  std::unordered_map<std::uint64_t, std::size_t> index;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::size_t at = layout.bigpool_header_size + std::size_t{i} * layout.bigpool_entry_size;
    const std::uint64_t address = load_le(buffer, at, ptr);
    const std::uint64_t size = load_le(buffer, at + ptr, ptr);
    const std::uint32_t tag = load_le32(buffer, at + 2 * ptr);
    const bool nonpaged = (address & 1) != 0;
    const std::uint64_t key = std::uint64_t{tag} | (nonpaged ? 1ull << 32 : 0);
    auto [it, inserted] = index.try_emplace(key, usage.size());
    if (inserted) {
      usage.push_back(BigPoolUsage{tag_from_ulong(tag),
                                   nonpaged ? PoolKind::kNonPaged : PoolKind::kPaged, 0, 0});
    }
    BigPoolUsage& u = usage[it->second];
    if (size > std::numeric_limits<std::uint64_t>::max() - u.bytes) {
      return make_error(ErrorCode::kInput,
                        "SystemBigPoolInformation: the sizes of tag \"" + display_key(u.key) +
                            "\" add up to more than 2^64; the buffer is not real output");
    }
    u.bytes += size;
    ++u.allocations;
  }
  std::sort(usage.begin(), usage.end(), [](const BigPoolUsage& a, const BigPoolUsage& b) {
    return a.key != b.key ? a.key < b.key : a.pool < b.pool;
  });
  return usage;
}

Result<PoolPerformance> decode_performance_buffer(std::span<const std::byte> buffer,
                                                  PointerWidth /*width*/) {
  // Every field before the Windows 10 ULONGLONG tail is a LARGE_INTEGER or a ULONG, so x86 and
  // x64 agree; the width is taken for symmetry with the other decoders.
  if (buffer.size() < kPerformanceInformationMinSize) {
    return make_error(ErrorCode::kInput, "SystemPerformanceInformation buffer is " +
                                             std::to_string(buffer.size()) + " bytes; at least " +
                                             std::to_string(kPerformanceInformationMinSize) +
                                             " (through NonPagedPoolFrees) expected");
  }
  PoolPerformance p;
  p.available_pages = load_le32(buffer, 44);
  p.paged_pool_pages = load_le32(buffer, 112);
  p.nonpaged_pool_pages = load_le32(buffer, 116);
  p.paged_pool_allocs = load_le32(buffer, 120);
  p.paged_pool_frees = load_le32(buffer, 124);
  p.nonpaged_pool_allocs = load_le32(buffer, 128);
  p.nonpaged_pool_frees = load_le32(buffer, 132);
  return p;
}

void apply_pool_performance(const PoolPerformance& performance, std::uint64_t page_size,
                            Snapshot& snapshot) {
  // 32-bit page counts times a page size cannot overflow 64 bits for any real page size.
  total_for(snapshot, PoolKind::kPaged).used_bytes =
      std::uint64_t{performance.paged_pool_pages} * page_size;
  total_for(snapshot, PoolKind::kNonPaged).used_bytes =
      std::uint64_t{performance.nonpaged_pool_pages} * page_size;
  snapshot.memory_available_bytes = std::uint64_t{performance.available_pages} * page_size;
}

}  // namespace poolscope::parse
