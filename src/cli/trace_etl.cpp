// `trace --load FILE.etl` on every platform: a pool trace captured on Windows with xperf or WPR
// (kernel pool events, their stacks and the image rundown), read without any Windows API into the
// same table and JSON as the live Windows `trace`.
#include <cstdio>
#include <fstream>

#include "cli/verbs.h"
#include "trace/etl_trace.h"

namespace poolscope::cli {

int run_etl_trace_load(const EtlLoadOptions& options) {
  std::ifstream in(options.path, std::ios::binary);
  if (!in) {
    return report_error(Error{ErrorCode::kInput, 0, "cannot read the trace file " + options.path});
  }
  trace::etw::EtwOptions etw_options;
  auto tags = trace::etw::parse_tags(options.tags);
  if (!tags) return report_error(tags.error());
  etw_options.tags = std::move(*tags);
  etw_options.tracker.max_tracked = options.max_tracked;
  auto trace = trace::etl::read_pool_trace(trace::etl::stream_source(in), etw_options);
  if (!trace) {
    return report_error(Error{trace.error().code, 0, options.path + ": " + trace.error().message});
  }
  auto facts = trace::etl::run_facts(*trace, options.path);
  facts.format = options.format;
  facts.top = options.top;
  facts.min_age_s = options.min_age_s;
  facts.tags = options.tags;
  const std::string text = trace::etw::render_report(*trace->processor, trace->end_ticks, facts);
  std::fputs(text.c_str(), stdout);
  return kExitOk;
}

}  // namespace poolscope::cli
