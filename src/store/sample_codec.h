// The compact encoding of one pool sample in a recording: a change set against the previous
// sample (or against nothing, for a keyframe). See docs/store-format.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/pool.h"
#include "core/result.h"

namespace poolscope::store {

// The per-key values a sample keeps, in encoding order.
enum Field : unsigned { kAllocs = 0, kFrees, kOutstanding, kBytes, kObjectSize, kFieldCount };

// One key's values in one sample. A field whose bit is clear in present is absent (the source
// did not give it) and its value is 0; a key that is not in the sample at all has no KeySample.
struct KeySample {
  std::uint32_t key_id = 0;
  std::uint8_t present = 0;
  std::array<std::uint64_t, kFieldCount> value{};

  bool has(Field f) const { return (present & (1u << f)) != 0; }
  std::optional<std::uint64_t> get(Field f) const {
    return has(f) ? std::optional<std::uint64_t>(value[f]) : std::nullopt;
  }
  // Outstanding objects: the field, else allocs - frees (modulo 2^32 for a source whose counters
  // wrap there); none when neither is known.
  std::optional<std::uint64_t> outstanding(CounterWidth width) const {
    if (has(kOutstanding)) return value[kOutstanding];
    if (has(kAllocs) && has(kFrees)) return counter_delta(value[kFrees], value[kAllocs], width);
    return std::nullopt;
  }

  friend bool operator==(const KeySample&, const KeySample&) = default;
};

// Pool totals as numbered scalar slots. Format 1 (poolscope before the recordings kept socket
// limits): slot pool * 3 + {0 used, 1 limit, 2 failures} for the first five pools (paged ...
// reclaimable), then the machine's memory total and available bytes: 17 slots. Format 2 appends
// the same three slots for kernel, tcp and udp, then tcp's and udp's pressure threshold
// (tcp_mem / udp_mem's second number): 28 slots. Format 1's slots keep their numbers, so one
// state carries across blobs of both formats.
inline constexpr std::size_t kPoolKinds = 8;
inline constexpr std::size_t kFormat1PoolKinds = 5;
inline constexpr std::size_t kFormat1ScalarSlots = kFormat1PoolKinds * 3 + 2;
inline constexpr std::size_t kMemoryTotalSlot = kFormat1PoolKinds * 3;
inline constexpr std::size_t kMemoryAvailableSlot = kFormat1PoolKinds * 3 + 1;
inline constexpr std::size_t kTcpPressureSlot = kFormat1ScalarSlots + (kPoolKinds - 5) * 3;
inline constexpr std::size_t kUdpPressureSlot = kTcpPressureSlot + 1;
inline constexpr std::size_t kScalarSlots = kUdpPressureSlot + 1;
static_assert(kScalarSlots == 28);
// The slot of a pool's used (0), limit (1) or failures (2).
constexpr std::size_t pool_scalar_slot(PoolKind pool, std::size_t i) {
  const auto p = static_cast<std::size_t>(pool);
  return p < kFormat1PoolKinds ? p * 3 + i : kFormat1ScalarSlots + (p - kFormat1PoolKinds) * 3 + i;
}
// The slot of a pool's pressure threshold; none for pools without one.
constexpr std::optional<std::size_t> pool_pressure_slot(PoolKind pool) {
  if (pool == PoolKind::kTcp) return kTcpPressureSlot;
  if (pool == PoolKind::kUdp) return kUdpPressureSlot;
  return std::nullopt;
}
// Strings that rarely change: host, source, format, then each pool's limit note (format 1: the
// first five pools' only).
enum StringSlot : unsigned {
  kHost = 0,
  kSource,
  kFormat,
  kLimitNote0,
  kFormat1StringSlots = 3 + 5,
  kStringSlots = 3 + 8
};

// Everything of a snapshot besides the key values.
struct SampleExtras {
  CounterWidth counter_width = CounterWidth::k64;
  std::uint32_t pools_present = 0;    // bit per PoolKind: the snapshot has a PoolTotal for it
  std::uint32_t scalars_present = 0;  // bit per scalar slot
  std::array<std::uint64_t, kScalarSlots> scalars{};
  std::array<std::string, kStringSlots> strings;
  std::vector<std::string> notes;

  std::optional<std::uint64_t> scalar(std::size_t slot) const {
    return (scalars_present & (1u << slot)) ? std::optional<std::uint64_t>(scalars[slot])
                                            : std::nullopt;
  }
  bool has_pool(PoolKind pool) const {
    return (pools_present & (1u << static_cast<unsigned>(pool))) != 0;
  }
  // A pool's total (see PoolTotal): used bytes, limit bytes, failures.
  std::optional<std::uint64_t> pool_used(PoolKind pool) const { return pool_slot(pool, 0); }
  std::optional<std::uint64_t> pool_limit(PoolKind pool) const { return pool_slot(pool, 1); }
  std::optional<std::uint64_t> pool_failures(PoolKind pool) const { return pool_slot(pool, 2); }
  std::optional<std::uint64_t> pool_pressure(PoolKind pool) const {
    const auto slot = pool_pressure_slot(pool);
    return slot ? scalar(*slot) : std::nullopt;
  }
  std::optional<std::uint64_t> memory_total() const { return scalar(kMemoryTotalSlot); }
  std::optional<std::uint64_t> memory_available() const { return scalar(kMemoryAvailableSlot); }

  friend bool operator==(const SampleExtras&, const SampleExtras&) = default;

 private:
  std::optional<std::uint64_t> pool_slot(PoolKind pool, std::size_t i) const {
    return scalar(pool_scalar_slot(pool, i));
  }
};

// The decoded state after a sample: what a reader sees.
struct PoolState {
  std::vector<KeySample> keys;  // ascending key_id, no duplicates
  SampleExtras extras;

  friend bool operator==(const PoolState&, const PoolState&) = default;
};

// Blob layout version written into every sample (first byte): 2 when the state has a total of
// the kernel, tcp or udp pools (now or in the sample before), else 1, so recordings without them
// (Windows, slabinfo and Windows pool imports) stay byte for byte what poolscope wrote before
// format 2. Both are read.
inline constexpr std::uint8_t kSampleFormatVersion = 2;

// Encodes cur as a change set against prev; prev == nullptr writes a keyframe (a change set
// against the empty state), which a reader can decode without anything before it.
class PoolEncoder {
 public:
  void encode(const PoolState* prev, const PoolState& cur, std::string& out);

 private:
  std::string records_;  // reused between samples
};

// Applies encoded samples in order to a state. A keyframe resets the state first.
class PoolDecoder {
 public:
  // On error the state is unspecified; the caller must resume at a keyframe.
  Result<void> apply(std::span<const unsigned char> blob);
  const PoolState& state() const { return state_; }
  void reset() { state_ = PoolState{}; }

 private:
  PoolState state_;
  std::vector<KeySample> scratch_;
  std::vector<std::uint32_t> removed_, added_;
};

// True when the blob is a keyframe (without decoding it).
bool is_keyframe_blob(std::span<const unsigned char> blob);

// Snapshot <-> state conversions. `extras_from_snapshot` fills everything but the key values.
SampleExtras extras_from_snapshot(const Snapshot& snapshot);
void apply_extras(const SampleExtras& extras, Snapshot& snapshot);
KeySample key_sample_from_entry(std::uint32_t key_id, const Entry& entry);
Counters counters_of(const KeySample& sample);

}  // namespace poolscope::store
