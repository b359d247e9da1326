// Change-set encoding of per-process facts (layout in docs/store-format.md,
// "process_samples.data").
#include "store/process_codec.h"

#include <algorithm>

#include "core/names.h"
#include "store/varint.h"

namespace poolscope::store {

namespace {

constexpr std::uint8_t kFlagKeyframe = 1 << 0;
constexpr std::uint8_t kFlagNotes = 1 << 1;
constexpr std::uint8_t kFlagUnreadable = 1 << 2;
// Readers of the first version refuse the unknown flag and so skip to the next keyframe instead
// of applying the change set onto the wrong sample.
constexpr std::uint8_t kFlagAfterGap = 1 << 3;
constexpr std::uint8_t kFlagSystem = 1 << 4;  // format 4: the system-wide counts changed
constexpr std::uint8_t kKnownFlags = 0x1F;

// Record tag bits.
constexpr std::uint8_t kTagIdentity = 1 << 0;  // start time and name follow
constexpr std::uint8_t kTagPresence = 1 << 1;  // presence byte follows
constexpr std::uint8_t kTagValues = 1 << 2;    // changed-values mask and deltas follow
constexpr std::uint8_t kTagNew = 1 << 3;       // a process not in the previous sample
constexpr std::uint8_t kKnownTags = 0x0F;

// Numeric slots: 0 parent pid, 1 handle count, 2 paged quota, 3 nonpaged quota, 4 fd total,
// 5.. fd counts by FdKind, then (format 2) threads, page-table bytes, socket queue bytes, BPF
// memlock bytes, DMA-BUF bytes, then (format 3) Windows handle counts by HandleKind, handles to
// exited processes, handles to exited threads, then (format 4) the soft RLIMIT_NOFILE, the pipes
// (unique pipe inodes) and their unread bytes. Presence bits 0-4 are per slot, bit 5 covers all
// fd kinds (fds is one optional), bits 6-10 the format-2 slots, bit 11 all handle kinds, bits 12
// and 13 the two exited counts, bits 14-16 the format-4 slots. Each format's slots and bits extend
// the one before, so the decoder's state carries across blobs of different formats.
constexpr std::size_t kFirstKernelSlot = 5 + kFdKindCount;
constexpr std::size_t kKernelSlots = 5;
constexpr std::size_t kFirstHandleSlot = kFirstKernelSlot + kKernelSlots;
constexpr std::size_t kExitedProcessSlot = kFirstHandleSlot + kHandleKindCount;
constexpr std::size_t kExitedThreadSlot = kExitedProcessSlot + 1;
constexpr std::size_t kFdLimitSlot = kExitedThreadSlot + 1;
constexpr std::size_t kPipesSlot = kFdLimitSlot + 1;
constexpr std::size_t kPipeUnreadSlot = kPipesSlot + 1;
constexpr std::size_t kSlots = kPipeUnreadSlot + 1;
static_assert(kSlots <= 64);
constexpr std::uint32_t kFdsPresent = 1 << 5;
constexpr std::uint32_t kHandleKindsPresent = 1 << 11;

// What each format can hold: its slot count and presence bits.
struct FormatLimits {
  std::size_t slots;
  std::uint32_t presence;
};
constexpr FormatLimits limits_of(std::uint8_t version) {
  if (version == 1) return {kFirstKernelSlot, 0x3F};
  if (version == 2) return {kFirstHandleSlot, 0x7FF};
  if (version == 3) return {kFdLimitSlot, 0x3FFF};
  return {kSlots, 0x1FFFF};
}

struct Numbers {
  std::uint32_t present = 0;
  std::array<std::uint64_t, kSlots> value{};
};

// The scalar optionals of a process with their slot and presence bit.
template <class Facts>
auto scalars_of(Facts& p) {
  using Ptr = decltype(&p.parent_pid);
  struct Scalar {
    Ptr field;
    std::size_t slot;
    std::uint32_t bit;
  };
  return std::array<Scalar, 15>{{{&p.parent_pid, 0, 1u << 0},
                                 {&p.handle_count, 1, 1u << 1},
                                 {&p.paged_pool_quota_bytes, 2, 1u << 2},
                                 {&p.nonpaged_pool_quota_bytes, 3, 1u << 3},
                                 {&p.fd_total, 4, 1u << 4},
                                 {&p.threads, kFirstKernelSlot + 0, 1u << 6},
                                 {&p.page_table_bytes, kFirstKernelSlot + 1, 1u << 7},
                                 {&p.socket_queue_bytes, kFirstKernelSlot + 2, 1u << 8},
                                 {&p.bpf_memlock_bytes, kFirstKernelSlot + 3, 1u << 9},
                                 {&p.dmabuf_bytes, kFirstKernelSlot + 4, 1u << 10},
                                 {&p.exited_process_handles, kExitedProcessSlot, 1u << 12},
                                 {&p.exited_thread_handles, kExitedThreadSlot, 1u << 13},
                                 {&p.fd_limit, kFdLimitSlot, 1u << 14},
                                 {&p.pipes, kPipesSlot, 1u << 15},
                                 {&p.pipe_unread_bytes, kPipeUnreadSlot, 1u << 16}}};
}

Numbers numbers_of(const ProcessFacts& p) {
  Numbers n;
  for (const auto& s : scalars_of(p)) {
    if (*s.field) {
      n.present |= s.bit;
      n.value[s.slot] = **s.field;
    }
  }
  if (p.fds) {
    n.present |= kFdsPresent;
    for (std::size_t k = 0; k < kFdKindCount; ++k) {
      n.value[5 + k] = fd_count(*p.fds, kAllFdKinds[k]);
    }
  }
  if (p.handle_kinds) {
    n.present |= kHandleKindsPresent;
    for (std::size_t k = 0; k < kHandleKindCount; ++k) {
      n.value[kFirstHandleSlot + k] = p.handle_kinds->count[k];
    }
  }
  return n;
}

void set_numbers(const Numbers& n, ProcessFacts& p) {
  for (const auto& s : scalars_of(p)) {
    if (n.present & s.bit) {
      *s.field = n.value[s.slot];
    } else {
      s.field->reset();
    }
  }
  if (n.present & kFdsPresent) {
    FdCounts counts;
    for (std::size_t k = 0; k < kFdKindCount; ++k) {
      fd_count(counts, kAllFdKinds[k]) = n.value[5 + k];
    }
    p.fds = counts;
  } else {
    p.fds.reset();
  }
  if (n.present & kHandleKindsPresent) {
    HandleCounts counts;
    for (std::size_t k = 0; k < kHandleKindCount; ++k) {
      counts.count[k] = n.value[kFirstHandleSlot + k];
    }
    p.handle_kinds = counts;
  } else {
    p.handle_kinds.reset();
  }
}

// True when the facts need format 3 (Windows handle kinds or exited references).
bool needs_format3(const ProcessFacts& p) {
  return p.handle_kinds || p.exited_process_handles || p.exited_thread_handles;
}

// True when the facts need format 4 (the fd limit, pipes, their unread bytes).
bool needs_format4(const ProcessFacts& p) {
  return p.fd_limit || p.pipes || p.pipe_unread_bytes;
}

// The system-wide counts in slot order: open files, fs.file-max, TCP sockets, UDP sockets.
template <class State>
auto system_slots(State& s) {
  return std::array{&s.open_files, &s.open_files_max, &s.tcp_sockets, &s.udp_sockets};
}

bool has_system_counts(const ProcessState& s) {
  const auto slots = system_slots(s);
  return std::any_of(slots.begin(), slots.end(), [](const auto* v) { return v->has_value(); });
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
  return ProcessState{sample.processes,  sample.fd_kinds_unreadable, sample.notes,
                      sample.open_files, sample.open_files_max,      sample.tcp_sockets,
                      sample.udp_sockets};
}

ProcessSample system_counts_of(const ProcessState& state) {
  ProcessSample sample;
  sample.open_files = state.open_files;
  sample.open_files_max = state.open_files_max;
  sample.tcp_sockets = state.tcp_sockets;
  sample.udp_sockets = state.udp_sockets;
  return sample;
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

  // The lowest format that holds the facts of this sample and of the one before (whose presence
  // bits the change set may clear): format 2 without Windows handle facts, fd limits or system
  // counts, so such recordings stay byte for byte what poolscope before format 3 wrote.
  auto any = [&](auto needs) {
    return std::any_of(cur.processes.begin(), cur.processes.end(), needs) ||
           std::any_of(pp.begin(), pp.end(), needs);
  };
  const bool format4 = any(needs_format4) || has_system_counts(cur) || has_system_counts(prev);
  const bool format3 = any(needs_format3);
  if (format4 && (cur.open_files != prev.open_files || cur.open_files_max != prev.open_files_max ||
                  cur.tcp_sockets != prev.tcp_sockets || cur.udp_sockets != prev.udp_sockets)) {
    flags |= kFlagSystem;
  }
  out.clear();
  out.push_back(static_cast<char>(format4 ? 4 : format3 ? 3 : 2));
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
  if (flags & kFlagSystem) {
    // Presence bits, the mask of changed values, zz(difference) each.
    const auto before = system_slots(prev);
    const auto after = system_slots(cur);
    std::uint64_t present = 0, changed = 0;
    for (std::size_t s = 0; s < after.size(); ++s) {
      if (after[s]->has_value()) present |= 1u << s;
      if (after[s]->value_or(0) != before[s]->value_or(0)) changed |= 1u << s;
    }
    put_varint(out, present);
    put_varint(out, changed);
    for (std::size_t s = 0; s < after.size(); ++s) {
      if (changed & (1u << s)) {
        put_varint(out, zigzag_delta(before[s]->value_or(0), after[s]->value_or(0)));
      }
    }
  }
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
  if (version == 0 || version > kProcessFormatVersion) {
    // The file header's format was checked when the recording was opened: a sample in another
    // format inside it is damage, not a newer poolscope (issue 21).
    return damaged(("unknown format byte " + std::to_string(version) + " (expected 1 to " +
                    std::to_string(kProcessFormatVersion) + ")")
                       .c_str());
  }
  const FormatLimits limits = limits_of(version);
  const std::uint8_t flags = blob[1];
  if (flags & ~kKnownFlags) return damaged("unknown flags");
  if ((flags & kFlagSystem) && version < 4) return damaged("system counts before format 4");
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
      cap_counted_name(p.name, CutName::kProcess);  // a hostile recording's (issue 21)
    }
    if (tag & kTagPresence) {
      // Format 1: one byte, bits 0-5; formats 2 and 3: a varint.
      const std::uint64_t present = version == 1 ? in.byte() : in.varint();
      if (present & ~std::uint64_t{limits.presence}) return damaged("bad presence");
      numbers.present = static_cast<std::uint32_t>(present);
    }
    if (tag & kTagValues) {
      const std::uint64_t changed = in.varint();
      if (!in.ok() || (changed >> limits.slots) != 0) return damaged("bad value mask");
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
  if (flags & kFlagSystem) {
    const std::uint64_t present = in.varint();
    const std::uint64_t changed = in.varint();
    const auto slots = system_slots(state_);
    if (!in.ok() || (present >> slots.size()) != 0 || (changed >> slots.size()) != 0) {
      return damaged("bad system counts");
    }
    for (std::size_t s = 0; s < slots.size(); ++s) {
      std::uint64_t v = slots[s]->value_or(0);
      if (changed & (1u << s)) v = apply_zigzag(v, in.varint());
      if (present & (1u << s)) {
        *slots[s] = v;
      } else {
        slots[s]->reset();
      }
    }
  }
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
