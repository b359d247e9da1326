// The ETW session of `trace` on Windows: StartTrace in system-logger mode, the pool group and stack
// walks set with TraceSetInformation, real-time consumption with OpenTrace/ProcessTrace on a
// thread, ControlTrace STOP on every way out. Sources of each call and value: docs/trace.md.
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
// clang-format off
#include <windows.h>
#include <evntrace.h>
#include <evntcons.h>
// clang-format on

#include "trace/windows/etw_session.h"

#include <cstring>
#include <cwchar>
#include <string>
#include <thread>

namespace poolscope::trace::etw {

namespace {

// PERFINFO_GROUPMASK (eight ULONG masks; Masks[0] holds the classic EnableFlags) and PERF_POOL =
// 0x20000040: mask index 1 (the top three bits), bit 0x40. From phnt's ntwmi.h.
constexpr std::size_t kGroupMasks = 8;
constexpr ULONG kPerfPoolMaskIndex = 1;
constexpr ULONG kPerfPoolBit = 0x00000040;
// A GUID of our own for the session (system-logger sessions are told apart by name and GUID).
constexpr GUID kSessionGuid = {
    0x7c3f1e52, 0x4a8d, 0x4f0b, {0x9e, 0x61, 0x2d, 0x5a, 0x0c, 0x93, 0x47, 0xb8}};

GUID to_windows(const Guid& g) {
  GUID out{};
  out.Data1 = g.data1;
  out.Data2 = g.data2;
  out.Data3 = g.data3;
  std::memcpy(out.Data4, g.data4.data(), 8);
  return out;
}

unexpected<Error> refused(const char* call, ULONG status) {
  std::string why;
  switch (status) {
    case ERROR_ACCESS_DENIED:
      why = "access denied: run poolscope from an elevated (administrator) prompt";
      break;
    case ERROR_NO_SYSTEM_RESOURCES:
      why = "too many system logger sessions are running (at most 8): stop one (logman query -ets)";
      break;
    case ERROR_NOT_SUPPORTED:
    case ERROR_INVALID_PARAMETER:
    case ERROR_CALL_NOT_IMPLEMENTED:
      why = "this system does not offer system-logger sessions with pool events";
      break;
    default:
      why = "Windows refused it";
      break;
  }
  return make_error(ErrorCode::kEnvironment,
                    std::string("poolscope trace needs Windows 8 or later with administrator "
                                "rights and the kernel logger (pool events, stack walks): ") +
                        call + " failed with Win32 error " + std::to_string(status) + " (" + why +
                        ")",
                    static_cast<std::int64_t>(status));
}

// EVENT_TRACE_PROPERTIES followed by room for the session name, as StartTrace/ControlTrace want.
struct Properties {
  EVENT_TRACE_PROPERTIES properties;
  wchar_t name[128];
};

void prepare(Properties& p) {
  std::memset(&p, 0, sizeof p);
  p.properties.Wnode.BufferSize = sizeof p;
  p.properties.LoggerNameOffset = offsetof(Properties, name);
}

void WINAPI on_event(PEVENT_RECORD event);

}  // namespace

struct EtwSession::State {
  TRACEHANDLE session = 0;
  TRACEHANDLE consumer = INVALID_PROCESSTRACE_HANDLE;
  std::thread thread;
  OnRecord on_record;
  bool stopped = false;
};

namespace {

void WINAPI on_event(PEVENT_RECORD event) {
  auto* state = static_cast<EtwSession::OnRecord*>(event->UserContext);
  if (state == nullptr || !*state) return;
  const EVENT_HEADER& h = event->EventHeader;
  EtwRecord record;
  record.provider.data1 = h.ProviderId.Data1;
  record.provider.data2 = h.ProviderId.Data2;
  record.provider.data3 = h.ProviderId.Data3;
  std::memcpy(record.provider.data4.data(), h.ProviderId.Data4, 8);
  record.opcode = h.EventDescriptor.Opcode;
  record.version = h.EventDescriptor.Version;
  record.header_flags = h.Flags;
  record.pid = h.ProcessId;
  record.tid = h.ThreadId;
  record.timestamp = static_cast<std::uint64_t>(h.TimeStamp.QuadPart);
  if (event->UserData != nullptr) {
    record.user_data = {static_cast<const std::uint8_t*>(event->UserData), event->UserDataLength};
  }
  (*state)(record);
}

ULONG control_stop(TRACEHANDLE session, EtwLost* lost) {
  Properties p;
  prepare(p);
  const ULONG status = ControlTraceW(session, session == 0 ? kSessionName : nullptr, &p.properties,
                                     EVENT_TRACE_CONTROL_STOP);
  if (status == ERROR_SUCCESS && lost != nullptr) {
    lost->events = p.properties.EventsLost;
    lost->buffers =
        static_cast<std::uint64_t>(p.properties.LogBuffersLost) + p.properties.RealTimeBuffersLost;
  }
  return status;
}

}  // namespace

bool stop_session_by_name() {
  return control_stop(0, nullptr) == ERROR_SUCCESS;
}

Result<std::unique_ptr<EtwSession>> EtwSession::start(const EtwSessionOptions& options,
                                                      OnRecord on_record) {
  std::unique_ptr<EtwSession> session(new EtwSession());
  session->state_ = std::make_unique<State>();
  State& state = *session->state_;
  state.on_record = std::move(on_record);

  SYSTEM_INFO system{};
  GetSystemInfo(&system);
  Properties p;
  auto fill = [&] {
    prepare(p);
    p.properties.Wnode.Flags = WNODE_FLAG_TRACED_GUID;
    // QPC timestamps: StackWalk's EventTimeStamp is raw QPC, so the headers must be too.
    p.properties.Wnode.ClientContext = 1;
    p.properties.Wnode.Guid = kSessionGuid;
    p.properties.BufferSize = options.buffer_kb;
    p.properties.MinimumBuffers = 8 + 2 * system.dwNumberOfProcessors;
    p.properties.MaximumBuffers =
        options.max_buffers != 0 ? options.max_buffers : 64 + 8 * system.dwNumberOfProcessors;
    p.properties.FlushTimer = 1;
    p.properties.LogFileMode = EVENT_TRACE_REAL_TIME_MODE | EVENT_TRACE_SYSTEM_LOGGER_MODE;
    p.properties.EnableFlags = EVENT_TRACE_FLAG_IMAGE_LOAD;  // image loads and their rundown
  };
  fill();
  ULONG status = StartTraceW(&state.session, kSessionName, &p.properties);
  if (status == ERROR_ALREADY_EXISTS) {
    // A session of ours left behind by a run that was killed: stop it and start afresh.
    (void)control_stop(0, nullptr);
    fill();
    status = StartTraceW(&state.session, kSessionName, &p.properties);
  }
  if (status != ERROR_SUCCESS) return refused("StartTrace", status);
  // From here on every failure stops the session (the destructor does).

  ULONG masks[kGroupMasks] = {};
  masks[0] = EVENT_TRACE_FLAG_IMAGE_LOAD;
  masks[kPerfPoolMaskIndex] |= kPerfPoolBit;
  status = TraceSetInformation(state.session, TraceSystemTraceEnableFlagsInfo, masks, sizeof masks);
  if (status != ERROR_SUCCESS) return refused("TraceSetInformation(pool group)", status);

  CLASSIC_EVENT_ID stacks[2] = {};
  stacks[0].EventGuid = to_windows(kPoolGuid);
  stacks[0].Type = kOpPoolAlloc;
  stacks[1].EventGuid = to_windows(kPoolGuid);
  stacks[1].Type = kOpPoolAllocSession;
  status = TraceSetInformation(state.session, TraceStackTracingInfo, stacks, sizeof stacks);
  if (status != ERROR_SUCCESS) return refused("TraceSetInformation(stack walks)", status);

  EVENT_TRACE_LOGFILEW logfile{};
  logfile.LoggerName = const_cast<wchar_t*>(kSessionName);
  logfile.ProcessTraceMode = PROCESS_TRACE_MODE_REAL_TIME | PROCESS_TRACE_MODE_EVENT_RECORD |
                             PROCESS_TRACE_MODE_RAW_TIMESTAMP;
  logfile.EventRecordCallback = on_event;
  logfile.Context = &state.on_record;
  state.consumer = OpenTraceW(&logfile);
  if (state.consumer == INVALID_PROCESSTRACE_HANDLE) {
    return refused("OpenTrace", GetLastError());
  }
  LARGE_INTEGER frequency{};
  if (logfile.LogfileHeader.PerfFreq.QuadPart > 0) {
    session->ticks_per_second_ =
        static_cast<std::uint64_t>(logfile.LogfileHeader.PerfFreq.QuadPart);
  } else if (QueryPerformanceFrequency(&frequency) && frequency.QuadPart > 0) {
    session->ticks_per_second_ = static_cast<std::uint64_t>(frequency.QuadPart);
  }
  state.thread = std::thread([consumer = state.consumer] {
    TRACEHANDLE handle = consumer;
    (void)ProcessTrace(&handle, 1, nullptr, nullptr);  // returns when the session stops
  });
  return session;
}

Result<void> EtwSession::stop() {
  if (!state_ || state_->stopped) return {};
  State& state = *state_;
  state.stopped = true;
  ULONG status = ERROR_SUCCESS;
  if (state.session != 0) status = control_stop(state.session, &lost_);
  if (state.thread.joinable()) state.thread.join();
  if (state.consumer != INVALID_PROCESSTRACE_HANDLE) CloseTrace(state.consumer);
  state.consumer = INVALID_PROCESSTRACE_HANDLE;
  if (status != ERROR_SUCCESS && status != ERROR_WMI_INSTANCE_NOT_FOUND) {
    return make_error(ErrorCode::kEnvironment,
                      "stopping the ETW session failed with Win32 error " + std::to_string(status) +
                          ": stop it by hand with: logman stop \"poolscope pool trace\" -ets",
                      static_cast<std::int64_t>(status));
  }
  return {};
}

EtwSession::~EtwSession() {
  (void)stop();
}

}  // namespace poolscope::trace::etw
