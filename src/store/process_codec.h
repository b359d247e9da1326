// The compact encoding of per-process facts in a recording: per sample only the processes that
// started, ended or whose facts changed (a keyframe lists all). See docs/store-format.md.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/process.h"
#include "core/result.h"

namespace poolscope::store {

// 4: each process's soft RLIMIT_NOFILE (fd_limit), and the system-wide counts of the sample
// (file-nr, fs.file-max, sockstat's TCP and UDP sockets in use); written when a sample has them
// (live Linux), so the census and the fd wall work on recordings as live.
// 3: Windows handle counts by object type and handles to exited processes / threads follow the
// kernel-memory facts; written only for samples that hold them (others stay format 2).
// 2: presence is a varint and the kernel-memory facts (threads, page tables, ...) follow the fd
// kinds. 1: a presence byte, no kernel-memory facts. All three are read (docs/store-format.md).
inline constexpr std::uint8_t kProcessFormatVersion = 4;

// The decoded processes after a sample, sorted by pid (as ProcessSample has them).
struct ProcessState {
  std::vector<ProcessFacts> processes;
  std::uint64_t fd_kinds_unreadable = 0;
  std::vector<std::string> notes;  // of this sample only: collectors do not repeat notes
  // System-wide, as ProcessSample has them (format 4).
  std::optional<std::uint64_t> open_files, open_files_max, tcp_sockets, udp_sockets;

  friend bool operator==(const ProcessState&, const ProcessState&) = default;
};

ProcessState process_state_of(const ProcessSample& sample);
// The system-wide counts of a state as a ProcessSample has them (no processes, no notes).
ProcessSample system_counts_of(const ProcessState& state);

// Encodes cur against prev; prev == nullptr writes a keyframe. after_gap: prev is not the
// sample right before this one but the last one with process facts (record --process-interval).
void encode_process_sample(const ProcessState* prev, const ProcessState& cur, std::string& out,
                           bool after_gap = false);

class ProcessDecoder {
 public:
  // On error the state is unspecified; resume at a keyframe.
  Result<void> apply(std::span<const unsigned char> blob);
  const ProcessState& state() const { return state_; }
  void reset() { state_ = ProcessState{}; }

 private:
  ProcessState state_;
  std::vector<ProcessFacts> scratch_;
};

bool is_process_keyframe_blob(std::span<const unsigned char> blob);
// A change set onto the previous process facts in the file, with samples without any between.
bool is_process_after_gap_blob(std::span<const unsigned char> blob);

}  // namespace poolscope::store
