// A recording (poolscope record / import) read into a History for the detector.
#pragma once

#include <cstddef>

#include "core/result.h"
#include "detect/history.h"
#include "store/recording.h"

namespace poolscope::detect {

struct LoadOptions {
  std::size_t max_buckets = 2048;
  bool processes = true;
};

// Reads every sample in seq order. Times follow the monotonic clock where the recording has it,
// so a wall clock set back does not fold the series; the wall time is kept for display. Damaged
// samples are left out and counted in *damage (issue 21: the caller says so and exits 2).
Result<History> load_history(const store::Recording& recording, const LoadOptions& options = {},
                             store::ReadDamage* damage = nullptr);

}  // namespace poolscope::detect
