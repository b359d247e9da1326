// Fuzzer for the ETL reader (src/trace/etl): the input is an ETL file. Buffers, compressed
// buffers, the trace header, every event header kind and the pool, stack and image records behind
// them, through the pairing and the report, as `trace --load` and `import` read a file.
#include <cstdint>
#include <span>

#include "trace/etl_trace.h"
#include "trace/etw_report.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace poolscope::trace;
  std::span<const std::uint8_t> input(data, size);
  etw::EtwOptions options;
  options.tracker.max_tracked = 64;  // reach the cap too
  auto trace = etl::read_pool_trace(etl::span_source(input), options, 1'000'000,
                                    [](std::uint64_t, const etw::EtwPoolProcessor&) {});
  if (trace) {
    auto facts = etl::run_facts(*trace, "fuzz.etl");
    facts.format = (size & 1) ? "json" : "table";
    (void)etw::render_report(*trace->processor, trace->end_ticks, facts);
  }
  (void)etl::read_tag_series(etl::span_source(input), "fuzz.etl", 64);
  return 0;
}
