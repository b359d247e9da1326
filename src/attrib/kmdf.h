// KMDF drivers' pool tag. The framework allocates a KMDF driver's objects (WDFMEMORY, work items,
// requests...) with the driver's tag: WDF_DRIVER_CONFIG.DriverPoolTag when the driver sets it,
// otherwise the first four characters of its kernel-mode service name, the next four when the
// name starts with "WDF" (any case), and "FxDr" when fewer than four are left (the
// WDF_DRIVER_CONFIG documentation, "Remarks"). Those allocations are not calls of a pool API by
// the driver, so the call-site scanner cannot see them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "attrib/call_sites.h"
#include "parse/pe.h"

namespace poolscope::attrib {

// The driver binds to the framework: it imports WdfVersionBind (from wdfldr.sys).
bool imports_wdf(const parse::PeImage& image);

// The framework's default tag for a service name ("amdacpbus2" -> "amda", "WdfTest" -> "Test",
// "Wdf" -> "FxDr").
std::string kmdf_default_tag(std::string_view service_name);

// WDF_DRIVER_CONFIG.DriverPoolTag as DriverEntry sets it: a 4-character immediate stored 28 bytes
// (x86: 16) after the store of the structure's size, 32 (x86: 20), to the same stack slot base or
// global, within 256 bytes of code (WDF_DRIVER_CONFIG_INIT, then `config.DriverPoolTag = 'Xxxx'`,
// before WdfDriverCreate). A byte search of the code sections for `mov dword [rsp/rbp/ebp+d], imm`
// and `mov dword [rip+d], imm` (x86: absolute) pairs; nullopt when there is none.
struct KmdfPoolTag {
  PoolKey tag;
  std::uint32_t rva = 0;  // of the tag's store
};
std::optional<KmdfPoolTag> kmdf_driver_pool_tag(const parse::PeImage& image, parse::ByteSpan data);

// The driver's WdfFunctions global (the pointer the framework fills with its function table),
// from the WDF_BIND_INFO the driver passes to WdfVersionBind (fxldr.h: Size, Component, Version
// {Major, Minor, Build}, FuncCount, FuncTable = &WdfFunctions, Module; 48 bytes on x64, 32 on
// x86). The structure is found by its shape in the data: Size, Component pointing to
// L"KmdfLibrary" inside the image, Major 1, a FuncCount of 1..4096 and FuncTable inside the
// image. nullopt when there is none.
struct WdfFunctionTable {
  std::uint32_t global_rva = 0;     // of WdfFunctions
  std::uint32_t bind_info_rva = 0;  // of the WDF_BIND_INFO
  std::uint32_t function_count = 0;
};
std::optional<WdfFunctionTable> wdf_function_table(const parse::PeImage& image,
                                                   parse::ByteSpan data);

// The tag a KMDF driver's framework objects are charged to: its DriverPoolTag when the code sets
// one (high, with the store's RVA), else the service-name rule (below). nullopt for a driver that
// does not import WdfVersionBind.
std::optional<DriverTag> kmdf_tag(const parse::PeImage& image, parse::ByteSpan data,
                                  std::string_view service_name, bool name_is_image);

// The tag a KMDF driver's framework objects are charged to, at medium confidence with the reason,
// from the service name (offline, the image name without its extension stands in for it: they
// are the same for most drivers, not for all); nullopt for a driver that does not import
// WdfVersionBind.
std::optional<DriverTag> kmdf_service_tag(const parse::PeImage& image,
                                          std::string_view service_name, bool name_is_image);

}  // namespace poolscope::attrib
