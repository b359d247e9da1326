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

// The tag a KMDF driver's framework objects are charged to, at medium confidence with the reason,
// from the service name (offline, the image name without its extension stands in for it: they
// are the same for most drivers, not for all); nullopt for a driver that does not import
// WdfVersionBind.
std::optional<DriverTag> kmdf_service_tag(const parse::PeImage& image,
                                          std::string_view service_name, bool name_is_image);

}  // namespace poolscope::attrib
