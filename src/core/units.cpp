#include "core/units.h"

#include <charconv>
#include <cmath>
#include <string>

namespace poolscope {

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  auto bad = [&text]() -> Result<std::chrono::nanoseconds> {
    return make_error(ErrorCode::kUsage,
                      "not a duration: \"" + std::string(text) +
                          "\" (expected e.g. 0.1, 10s, 500ms, 30m, 48h, 7d, 2w)");
  };
  std::size_t digits = 0;
  while (digits < text.size() &&
         ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0) return bad();
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc() || end != text.data() + digits) return bad();
  const std::string_view unit = text.substr(digits);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1e9;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "m" || unit == "min") {
    scale = 60e9;
  } else if (unit == "h") {
    scale = 3600e9;
  } else if (unit == "d") {
    scale = 86400e9;
  } else if (unit == "w") {
    scale = 7 * 86400e9;
  } else {
    return bad();
  }
  const double ns = number * scale;
  if (!(ns >= 1) || ns > 100 * 365.25 * 86400e9) return bad();
  return std::chrono::nanoseconds(std::llround(ns));
}

}  // namespace poolscope
