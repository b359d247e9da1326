// Process identity and liveness through the Win32 process API (Windows).
#include <windows.h>

#include "store/process_identity.h"

namespace poolscope::store {

namespace {

std::uint64_t creation_time(HANDLE process) {
  FILETIME created{}, exited{}, kernel{}, user{};
  if (!::GetProcessTimes(process, &created, &exited, &kernel, &user)) return 0;
  return (static_cast<std::uint64_t>(created.dwHighDateTime) << 32) | created.dwLowDateTime;
}

std::string host_name() {
  char host[MAX_COMPUTERNAME_LENGTH + 1] = {};
  DWORD size = sizeof host;
  if (!::GetComputerNameA(host, &size)) return {};
  return std::string(host, size);
}

}  // namespace

ProcessIdentity current_process_identity() {
  ProcessIdentity me;
  me.pid = ::GetCurrentProcessId();
  me.start_time = creation_time(::GetCurrentProcess());
  me.host = host_name();
  return me;
}

Liveness process_liveness(const ProcessIdentity& who) {
  if (who.host != host_name()) return Liveness::kUnknown;
  HANDLE process =
      ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, static_cast<DWORD>(who.pid));
  if (!process) {
    // Access denied means it exists (another user's process); anything else: gone.
    return ::GetLastError() == ERROR_ACCESS_DENIED ? Liveness::kAlive : Liveness::kGone;
  }
  DWORD code = 0;
  const bool running = ::GetExitCodeProcess(process, &code) && code == STILL_ACTIVE;
  const std::uint64_t start = creation_time(process);
  ::CloseHandle(process);
  if (!running) return Liveness::kGone;
  if (start != 0 && who.start_time != 0 && start != who.start_time) return Liveness::kGone;
  return Liveness::kAlive;
}

}  // namespace poolscope::store
