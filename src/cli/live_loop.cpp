#include "cli/live_loop.h"

#include <algorithm>

#include "core/forward_error.h"
#include "core/units.h"

namespace poolscope::cli {

void add_live_timing_options(CLI::App& verb, LiveTimingOptions& options,
                             const std::string& interval_help, const std::string& duration_help) {
  verb.add_option("--interval", options.interval, interval_help)->default_val(options.interval);
  auto* duration = verb.add_option("--duration", options.duration, duration_help);
  if (!options.duration.empty()) duration->default_val(options.duration);
}

Result<LiveLoopOptions> parse_live_timing(const LiveTimingOptions& options) {
  LiveLoopOptions loop;
  auto interval = parse_duration(options.interval);
  if (!interval) return forward_error(interval);
  loop.interval = *interval;
  if (!options.duration.empty()) {
    auto duration = parse_duration(options.duration);
    if (!duration) return forward_error(duration);
    loop.duration = *duration;
  }
  return loop;
}

std::size_t detector_every(std::size_t every, std::chrono::nanoseconds interval) {
  if (every) return every;
  return static_cast<std::size_t>(std::max<std::int64_t>(
      1, std::chrono::seconds(30) / std::max(interval, std::chrono::nanoseconds(1))));
}

}  // namespace poolscope::cli
