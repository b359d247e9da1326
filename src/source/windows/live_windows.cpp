// Live Windows source: NtQuerySystemInformation for pool tags (class 22), session pool tags (67)
// and pool totals (2), plus GlobalMemoryStatusEx for limits. Only system calls here; every buffer
// is decoded by parse/pooltag_buffer, which is tested and fuzzed on any OS.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <algorithm>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "core/forward_error.h"
#include "parse/pooltag_buffer.h"
#include "source/source.h"
#include "source/windows/nt_query.h"

namespace poolscope {

namespace {

using NtStatus = nt::Status;
using nt::hex_status;
using nt::resolve;
using NtQuerySystemInformationFn = NtStatus(NTAPI*)(ULONG, PVOID, ULONG, PULONG);

// Information classes (phnt ntexapi.h SYSTEM_INFORMATION_CLASS).
constexpr ULONG kSystemPerformanceInformation = 2;
constexpr ULONG kSystemPoolTagInformation = 22;
constexpr ULONG kSystemSessionPoolTagInformation = 67;

// Like System Informer's PhEnumPoolTagInformation: the table can grow between two calls, so retry
// with the length the kernel asked for plus slack, a bounded number of times.
constexpr std::size_t kInitialPoolTagBuffer = 256 * 1024;
constexpr std::size_t kMaxQueryBuffer = std::size_t{1} << 30;

constexpr parse::PointerWidth kPointerWidth =
    sizeof(void*) == 8 ? parse::PointerWidth::k64 : parse::PointerWidth::k32;

// Input of class 67 (phnt SYSTEM_SESSION_PROCESS_INFORMATION): the records go to Buffer.
struct SessionQuery {
  ULONG session_id;
  ULONG size_of_buf;
  PVOID buffer;
};
constexpr ULONG kAllSessions = 0xFFFFFFFF;

std::string status_name(NtStatus status) {
  switch (static_cast<std::uint32_t>(status)) {
    case 0xC0000003:
      return "STATUS_INVALID_INFO_CLASS: the information class is not implemented";
    case 0xC0000002:
      return "STATUS_NOT_IMPLEMENTED";
    case 0xC0000022:
      return "STATUS_ACCESS_DENIED";
    case 0xC0000061:
      return "STATUS_PRIVILEGE_NOT_HELD";
    case 0xC0000017:
      return "STATUS_NO_MEMORY";
    case 0xC000009A:
      return "STATUS_INSUFFICIENT_RESOURCES";
    case 0xC0000004:
      return "STATUS_INFO_LENGTH_MISMATCH: the table kept growing";
    case 0xC000000D:
      return "STATUS_INVALID_PARAMETER";
    default:
      return "an NTSTATUS poolscope has no name for";
  }
}

std::string refused(const char* what, NtStatus status) {
  return std::string("NtQuerySystemInformation(") + what + ") was refused: NTSTATUS " +
         hex_status(status) + " (" + status_name(status) + ")";
}

std::string to_utf8(const wchar_t* text, int length) {
  if (length <= 0) return {};
  int bytes = ::WideCharToMultiByte(CP_UTF8, 0, text, length, nullptr, 0, nullptr, nullptr);
  if (bytes <= 0) return {};
  std::string out(static_cast<std::size_t>(bytes), '\0');
  ::WideCharToMultiByte(CP_UTF8, 0, text, length, out.data(), bytes, nullptr, nullptr);
  return out;
}

std::string computer_name() {
  wchar_t name[256];
  DWORD size = static_cast<DWORD>(std::size(name));
  if (!::GetComputerNameExW(ComputerNameDnsHostname, name, &size)) return {};
  return to_utf8(name, static_cast<int>(size));
}

class WindowsSource final : public Source {
 public:
  WindowsSource(const Clock& clock, NtQuerySystemInformationFn query)
      : clock_(clock), query_(query), host_(computer_name()) {
    SYSTEM_INFO info{};
    ::GetSystemInfo(&info);
    page_size_ = info.dwPageSize ? info.dwPageSize : 4096;
  }

  // Queries class 22 once so that a refusal is reported when the source opens.
  Result<void> probe() {
    auto bytes = query_pool_tags();
    if (!bytes) return forward_error(bytes);
    return {};
  }

  Result<Snapshot> sample() override {
    Snapshot snapshot;
    snapshot.wall_time = clock_.wall();
    snapshot.monotonic_ns = clock_.monotonic_ns();
    snapshot.host = host_;
    snapshot.source = "live:windows";
    snapshot.entries.reserve(last_entry_count_);

    auto bytes = query_pool_tags();
    if (!bytes) return forward_error(bytes);
    if (auto ok = parse::decode_pooltag_into(std::span(pool_tags_).first(*bytes), kPointerWidth,
                                             snapshot);
        !ok) {
      return make_error(ErrorCode::kInternal,
                        "SystemPoolTagInformation: " + ok.error().message +
                            " (this Windows' buffer layout is new to poolscope)");
    }
    add_session_pools(snapshot);
    add_totals(snapshot);
    last_entry_count_ = snapshot.entries.size();
    return snapshot;
  }

  std::string describe() const override { return "live:windows"; }

 private:
  // Calls class `info_class` into `buffer`, growing it on a length mismatch. Returns the status
  // and the number of bytes the kernel says it wrote.
  struct Answer {
    NtStatus status = 0;
    std::size_t length = 0;
  };
  Answer query_into(ULONG info_class, std::vector<std::byte>& buffer, std::size_t initial) {
    Answer answer;
    answer.status = nt::query_growing(
        buffer, initial, kMaxQueryBuffer,
        [&](void* data, ULONG size, ULONG* returned) {
          return query_(info_class, data, size, returned);
        },
        answer.length);
    return answer;
  }

  Result<std::size_t> query_pool_tags() {
    Answer answer = query_into(kSystemPoolTagInformation, pool_tags_, kInitialPoolTagBuffer);
    if (answer.status >= 0) return answer.length;
    std::string message = refused("SystemPoolTagInformation", answer.status);
    switch (static_cast<std::uint32_t>(answer.status)) {
      case 0xC0000003:
      case 0xC0000002:
        message +=
            ". This Windows (or Wine, which does not implement it) does not expose pool tags; "
            "on real Windows run poolscope as Administrator, or analyse a saved poolmon log or "
            "WinDbg !poolused output with --source FILE";
        break;
      case 0xC0000022:
      case 0xC0000061:
        message +=
            ". Run poolscope from an elevated prompt (Run as Administrator); sandboxed or "
            "low-integrity processes may not query pool tags";
        break;
      default:
        message += ". Try again; if it persists, analyse a saved poolmon log with --source FILE";
        break;
    }
    return make_error(ErrorCode::kEnvironment, message, static_cast<std::uint32_t>(answer.status));
  }

  // Class 67 takes a SessionQuery and writes the records to its buffer. Optional: when refused,
  // a note says so once per sample and it is not asked again.
  void add_session_pools(Snapshot& snapshot) {
    if (!session_refusal_.empty()) {
      snapshot.notes.push_back(session_refusal_);
      return;
    }
    if (sessions_.empty()) sessions_.resize(64 * 1024);
    NtStatus status = 0;
    ULONG returned = 0;
    for (int attempt = 0; attempt < nt::kMaxQueryAttempts; ++attempt) {
      SessionQuery request{kAllSessions, static_cast<ULONG>(sessions_.size()), sessions_.data()};
      returned = 0;
      status = query_(kSystemSessionPoolTagInformation, &request, sizeof request, &returned);
      if (status >= 0 || !nt::grow(status, returned, sessions_, kMaxQueryBuffer)) break;
    }
    if (status < 0) {
      session_refusal_ =
          "session pool tags not shown: " + refused("SystemSessionPoolTagInformation", status);
      snapshot.notes.push_back(session_refusal_);
      return;
    }
    const std::size_t length = std::min<std::size_t>(returned, sessions_.size());
    auto ok = parse::decode_session_pooltag_into(std::span(sessions_).first(length), kPointerWidth,
                                                 snapshot);
    if (!ok) snapshot.notes.push_back("session pool tags not shown: " + ok.error().message);
  }

  void add_totals(Snapshot& snapshot) {
    Answer answer = query_into(kSystemPerformanceInformation, performance_, 512);
    bool have_totals = false;
    std::string why;
    if (answer.status >= 0) {
      auto perf = parse::decode_performance_buffer(std::span(performance_).first(answer.length),
                                                   kPointerWidth);
      if (perf) {
        parse::apply_pool_performance(*perf, page_size_, snapshot);
        have_totals = true;
      } else {
        why = perf.error().message;
      }
    } else {
      why = refused("SystemPerformanceInformation", answer.status);
    }
    if (!have_totals) have_totals = totals_from_performance_info(snapshot);
    if (!have_totals) {
      snapshot.notes.push_back("pool totals unknown: " + why + "; GetPerformanceInfo failed too");
    }

    MEMORYSTATUSEX memory{};
    memory.dwLength = sizeof memory;
    auto& paged = total_for(snapshot, PoolKind::kPaged);
    paged.limit_note =
        "unknown: Windows 8.1 and later size paged pool dynamically and report no fixed maximum";
    if (::GlobalMemoryStatusEx(&memory)) {
      snapshot.memory_total_bytes = memory.ullTotalPhys;
      snapshot.memory_available_bytes = memory.ullAvailPhys;
      auto& nonpaged = total_for(snapshot, PoolKind::kNonPaged);
      nonpaged.limit_bytes = memory.ullTotalPhys;
      nonpaged.limit_note =
          "physical memory: Windows 8.1 and later report no fixed nonpaged pool maximum; it can "
          "grow until RAM runs out";
    } else {
      total_for(snapshot, PoolKind::kNonPaged).limit_note =
          "unknown: GlobalMemoryStatusEx failed (Win32 error " + std::to_string(::GetLastError()) +
          ")";
    }
  }

  // psapi's GetPerformanceInfo (kernel32 K32GetPerformanceInfo since Windows 7): pool pages only.
  bool totals_from_performance_info(Snapshot& snapshot) {
    struct PerformanceInformation {  // PERFORMANCE_INFORMATION
      DWORD cb;
      SIZE_T CommitTotal, CommitLimit, CommitPeak, PhysicalTotal, PhysicalAvailable, SystemCache,
          KernelTotal, KernelPaged, KernelNonpaged, PageSize;
      DWORD HandleCount, ProcessCount, ThreadCount;
    };
    using Fn = BOOL(WINAPI*)(PerformanceInformation*, DWORD);
    auto fn = resolve<Fn>(::GetModuleHandleW(L"kernel32.dll"), "K32GetPerformanceInfo");
    if (!fn) return false;
    PerformanceInformation info{};
    info.cb = sizeof info;
    if (!fn(&info, sizeof info)) return false;
    total_for(snapshot, PoolKind::kPaged).used_bytes =
        std::uint64_t{info.KernelPaged} * info.PageSize;
    total_for(snapshot, PoolKind::kNonPaged).used_bytes =
        std::uint64_t{info.KernelNonpaged} * info.PageSize;
    return true;
  }

  const Clock& clock_;
  NtQuerySystemInformationFn query_;
  std::string host_;
  std::uint64_t page_size_ = 4096;
  std::vector<std::byte> pool_tags_, sessions_, performance_;
  std::string session_refusal_;
  std::size_t last_entry_count_ = 0;
};

}  // namespace

Result<std::unique_ptr<Source>> open_live_source(const Clock& clock) {
  auto query = resolve<NtQuerySystemInformationFn>(::GetModuleHandleW(L"ntdll.dll"),
                                                   "NtQuerySystemInformation");
  if (!query) {
    return make_error(ErrorCode::kEnvironment,
                      "ntdll.dll has no NtQuerySystemInformation (Win32 error " +
                          std::to_string(::GetLastError()) +
                          "); this is not Windows NT. Analyse a saved poolmon log with --source "
                          "FILE instead",
                      static_cast<std::int64_t>(::GetLastError()));
  }
  auto source = std::make_unique<WindowsSource>(clock, query);
  if (auto ok = source->probe(); !ok) return forward_error(ok);
  return source;
}

}  // namespace poolscope
