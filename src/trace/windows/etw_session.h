// The Windows side of `trace`: a real-time system-logger ETW session (Windows 8+, administrator)
// with the pool allocation/free events, a stack walk on every allocation and the image rundown,
// consumed on a thread. Syscalls only: every record goes to the portable decoder (etw_pool.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/result.h"
#include "trace/etw_pool.h"

namespace poolscope::trace::etw {

struct EtwSessionOptions {
  std::uint32_t buffer_kb = 1024;  // per buffer; ETW keeps a few per CPU
  std::uint32_t max_buffers = 0;   // 0: 64 + 8 per CPU
};

struct EtwLost {
  std::uint64_t events = 0;   // EVENT_TRACE_PROPERTIES.EventsLost
  std::uint64_t buffers = 0;  // LogBuffersLost + RealTimeBuffersLost
};

// The name of poolscope's session: a leftover one (a crashed or killed run) is stopped by start().
inline constexpr const wchar_t* kSessionName = L"poolscope pool trace";

class EtwSession {
 public:
  using OnRecord = std::function<void(const EtwRecord&)>;
  // Starts the session and its consumer thread; `on_record` runs on that thread. Fails with
  // kEnvironment when Windows refuses (no administrator rights, before Windows 8, Wine).
  static Result<std::unique_ptr<EtwSession>> start(const EtwSessionOptions& options,
                                                   OnRecord on_record);
  ~EtwSession();
  EtwSession(const EtwSession&) = delete;
  EtwSession& operator=(const EtwSession&) = delete;

  // Stops the kernel session (always; also from the destructor), drains and joins the consumer.
  Result<void> stop();
  std::uint64_t ticks_per_second() const { return ticks_per_second_; }
  const EtwLost& lost() const { return lost_; }

 private:
  EtwSession() = default;
  struct State;
  std::unique_ptr<State> state_;
  std::uint64_t ticks_per_second_ = 10'000'000;
  EtwLost lost_;
};

// Stops poolscope's session by name (for the console close handler); true when one was stopped.
bool stop_session_by_name();

}  // namespace poolscope::trace::etw
