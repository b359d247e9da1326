// Portable decoders for the system handle table (NtQuerySystemInformation
// SystemExtendedHandleInformation = 64) and the object type names (NtQueryObject
// ObjectTypesInformation = 3), for x86 and x64 layouts; and the per-process census built from
// them: handles by object type and references to exited processes and threads. No Windows
// headers: tested and fuzzed on any OS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/process.h"
#include "core/result.h"
#include "parse/pooltag_buffer.h"  // PointerWidth

namespace poolscope::parse {

// Layouts, as phnt declares them (ntexapi.h, ntobapi.h); byte offsets from the start of each
// structure. The Windows build holds its own compiler's layout to these with static_asserts
// (source/windows/process_facts_windows.cpp).
//   SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX { PVOID Object; ULONG_PTR UniqueProcessId;
//       ULONG_PTR HandleValue; ACCESS_MASK GrantedAccess; USHORT CreatorBackTraceIndex;
//       USHORT ObjectTypeIndex; ULONG HandleAttributes; ULONG Reserved; }
//     x64: 0, 8, 16, 24, 28, 30, 32, 36; 40 bytes.  x86: 0, 4, 8, 12, 16, 18, 20, 24; 28 bytes.
//   SYSTEM_HANDLE_INFORMATION_EX { ULONG_PTR NumberOfHandles; ULONG_PTR Reserved;
//       SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX Handles[]; }  Handles at 16 (x64) / 8 (x86).
//   OBJECT_TYPES_INFORMATION { ULONG NumberOfTypes; }  the first OBJECT_TYPE_INFORMATION at
//       ALIGN_UP(4, sizeof(ULONG_PTR)): 8 (x64) / 4 (x86).
//   OBJECT_TYPE_INFORMATION { UNICODE_STRING TypeName; ULONG TotalNumberOfObjects, ... 13 ULONGs;
//       GENERIC_MAPPING (4 ULONGs); ULONG ValidAccessMask; BOOLEAN SecurityRequired;
//       BOOLEAN MaintainHandleCount; UCHAR TypeIndex (Windows 8.1+); CHAR ReservedByte;
//       ULONG PoolType; ULONG DefaultPagedPoolCharge; ULONG DefaultNonPagedPoolCharge; }
//     TypeName.Length 0, TypeName.Buffer 8 / 4, TypeIndex 90 / 82; 104 / 96 bytes. The name
//     (TypeName.MaximumLength bytes) follows the structure; the next entry starts after it at
//     ALIGN_UP(MaximumLength, sizeof(ULONG_PTR)).
struct HandleTableLayout {
  std::size_t header_size;  // offset of Handles[0]
  std::size_t entry_size;   // sizeof(SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX)
  std::size_t object, unique_process_id, handle_value, granted_access, object_type_index,
      handle_attributes;
};
HandleTableLayout handle_table_layout(PointerWidth width);

struct ObjectTypeLayout {
  std::size_t first_entry;  // offset of the first OBJECT_TYPE_INFORMATION
  std::size_t name_length, name_maximum_length, name_buffer;
  std::size_t total_objects, total_handles;
  std::size_t type_index;
  std::size_t entry_size;  // sizeof(OBJECT_TYPE_INFORMATION); the name follows
};
ObjectTypeLayout object_type_layout(PointerWidth width);

// One handle of the table, decoded.
struct HandleEntry {
  std::uint64_t object = 0;  // kernel address of the object body
  std::uint64_t pid = 0;     // the process that holds the handle
  std::uint64_t handle = 0;  // the handle's value in that process
  std::uint32_t granted_access = 0;
  std::uint16_t type_index = 0;
  std::uint32_t attributes = 0;

  friend bool operator==(const HandleEntry&, const HandleEntry&) = default;
};

// The handle table's entries, all or nothing: a NumberOfHandles whose entries do not fit in the
// buffer is ErrorCode::kInput. Bytes after the entries are ignored. For tests and small tables;
// census_handles reads the buffer without materialising the entries.
Result<std::vector<HandleEntry>> decode_handle_table(std::span<const std::byte> buffer,
                                                     PointerWidth width);

// Type index -> name, from ObjectTypesInformation. Windows 8.1 and later give each type's index
// (TypeIndex); before, the types are listed in index order starting at 2 (as System Informer
// reads them): when every TypeIndex is 0, entry i has index i + 2.
struct ObjectType {
  std::uint16_t index = 0;
  std::string name;  // UTF-8
  std::uint32_t total_objects = 0, total_handles = 0;

  friend bool operator==(const ObjectType&, const ObjectType&) = default;
};
struct ObjectTypeTable {
  std::vector<ObjectType> types;  // in buffer order
  // kind_by_index[type index] (256 entries: the index is a byte in the kernel's object header).
  std::vector<HandleKind> kind_by_index;
  HandleKind kind_of(std::uint16_t index) const {
    return index < kind_by_index.size() ? kind_by_index[index] : HandleKind::kOther;
  }
  // The name of a type index; "" when the table does not list it.
  std::string_view name_of(std::uint16_t index) const;
};

// All or nothing: a NumberOfTypes whose entries do not fit, an odd or too long name, a name
// Length above its MaximumLength, or two types with one index are ErrorCode::kInput. The names are
// read from where the structure puts them (right after each entry), not through TypeName.Buffer,
// so no base address is needed.
Result<ObjectTypeTable> decode_object_types(std::span<const std::byte> buffer, PointerWidth width);

// What says which Process and Thread objects are alive. The table alone gives object addresses,
// not which process an object is; the collector opens every process of the process list itself
// (PROCESS_QUERY_LIMITED_INFORMATION) just before reading the table, so its own handles name the
// objects of the live processes. Any other Process handle whose object is not one of them refers
// to a process that has exited (or to one of the live processes the collector could not open:
// `processes_not_opened` says how many, and the census says how far that blurs the count).
struct LiveObjects {
  std::uint64_t own_pid = 0;  // the collector's process
  // The collector's own handle values to live processes / threads (the targets do not matter).
  std::vector<std::uint64_t> own_process_handles;
  std::vector<std::uint64_t> own_thread_handles;
  std::uint64_t processes_not_opened = 0;  // live processes the collector could not open
  bool threads_known = false;  // own_thread_handles covers every live thread but not_opened ones
  std::uint64_t threads_not_opened = 0;
};

struct ProcessHandleCensus {
  std::uint64_t pid = 0;
  HandleCounts kinds;
  std::uint64_t total = 0;
  std::uint64_t exited_process_handles = 0;  // handles to Process objects not live
  std::uint64_t exited_thread_handles = 0;   // only meaningful when threads_known

  friend bool operator==(const ProcessHandleCensus&, const ProcessHandleCensus&) = default;
};

struct HandleCensus {
  std::vector<ProcessHandleCensus> processes;  // sorted by pid; only pids that hold handles
  std::uint64_t handles = 0;                   // entries read (the collector's own excluded)
  std::uint64_t process_objects = 0;           // distinct Process objects referenced
  std::uint64_t live_process_objects = 0;      // ... of which the collector's handles name
  std::uint64_t exited_process_objects = 0;    // ... of which not: exited (or not opened)
  std::uint64_t thread_objects = 0, exited_thread_objects = 0;
  // Every Object was 0: the table hides kernel addresses (Wine always; Windows 11 24H2 and later
  // for a caller without SeDebugPrivilege). No exited-object rule is possible then.
  bool object_addresses_hidden = false;
  bool exited_processes_known = false;  // a LiveObjects was given and the addresses are shown
  bool exited_threads_known = false;    // ... and it knew the threads
  // Distinct unnamed Process objects beyond the live processes the collector could not open: at
  // least this many objects are exited processes, whatever the unopened ones are.
  std::uint64_t exited_process_objects_at_least = 0;
  std::uint64_t unknown_type_handles = 0;  // type index not in the type table
};

// Where the type list's indexes and the handle table's disagree, by how much: the table's
// ObjectTypeIndex minus the list's TypeIndex, read off handles whose type is known — the
// collector's own Process probes (live.own_process_handles, held by live.own_pid). 0 on Windows,
// where both are the kernel's index. Wine 8 numbers the list from 2 and the table from 0, so its
// Event handles carry the list's index of Thread: the shift is -2 there. nullopt when no probe is
// in the table, the list has no Process type, or the probes disagree among themselves.
std::optional<int> type_index_shift(std::span<const std::byte> buffer, PointerWidth width,
                                    const ObjectTypeTable& types, const LiveObjects& live);
// Moves every type's index by `shift` (index + shift), so the table reads the handle table's
// indexes. Types moved below 0 or above 255 are dropped.
void shift_type_indexes(ObjectTypeTable& types, int shift);

// Counts the table's handles per holding process and kind (one pass, memory bounded by the
// number of processes and of Process/Thread handles). With `live`, also the references to exited
// processes (and threads when live->threads_known), and the collector's own handles are left out
// of every count. Errors as decode_handle_table.
Result<HandleCensus> census_handles(std::span<const std::byte> buffer, PointerWidth width,
                                    const ObjectTypeTable& types, const LiveObjects* live);

// Copies a census into process facts (matched by pid; facts of pids the census does not list get
// zero counts: a process without handles). exited_*_handles are set only when known.
void apply_handle_census(const HandleCensus& census, std::vector<ProcessFacts>& processes);

}  // namespace poolscope::parse
