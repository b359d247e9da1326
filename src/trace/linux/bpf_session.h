// The BPF backend's session (system calls only): reads the kernel's BTF, creates a BPF ring
// buffer and a lost-record counter, loads the four kmem programs (trace/bpf_kmem.h) and attaches
// them as raw tracepoints, and hands the committed records to the caller. Nothing is left in the
// kernel: the programs are attached through file descriptors, so they are detached when the session
// closes them and, if the process is killed, when the kernel closes them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "trace/bpf_kmem.h"
#include "trace/linux/session.h"

namespace poolscope::trace {

inline constexpr const char* kKernelBtfPath = "/sys/kernel/btf/vmlinux";
// 16 MiB: at 400k events/s of 48 bytes with every object traced, 0.8 s of events; the reader
// empties it every 100 ms.
inline constexpr std::size_t kDefaultBpfRingBytes = std::size_t{16} << 20;

struct BpfSessionOptions {
  // Only these caches (`--cache`): kmalloc-N sizes are filtered in the kmalloc program, and a
  // program no cache asked for is not attached (kmalloc without kmalloc-N names, kmem_cache_*
  // without other names), as the tracefs backend's filters do; kfree is always traced. Named
  // caches are filtered by the processor (TraceProcessor::only_caches).
  std::vector<std::string> caches;
  unsigned sample_shift = 0;  // trace the objects of 1 in 2^shift pages (0: all)
  std::size_t ring_bytes = kDefaultBpfRingBytes;  // rounded up to a power of two, >= 1 page
  std::string btf_path = kKernelBtfPath;
};

class BpfSession {
 public:
  // kEnvironment with the reason when BPF cannot be used here (no bpf(2), not root, no BTF, a
  // program the verifier rejects); `trace` then falls back to tracefs.
  static Result<std::unique_ptr<BpfSession>> start(const BpfSessionOptions& options);
  ~BpfSession();
  BpfSession(const BpfSession&) = delete;
  BpfSession& operator=(const BpfSession&) = delete;

  unsigned sample_shift() const { return sample_shift_; }
  unsigned page_shift() const { return page_shift_; }
  std::size_t ring_bytes() const { return ring_bytes_; }

  // Hands the committed records after the consumer position to on_records (one contiguous run, in
  // the BpfRingWalk format) and moves the consumer position past the bytes it returns.
  using RecordsVisitor = std::function<std::size_t(std::span<const std::uint8_t>)>;
  void read(const RecordsVisitor& on_records);
  // Detaches the programs (the ring keeps what is in it for a last read()).
  void detach();
  // `dropped`: records the ring had no room for; `nested`: program runs the kernel skipped (the
  // same program already running on that CPU, e.g. a kfree in an interrupt).
  LostEvents lost() const;
  // Detaches, unmaps and closes everything; also done by the destructor.
  void close();

 private:
  BpfSession() = default;
  unsigned sample_shift_ = 0, page_shift_ = 12;
  std::size_t ring_bytes_ = 0, page_bytes_ = 0;
  int ring_fd_ = -1, lost_fd_ = -1;
  std::vector<int> programs_, links_;
  std::vector<const char*> events_;  // the tracepoint of each program
  void* consumer_ = nullptr;         // the consumer page (read-write)
  void* producer_ = nullptr;         // the producer page and the data, mapped twice (read-only)
};

}  // namespace poolscope::trace
