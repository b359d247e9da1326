// Fuzzer for saved raw trace files (`trace --load`): the record reader, the layouts and formats
// they carry, and the pages they feed to the processor and the pairing engine.
#include "trace/saved_trace.h"

#include <cstdint>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  poolscope::trace::TrackerOptions options;
  options.max_tracked = 64;
  auto replay = poolscope::trace::replay_saved_trace(in, options);
  if (replay && replay->processor) (void)replay->processor->tracker().report(0, 0);
  return 0;
}
