// The kernel pool API as seen from a driver's imports: which functions allocate or free pool, which
// argument carries the tag, and which allocate without one (counted under the tag 'None').
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "parse/pe.h"

namespace poolscope::attrib {

enum class PoolApiKind : std::uint8_t {
  kAllocate,
  kFree,
  kLookasideInit,  // the list allocates later with this tag; the call site is where the tag is
};

// Argument positions are 0-based (x64: 0 rcx, 1 rdx, 2 r8, 3 r9, then the stack); -1 = none.
struct PoolApi {
  std::string_view dll;   // the module exporting it, e.g. "ntoskrnl.exe"
  std::string_view name;  // e.g. "ExAllocatePoolWithTag"
  PoolApiKind kind = PoolApiKind::kAllocate;
  int tag_argument = -1;        // -1: no tag (an allocation's tag is then 'None')
  int pool_type_argument = -1;  // POOL_TYPE, or POOL_FLAGS for ExAllocatePool2/3
  int size_argument = -1;
  // >= 0: tag_argument points to a parameters structure and the tag is the ULONG at this offset
  // (NdisAllocateNetBufferListPool's NET_BUFFER_LIST_POOL_PARAMETERS.PoolTag).
  int tag_struct_offset = -1;
  // >= 0: not an import but a KMDF function, called through the driver's WdfFunctions table at
  // this index (wdffuncenum.h's WDFFUNCENUM); argument 0 is the driver globals.
  int wdf_table_index = -1;
};

// Every known pool API, allocation functions first.
std::span<const PoolApi> pool_apis();

// The entry for dll!name (dll compared ignoring ASCII case); nullptr when not a pool API.
const PoolApi* find_pool_api(std::string_view dll, std::string_view name);

// The KMDF functions that allocate with a tag the driver passes (WdfMemoryCreate,
// WdfLookasideListCreate), reached through the WdfFunctions table rather than imported.
std::span<const PoolApi> wdf_pool_apis();

// The entry at that WdfFunctions table index; nullptr when the function there is not one of them.
const PoolApi* find_wdf_pool_api(std::int64_t table_index);

struct PoolImport {
  const PoolApi* api = nullptr;
  const parse::PeImportModule* module = nullptr;  // points into the PeImage given
  const parse::PeImportedFunction* function = nullptr;
};

// The image's imports that are pool APIs, in import-table order.
std::vector<PoolImport> pool_imports(const parse::PeImage& image);

// Those that allocate without a tag (ExAllocatePool, ExAllocatePoolWithQuota): the culprits when
// the tag 'None' grows.
std::vector<PoolImport> untagged_pool_imports(const parse::PeImage& image);

}  // namespace poolscope::attrib
