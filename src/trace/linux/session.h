// The Linux tracefs session of `trace` (system calls only): a tracefs instance of its own
// (instances/poolscope-<pid>, never the global buffer) with the four kmem events enabled, one
// non-blocking reader per CPU on per_cpu/cpuN/trace_pipe_raw, the lost-event counters, and the
// instance's removal. Instances left by a run that was killed are removed at start.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "trace/kmem_events.h"
#include "trace/tracefs_format.h"
#include "trace/tracker.h"  // LostEvents

namespace poolscope::trace {

// Kernel memory the per-CPU buffers are sized for: 400k events/s of up to 64 bytes each, all on
// one CPU, read at least every 0.5 s.
inline constexpr std::uint64_t kDesignEventsPerSecond = 400'000;
std::size_t default_buffer_kb_per_cpu();

struct SessionOptions {
  std::vector<std::string> caches;    // only these caches (kmalloc-N: kmalloc of that size)
  unsigned sample_shift = 0;          // trace the objects of 1 in 2^shift pages (0: all)
  std::size_t buffer_kb_per_cpu = 0;  // 0: default_buffer_kb_per_cpu()
  std::string instance_prefix = "poolscope-";
};

// Where tracefs is mounted (/sys/kernel/tracing, or the debugfs copy); mounts it at
// /sys/kernel/tracing when it is nowhere (`mounted_here` says so, to unmount at the end).
Result<std::filesystem::path> find_or_mount_tracefs(bool& mounted_here);
// The tracefs mount points listed in /proc/self/mounts text (readable by every user, unlike
// tracefs itself, which most systems mount root-only).
std::vector<std::string> tracefs_mount_points(std::string_view mounts);

// Removes instances/<prefix><pid> whose process is gone; returns the names removed.
std::vector<std::string> remove_stale_instances(const std::filesystem::path& tracefs,
                                                const std::string& prefix = "poolscope-");

// The kmem event filters for the caches asked for: kmem_cache_alloc/free by name, kmalloc by
// bytes_alloc for "kmalloc-<N>" names. With a sample mask (address sampling: `(N - 1) << page
// shift`) every event, kfree included, also needs `!(ptr & mask)`: an object is traced at its
// allocation and at its free or at neither. Empty strings: no filter for that event.
struct KmemFilters {
  std::string kmalloc, kfree, kmem_cache_alloc, kmem_cache_free;
  bool kmalloc_off = false;     // only named caches were asked for: kmalloc is not traced
  bool kmem_cache_off = false;  // only kmalloc-N caches were asked for
};
KmemFilters kmem_filters(const std::vector<std::string>& caches, std::uint64_t sample_mask = 0);

class TraceSession {
 public:
  static Result<std::unique_ptr<TraceSession>> start(const SessionOptions& options);
  ~TraceSession();
  TraceSession(const TraceSession&) = delete;
  TraceSession& operator=(const TraceSession&) = delete;

  const PageLayout& layout() const { return layout_; }
  const KmemFormats& formats() const { return formats_; }
  // The layout files as the kernel wrote them (for `trace --save`): header_page, header_event
  // and the kmalloc, kfree, kmem_cache_alloc, kmem_cache_free formats.
  const std::vector<std::string>& layout_texts() const { return layout_texts_; }
  const std::filesystem::path& instance() const { return instance_; }
  const std::filesystem::path& tracefs() const { return tracefs_; }
  std::size_t cpus() const { return readers_.size(); }
  std::size_t buffer_kb_per_cpu() const { return buffer_kb_; }
  const std::vector<std::string>& notes() const { return notes_; }
  // Address sampling: objects in 1 of 2^sample_shift pages of 2^page_shift bytes are traced.
  unsigned sample_shift() const { return sample_shift_; }
  unsigned page_shift() const { return page_shift_; }

  // Waits up to timeout_ms for data (or until a buffer is buffer_percent full), then hands the
  // pages available on every CPU to on_page(cpu index, page): the full ones only, unless `drain`
  // (the end of the trace) asks for the page the writer is on too.
  using PageVisitor = std::function<void(std::size_t, std::span<const std::uint8_t>)>;
  Result<void> read(int timeout_ms, const PageVisitor& on_page, bool drain = false);
  // Stops the events (the buffers keep what is in them for a last read()).
  void stop_events();
  LostEvents lost_events() const;
  // Closes the readers, removes the instance, and unmounts tracefs if this session mounted it.
  // Also done by the destructor; safe to call twice.
  Result<void> close();

 private:
  TraceSession() = default;
  std::filesystem::path tracefs_, instance_;
  bool mounted_here_ = false;
  bool removed_ = false;
  std::size_t buffer_kb_ = 0;
  unsigned sample_shift_ = 0, page_shift_ = 12;
  std::vector<int> readers_;
  std::vector<std::uint8_t> page_;
  PageLayout layout_;
  KmemFormats formats_;
  std::vector<std::string> layout_texts_;
  std::vector<std::string> notes_;
};

}  // namespace poolscope::trace
