// host.h on Windows: the Debugging Tools' and SystemRoot's folders, the token's elevation, a sliced
// sleep (a console control handler cannot interrupt Sleep).
#include <windows.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>

#include "attrib/tag_database.h"
#include "source/host.h"

namespace poolscope::host {

namespace {

std::optional<std::string> get_env(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::optional<std::string>(value) : std::nullopt;
}

}  // namespace

std::optional<std::filesystem::path> default_pooltag() {
  return attrib::find_default_pooltag(attrib::pooltag_search_roots(get_env));
}

std::optional<std::filesystem::path> default_kallsyms() {
  return std::nullopt;
}

bool has_slab_sysfs() {
  return false;
}

bool is_privileged() {
  HANDLE token = nullptr;
  if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) return false;
  TOKEN_ELEVATION elevation{};
  DWORD size = 0;
  const bool ok =
      ::GetTokenInformation(token, TokenElevation, &elevation, sizeof elevation, &size) != 0;
  ::CloseHandle(token);
  return ok && elevation.TokenIsElevated != 0;
}

void sleep_until_monotonic(std::int64_t until_ns, const std::atomic<bool>& stop) {
  // The console control handler runs on its own thread and cannot interrupt Sleep: sleep in
  // slices short enough for Ctrl+C to feel immediate.
  using namespace std::chrono;
  while (!stop) {
    const std::int64_t now =
        duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
    if (now >= until_ns) return;
    std::this_thread::sleep_for(nanoseconds(std::min<std::int64_t>(until_ns - now, 100'000'000)));
  }
}

std::int64_t process_cpu_time_ns() {
  // std::clock of Windows' C runtime is the elapsed time since the process started: an upper
  // bound of its CPU time (what the recorder's schedule has always used here).
  return static_cast<std::int64_t>(std::clock()) * (1'000'000'000 / CLOCKS_PER_SEC);
}

void release_free_memory() {}

}  // namespace poolscope::host
