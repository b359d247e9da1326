// The options the live verbs (record, diagnose, watch, serve) share; the loop itself is
// source/live_loop.h.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "core/result.h"
#include "source/live_loop.h"

namespace poolscope::cli {

// --interval and --duration ("5", "500ms", "2m", "48h"); the defaults are what the fields hold
// when added (duration empty: until stopped).
struct LiveTimingOptions {
  std::string interval;
  std::string duration;
};
void add_live_timing_options(CLI::App& verb, LiveTimingOptions& options,
                             const std::string& interval_help, const std::string& duration_help);
// Into the loop's options: interval and duration parsed (ErrorCode::kUsage when they are not
// durations).
Result<LiveLoopOptions> parse_live_timing(const LiveTimingOptions& options);

// How often the detector runs: `every` samples when given, else about every 30 s of samples.
std::size_t detector_every(std::size_t every, std::chrono::nanoseconds interval);

}  // namespace poolscope::cli
