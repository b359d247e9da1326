#include "attrib/driver_folder.h"

#include "attrib/driver_tree.h"
#include "core/forward_error.h"

namespace poolscope::attrib {

Result<std::vector<std::filesystem::path>> list_driver_files(const std::filesystem::path& dir) {
  // The folder and its subfolders, as `drivers` and `who --drivers` read them.
  auto tree = list_driver_tree(dir);
  if (!tree) return forward_error(tree);
  return std::move(tree->files);
}

std::string driver_version_text(const DriverFile& file) {
  if (!file.image.version) return {};
  const auto& v = *file.image.version;
  // The numeric VS_FIXEDFILEINFO version; the FileVersion string often carries more ("1.2 built
  // by: WinDDK") and is shown separately.
  if (v.fixed) {
    const auto& f = v.fixed->file_version;
    return std::to_string(f[0]) + "." + std::to_string(f[1]) + "." + std::to_string(f[2]) + "." +
           std::to_string(f[3]);
  }
  return v.file_version;
}

std::string driver_signer_text(const DriverFile& file) {
  return file.image.signature.present ? file.image.signature.signer_common_name : std::string();
}

}  // namespace poolscope::attrib
