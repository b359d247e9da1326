// Portable UTC time formatting and parsing (ISO 8601), without gmtime_r/gmtime_s.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace poolscope {

// "2026-11-21T11:40:02Z" (milliseconds added when with_millis).
std::string format_utc(std::chrono::system_clock::time_point t, bool with_millis = false);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fff]Z" and "YYYY-MM-DD HH:MM:SS".
std::optional<std::chrono::system_clock::time_point> parse_utc(std::string_view text);
// "19.3 MiB"
std::string human_bytes(std::uint64_t bytes);
// A count for tables: "1,234,567" (json and csv keep the raw number).
std::string thousands(std::uint64_t count);

}  // namespace poolscope
