// host.h on Linux: /proc and /sys paths, the effective uid, clock_nanosleep, glibc's malloc_trim.
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cerrno>
#include <ctime>

#include "source/host.h"

namespace poolscope::host {

std::optional<std::filesystem::path> default_pooltag() {
  return std::nullopt;
}

std::optional<std::filesystem::path> default_kallsyms() {
  return std::filesystem::path("/proc/kallsyms");
}

bool has_slab_sysfs() {
  return true;
}

bool is_privileged() {
  return ::geteuid() == 0;
}

void sleep_until_monotonic(std::int64_t until_ns, const std::atomic<bool>& stop) {
  // steady_clock is CLOCK_MONOTONIC on Linux; an absolute sleep does not drift, and a signal
  // interrupts it (EINTR) so SIGINT/SIGTERM end the wait at once.
  timespec until{};
  until.tv_sec = static_cast<time_t>(until_ns / 1'000'000'000);
  until.tv_nsec = static_cast<long>(until_ns % 1'000'000'000);
  while (!stop) {
    const int rc = ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr);
    if (rc == 0) return;
    if (rc != EINTR) return;
  }
}

std::int64_t process_cpu_time_ns() {
  // std::clock is this process's CPU time on Linux.
  return static_cast<std::int64_t>(std::clock()) * (1'000'000'000 / CLOCKS_PER_SEC);
}

void release_free_memory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace poolscope::host
