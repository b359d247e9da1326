// Parser for /proc/allocinfo (kernel memory allocation profiling, CONFIG_MEM_ALLOC_PROFILING,
// Linux 6.10+): bytes and live allocation calls per allocation call site, kept by the kernel
// itself. Lines look like
//   "       12288        3 fs/eventfd.c:390 func:do_eventfd"
//   "        4096        1 drivers/foo/bar.c:12 [foo] func:foo_probe"
// after a "allocinfo - version: 1.0" header and a "#" column line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "parse/text.h"

namespace poolscope::trace {

struct AllocinfoSite {
  std::uint64_t bytes = 0;
  std::uint64_t calls = 0;  // allocations live now
  std::string_view file;    // "fs/eventfd.c"
  std::uint32_t line = 0;
  std::string_view module;    // "" for vmlinux
  std::string_view function;  // "do_eventfd"
  std::string_view extra;     // anything after the function ("accurate:no"), as printed
};

struct ParsedAllocinfo {
  std::string_view version;  // "1.0"; empty when the header was absent
  std::vector<AllocinfoSite> sites;
  std::vector<parse::Diagnostic> diagnostics;
};

// Never fails: malformed lines become diagnostics. Views point into `text`.
ParsedAllocinfo parse_allocinfo(std::string_view text);

// `trace --allocinfo`: the sites with live allocations, most bytes first, as a table or JSON
// (format "json"); `top` 0 shows every site; `source` names the file.
std::string render_allocinfo(const ParsedAllocinfo& parsed, const std::string& source,
                             const std::string& format, std::size_t top);

}  // namespace poolscope::trace
