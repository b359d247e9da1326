// A driver (or any PE) file read from disk and parsed: the unit `who` and `drivers` work on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "core/result.h"
#include "parse/pe.h"

namespace poolscope::attrib {

struct DriverFile {
  std::filesystem::path path;
  std::vector<std::byte> bytes;  // the whole file: PeImage offsets and pe_section_bytes refer to it
  parse::PeImage image;
};

struct DriverFileOptions {
  std::uint64_t max_bytes = 512ull << 20;  // larger files are refused, not read
  parse::PeOptions pe;
};

// Reads and parses one file. Errors name the file: "x.sys: not a PE file: no MZ header".
Result<DriverFile> read_driver_file(const std::filesystem::path& path,
                                    const DriverFileOptions& options = {});

}  // namespace poolscope::attrib
