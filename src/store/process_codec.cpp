// Change-set encoding of per-process facts (layout in docs/store-format.md,
// "process_samples.data").
#include "store/process_codec.h"

#include <algorithm>

#include "store/varint.h"

namespace poolscope::store {

namespace {

constexpr std::uint8_t kFlagKeyframe = 1 << 0;
constexpr std::uint8_t kFlagNotes = 1 << 1;
constexpr std::uint8_t kFlagUnreadable = 1 << 2;
// Readers of the first version refuse the unknown flag and so skip to the next keyframe instead
// of applying the change set onto the wrong sample.
constexpr std::uint8_t kFlagAfterGap = 1 << 3;
constexpr std::uint8_t kKnownFlags = 0x0F;

// Record tag bits.
constexpr std::uint8_t kTagIdentity = 1 << 0;  // start time and name follow
constexpr std::uint8_t kTagPresence = 1 << 1;  // presence byte follows
constexpr std::uint8_t kTagValues = 1 << 2;    // changed-values mask and deltas follow
constexpr std::uint8_t kTagNew = 1 << 3;       // a process not in the previous sample
constexpr std::uint8_t kKnownTags = 0x0F;

// Numeric slots: 0 parent pid, 1 handle count, 2 paged quota, 3 nonpaged quota, 4 fd total,
// 5.. fd counts by FdKind, then (version 2) handle counts by HandleKind, exited process handles,
// exited thread handles. Presence bits 0-4 are per slot, bit 5 covers all fd kinds (fds is one
// optional), bit 6 all handle kinds, bits 7 and 8 the two exited counts.
constexpr std::size_t kScalars = 5;
constexpr std::size_t kFdSlot = kScalars;
constexpr std::size_t kHandleSlot = kFdSlot + kFdKindCount;
constexpr std::size_t kExitedProcessSlot = kHandleSlot + kHandleKindCount;
constexpr std::size_t kExitedThreadSlot = kExitedProcessSlot + 1;
constexpr std::size_t kSlots = kExitedThreadSlot + 1;
constexpr std::size_t kVersion1Slots = kHandleSlot;
static_assert(kSlots <= 64);
constexpr std::uint32_t kFdsPresent = 1 << 5;
constexpr std::uint32_t kHandleKindsPresent = 1 << 6;
constexpr std::uint32_t kExitedProcessPresent = 1 << 7;
constexpr std::uint32_t kExitedThreadPresent = 1 << 8;
constexpr std::uint32_t kVersion1Presence = 0x3F;
constexpr std::uint32_t kAllPresence = 0x1FF;

struct Numbers {
  std::uint32_t present = 0;
  std::array<std::uint64_t, kSlots> value{};
};

Numbers numbers_of(const ProcessFacts& p) {
  Numbers n;
  const std::optional<std::uint64_t>* scalars[kScalars] = {
      &p.parent_pid, &p.handle_count, &p.paged_pool_quota_bytes, &p.nonpaged_pool_quota_bytes,
      &p.fd_total};
  for (std::size_t s = 0; s < kScalars; ++s) {
    if (*scalars[s]) {
      n.present |= 1u << s;
      n.value[s] = **scalars[s];
    }
  }
  if (p.fds) {
    n.present |= kFdsPresent;
    for (std::size_t k = 0; k < kFdKindCount; ++k) {
      n.value[kFdSlot + k] = fd_count(*p.fds, kAllFdKinds[k]);
    }
  }
  if (p.handle_kinds) {
    n.present |= kHandleKindsPresent;
    for (std::size_t k = 0; k < kHandleKindCount; ++k) {
      n.value[kHandleSlot + k] = p.handle_kinds->count[k];
    }
  }
  if (p.exited_process_handles) {
    n.present |= kExitedProcessPresent;
    n.value[kExitedProcessSlot] = *p.exited_process_handles;
  }
  if (p.exited_thread_handles) {
    n.present |= kExitedThreadPresent;
    n.value[kExitedThreadSlot] = *p.exited_thread_handles;
  }
  return n;
}

void set_numbers(const Numbers& n, ProcessFacts& p) {
  std::optional<std::uint64_t>* scalars[kScalars] = {&p.parent_pid, &p.handle_count,
                                                     &p.paged_pool_quota_bytes,
                                                     &p.nonpaged_pool_quota_bytes, &p.fd_total};
  for (std::size_t s = 0; s < kScalars; ++s) {
    if (n.present & (1u << s)) {
      *scalars[s] = n.value[s];
    } else {
      scalars[s]->reset();
    }
  }
  if (n.present & kFdsPresent) {
    FdCounts counts;
    for (std::size_t k = 0; k < kFdKindCount; ++k) {
      fd_count(counts, kAllFdKinds[k]) = n.value[kFdSlot + k];
    }
    p.fds = counts;
  } else {
    p.fds.reset();
  }
  if (n.present & kHandleKindsPresent) {
    HandleCounts counts;
    for (std::size_t k = 0; k < kHandleKindCount; ++k) counts.count[k] = n.value[kHandleSlot + k];
    p.handle_kinds = counts;
  } else {
    p.handle_kinds.reset();
  }
  p.exited_process_handles.reset();
  if (n.present & kExitedProcessPresent) p.exited_process_handles = n.value[kExitedProcessSlot];
  p.exited_thread_handles.reset();
  if (n.present & kExitedThreadPresent) p.exited_thread_handles = n.value[kExitedThreadSlot];
}

// True when the facts need format version 2 (Windows handle kinds or exited references).
bool needs_version2(const ProcessFacts& p) {
  return p.handle_kinds || p.exited_process_handles || p.exited_thread_handles;
}

// Writes the record for cur (before == nullptr: new process). Returns false when nothing changed.
bool encode_record(const ProcessFacts* before, const ProcessFacts& cur, std::uint64_t pid_gap,
                   std::string& out) {
  const Numbers after = numbers_of(cur);
  const Numbers prev = before ? numbers_of(*before) : Numbers{};
  std::uint8_t tag = 0;
  if (!before) tag |= kTagNew | kTagIdentity;
  if (before && (before->start_time != cur.start_time || before->name != cur.name)) {
    tag |= kTagIdentity;
  }
  if (after.present != prev.present) tag |= kTagPresence;
  std::uint64_t changed = 0;
  for (std::size_t s = 0; s < kSlots; ++s) {
    if (after.value[s] != prev.value[s]) changed |= std::uint64_t{1} << s;
  }
  if (changed) tag |= kTagValues;
  if (tag == 0) return false;
  put_varint(out, pid_gap);
  out.push_back(static_cast<char>(tag));
  if (tag & kTagIdentity) {
    put_varint(out, cur.start_time);
    put_string(out, cur.name);
  }
  // A varint: for the version-1 presence bits (below 128) the same single byte version 1 wrote.
  if (tag & kTagPresence) put_varint(out, after.present);
  if (tag & kTagValues) {
    put_varint(out, changed);
    for (std::size_t s = 0; s < kSlots; ++s) {
      if (changed & (std::uint64_t{1} << s)) {
        put_varint(out, zigzag_delta(prev.value[s], after.value[s]));
      }
    }
  }
  return true;
}

const ProcessState& empty_process_state() {
  static const ProcessState empty;
  return empty;
}

}  // namespace

ProcessState process_state_of(const ProcessSample& sample) {
  return ProcessState{sample.processes, sample.fd_kinds_unreadable, sample.notes};
}

void encode_process_sample(const ProcessState* prev_state, const ProcessState& cur,
                           std::string& out, bool after_gap) {
  const ProcessState& prev = prev_state ? *prev_state : empty_process_state();
  std::uint8_t flags = prev_state ? 0 : kFlagKeyframe;
  if (prev_state && after_gap) flags |= kFlagAfterGap;
  if (!cur.notes.empty()) flags |= kFlagNotes;
  if (cur.fd_kinds_unreadable != prev.fd_kinds_unreadable) flags |= kFlagUnreadable;

  std::vector<std::uint64_t> exits;
  std::string records;
  std::size_t count = 0;
  std::uint64_t last_pid = 0;
  std::size_t i = 0;
  const auto& pp = prev.processes;
  for (const ProcessFacts& p : cur.processes) {
    while (i < pp.size() && pp[i].pid < p.pid) exits.push_back(pp[i++].pid);
    const ProcessFacts* before = nullptr;
    if (i < pp.size() && pp[i].pid == p.pid) {
      before = &pp[i++];
      // A reused pid is another process: its numbers start from nothing.
      if (before->start_time != p.start_time) before = nullptr;
    }
    if (encode_record(before, p, p.pid - last_pid, records)) {
      ++count;
      last_pid = p.pid;
    }
  }
  while (i < pp.size()) exits.push_back(pp[i++].pid);

  // Version 1 unless a process has Windows handle facts: recordings without them stay readable by
  // poolscope versions that predate them (the encoding is otherwise the same).
  const bool version2 = std::any_of(cur.processes.begin(), cur.processes.end(), needs_version2) ||
                        std::any_of(pp.begin(), pp.end(), needs_version2);
  out.clear();
  out.push_back(static_cast<char>(version2 ? kProcessFormatVersion : 1));
  out.push_back(static_cast<char>(flags));
  put_varint(out, exits.size());
  std::uint64_t prev_exit = 0;
  for (std::uint64_t pid : exits) {
    put_varint(out, pid - prev_exit);
    prev_exit = pid;
  }
  put_varint(out, count);
  out += records;
  if (flags & kFlagUnreadable) put_varint(out, cur.fd_kinds_unreadable);
  if (flags & kFlagNotes) {
    put_varint(out, cur.notes.size());
    for (const auto& note : cur.notes) put_string(out, note);
  }
}

bool is_process_keyframe_blob(std::span<const unsigned char> blob) {
  return blob.size() >= 2 && (blob[1] & kFlagKeyframe);
}

bool is_process_after_gap_blob(std::span<const unsigned char> blob) {
  return blob.size() >= 2 && (blob[1] & kFlagAfterGap);
}

Result<void> ProcessDecoder::apply(std::span<const unsigned char> blob) {
  auto damaged = [](const char* what) {
    return make_error(ErrorCode::kInput, std::string("damaged process sample: ") + what);
  };
  if (blob.size() < 2) return damaged("shorter than its header");
  const std::uint8_t version = blob[0];
  if (version != 1 && version != kProcessFormatVersion) {
    return make_error(ErrorCode::kInput, "process sample written by a newer poolscope (format " +
                                             std::to_string(blob[0]) +
                                             "); upgrade poolscope to read it");
  }
  const std::uint8_t flags = blob[1];
  if (flags & ~kKnownFlags) return damaged("unknown flags");
  if (flags & kFlagKeyframe) state_ = ProcessState{};
  ByteReader in(blob.data() + 2, blob.size() - 2);

  const std::uint64_t exit_count = in.varint();
  if (!in.ok() || exit_count > in.remaining()) return damaged("bad exit list");
  std::vector<std::uint64_t> exits(static_cast<std::size_t>(exit_count));
  std::uint64_t pid = 0;
  for (std::size_t e = 0; e < exits.size(); ++e) {
    const std::uint64_t gap = in.varint();
    if (e > 0 && gap == 0) return damaged("exit list not ascending");
    pid += gap;
    exits[e] = pid;
  }
  const std::uint64_t record_count = in.varint();
  if (!in.ok() || record_count > in.remaining()) return damaged("bad record count");

  const auto& old = state_.processes;
  scratch_.clear();
  scratch_.reserve(old.size() + static_cast<std::size_t>(record_count));
  std::size_t i = 0, e = 0;
  // Copies unchanged processes below `limit`, dropping the ones that exited.
  auto copy_below = [&](std::uint64_t limit, bool all = false) -> bool {
    while (i < old.size() && (all || old[i].pid < limit)) {
      if (e < exits.size() && exits[e] < old[i].pid) return false;  // exit of an unknown pid
      if (e < exits.size() && exits[e] == old[i].pid) {
        ++e;
        ++i;
        continue;
      }
      scratch_.push_back(old[i++]);
    }
    return true;
  };
  std::uint64_t record_pid = 0;
  for (std::uint64_t r = 0; r < record_count; ++r) {
    const std::uint64_t gap = in.varint();
    if (!in.ok() || (r > 0 && gap == 0)) return damaged("records not ascending");
    record_pid += gap;
    if (!copy_below(record_pid)) return damaged("exit of a process that was not there");
    const std::uint8_t tag = in.byte();
    if (tag & ~kKnownTags) return damaged("bad record tag");
    ProcessFacts p;
    Numbers numbers;
    if (i < old.size() && old[i].pid == record_pid) {
      if (e < exits.size() && exits[e] == record_pid) return damaged("process exited and changed");
      if (!(tag & kTagNew)) {
        p = old[i];
        numbers = numbers_of(p);
      }
      ++i;
    } else if (!(tag & kTagNew)) {
      return damaged("change of a process that was not there");
    }
    p.pid = record_pid;
    if (tag & kTagIdentity) {
      p.start_time = in.varint();
      if (!in.string(p.name)) return damaged("bad process name");
    }
    if (tag & kTagPresence) {
      const std::uint64_t present = version == 1 ? in.byte() : in.varint();
      if (present & ~std::uint64_t{version == 1 ? kVersion1Presence : kAllPresence}) {
        return damaged("bad presence");
      }
      numbers.present = static_cast<std::uint32_t>(present);
    }
    if (tag & kTagValues) {
      const std::uint64_t changed = in.varint();
      if (!in.ok() || (changed >> (version == 1 ? kVersion1Slots : kSlots)) != 0) {
        return damaged("bad value mask");
      }
      for (std::size_t s = 0; s < kSlots; ++s) {
        if (changed & (std::uint64_t{1} << s)) {
          numbers.value[s] = apply_zigzag(numbers.value[s], in.varint());
        }
      }
    }
    if (!in.ok()) return damaged("truncated record");
    set_numbers(numbers, p);
    scratch_.push_back(std::move(p));
  }
  if (!copy_below(0, true)) return damaged("bad exit list");
  if (e != exits.size()) return damaged("exit of a process that was not there");
  state_.processes.swap(scratch_);

  if (flags & kFlagUnreadable) state_.fd_kinds_unreadable = in.varint();
  state_.notes.clear();
  if (flags & kFlagNotes) {
    const std::uint64_t n = in.varint();
    if (!in.ok() || n > in.remaining()) return damaged("bad notes");
    state_.notes.resize(static_cast<std::size_t>(n));
    for (auto& note : state_.notes) {
      if (!in.string(note)) return damaged("bad note");
    }
  }
  if (!in.ok()) return damaged("truncated");
  if (!in.at_end()) return damaged("trailing bytes");
  return {};
}

}  // namespace poolscope::store
