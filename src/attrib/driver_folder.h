// A folder of Windows drivers: its .sys files, and the version and signer of one driver as text.
// Shared by `who`, `drivers` and the report's owner evidence.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "attrib/driver_file.h"
#include "core/result.h"

namespace poolscope::attrib {

// The .sys files of a folder and its subfolders (attrib/driver_tree.h), sorted by path.
Result<std::vector<std::filesystem::path>> list_driver_files(const std::filesystem::path& dir);
std::string driver_version_text(const DriverFile& file);  // "10.0.1.2" or ""
std::string driver_signer_text(const DriverFile& file);   // subject CN or ""

}  // namespace poolscope::attrib
