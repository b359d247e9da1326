// Parsers for Linux kernel symbol text: /proc/kallsyms, "%pS" locations (`init_once+0x0/0x80
// [ext4]`) and SLUB's per-cache allocation traces (alloc_traces / alloc_calls).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "parse/text.h"

namespace poolscope::parse {

// One line of /proc/kallsyms: "ffffffffc0a01230 t ext4_inode_cachep\t[ext4]". Views point into
// the text given to the parser, which must outlive them.
struct KernelSymbol {
  std::uint64_t address = 0;  // 0 for every symbol when kptr_restrict hides addresses
  char type = '?';            // nm's letter: T/t text, D/d data, B/b bss, R/r read-only, ...
  std::string_view name;
  std::string_view module;  // "ext4"; empty for the kernel image itself (vmlinux)
};

struct ParsedKallsyms {
  std::vector<KernelSymbol> symbols;  // in file order
  std::vector<Diagnostic> diagnostics;
  // Every address read was 0: the reader may not see addresses (kptr_restrict, not root). Names,
  // types and modules are still right; only address lookups are impossible.
  bool addresses_hidden = false;
};

// Fails only when no line at all is a symbol (empty text, or not kallsyms); malformed lines become
// diagnostics.
Result<ParsedKallsyms> parse_kallsyms(std::string_view text);

// Code (T/t, W/w) or data (D/d, B/b, R/r, G/g, S/s, V/v) by nm's type letter.
bool is_text_symbol(char type);
bool is_data_symbol(char type);

// A code location as the kernel prints it with %pS: "func+0x1d/0x80 [module]", or a bare address
// when the kernel could not name it ("0xffffffffc0123456"), or "<not-available>".
struct KernelLocation {
  std::string_view function;  // "func"; the whole text when it is not symbol+offset/size
  std::optional<std::uint64_t> offset;
  std::optional<std::uint64_t> function_size;
  std::string_view module;  // empty: vmlinux (or unknown for a bare address)
};
// Parses one location (surrounding blanks and a final newline ignored); nullopt when the text is
// empty or a
// "[module]" part is not closed.
std::optional<KernelLocation> parse_kernel_location(std::string_view text);

// One caller of a slab cache in SLUB's alloc_traces (debugfs, Linux 5.14+) or alloc_calls
// (sysfs, older kernels): "    17 ext4_alloc_inode+0x1a/0x80 [ext4] age=12/80/144 pid=1-88
// cpus=0-1", optionally followed by indented stack frames (CONFIG_STACKDEPOT).
struct SlabCaller {
  std::uint64_t count = 0;  // objects allocated from here and still allocated
  KernelLocation location;
  std::string_view details;           // "age=... pid=... cpus=..." as printed
  std::vector<KernelLocation> stack;  // innermost first, when the kernel printed it
};

struct ParsedSlabCallers {
  std::vector<SlabCaller> callers;  // in file order (the kernel sorts by count)
  std::vector<Diagnostic> diagnostics;
  bool no_data = false;  // the kernel printed "No data": tracking is on, nothing allocated
};

// Never fails: empty text is no callers; lines that are neither a caller, a stack frame nor "No
// data" become diagnostics.
ParsedSlabCallers parse_slab_callers(std::string_view text);

}  // namespace poolscope::parse
