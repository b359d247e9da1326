// Call sites of page allocations from their kernel stacks.
#include "trace/page_sites.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "trace/bpf_kmem.h"

namespace poolscope::trace {

namespace {

// Functions whose callers are the interesting call site. Prefixes (a name equal to one, or
// starting with it, matches: "__alloc_pages" covers __alloc_pages_noprof, __alloc_pages_bulk...).
constexpr std::string_view kAllocatorPrefixes[] = {
    // the page allocator and its wrappers
    "__alloc_pages", "alloc_pages", "__alloc_frozen_pages", "alloc_frozen_pages", "__folio_alloc",
    "folio_alloc", "__get_free_pages", "get_zeroed_page", "get_page_from_freelist",
    "vma_alloc_folio", "__page_frag_alloc", "page_frag_alloc", "__page_frag_cache_refill",
    "__page_frag_cache", "alloc_pages_exact", "__alloc_pages_bulk",
    // vmalloc and kvmalloc (their pages are the caller's: a BPF map, a module, ...)
    "vm_area_alloc_pages", "__vmalloc", "vmalloc", "vzalloc", "__vzalloc", "__kvmalloc", "kvmalloc",
    "kvzalloc", "kvcalloc", "kvrealloc", "__kvrealloc",
    // kmalloc above the biggest kmalloc cache goes to the page allocator
    "___kmalloc_large", "__kmalloc_large", "kmalloc_large", "__kmalloc_noprof",
    "__kmalloc_node_noprof", "__kmalloc_node_track_caller",
    // the tracing machinery between the allocator and the BPF program
    "bpf_trace_run", "__bpf_trace_", "bpf_prog_", "__traceiter_", "trace_mm_page", "perf_trace_",
    "trace_event_raw_event_"};

}  // namespace

bool is_page_allocator_function(std::string_view name) {
  for (std::string_view prefix : kAllocatorPrefixes) {
    if (name.starts_with(prefix)) return true;
  }
  return false;
}

std::uint64_t page_call_site(std::span<const std::uint64_t> frames,
                             const std::function<std::string_view(std::uint64_t)>& function_of) {
  if (frames.empty()) return 0;
  for (std::uint64_t frame : frames) {
    const std::string_view name = function_of(frame);
    // An unknown frame is the BPF program itself (JIT code, not in kallsyms) or the like.
    if (!name.empty() && !is_page_allocator_function(name)) return frame;
  }
  return frames.front();
}

PageSiteResolver::PageSiteResolver(StackOf stack_of, FunctionOf function_of, unsigned page_shift)
    : stack_of_(std::move(stack_of)),
      function_of_(std::move(function_of)),
      page_shift_(page_shift) {}

std::span<const std::uint8_t> PageSiteResolver::resolve(std::span<const std::uint8_t> records) {
  copy_.assign(records.begin(), records.end());
  walk_bpf_ring(copy_, [&](std::span<const std::uint8_t> record) {
    if (record.size() < kBpfRecordBytes) return;
    std::uint8_t* data = copy_.data() + (record.data() - copy_.data());
    std::uint32_t kind = 0;
    std::memcpy(&kind, data + kBpfRecordKindOffset, 4);
    if (kind != kBpfPageAllocKind) return;
    std::int32_t id = -1;
    std::memcpy(&id, data + kBpfRecordExtraOffset, 4);
    std::uint64_t site = 0;
    if (id < 0) {
      ++without_stack_;
    } else if (auto found = sites_.find(id); found != sites_.end()) {
      site = found->second;
    } else {
      const auto frames = stack_of_(id);
      site = page_call_site(frames, function_of_);
      if (frames.empty()) {
        ++without_stack_;
      } else if (sites_.size() < 65536) {
        sites_.emplace(id, site);
      }
    }
    std::memcpy(data + kBpfRecordCallSiteOffset, &site, 8);
    std::uint32_t bytes = 0;
    std::memcpy(&bytes, data + kBpfRecordBytesOffset, 4);
    const std::uint32_t order =
        bytes >> page_shift_ == 0
            ? 0
            : static_cast<std::uint32_t>(std::countr_zero(bytes)) - page_shift_;
    std::memcpy(data + kBpfRecordExtraOffset, &order, 4);
  });
  return copy_;
}

}  // namespace poolscope::trace
