// Units people type and read: durations on the command line ("500ms", "2m", "48h").
#pragma once

#include <chrono>
#include <string_view>

#include "core/result.h"

namespace poolscope {

// "90s", "30m", "48h", "7d", "2w", "500ms", "0.1" (a bare number is seconds; fractions allowed).
// ErrorCode::kUsage for anything else, for zero and for more than 100 years. The one parser of
// every duration option (--interval, --duration, --retention, --since, ...).
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);

}  // namespace poolscope
