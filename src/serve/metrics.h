// The /metrics page of `poolscope serve`: Prometheus text exposition format 0.0.4, or OpenMetrics
// 1.0 text when the scraper asks for it, rendered from the newest sample and the live detector's
// report. Portable, no I/O; golden-file tests in tests/unit/serve. Names: docs/metrics.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/pool.h"
#include "detect/detector.h"

namespace poolscope::serve {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kOpenMetricsContentType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

struct MetricsInput {
  const Snapshot* snapshot = nullptr;      // the newest sample (required)
  const detect::Report* report = nullptr;  // the newest detector run; null before the first
  std::int64_t samples = 0;                // taken since start
  double sample_seconds = 0;               // how long the newest sample took
  std::size_t history_bytes = 0;           // the detector's history (bounded); 0 = not shown
  std::string version;                     // poolscope's
};

struct MetricsOptions {
  // Cardinality bound: the `top` largest keys by bytes (by outstanding where there are no bytes),
  // plus every key with a finding. 0 = every key (not for a fleet).
  std::size_t top = 50;
  std::vector<std::string> include, exclude;  // key wildcard patterns, as for snapshot
  bool openmetrics = false;
};

std::string render_metrics(const MetricsInput& input, const MetricsOptions& options);

// A label value escaped for the text formats: backslash, double quote and newline escaped; other
// control characters and bytes outside ASCII become '?' (owners from pooltag.txt are not always
// UTF-8).
std::string escape_label_value(std::string_view value);

}  // namespace poolscope::serve
