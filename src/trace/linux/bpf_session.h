// The BPF backend's session: loads poolscope's BPF programs (src/trace/linux/poolscope.bpf.c,
// built with clang and embedded as a libbpf skeleton; CO-RE relocates them to the running kernel)
// on the kmem tracepoints, or on the page allocator's (`trace --pages`), and hands the committed
// ring-buffer records to the caller. Nothing is left in the kernel: programs, links and maps are
// file descriptors, closed by the session on every exit path and by the kernel if the process is
// killed.
#pragma once

#include <time.h>

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

// CLOCK_MONOTONIC in nanoseconds: the clock of the BPF records (bpf_ktime_get_ns), so a run's
// start, flush and end times compare with theirs.
inline std::uint64_t bpf_clock_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

inline constexpr const char* kKernelBtfPath = "/sys/kernel/btf/vmlinux";
// 16 MiB: at 400k events/s of 48 bytes with every object traced, 0.8 s of events; the reader
// empties it every 100 ms.
inline constexpr std::size_t kDefaultBpfRingBytes = std::size_t{16} << 20;

// False when this poolscope was built without the BPF toolchain (POOLSCOPE_BPF off, or clang,
// bpftool or the static libbpf missing at build time): BpfSession::start then says so.
bool bpf_backend_built();

struct BpfSessionOptions {
  // Only these caches (`--cache`): kmalloc-N sizes are filtered in the kmalloc program, and a
  // program no cache asked for is not attached (kmalloc without kmalloc-N names, kmem_cache_*
  // without other names), as the tracefs backend's filters do; kfree is always traced. Named
  // caches are filtered by the processor (TraceProcessor::only_caches).
  std::vector<std::string> caches;
  // Trace the page allocator (mm_page_alloc / mm_page_free, with kernel stacks) instead of kmem.
  bool pages = false;
  unsigned sample_shift = 0;  // trace 1 object (or page) in 2^shift, by address hash (0: all)
  std::size_t ring_bytes = kDefaultBpfRingBytes;  // rounded up to a power of two, >= 1 page
  std::string btf_path = kKernelBtfPath;          // the running kernel's BTF (CO-RE relocations)
};

class BpfSession {
 public:
  // kEnvironment with the reason when BPF cannot be used here (built without it, no bpf(2), not
  // root, no BTF, a program the verifier rejects); `trace` then falls back to tracefs.
  static Result<std::unique_ptr<BpfSession>> start(const BpfSessionOptions& options);
  ~BpfSession();
  BpfSession(const BpfSession&) = delete;
  BpfSession& operator=(const BpfSession&) = delete;

  unsigned sample_shift() const { return sample_shift_; }
  std::size_t ring_bytes() const { return ring_bytes_; }

  // Hands the committed records after the consumer position to on_records (one contiguous run, in
  // the BpfRingWalk format) and moves the consumer position past the bytes it returns.
  using RecordsVisitor = std::function<std::size_t(std::span<const std::uint8_t>)>;
  void read(const RecordsVisitor& on_records);
  // The kernel stack of a page record (its `extra` field), innermost frame first; empty when the
  // id is unknown.
  std::vector<std::uint64_t> stack(std::int32_t id) const;
  // Detaches the programs (the ring keeps what is in it for a last read()).
  void detach();
  // `dropped`: records the ring had no room for; `nested`: program runs the kernel skipped (the
  // same program already running on that CPU, e.g. a kfree in an interrupt).
  LostEvents lost() const;
  // Detaches, unmaps and closes everything; also done by the destructor.
  void close();

 private:
  BpfSession() = default;
  struct Skeleton;
  unsigned sample_shift_ = 0;
  std::size_t ring_bytes_ = 0, page_bytes_ = 0;
  Skeleton* skeleton_ = nullptr;
  int ring_fd_ = -1, stacks_fd_ = -1;
  void* consumer_ = nullptr;  // the consumer page (read-write)
  void* producer_ = nullptr;  // the producer page and the data, mapped twice (read-only)
};

}  // namespace poolscope::trace
