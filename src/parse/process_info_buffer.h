// Portable decoder for the buffer NtQuerySystemInformation(SystemProcessInformation = 5) returns,
// for x86 and x64 layouts. No Windows headers: tested and fuzzed on any OS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/process.h"
#include "core/result.h"
#include "parse/pooltag_buffer.h"  // PointerWidth

namespace poolscope::parse {

// SYSTEM_PROCESS_INFORMATION as phnt (ntexapi.h) declares it; byte offsets from the start of a
// record. LARGE_INTEGER is 8-aligned on both widths; UNICODE_STRING is { USHORT Length; USHORT
// MaximumLength; PWSTR Buffer; } (8 bytes on x86, 16 on x64 with Buffer at +8).
//                      x64   x86
//   NextEntryOffset      0     0   ULONG, from this record to the next; 0 on the last
//   CreateTime          32    32   LARGE_INTEGER, 100 ns since 1601-01-01 UTC
//   ImageName           56    56   Length at +0, Buffer at +8 (x64) / +4 (x86)
//   UniqueProcessId     80    68   HANDLE
//   InheritedFrom...Id  88    72   HANDLE
//   HandleCount         96    76   ULONG
//   QuotaPagedPoolUsage 160  112   SIZE_T
//   QuotaNonPagedPool.. 176  120   SIZE_T
//   sizeof (no threads) 256  184   SYSTEM_THREAD_INFORMATION[NumberOfThreads] follow
struct ProcessInfoLayout {
  std::size_t create_time;
  std::size_t image_name_length;
  std::size_t image_name_buffer;
  std::size_t unique_process_id;
  std::size_t inherited_from_process_id;
  std::size_t handle_count;
  std::size_t quota_paged_pool_usage;
  std::size_t quota_nonpaged_pool_usage;
  std::size_t record_size;  // sizeof(SYSTEM_PROCESS_INFORMATION) without the thread array
};
ProcessInfoLayout process_info_layout(PointerWidth width);

// Walks the records by NextEntryOffset and returns one ProcessFacts per record, in buffer order:
// pid, parent_pid, start_time = CreateTime, name = ImageName (UTF-16LE -> UTF-8; unpaired
// surrogates become U+FFFD), handle_count and both pool quotas.
//
// ImageName.Buffer is a pointer into the same buffer as the process that called saw it:
// base_address is the address the buffer had in that process, so Buffer - base_address is the
// name's offset. An empty name with a null Buffer (the idle process) is "".
//
// All or nothing (ErrorCode::kInput, nothing returned) when: the buffer is shorter than one
// record; a NextEntryOffset is smaller than a record or leaves the buffer (so a crafted chain
// cannot loop or overlap); a name points outside the buffer or has an odd length. An empty buffer
// is no processes.
Result<std::vector<ProcessFacts>> decode_process_info_buffer(std::span<const std::byte> buffer,
                                                             PointerWidth width,
                                                             std::uint64_t base_address);

// SYSTEM_THREAD_INFORMATION (phnt ntexapi.h), NumberOfThreads of them right after each
// SYSTEM_PROCESS_INFORMATION record:
//                      x64   x86
//   CreateTime          16    16   LARGE_INTEGER
//   ClientId.UniqueProcess  40  32 HANDLE
//   ClientId.UniqueThread   48  36 HANDLE
//   sizeof              80    64
struct ThreadIdentity {
  std::uint64_t pid = 0;
  std::uint64_t tid = 0;
  std::uint64_t create_time = 0;  // with the tid, names one thread across samples

  friend bool operator==(const ThreadIdentity&, const ThreadIdentity&) = default;
};

// Every thread of every record, in buffer order. The same record checks as
// decode_process_info_buffer, and: a thread array that does not fit between its record and the
// next one (or the buffer's end) is ErrorCode::kInput, nothing returned.
Result<std::vector<ThreadIdentity>> decode_process_threads(std::span<const std::byte> buffer,
                                                           PointerWidth width);

}  // namespace poolscope::parse
