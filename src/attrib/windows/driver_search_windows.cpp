// The default driver search on Windows: the loaded kernel modules (NtQuerySystemInformation
// class 11), %SystemRoot%\System32\drivers and %SystemRoot%\System32\DriverStore\FileRepository.
#include <windows.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "attrib/driver_search.h"

namespace poolscope::attrib {

namespace {

using NtStatus = LONG;
using NtQuerySystemInformationFn = NtStatus(NTAPI*)(ULONG, PVOID, ULONG, PULONG);
constexpr ULONG kSystemModuleInformation = 11;
constexpr NtStatus kStatusInfoLengthMismatch = static_cast<NtStatus>(0xC0000004);
constexpr int kMaxQueryAttempts = 8;
constexpr std::size_t kMaxBuffer = std::size_t{64} << 20;  // ~220,000 modules: never reached
constexpr parse::PointerWidth kPointerWidth =
    sizeof(void*) == 8 ? parse::PointerWidth::k64 : parse::PointerWidth::k32;

std::string system_root() {
  wchar_t buffer[MAX_PATH];
  const UINT n = ::GetSystemWindowsDirectoryW(buffer, MAX_PATH);
  if (n == 0 || n >= MAX_PATH) return "C:\\Windows";
  return std::filesystem::path(std::wstring(buffer, n)).string();
}

}  // namespace

DriverSearch default_driver_search() {
  const std::string root = system_root();
  std::vector<std::filesystem::path> roots = {
      std::filesystem::path(root) / "System32" / "drivers",
      std::filesystem::path(root) / "System32" / "DriverStore" / "FileRepository"};
  DriverSearch out;
  auto query = reinterpret_cast<NtQuerySystemInformationFn>(reinterpret_cast<void (*)()>(
      ::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "NtQuerySystemInformation")));
  std::vector<std::byte> buffer(256 * 1024);
  NtStatus status = -1;
  for (int attempt = 0; query != nullptr && attempt < kMaxQueryAttempts; ++attempt) {
    ULONG needed = 0;
    status =
        query(kSystemModuleInformation, buffer.data(), static_cast<ULONG>(buffer.size()), &needed);
    if (status != kStatusInfoLengthMismatch) break;
    const std::size_t next = std::max<std::size_t>(needed + 4096, buffer.size() * 2);
    if (next > kMaxBuffer) break;
    buffer.resize(next);
  }
  if (query == nullptr || status < 0) {
    char text[32];
    std::snprintf(text, sizeof text, "0x%08lX", static_cast<unsigned long>(status));
    out.notes.push_back(std::string("the loaded kernel modules could not be listed "
                                    "(NtQuerySystemInformation(SystemModuleInformation): ") +
                        (query == nullptr ? "not in ntdll.dll" : std::string("NTSTATUS ") + text) +
                        "); only the driver folders were searched");
  } else if (auto modules = parse::decode_system_modules(buffer, kPointerWidth)) {
    out = driver_search_from_modules(modules->modules, root, roots, [](const std::string& p) {
      std::error_code ec;
      return std::filesystem::is_regular_file(std::filesystem::path(p), ec);
    });
  } else {
    out.notes.push_back("the loaded kernel modules could not be decoded: " +
                        modules.error().message);
  }
  out.roots = std::move(roots);
  return out;
}

}  // namespace poolscope::attrib
