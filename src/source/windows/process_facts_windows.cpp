// Windows process facts: NtQuerySystemInformation(SystemProcessInformation) gives every
// process's HandleCount and pool quota in one call. Only the system call here; the buffer is
// decoded by parse/process_info_buffer, which is tested and fuzzed on any OS.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "parse/process_info_buffer.h"
#include "source/process_facts.h"

namespace poolscope {

namespace {

using NtStatus = LONG;
using NtQuerySystemInformationFn = NtStatus(NTAPI*)(ULONG, PVOID, ULONG, PULONG);

constexpr ULONG kSystemProcessInformation = 5;
constexpr NtStatus kStatusInfoLengthMismatch = static_cast<NtStatus>(0xC0000004);
constexpr NtStatus kStatusBufferTooSmall = static_cast<NtStatus>(0xC0000023);

// Like System Informer's PhEnumProcesses: processes start between the size query and the real
// one, so retry with the asked-for size plus slack, a bounded number of times.
constexpr int kMaxQueryAttempts = 8;
constexpr std::size_t kInitialBuffer = 512 * 1024;
constexpr std::size_t kMaxBuffer = std::size_t{256} << 20;

constexpr parse::PointerWidth kPointerWidth =
    sizeof(void*) == 8 ? parse::PointerWidth::k64 : parse::PointerWidth::k32;

// phnt's SYSTEM_PROCESS_INFORMATION up to the IO counters, with this compiler's layout: the
// static_asserts below hold the portable decoder's offsets to it on every Windows build (x64 and
// x86 alike).
struct UnicodeString {
  USHORT Length;
  USHORT MaximumLength;
  PWSTR Buffer;
};
struct SystemProcessInformation {
  ULONG NextEntryOffset;
  ULONG NumberOfThreads;
  LARGE_INTEGER WorkingSetPrivateSize;
  ULONG HardFaultCount;
  ULONG NumberOfThreadsHighWatermark;
  ULONGLONG CycleTime;
  LARGE_INTEGER CreateTime;
  LARGE_INTEGER UserTime;
  LARGE_INTEGER KernelTime;
  UnicodeString ImageName;
  LONG BasePriority;
  HANDLE UniqueProcessId;
  HANDLE InheritedFromUniqueProcessId;
  ULONG HandleCount;
  ULONG SessionId;
  ULONG_PTR UniqueProcessKey;
  SIZE_T PeakVirtualSize;
  SIZE_T VirtualSize;
  ULONG PageFaultCount;
  SIZE_T PeakWorkingSetSize;
  SIZE_T WorkingSetSize;
  SIZE_T QuotaPeakPagedPoolUsage;
  SIZE_T QuotaPagedPoolUsage;
  SIZE_T QuotaPeakNonPagedPoolUsage;
  SIZE_T QuotaNonPagedPoolUsage;
  SIZE_T PagefileUsage;
  SIZE_T PeakPagefileUsage;
  SIZE_T PrivatePageCount;
  LARGE_INTEGER ReadOperationCount;
  LARGE_INTEGER WriteOperationCount;
  LARGE_INTEGER OtherOperationCount;
  LARGE_INTEGER ReadTransferCount;
  LARGE_INTEGER WriteTransferCount;
  LARGE_INTEGER OtherTransferCount;
};
constexpr bool kX64 = sizeof(void*) == 8;
static_assert(offsetof(SystemProcessInformation, CreateTime) == 32);
static_assert(offsetof(SystemProcessInformation, ImageName) == 56);
static_assert(offsetof(SystemProcessInformation, ImageName) + offsetof(UnicodeString, Buffer) ==
              (kX64 ? 64 : 60));
static_assert(offsetof(SystemProcessInformation, UniqueProcessId) == (kX64 ? 80 : 68));
static_assert(offsetof(SystemProcessInformation, InheritedFromUniqueProcessId) == (kX64 ? 88 : 72));
static_assert(offsetof(SystemProcessInformation, HandleCount) == (kX64 ? 96 : 76));
static_assert(offsetof(SystemProcessInformation, QuotaPagedPoolUsage) == (kX64 ? 160 : 112));
static_assert(offsetof(SystemProcessInformation, QuotaNonPagedPoolUsage) == (kX64 ? 176 : 120));
static_assert(sizeof(SystemProcessInformation) == (kX64 ? 256 : 184));

std::string hex_status(NtStatus status) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08lX", static_cast<unsigned long>(status));
  return text;
}

template <class Fn>
Fn resolve(HMODULE module, const char* name) {
  if (!module) return nullptr;
  // Through void(*)() so -Wcast-function-type accepts the FARPROC conversion.
  return reinterpret_cast<Fn>(reinterpret_cast<void (*)()>(::GetProcAddress(module, name)));
}

class WindowsProcessFacts final : public ProcessFactsCollector {
 public:
  WindowsProcessFacts(const Clock& clock, NtQuerySystemInformationFn query)
      : clock_(clock), query_(query) {}

  Result<ProcessSample> collect() override {
    ProcessSample sample;
    sample.time = clock_.wall();
    sample.monotonic_ns = clock_.monotonic_ns();
    if (buffer_.size() < kInitialBuffer) buffer_.resize(kInitialBuffer);
    NtStatus status = 0;
    ULONG returned = 0;
    for (int attempt = 0; attempt < kMaxQueryAttempts; ++attempt) {
      returned = 0;
      status = query_(kSystemProcessInformation, buffer_.data(), static_cast<ULONG>(buffer_.size()),
                      &returned);
      if (status >= 0) break;  // NT_SUCCESS
      if (status != kStatusInfoLengthMismatch && status != kStatusBufferTooSmall) break;
      // Slack of 1/8: processes and threads are created between the two calls.
      const std::size_t want =
          returned > buffer_.size() ? returned + returned / 8 : buffer_.size() * 2;
      if (want > kMaxBuffer) break;
      buffer_.resize(want);
    }
    if (status < 0) {
      return make_error(
          ErrorCode::kEnvironment,
          "NtQuerySystemInformation(SystemProcessInformation) was refused: NTSTATUS " +
              hex_status(status) +
              (status == kStatusInfoLengthMismatch
                   ? " (STATUS_INFO_LENGTH_MISMATCH: the process list kept growing)"
                   : std::string()) +
              "; per-process handle counts and pool quota are not recorded",
          static_cast<std::uint32_t>(status));
    }
    const std::size_t length =
        returned ? std::min<std::size_t>(returned, buffer_.size()) : buffer_.size();
    auto processes = parse::decode_process_info_buffer(
        std::span(buffer_).first(length), kPointerWidth,
        static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(buffer_.data())));
    if (!processes) {
      return make_error(ErrorCode::kInternal,
                        processes.error().message +
                            " (this Windows' SystemProcessInformation layout is new to poolscope)");
    }
    sample.processes = std::move(*processes);
    std::sort(sample.processes.begin(), sample.processes.end(),
              [](const ProcessFacts& a, const ProcessFacts& b) { return a.pid < b.pid; });
    return sample;
  }

 private:
  const Clock& clock_;
  NtQuerySystemInformationFn query_;
  std::vector<std::byte> buffer_;
};

}  // namespace

Result<std::unique_ptr<ProcessFactsCollector>> open_process_facts_collector(const Clock& clock) {
  auto query = resolve<NtQuerySystemInformationFn>(::GetModuleHandleW(L"ntdll.dll"),
                                                   "NtQuerySystemInformation");
  if (!query) {
    return make_error(ErrorCode::kEnvironment,
                      "ntdll.dll has no NtQuerySystemInformation (Win32 error " +
                          std::to_string(::GetLastError()) + "); this is not Windows NT",
                      static_cast<std::int64_t>(::GetLastError()));
  }
  return std::unique_ptr<ProcessFactsCollector>(new WindowsProcessFacts(clock, query));
}

}  // namespace poolscope
