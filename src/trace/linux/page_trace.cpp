// trace_pages: the page allocator traced for `diagnose` (Linux).
#include "trace/linux/page_trace.h"

#include <time.h>
#include <unistd.h>

#include <bit>

#include "core/forward_error.h"
#include "trace/linux/bpf_session.h"
#include "trace/page_sites.h"
#include "trace/processor.h"

namespace poolscope::trace {

Result<PageTraceResult> trace_pages(const PageTraceOptions& options) {
  BpfSessionOptions session_options;
  session_options.pages = true;
  session_options.sample_shift = options.sample_shift;
  session_options.ring_bytes = options.ring_bytes;
  auto started = BpfSession::start(session_options);
  if (!started) return forward_error(started);
  BpfSession& session = **started;  // closed (programs detached) on every return below

  TrackerOptions tracker_options;
  tracker_options.sample_shift = session.sample_shift();
  tracker_options.address_hash = true;
  const auto duration =
      static_cast<std::uint64_t>(std::max<std::int64_t>(options.duration.count(), 100'000'000));
  tracker_options.sample_interval_ns = std::max<std::uint64_t>(duration / 60, 100'000'000);
  TraceProcessor processor(PageLayout{}, KmemDecoder{}, tracker_options);
  const auto page_bytes = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  PageSiteResolver sites([&](std::int32_t id) { return session.stack(id); },
                         [&](std::uint64_t address) {
                           return options.function_of ? options.function_of(address)
                                                      : std::string_view{};
                         },
                         static_cast<unsigned>(std::countr_zero(page_bytes)));
  auto on_records = [&](std::span<const std::uint8_t> records) {
    return processor.add_bpf_records(sites.resolve(records));
  };
  constexpr std::uint64_t kHoldBack = 50'000'000;  // as `trace`: CPUs' records a little apart
  const std::uint64_t start = bpf_clock_ns(), deadline = start + duration;
  for (;;) {
    const std::uint64_t now = bpf_clock_ns();
    if (now >= deadline || (options.stop != nullptr && options.stop->load())) break;
    const std::uint64_t wait = std::min<std::uint64_t>(deadline - now, 100'000'000);
    timespec pause{static_cast<time_t>(wait / 1'000'000'000),
                   static_cast<long>(wait % 1'000'000'000)};
    ::nanosleep(&pause, nullptr);
    session.read(on_records);
    processor.flush(now > kHoldBack ? now - kHoldBack : 0);
  }
  const std::uint64_t end = bpf_clock_ns();
  session.detach();
  session.read(on_records);
  processor.flush(UINT64_MAX);

  PageTraceResult result;
  result.lost = session.lost();
  session.close();
  result.seconds = static_cast<double>(end - start) / 1e9;
  result.report = processor.tracker().report(end, 0);
  for (std::size_t i = 0; i < processor.decoder().cache_count(); ++i) {
    result.orders.emplace_back(processor.decoder().cache_name(static_cast<std::uint16_t>(i)));
  }
  result.without_stack = sites.without_stack();
  return result;
}

}  // namespace poolscope::trace
