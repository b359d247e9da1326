// A recording as text: JSON lines or CSV, one line per key-sample, plus process samples, imported
// events and counter samples, each line marked with its kind (`poolscope export`).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "store/recording.h"

namespace poolscope::store {

struct ExportOptions {
  bool csv = false;                                     // else JSON lines
  std::vector<std::string> include, exclude;            // key (and process name) patterns (* and ?)
  std::int64_t from_ns = INT64_MIN, to_ns = INT64_MAX;  // wall time, inclusive
  std::vector<std::string> kinds;                       // pool, process, event, counter; empty: all
};

struct ExportResult {
  ReadDamage damage;  // what could not be read and was left out
};

// Hands the text to `write` in chunks of about 1 MiB (the last one on return, also after an
// error). A damaged sample is skipped and counted in the result's damage (the caller says it
// once), the rest still exported.
Result<ExportResult> export_recording(const Recording& recording, const ExportOptions& options,
                                      const std::function<void(std::string_view)>& write);

}  // namespace poolscope::store
