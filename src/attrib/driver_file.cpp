// Reading driver files.
#include "attrib/driver_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace poolscope::attrib {

Result<DriverFile> read_driver_file(const std::filesystem::path& path,
                                    const DriverFileOptions& options) {
  namespace fs = std::filesystem;
  const std::string shown = path.string();
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return make_error(
        ErrorCode::kInput,
        "cannot open " + shown + ": " + (ec ? ec.message() : "No such file or directory"),
        ec.value());
  }
  if (!fs::is_regular_file(status)) {
    return make_error(ErrorCode::kInput, shown + " is not a regular file");
  }
  const auto size = fs::file_size(path, ec);
  if (ec) {
    return make_error(ErrorCode::kInput, "cannot read " + shown + ": " + ec.message(), ec.value());
  }
  if (size > options.max_bytes) {
    return make_error(
        ErrorCode::kInput,
        shown + " is larger than " + std::to_string(options.max_bytes) + " bytes; not read");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return make_error(ErrorCode::kInput, "cannot open " + shown + ": " + std::strerror(err), err);
  }
  DriverFile file;
  file.path = path;
  file.bytes.resize(static_cast<std::size_t>(size));
  in.read(reinterpret_cast<char*>(file.bytes.data()), static_cast<std::streamsize>(size));
  file.bytes.resize(static_cast<std::size_t>(in.gcount()));
  auto image = parse::parse_pe(file.bytes, options.pe);
  if (!image) return make_error(image.error().code, shown + ": " + image.error().message);
  file.image = std::move(*image);
  return file;
}

}  // namespace poolscope::attrib
