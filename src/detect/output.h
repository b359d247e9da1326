// The detector's report as JSON (the `leaks --format json` schema, docs/detection.md) and as text.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "detect/detector.h"

namespace poolscope::detect {

nlohmann::ordered_json finding_json(const Finding& finding);
nlohmann::ordered_json incident_json(const Report& report, const Incident& incident);
nlohmann::ordered_json report_json(const Report& report);
// The human table: findings with their evidence, then growth in reclaimable caches and the largest
// consumers.
std::string report_text(const Report& report);
// "11.4 MiB/h" (unit "B") or "64648/h"; "-" when unknown.
std::string rate_text(const std::optional<double>& per_hour, const char* unit);
// "1h02m", "3d04h", ...
std::string duration_text(double seconds);
// "2026-11-21T14:03:05Z" from ns since 1970.
std::string wall_text(std::int64_t wall_ns);
// text as lines of at most `width` columns, broken between words, each line after the first
// starting with `indent`; every line ends in "\n". A word longer than a line stays whole.
std::string wrap_text(std::string_view text, std::size_t width, std::string_view indent);

}  // namespace poolscope::detect
