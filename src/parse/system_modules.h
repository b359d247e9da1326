// Portable decoder for the buffer NtQuerySystemInformation(SystemModuleInformation = 11) returns:
// the kernel modules loaded now (ntoskrnl, hal, every driver), for x86 and x64 layouts, plus the
// rules that flag a module worth a second look (a GUID-like name, a temporary folder). No Windows
// headers: tested and fuzzed on any OS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "parse/pooltag_buffer.h"  // PointerWidth

namespace poolscope::parse {

// RTL_PROCESS_MODULES { ULONG NumberOfModules; RTL_PROCESS_MODULE_INFORMATION Modules[]; } as
// phnt (ntldr.h) declares it; the array starts at the pointer alignment (8 on x64, 4 on x86).
// RTL_PROCESS_MODULE_INFORMATION, byte offsets:
//                      x64   x86
//   Section              0     0   HANDLE
//   MappedBase           8     4   PVOID
//   ImageBase           16     8   PVOID
//   ImageSize           24    12   ULONG
//   Flags               28    16   ULONG
//   LoadOrderIndex      32    20   USHORT
//   InitOrderIndex      34    22   USHORT
//   LoadCount           36    24   USHORT
//   OffsetToFileName    38    26   USHORT, into FullPathName
//   FullPathName        40    28   UCHAR[256], NUL-terminated, ANSI
//   sizeof             296   284
struct SystemModule {
  std::uint64_t image_base = 0;
  std::uint32_t image_size = 0;
  std::uint32_t flags = 0;
  std::uint16_t load_order = 0;
  std::string full_path;  // as the kernel gives it: "\SystemRoot\system32\drivers\x.sys"
  std::string file_name;  // the part from OffsetToFileName: "x.sys"
};

struct SystemModules {
  std::vector<SystemModule> modules;
  // The buffer says more modules than it holds (a buffer cut short): how many were not read.
  std::size_t missing = 0;
};

// All or nothing for the header (ErrorCode::kInput when the buffer is shorter than the count);
// records past the end are counted in `missing`. A name without NUL stops at 256 bytes; an
// OffsetToFileName past the name gives the whole name as file_name. Bytes >= 0x80 (an ANSI code
// page) are kept as \xNN escapes so the result is plain ASCII.
Result<SystemModules> decode_system_modules(std::span<const std::byte> buffer, PointerWidth width);

// The file a kernel path names, for a Windows system root ("C:\Windows"): "\SystemRoot\..." and
// "\Windows\..." map under the root, "\??\C:\..." drops its prefix, "System32\..." (relative) is
// under the root; anything else is returned as is.
std::string module_disk_path(std::string_view full_path, std::string_view system_root);

// Why a loaded module deserves a look before its tags are trusted; empty when nothing is unusual.
// "GUID-like name" (a random name a program gave a driver it dropped: incident 2 of the shared
// context) and "in a temporary folder" (\Temp\, \Tmp\, \AppData\Local\Temp\).
std::vector<std::string> module_suspicions(std::string_view full_path);

}  // namespace poolscope::parse
