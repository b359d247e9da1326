// The version string printed by --version.
#pragma once

namespace poolscope::cli {
inline constexpr const char* kVersion = "0.1.0";
}
