// The pool API table (argument positions from the WDK headers wdm.h, ndis.h, fltKernel.h).
#include "attrib/pool_apis.h"

#include <array>

#include "parse/text.h"

namespace poolscope::attrib {

namespace {

constexpr std::string_view kNt = "ntoskrnl.exe";

// The table with its sources is docs/pool_apis.md; keep both in step.
constexpr std::array<PoolApi, 24> kApis = {{
    // ExAllocatePool(PoolType, NumberOfBytes) and ...WithQuota: the kernel tags these 'None'.
    {kNt, "ExAllocatePool", PoolApiKind::kAllocate, -1, 0, 1},
    {kNt, "ExAllocatePoolWithQuota", PoolApiKind::kAllocate, -1, 0, 1},
    {kNt, "ExAllocatePoolWithTag", PoolApiKind::kAllocate, 2, 0, 1},
    {kNt, "ExAllocatePoolWithQuotaTag", PoolApiKind::kAllocate, 2, 0, 1},
    {kNt, "ExAllocatePoolWithTagPriority", PoolApiKind::kAllocate, 2, 0, 1},
    // ExAllocatePool2(POOL_FLAGS Flags, NumberOfBytes, Tag); Pool3 adds extended parameters.
    {kNt, "ExAllocatePool2", PoolApiKind::kAllocate, 2, 0, 1},
    {kNt, "ExAllocatePool3", PoolApiKind::kAllocate, 2, 0, 1},
    // NdisAllocateMemoryWithTag(&Va, Length, Tag); ...Priority(Handle, Length, Tag, Priority).
    {"ndis.sys", "NdisAllocateMemoryWithTag", PoolApiKind::kAllocate, 2, -1, 1},
    {"ndis.sys", "NdisAllocateMemoryWithTagPriority", PoolApiKind::kAllocate, 2, -1, 1},
    // FltAllocatePoolAlignedWithTag(Instance, PoolType, NumberOfBytes, Tag).
    {"fltmgr.sys", "FltAllocatePoolAlignedWithTag", PoolApiKind::kAllocate, 3, 1, 2},
    // NdisAllocateGenericObject(DriverObject, Tag, Size).
    {"ndis.sys", "NdisAllocateGenericObject", PoolApiKind::kAllocate, 1, -1, 2},
    // NdisAllocateNetBufferListPool(NdisHandle, PNET_BUFFER_LIST_POOL_PARAMETERS): Header (4),
    // ProtocolId, fAllocateNetBuffer, ContextSize (4), PoolTag at 8, DataSize at 12.
    {"ndis.sys", "NdisAllocateNetBufferListPool", PoolApiKind::kAllocate, 1, -1, -1, 8},
    // NdisAllocateNetBufferPool(NdisHandle, PNET_BUFFER_POOL_PARAMETERS): Header (4), PoolTag at 4.
    {"ndis.sys", "NdisAllocateNetBufferPool", PoolApiKind::kAllocate, 1, -1, -1, 4},
    // VideoPortAllocatePool(HwDeviceExtension, PoolType, NumberOfBytes, Tag).
    {"videoprt.sys", "VideoPortAllocatePool", PoolApiKind::kAllocate, 3, 1, 2},
    // ExAllocateCacheAwareRundownProtection(PoolType, PoolTag).
    {kNt, "ExAllocateCacheAwareRundownProtection", PoolApiKind::kAllocate, 1, 0, -1},
    // Ex*LookasideList(Lookaside, Allocate, Free, Flags, Size, Tag, Depth): the tag is on the
    // stack.
    {kNt, "ExInitializeNPagedLookasideList", PoolApiKind::kLookasideInit, 5, -1, 4},
    {kNt, "ExInitializePagedLookasideList", PoolApiKind::kLookasideInit, 5, -1, 4},
    // ExInitializeLookasideListEx(Lookaside, Allocate, Free, PoolType, Flags, Size, Tag, Depth).
    {kNt, "ExInitializeLookasideListEx", PoolApiKind::kLookasideInit, 6, 3, 5},
    {kNt, "ExFreePool", PoolApiKind::kFree, -1, -1, -1},
    {kNt, "ExFreePoolWithTag", PoolApiKind::kFree, 1, -1, -1},
    {kNt, "ExFreePool2", PoolApiKind::kFree, 1, -1, -1},
    // NdisFreeMemoryWithTagPriority(Handle, Va, Tag).
    {"ndis.sys", "NdisFreeMemoryWithTagPriority", PoolApiKind::kFree, 2, -1, -1},
    {"fltmgr.sys", "FltFreePoolAlignedWithTag", PoolApiKind::kFree, 2, -1, -1},
    // NdisFreeMemoryWithTag(VirtualAddress, Tag).
    {"ndis.sys", "NdisFreeMemoryWithTag", PoolApiKind::kFree, 1, -1, -1},
}};

// KMDF functions called through the WdfFunctions table. Indexes: WDFFUNCENUM in wdffuncenum.h
// of the public KMDF headers (microsoft/Windows-Driver-Frameworks,
// src/publicinc/wdf/kmdf/1.31/wdffuncenum.h: WdfMemoryCreateTableIndex = 192,
// WdfLookasideListCreateTableIndex = 198; the enum only grows at its end between versions).
// WdfMemoryCreate(DriverGlobals, Attributes, PoolType, PoolTag, BufferSize, Memory, Buffer);
// WdfLookasideListCreate(DriverGlobals, LookasideAttributes, BufferSize, PoolType,
// MemoryAttributes, PoolTag, Lookaside) (wdfmemory.h). WdfMemoryCreatePreallocated (193) takes no
// tag: the buffer is the caller's.
constexpr std::string_view kWdf = "Wdf01000.sys";
constexpr std::array<PoolApi, 2> kWdfApis = {{
    {kWdf, "WdfMemoryCreate", PoolApiKind::kAllocate, 3, 2, 4, -1, 192},
    {kWdf, "WdfLookasideListCreate", PoolApiKind::kLookasideInit, 5, 3, 2, -1, 198},
}};

using parse::ascii_lower;
using parse::equals_ignore_case;
}  // namespace

std::span<const PoolApi> pool_apis() {
  return kApis;
}

const PoolApi* find_pool_api(std::string_view dll, std::string_view name) {
  for (const auto& api : kApis) {
    if (api.name == name && equals_ignore_case(api.dll, dll)) return &api;
  }
  return nullptr;
}

std::span<const PoolApi> wdf_pool_apis() {
  return kWdfApis;
}

const PoolApi* find_wdf_pool_api(std::int64_t table_index) {
  for (const auto& api : kWdfApis) {
    if (api.wdf_table_index == table_index) return &api;
  }
  return nullptr;
}

std::vector<PoolImport> pool_imports(const parse::PeImage& image) {
  std::vector<PoolImport> out;
  for (const auto& module : image.imports) {
    for (const auto& function : module.functions) {
      if (function.name.empty()) continue;
      if (const PoolApi* api = find_pool_api(module.dll, function.name)) {
        out.push_back({api, &module, &function});
      }
    }
  }
  return out;
}

std::vector<PoolImport> untagged_pool_imports(const parse::PeImage& image) {
  std::vector<PoolImport> out;
  for (const auto& import : pool_imports(image)) {
    if (import.api->kind == PoolApiKind::kAllocate && import.api->tag_argument < 0) {
      out.push_back(import);
    }
  }
  return out;
}

}  // namespace poolscope::attrib
