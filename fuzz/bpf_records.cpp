// Fuzzer for the BPF backend's ring-buffer records (walk and decode), fed through the processor
// and the pairing engine as the live reader and `trace --load` feed them. The first byte picks a
// cache filter and where the input is cut into two reads; odd sizes go through the page call-site
// resolver first (stack ids of any value, stacks made up from them), as `trace --pages` does.
#include <cstdint>
#include <span>

#include "trace/page_sites.h"
#include "trace/processor.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace poolscope::trace;
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  std::span<const std::uint8_t> input(data + 1, size - 1);
  PageSiteResolver sites(
      [](std::int32_t id) {
        return std::vector<std::uint64_t>(static_cast<std::size_t>(id & 7),
                                          static_cast<std::uint64_t>(id));
      },
      [](std::uint64_t a) {
        return (a & 1) ? std::string_view("alloc_pages") : std::string_view{};
      },
      12);
  if (size & 1) input = sites.resolve(input);
  TraceProcessor processor(PageLayout{}, KmemDecoder{});
  if (control & 1) processor.only_caches({"kmalloc-64", "dentry"});
  const std::size_t cut = input.empty() ? 0 : (control >> 1) * input.size() / 127;
  std::size_t used = processor.add_bpf_records(input.first(cut));
  processor.flush((control & 0x80) ? 1000 : UINT64_MAX);
  // What the first read left (a busy or cut record) is read again with the rest.
  used += processor.add_bpf_records(input.subspan(used));
  if (used > input.size()) __builtin_trap();
  processor.flush();
  const auto report = processor.tracker().report(UINT64_MAX / 2, 0);
  if (report.totals.paired_frees > report.totals.allocations) __builtin_trap();
  return 0;
}
