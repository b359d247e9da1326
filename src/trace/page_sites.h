// The call site of a page allocation (`trace --pages`): the BPF program records the kernel stack
// of every sampled mm_page_alloc in a stack map and the stack's id in the record; the reader
// replaces the id with the stack's first frame outside the page allocator (alloc_pages and its
// wrappers, vmalloc, kvmalloc, large kmalloc, page fragments, and the tracing frames), so pages are
// grouped by the code that asked for them: pipe_write, __bpf_map_area_alloc, ... Portable: the
// stacks and the symbol names come from callbacks.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace poolscope::trace {

// True for the functions of the page allocator and the allocators built on it whose callers are
// what `trace --pages` names (exact names and prefixes; see page_sites.cpp).
bool is_page_allocator_function(std::string_view name);

// The first frame (innermost first) whose function is known and not is_page_allocator_function();
// the first frame when there is none; 0 for an empty stack. function_of returns "" for an address
// in no known function (the BPF program's JIT code is not in kallsyms).
std::uint64_t page_call_site(std::span<const std::uint64_t> frames,
                             const std::function<std::string_view(std::uint64_t)>& function_of);

class PageSiteResolver {
 public:
  using StackOf = std::function<std::vector<std::uint64_t>(std::int32_t id)>;
  using FunctionOf = std::function<std::string_view(std::uint64_t address)>;
  PageSiteResolver(StackOf stack_of, FunctionOf function_of, unsigned page_shift);

  // A copy of `records` (ring-walk format) in which every page allocation has its call site (from
  // its stack id, each stack resolved once) and its order in `extra`. Valid until the next call.
  std::span<const std::uint8_t> resolve(std::span<const std::uint8_t> records);

  std::uint64_t without_stack() const { return without_stack_; }  // allocations, no stack
  std::size_t stacks() const { return sites_.size(); }            // distinct stacks seen

 private:
  StackOf stack_of_;
  FunctionOf function_of_;
  unsigned page_shift_;
  std::unordered_map<std::int32_t, std::uint64_t> sites_;
  std::vector<std::uint8_t> copy_;
  std::uint64_t without_stack_ = 0;
};

}  // namespace poolscope::trace
