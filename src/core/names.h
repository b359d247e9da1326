// The longest names the formats have, and cutting longer ones where they enter (issue 21 item 7:
// a 1 MB key name made `export` write 1.7 GB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/pool.h"

namespace poolscope {

inline constexpr std::size_t kMaxTagBytes = 4;
inline constexpr std::size_t kMaxSlabNameBytes = 63;  // Linux slab cache names are < 64 bytes
// "vmalloc:" + a kernel symbol (KSYM_NAME_LEN 512) + "+0x.../0x... [module]".
inline constexpr std::size_t kMaxKernelMemoryNameBytes = 640;
// Linux comm is 15 bytes; a Windows image name is at most MAX_PATH (260) UTF-16 units, 780 bytes
// in UTF-8.
inline constexpr std::size_t kMaxProcessNameBytes = 780;

std::size_t max_key_name_bytes(KeyKind kind);
// Cuts a name longer than max_bytes to its first bytes plus "~" and 8 hex digits of a hash of the
// whole name (two long names stay two names), max_bytes in all (a tag: its first 4 bytes). True if
// it was cut.
bool cap_name(std::string& name, std::size_t max_bytes);

// Names cut where they enter without a line of their own to blame (process names, kernel-memory
// names): cap_counted_name cuts like cap_name and counts the cut for the whole run (thread-safe),
// so the verb says once how many distinct names were cut (issue 21), not silently.
enum class CutName : std::uint8_t { kProcess, kKernelMemory };
bool cap_counted_name(std::string& name, CutName what);
std::uint64_t names_cut(CutName what);
// One note per kind with cuts, e.g. "3 process name(s) longer than 780 bytes were cut to 780 bytes
// (their start, '~' and a hash of the whole name)"; empty when nothing was cut.
std::vector<std::string> name_cut_notes();

}  // namespace poolscope
