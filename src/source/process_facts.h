// Collectors of per-process facts (fd counts by kind on Linux, handle counts and pool quota on
// Windows) for the recorder. The OS's own collector comes from open_process_facts_collector().
#pragma once

#include <memory>

#include "core/clock.h"
#include "core/process.h"
#include "core/result.h"

namespace poolscope {

class ProcessFactsCollector {
 public:
  virtual ~ProcessFactsCollector() = default;
  // One sample of every process. Processes that exit while being read are left out silently;
  // partial permission is not an error (see ProcessSample::fd_kinds_unreadable and notes).
  virtual Result<ProcessSample> collect() = 0;
};

// The collector of the OS this binary was built for (source/linux/process_facts.cpp or
// source/windows/process_facts_windows.cpp), with default options.
Result<std::unique_ptr<ProcessFactsCollector>> open_process_facts_collector(const Clock& clock);

}  // namespace poolscope
