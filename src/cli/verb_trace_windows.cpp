// `poolscope trace` on Windows: a real-time ETW session with the pool allocation/free events, a
// stack per allocation and the image rundown (the xperf PoolTrace equivalent), optionally for
// some tags only; outstanding allocations by call site (driver+offset), tag and process.
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include <windows.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>

#include "cli/verbs.h"
#include "store/recorder.h"
#include "trace/etw_pool.h"
#include "trace/etw_report.h"
#include "trace/windows/etw_session.h"

namespace poolscope::cli {

namespace {

std::atomic<bool> g_stop{false};

BOOL WINAPI on_console_ctrl(DWORD type) {
  g_stop = true;
  if (type == CTRL_CLOSE_EVENT || type == CTRL_LOGOFF_EVENT || type == CTRL_SHUTDOWN_EVENT) {
    // Windows ends the process when this returns: never leave the kernel session running.
    (void)trace::etw::stop_session_by_name();
  }
  return TRUE;
}

struct Options {
  std::string duration = "10s";
  std::vector<std::string> tags;
  double min_age_s = 0;
  std::string format = "table";
  std::size_t top = 20;
  std::size_t max_tracked = trace::kDefaultMaxTracked;
  std::uint32_t buffer_kb = 1024;
  std::string load;  // --load FILE.etl: report from an xperf/WPR pool trace instead of tracing
};

int run_trace(const Options& options) {
  if (options.min_age_s < 0) {
    return report_error(Error{ErrorCode::kUsage, 0, "--min-age must be 0 or more seconds"});
  }
  if (!options.load.empty()) {
    return run_etl_trace_load(EtlLoadOptions{options.load, options.tags, options.min_age_s,
                                             options.format, options.top, options.max_tracked});
  }
  auto duration = store::parse_duration(options.duration);
  if (!duration) return report_error(duration.error());
  if (duration->count() <= 0 || *duration > std::chrono::hours(24)) {
    return report_error(
        Error{ErrorCode::kUsage, 0, "--duration must be between 1s and 24h (e.g. 30s, 5m)"});
  }
  trace::etw::EtwOptions etw_options;
  auto tags = trace::etw::parse_tags(options.tags);
  if (!tags) return report_error(tags.error());
  etw_options.tags = std::move(*tags);
  etw_options.tracker.max_tracked = options.max_tracked;
  const auto nanoseconds = static_cast<std::uint64_t>(duration->count());
  etw_options.tracker.sample_interval_ns = std::max<std::uint64_t>(nanoseconds / 60, 100'000'000);

  // The processor is created once the session tells the clock; records before that wait here.
  std::mutex mutex;
  std::optional<trace::etw::EtwPoolProcessor> processor;
  std::vector<std::pair<trace::etw::EtwRecord, std::vector<std::uint8_t>>> early;
  auto on_record = [&](const trace::etw::EtwRecord& record) {
    std::lock_guard lock(mutex);
    if (processor) {
      processor->add(record);
    } else if (early.size() < 100'000) {
      early.emplace_back(
          record, std::vector<std::uint8_t>(record.user_data.begin(), record.user_data.end()));
    }
  };
  g_stop = false;
  SetConsoleCtrlHandler(on_console_ctrl, TRUE);
  trace::etw::EtwSessionOptions session_options;
  session_options.buffer_kb = options.buffer_kb;
  auto session = trace::etw::EtwSession::start(session_options, on_record);
  if (!session) {
    SetConsoleCtrlHandler(on_console_ctrl, FALSE);
    return report_error(session.error());
  }
  {
    std::lock_guard lock(mutex);
    etw_options.ticks_per_second = (*session)->ticks_per_second();
    processor.emplace(etw_options);
    for (auto& [record, bytes] : early) {
      record.user_data = bytes;
      processor->add(record);
    }
    early.clear();
  }
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + *duration;
  // Records are held back 100 ms so that stacks and other CPUs' buffers catch up.
  const std::uint64_t hold = std::max<std::uint64_t>((*session)->ticks_per_second() / 10, 1);
  while (!g_stop && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard lock(mutex);
    const std::uint64_t latest = processor->latest_timestamp();
    if (latest > hold) processor->flush(latest - hold);
  }
  const auto end = std::chrono::steady_clock::now();
  LARGE_INTEGER end_ticks{};
  QueryPerformanceCounter(&end_ticks);  // the session's clock (raw QPC timestamps)
  auto stopped = (*session)->stop();
  SetConsoleCtrlHandler(on_console_ctrl, FALSE);
  std::lock_guard lock(mutex);
  processor->flush();
  trace::etw::EtwRunFacts facts;
  facts.seconds = std::chrono::duration<double>(end - start).count();
  facts.format = options.format;
  facts.top = options.top;
  facts.min_age_s = options.min_age_s;
  facts.tags = options.tags;
  facts.events_lost = (*session)->lost().events;
  facts.buffers_lost = (*session)->lost().buffers;
  facts.interrupted = g_stop;
  if (!stopped) facts.notes.push_back(stopped.error().message);
  const std::string text = trace::etw::render_report(
      *processor,
      std::max(processor->latest_timestamp(), static_cast<std::uint64_t>(end_ticks.QuadPart)),
      facts);
  std::fputs(text.c_str(), stdout);
  return kExitOk;
}

}  // namespace

void add_trace_verb(CLI::App& app, VerbMain& run) {
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "trace",
      "trace pool allocations for a while (ETW, administrator) and show the call sites whose "
      "allocations stay outstanding");
  add_trace_report_options(*verb, options->duration, options->min_age_s, options->format,
                           options->top, options->max_tracked);
  verb->add_option("--tag", options->tags, "only this pool tag (repeatable; e.g. --tag Strg)");
  verb->add_option("--buffer-kb", options->buffer_kb, "ETW buffer size in KiB")
      ->default_val(1024)
      ->check(CLI::Range(4, 16384));
  verb->add_option("--load", options->load,
                   "report from a pool trace captured with xperf or WPR (.etl) instead of tracing");
  verb->callback([&run, options] { run = [options]() -> int { return run_trace(*options); }; });
}

}  // namespace poolscope::cli
