// Fuzzer for the kernel-memory parsers: meminfo categories, vmallocinfo, sockstat and the socket
// limits, DMA-BUF bufinfo, fdinfo. Besides not crashing: every vmallocinfo line with a word is an
// area counted under its caller, an excluded area or a diagnostic.
#include "parse/kmem.h"

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "line_accounting.h"

namespace {

namespace fuzz = poolscope::fuzz;

void check_vmallocinfo_lines(std::string_view text, const poolscope::parse::ParsedVmallocinfo& v) {
  const std::size_t worded = fuzz::count_lines_if(text, [](std::string_view line) {
    bool any = false;
    fuzz::for_each_word(line, [&](std::string_view) { return !(any = true); });
    return any;
  });
  std::uint64_t accounted = v.excluded_areas + v.diagnostics.size();
  for (const auto& caller : v.callers) accounted += caller.areas;
  fuzz::require(accounted == worded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace parse = poolscope::parse;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  poolscope::Snapshot s;
  if (auto m = parse::parse_meminfo(text)) {
    (void)parse::unaccounted_kernel_bytes(*m, false);
    parse::apply_kernel_memory(*m, {}, s);
  }
  const auto vmalloc = parse::parse_vmallocinfo(text, 4096);
  check_vmallocinfo_lines(text, vmalloc);
  parse::apply_vmalloc_callers(vmalloc, s);
  check_vmallocinfo_lines(text, parse::parse_vmallocinfo(text, 0));
  parse::Sockstat sockstat;
  if (parse::parse_sockstat(text, sockstat)) {
    parse::apply_sockets(
        sockstat,
        parse::parse_socket_memory_limit(text).value_or(parse::SocketMemoryLimit{1, 2, 3}),
        std::nullopt, 65536, s);
  }
  parse::apply_dmabuf(parse::parse_dmabuf_bufinfo(text), s);
  (void)parse::parse_fdinfo(text);
  (void)parse::zoneinfo_pcp_pages(text);
  (void)parse::status_vm_pte(text);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> queues;
  parse::add_socket_queues(text, queues);
  return 0;
}
