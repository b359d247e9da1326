// Change-set encoding of pool samples (layout in docs/store-format.md, "samples.data").
#include "store/sample_codec.h"

#include <algorithm>

#include "store/varint.h"

namespace poolscope::store {

namespace {

// Flags byte (second byte of every blob).
constexpr std::uint8_t kFlagKeyframe = 1 << 0;
constexpr std::uint8_t kFlagWidth32 = 1 << 1;
constexpr std::uint8_t kFlagScalars = 1 << 2;
constexpr std::uint8_t kFlagStrings = 1 << 3;
constexpr std::uint8_t kFlagNotes = 1 << 4;
constexpr std::uint8_t kFlagTotalsPresence = 1 << 5;  // the totals' presence bits changed
constexpr std::uint8_t kFlagBytesInPages = 1 << 6;    // every bytes change is a multiple of 4096
constexpr std::uint8_t kKnownFlags = 0x7F;
constexpr std::uint64_t kPage = 4096;

// Change record tag: bits 0-4 say which fields carry a delta; bit 5 says a new presence mask
// follows. A record starts with the tag byte (then a varint skip), or, for the common cases, with
// one short-form byte 1ccsssss: skip s (0-31) and tag kShortTags[c].
constexpr std::uint8_t kTagPresence = 1 << 5;
constexpr std::uint8_t kAllFields = (1 << kFieldCount) - 1;
constexpr std::uint8_t kShortForm = 0x80;
constexpr std::uint8_t kShortTags[4] = {
    1 << kOutstanding,                                                     // Linux: objects moved
    (1 << kOutstanding) | (1 << kBytes),                                   // Linux: and slabs
    (1 << kAllocs) | (1 << kFrees) | (1 << kOutstanding) | (1 << kBytes),  // Windows: all moved
    (1 << kAllocs) | (1 << kFrees) | (1 << kBytes),  // Windows: as many allocs as frees
};

// What each format holds: scalar slots (the totals' presence has the pools' bits above them),
// pools, strings.
struct FormatLimits {
  std::size_t slots, pools, strings;
};
constexpr FormatLimits limits_of(std::uint8_t version) {
  if (version == 1) return {kFormat1ScalarSlots, kFormat1PoolKinds, kFormat1StringSlots};
  return {kScalarSlots, kPoolKinds, kStringSlots};
}

// Format 1 can hold the extras: no total beyond the first five pools, no string beyond theirs.
bool fits_format1(const SampleExtras& e) {
  if ((e.pools_present >> kFormat1PoolKinds) != 0) return false;
  if ((e.scalars_present >> kFormat1ScalarSlots) != 0) return false;
  for (std::size_t s = kFormat1ScalarSlots; s < kScalarSlots; ++s) {
    if (e.scalars[s] != 0) return false;
  }
  for (std::size_t s = kFormat1StringSlots; s < kStringSlots; ++s) {
    if (!e.strings[s].empty()) return false;
  }
  return true;
}

const PoolState& empty_state() {
  static const PoolState empty;
  return empty;
}

void put_ids(std::string& out, const std::vector<std::uint32_t>& ids) {
  put_varint(out, ids.size());
  std::uint32_t prev = 0;
  for (std::uint32_t id : ids) {  // ascending: gaps are small
    put_varint(out, id - prev);
    prev = id;
  }
}

bool get_ids(ByteReader& in, std::vector<std::uint32_t>& ids) {
  ids.clear();
  const std::uint64_t n = in.varint();
  if (!in.ok() || n > in.remaining()) return false;  // each id takes at least one byte
  std::uint64_t id = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t gap = in.varint();
    if (i > 0 && gap == 0) return false;  // ids are strictly ascending
    id += gap;
    if (!in.ok() || id > UINT32_MAX) return false;
    ids.push_back(static_cast<std::uint32_t>(id));
  }
  return true;
}

// The change of one key, or nothing when it did not change. bytes_unit divides bytes changes.
void encode_key_change(const KeySample* before, const KeySample& after, std::size_t skip,
                       std::uint64_t bytes_unit, std::string& out) {
  const std::uint8_t prev_present = before ? before->present : 0;
  std::uint8_t tag = 0;
  for (unsigned f = 0; f < kFieldCount; ++f) {
    const std::uint64_t prev = before ? before->value[f] : 0;
    if (after.value[f] != prev) tag |= static_cast<std::uint8_t>(1u << f);
  }
  if (after.present != prev_present) tag |= kTagPresence;
  if (tag == 0) return;
  int short_tag = -1;
  for (int c = 0; c < 4 && skip < 32; ++c) {
    if (tag == kShortTags[c]) short_tag = c;
  }
  if (short_tag >= 0) {
    out.push_back(static_cast<char>(kShortForm | (short_tag << 5) | static_cast<int>(skip)));
  } else {
    out.push_back(static_cast<char>(tag));
    put_varint(out, skip);
  }
  if (tag & kTagPresence) out.push_back(static_cast<char>(after.present));
  for (unsigned f = 0; f < kFieldCount; ++f) {
    if (!(tag & (1u << f))) continue;
    const std::uint64_t prev = before ? before->value[f] : 0;
    if (f == kBytes && bytes_unit != 1) {
      // A multiple of the unit (checked by the caller): the quotient, sign kept.
      const auto d =
          static_cast<std::int64_t>(after.value[f] - prev) / static_cast<std::int64_t>(bytes_unit);
      put_varint(out, zigzag_delta(0, static_cast<std::uint64_t>(d)));
    } else {
      put_varint(out, zigzag_delta(prev, after.value[f]));
    }
  }
}

// Linux slab bytes are whole pages: when every bytes change of a sample is, store them in pages.
std::uint64_t bytes_unit_for(const std::vector<KeySample>& prev,
                             const std::vector<KeySample>& cur) {
  std::size_t i = 0;
  bool any = false;
  for (const KeySample& k : cur) {
    while (i < prev.size() && prev[i].key_id < k.key_id) ++i;
    const std::uint64_t before =
        (i < prev.size() && prev[i].key_id == k.key_id) ? prev[i].value[kBytes] : 0;
    const std::uint64_t d = k.value[kBytes] - before;
    if (d == 0) continue;
    // Multiples of the page either way round (a shrink is a negative multiple).
    if (d % kPage != 0 || d == (std::uint64_t{1} << 63)) return 1;
    any = true;
  }
  return any ? kPage : 1;
}

}  // namespace

void PoolEncoder::encode(const PoolState* prev_state, const PoolState& cur, std::string& out) {
  const PoolState& prev = prev_state ? *prev_state : empty_state();
  const SampleExtras& pe = prev.extras;
  const SampleExtras& ce = cur.extras;
  std::uint8_t flags = prev_state ? 0 : kFlagKeyframe;
  if (ce.counter_width == CounterWidth::k32) flags |= kFlagWidth32;
  const bool presence_changed =
      ce.pools_present != pe.pools_present || ce.scalars_present != pe.scalars_present;
  if (presence_changed || ce.scalars != pe.scalars) flags |= kFlagScalars;
  if (presence_changed) flags |= kFlagTotalsPresence;
  const std::uint64_t bytes_unit = bytes_unit_for(prev.keys, cur.keys);
  if (bytes_unit != 1) flags |= kFlagBytesInPages;
  if (ce.strings != pe.strings) flags |= kFlagStrings;
  if (ce.notes != pe.notes) flags |= kFlagNotes;

  // Format 1 unless the kernel, tcp or udp pools have a total now or had one before (the change
  // set then clears it): recordings without them stay what poolscope before format 2 wrote.
  const std::uint8_t version = fits_format1(ce) && fits_format1(pe) ? 1 : kSampleFormatVersion;
  const FormatLimits limits = limits_of(version);
  out.clear();
  out.push_back(static_cast<char>(version));
  out.push_back(static_cast<char>(flags));

  // Key set change and value changes in one merge walk over both ascending lists.
  std::vector<std::uint32_t> removed, added;
  records_.clear();
  std::size_t changes = 0, skip = 0;
  const auto& pk = prev.keys;
  const auto& ck = cur.keys;
  std::size_t i = 0;
  for (const KeySample& after : ck) {
    while (i < pk.size() && pk[i].key_id < after.key_id) removed.push_back(pk[i++].key_id);
    const KeySample* before = nullptr;
    if (i < pk.size() && pk[i].key_id == after.key_id) {
      before = &pk[i++];
    } else {
      added.push_back(after.key_id);
    }
    const std::size_t size_before = records_.size();
    encode_key_change(before, after, skip, bytes_unit, records_);
    if (records_.size() != size_before) {
      ++changes;
      skip = 0;
    } else {
      ++skip;
    }
  }
  while (i < pk.size()) removed.push_back(pk[i++].key_id);
  put_ids(out, removed);
  put_ids(out, added);
  put_varint(out, changes);
  out += records_;

  if (flags & kFlagScalars) {
    if (flags & kFlagTotalsPresence) {
      put_varint(out, ce.scalars_present | (std::uint64_t{ce.pools_present} << limits.slots));
    }
    std::uint32_t changed = 0;
    for (std::size_t s = 0; s < limits.slots; ++s) {
      if (ce.scalars[s] != pe.scalars[s]) changed |= 1u << s;
    }
    put_varint(out, changed);
    for (std::size_t s = 0; s < limits.slots; ++s) {
      if (changed & (1u << s)) put_varint(out, zigzag_delta(pe.scalars[s], ce.scalars[s]));
    }
  }
  if (flags & kFlagStrings) {
    std::uint32_t changed = 0;
    for (std::size_t s = 0; s < limits.strings; ++s) {
      if (ce.strings[s] != pe.strings[s]) changed |= 1u << s;
    }
    put_varint(out, changed);
    for (std::size_t s = 0; s < limits.strings; ++s) {
      if (changed & (1u << s)) put_string(out, ce.strings[s]);
    }
  }
  if (flags & kFlagNotes) {
    put_varint(out, ce.notes.size());
    for (const auto& note : ce.notes) put_string(out, note);
  }
}

bool is_keyframe_blob(std::span<const unsigned char> blob) {
  return blob.size() >= 2 && (blob[1] & kFlagKeyframe);
}

Result<void> PoolDecoder::apply(std::span<const unsigned char> blob) {
  auto damaged = [](const char* what) {
    return make_error(ErrorCode::kInput, std::string("damaged sample: ") + what);
  };
  if (blob.size() < 2) return damaged("shorter than its header");
  const std::uint8_t version = blob[0];
  if (version == 0 || version > kSampleFormatVersion) {
    // The file header's format was checked when the recording was opened: a sample in another
    // format inside it is damage, not a newer poolscope (issue 21).
    return damaged(("unknown format byte " + std::to_string(version) + " (expected 1 to " +
                    std::to_string(kSampleFormatVersion) + ")")
                       .c_str());
  }
  const FormatLimits limits = limits_of(version);
  const std::uint8_t flags = blob[1];
  if (flags & ~kKnownFlags) return damaged("unknown flags");
  if (flags & kFlagKeyframe) state_ = PoolState{};
  ByteReader in(blob.data() + 2, blob.size() - 2);
  SampleExtras& extras = state_.extras;
  extras.counter_width = (flags & kFlagWidth32) ? CounterWidth::k32 : CounterWidth::k64;

  if (!get_ids(in, removed_) || !get_ids(in, added_)) return damaged("bad key list");
  auto& keys = state_.keys;
  if (!removed_.empty() || !added_.empty()) {
    // Merge: keys minus removed plus added, still ascending.
    scratch_.clear();
    scratch_.reserve(keys.size() + added_.size());
    std::size_t r = 0, a = 0;
    for (const KeySample& k : keys) {
      while (a < added_.size() && added_[a] < k.key_id) {
        scratch_.push_back(KeySample{.key_id = added_[a++]});
      }
      if (r < removed_.size() && removed_[r] == k.key_id) {
        ++r;
        continue;
      }
      if (a < added_.size() && added_[a] == k.key_id) return damaged("key added twice");
      scratch_.push_back(k);
    }
    while (a < added_.size()) scratch_.push_back(KeySample{.key_id = added_[a++]});
    if (r != removed_.size()) return damaged("removed key that was not there");
    keys.swap(scratch_);
  }

  const std::uint64_t changes = in.varint();
  if (!in.ok() || changes > keys.size()) return damaged("bad change count");
  std::size_t index = 0;
  const std::uint64_t bytes_unit = (flags & kFlagBytesInPages) ? kPage : 1;
  for (std::uint64_t c = 0; c < changes; ++c) {
    const std::uint8_t head = in.byte();
    std::uint8_t tag;
    std::uint64_t skip;
    if (head & kShortForm) {
      tag = kShortTags[(head >> 5) & 3];
      skip = head & 0x1F;
    } else {
      tag = head;
      skip = in.varint();
    }
    if (!in.ok() || skip >= keys.size() - index) return damaged("change past the last key");
    index += static_cast<std::size_t>(skip);
    KeySample& k = keys[index++];
    if (tag & kTagPresence) {
      const std::uint8_t present = in.byte();
      if (present & ~kAllFields) return damaged("bad presence mask");
      k.present = present;
    }
    if (tag & ~(kAllFields | kTagPresence)) return damaged("bad change tag");
    for (unsigned f = 0; f < kFieldCount; ++f) {
      if (!(tag & (1u << f))) continue;
      const std::uint64_t d = apply_zigzag(0, in.varint());
      k.value[f] += f == kBytes ? d * bytes_unit : d;
    }
    if (!in.ok()) return damaged("truncated change");
  }

  if (flags & kFlagScalars) {
    if (flags & kFlagTotalsPresence) {
      const std::uint64_t presence = in.varint();
      if (!in.ok() || (presence >> (limits.slots + limits.pools)) != 0) {
        return damaged("bad totals");
      }
      extras.scalars_present =
          static_cast<std::uint32_t>(presence & ((std::uint64_t{1} << limits.slots) - 1));
      extras.pools_present = static_cast<std::uint32_t>(presence >> limits.slots);
    }
    const std::uint64_t changed = in.varint();
    if (!in.ok() || (changed >> limits.slots) != 0) return damaged("bad totals");
    for (std::size_t s = 0; s < limits.slots; ++s) {
      if (changed & (1u << s)) extras.scalars[s] = apply_zigzag(extras.scalars[s], in.varint());
    }
  }
  if (flags & kFlagStrings) {
    const std::uint64_t changed = in.varint();
    if (!in.ok() || (changed >> limits.strings) != 0) return damaged("bad strings");
    for (std::size_t s = 0; s < limits.strings; ++s) {
      if ((changed & (1u << s)) && !in.string(extras.strings[s])) return damaged("bad string");
    }
  }
  if (flags & kFlagNotes) {
    const std::uint64_t n = in.varint();
    if (!in.ok() || n > in.remaining()) return damaged("bad notes");
    extras.notes.resize(static_cast<std::size_t>(n));
    for (auto& note : extras.notes) {
      if (!in.string(note)) return damaged("bad note");
    }
  }
  if (!in.ok()) return damaged("truncated");
  if (!in.at_end()) return damaged("trailing bytes");
  return {};
}

SampleExtras extras_from_snapshot(const Snapshot& snapshot) {
  SampleExtras e;
  e.counter_width = snapshot.counter_width;
  auto set = [&e](std::size_t slot, const std::optional<std::uint64_t>& v) {
    if (!v) return;
    e.scalars_present |= 1u << slot;
    e.scalars[slot] = *v;
  };
  for (const PoolTotal& t : snapshot.totals) {
    const auto pool = static_cast<std::size_t>(t.pool);
    if (pool >= kPoolKinds) continue;
    e.pools_present |= 1u << pool;
    set(pool_scalar_slot(t.pool, 0), t.used_bytes);
    set(pool_scalar_slot(t.pool, 1), t.limit_bytes);
    set(pool_scalar_slot(t.pool, 2), t.failures);
    if (const auto slot = pool_pressure_slot(t.pool)) set(*slot, t.pressure_bytes);
    e.strings[kLimitNote0 + pool] = t.limit_note;
  }
  set(kMemoryTotalSlot, snapshot.memory_total_bytes);
  set(kMemoryAvailableSlot, snapshot.memory_available_bytes);
  e.strings[kHost] = snapshot.host;
  e.strings[kSource] = snapshot.source;
  e.strings[kFormat] = snapshot.format;
  e.notes = snapshot.notes;
  return e;
}

void apply_extras(const SampleExtras& e, Snapshot& snapshot) {
  auto get = [&e](std::size_t slot) -> std::optional<std::uint64_t> {
    if (!(e.scalars_present & (1u << slot))) return std::nullopt;
    return e.scalars[slot];
  };
  snapshot.counter_width = e.counter_width;
  snapshot.totals.clear();
  for (std::size_t pool = 0; pool < kPoolKinds; ++pool) {
    if (!(e.pools_present & (1u << pool))) continue;
    PoolTotal t;
    t.pool = static_cast<PoolKind>(pool);
    t.used_bytes = get(pool_scalar_slot(t.pool, 0));
    t.limit_bytes = get(pool_scalar_slot(t.pool, 1));
    t.failures = get(pool_scalar_slot(t.pool, 2));
    if (const auto slot = pool_pressure_slot(t.pool)) t.pressure_bytes = get(*slot);
    t.limit_note = e.strings[kLimitNote0 + pool];
    snapshot.totals.push_back(std::move(t));
  }
  snapshot.memory_total_bytes = get(kMemoryTotalSlot);
  snapshot.memory_available_bytes = get(kMemoryAvailableSlot);
  snapshot.host = e.strings[kHost];
  snapshot.source = e.strings[kSource];
  snapshot.format = e.strings[kFormat];
  snapshot.notes = e.notes;
}

KeySample key_sample_from_entry(std::uint32_t key_id, const Entry& entry) {
  KeySample k;
  k.key_id = key_id;
  auto set = [&k](Field f, const std::optional<std::uint64_t>& v) {
    if (!v) return;
    k.present |= static_cast<std::uint8_t>(1u << f);
    k.value[f] = *v;
  };
  set(kAllocs, entry.counters.allocs);
  set(kFrees, entry.counters.frees);
  set(kOutstanding, entry.counters.outstanding);
  set(kBytes, entry.counters.bytes);
  set(kObjectSize, entry.object_size);
  return k;
}

Counters counters_of(const KeySample& k) {
  auto get = [&k](Field f) -> std::optional<std::uint64_t> {
    if (!(k.present & (1u << f))) return std::nullopt;
    return k.value[f];
  };
  return Counters{get(kAllocs), get(kFrees), get(kOutstanding), get(kBytes)};
}

}  // namespace poolscope::store
