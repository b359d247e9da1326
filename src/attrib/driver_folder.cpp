#include "attrib/driver_folder.h"

#include <algorithm>

namespace poolscope::attrib {

namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

Result<std::vector<std::filesystem::path>> list_driver_files(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return make_error(ErrorCode::kInput, dir.string() + " is not a folder of drivers");
  }
  std::vector<std::filesystem::path> out;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ascii_lower);
    if (ext == ".sys") out.push_back(it->path());
  }
  if (ec) {
    return make_error(ErrorCode::kInput, "cannot list " + dir.string() + ": " + ec.message(),
                      ec.value());
  }
  std::sort(out.begin(), out.end());
  return out;
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
