// Where `who` looks for a tag's owner when no --drivers folder is given. On Windows: the kernel
// modules loaded now (NtQuerySystemInformation SystemModuleInformation, decoded by
// parse/system_modules.h), System32\drivers and the DriverStore's FileRepository. A loaded module
// whose file is missing on disk, has a GUID-like name or sits in a temporary folder is reported
// as such (the `None` leak of incident 2 was a driver its parent program created under a GUID
// name and deleted). Elsewhere there is no default.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "parse/system_modules.h"

namespace poolscope::attrib {

struct DriverSearch {
  std::vector<std::filesystem::path> roots;  // folder trees to walk (attrib/driver_tree.h)
  std::vector<std::filesystem::path> files;  // loaded modules' files outside those trees
  // For the user: modules missing on disk or suspicious, and what could not be queried.
  std::vector<std::string> notes;
};

// The loaded-module part, portable: each module's file (parse::module_disk_path under
// system_root), kept when `exists` says it is there and it is not under one of roots already;
// a note for each missing or suspicious one.
DriverSearch driver_search_from_modules(const std::vector<parse::SystemModule>& modules,
                                        std::string_view system_root,
                                        const std::vector<std::filesystem::path>& roots,
                                        const std::function<bool(const std::string&)>& exists);

// The platform default (src/attrib/<os>/driver_search_<os>.cpp); empty roots and files where
// there is none (Linux: the caller asks for --drivers).
DriverSearch default_driver_search();

}  // namespace poolscope::attrib
