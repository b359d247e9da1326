// The loaded-module part of the default driver search.
#include "attrib/driver_search.h"

#include "parse/text.h"

namespace poolscope::attrib {

namespace {

bool under_any(std::string_view path, const std::vector<std::filesystem::path>& roots) {
  for (const auto& root : roots) {
    const std::string prefix = root.string();
    if (path.size() > prefix.size() &&
        parse::equals_ignore_case(path.substr(0, prefix.size()), prefix) &&
        (path[prefix.size()] == '\\' || path[prefix.size()] == '/')) {
      return true;
    }
  }
  return false;
}

}  // namespace

DriverSearch driver_search_from_modules(const std::vector<parse::SystemModule>& modules,
                                        std::string_view system_root,
                                        const std::vector<std::filesystem::path>& roots,
                                        const std::function<bool(const std::string&)>& exists) {
  DriverSearch out;
  for (const auto& module : modules) {
    const std::string path = parse::module_disk_path(module.full_path, system_root);
    std::string why;
    for (const auto& suspicion : parse::module_suspicions(module.full_path)) {
      why += (why.empty() ? "" : "; ") + suspicion;
    }
    if (!exists(path)) {
      out.notes.push_back("loaded module " + module.file_name + " (" + module.full_path +
                          "): its file is missing on disk, so its tags cannot be searched" +
                          (why.empty() ? "" : "; " + why));
      continue;
    }
    if (!why.empty()) out.notes.push_back("loaded module " + module.full_path + ": " + why);
    if (!under_any(path, roots)) out.files.emplace_back(path);
  }
  return out;
}

}  // namespace poolscope::attrib
