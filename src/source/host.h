// What differs between the OSes outside their pool sources: default file locations, privilege,
// sleeping on the monotonic clock, the process's CPU time, giving memory back, and stopping on
// SIGINT/SIGTERM (Ctrl-C). One implementation per OS (host_linux.cpp, host_windows.cpp; CMake picks
// the folder); callers decide nothing by #ifdef.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>

namespace poolscope::host {

// The Debugging Tools' pooltag.txt (Windows Kits\10\Debuggers\<arch>\triage under the
// ProgramFiles folders) when installed; none on Linux. `who`, the OWNER column and the reports use
// the same lookup.
std::optional<std::filesystem::path> default_pooltag();
// This machine's kernel symbols (/proc/kallsyms on Linux; names only for non-root); none on
// Windows.
std::optional<std::filesystem::path> default_kallsyms();
// Whether this machine's slab caches are described under /sys/kernel/slab (Linux).
bool has_slab_sysfs();

// root on Linux; an elevated (administrator) token on Windows.
bool is_privileged();

// Sleeps until the monotonic clock (steady_clock) reaches until_ns, or less when `stop` becomes
// true (a signal handler sets it; the sleep is interrupted or sliced so the stop is seen quickly).
void sleep_until_monotonic(std::int64_t until_ns, const std::atomic<bool>& stop);

// CPU time of this process in ns (Linux: CPU time; Windows: user + kernel time).
std::int64_t process_cpu_time_ns();

// After dropping a large structure (the kernel's symbol table): return the freed pages to the OS,
// not only to the allocator's free lists (glibc's malloc_trim; nothing elsewhere).
void release_free_memory();

// SIGINT and SIGTERM (Ctrl-C / Ctrl-Break on Windows) set a flag instead of ending the process, for
// as long as the guard lives; the default handling is restored when it ends. One at a time.
class StopOnSignal {
 public:
  StopOnSignal();
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

  // Set by the signals (and request_stop); loops check it and pass it to sleep_until_monotonic.
  const std::atomic<bool>& flag() const;
  bool requested() const { return flag().load(); }
  void request_stop();  // as a signal would: e.g. to end the guard's other threads
};

}  // namespace poolscope::host
