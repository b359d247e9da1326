// Windows process facts: NtQuerySystemInformation(SystemProcessInformation) gives every
// process's HandleCount and pool quota in one call; SystemExtendedHandleInformation (64) and
// NtQueryObject(ObjectTypesInformation) give every handle's process and object type, counted per
// process and type, and the references to exited processes. Only the system calls here; the
// buffers are decoded by parse/process_info_buffer and parse/handle_table, which are tested and
// fuzzed on any OS.
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
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "parse/handle_table.h"
#include "parse/process_info_buffer.h"
#include "source/process_facts.h"
#include "source/windows/nt_query.h"

namespace poolscope {

namespace {

using NtStatus = nt::Status;
using nt::hex_status;
using nt::resolve;
using NtQuerySystemInformationFn = NtStatus(NTAPI*)(ULONG, PVOID, ULONG, PULONG);
using NtQueryObjectFn = NtStatus(NTAPI*)(HANDLE, ULONG, PVOID, ULONG, PULONG);

constexpr ULONG kSystemProcessInformation = 5;
constexpr ULONG kSystemExtendedHandleInformation = 64;
constexpr ULONG kObjectTypesInformation = 3;

// Like System Informer's PhEnumProcesses: processes start between the size query and the real
// one, so retry with the asked-for size plus slack, a bounded number of times.
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

// phnt's SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX and OBJECT_TYPE_INFORMATION with this compiler's
// layout, held to parse/handle_table's offsets.
struct SystemHandleTableEntryInfoEx {
  PVOID Object;
  ULONG_PTR UniqueProcessId;
  ULONG_PTR HandleValue;
  ULONG GrantedAccess;
  USHORT CreatorBackTraceIndex;
  USHORT ObjectTypeIndex;
  ULONG HandleAttributes;
  ULONG Reserved;
};
struct SystemHandleInformationEx {
  ULONG_PTR NumberOfHandles;
  ULONG_PTR Reserved;
  SystemHandleTableEntryInfoEx Handles[1];
};
static_assert(offsetof(SystemHandleInformationEx, Handles) == (kX64 ? 16 : 8));
static_assert(sizeof(SystemHandleTableEntryInfoEx) == (kX64 ? 40 : 28));
static_assert(offsetof(SystemHandleTableEntryInfoEx, UniqueProcessId) == (kX64 ? 8 : 4));
static_assert(offsetof(SystemHandleTableEntryInfoEx, HandleValue) == (kX64 ? 16 : 8));
static_assert(offsetof(SystemHandleTableEntryInfoEx, GrantedAccess) == (kX64 ? 24 : 12));
static_assert(offsetof(SystemHandleTableEntryInfoEx, ObjectTypeIndex) == (kX64 ? 30 : 18));
static_assert(offsetof(SystemHandleTableEntryInfoEx, HandleAttributes) == (kX64 ? 32 : 20));
struct ObjectTypeInformation {
  UnicodeString TypeName;
  ULONG TotalNumberOfObjects;
  ULONG TotalNumberOfHandles;
  ULONG TotalPagedPoolUsage;
  ULONG TotalNonPagedPoolUsage;
  ULONG TotalNamePoolUsage;
  ULONG TotalHandleTableUsage;
  ULONG HighWaterNumberOfObjects;
  ULONG HighWaterNumberOfHandles;
  ULONG HighWaterPagedPoolUsage;
  ULONG HighWaterNonPagedPoolUsage;
  ULONG HighWaterNamePoolUsage;
  ULONG HighWaterHandleTableUsage;
  ULONG InvalidAttributes;
  GENERIC_MAPPING GenericMapping;
  ULONG ValidAccessMask;
  BOOLEAN SecurityRequired;
  BOOLEAN MaintainHandleCount;
  UCHAR TypeIndex;
  CHAR ReservedByte;
  ULONG PoolType;
  ULONG DefaultPagedPoolCharge;
  ULONG DefaultNonPagedPoolCharge;
};
static_assert(offsetof(ObjectTypeInformation, TotalNumberOfObjects) == (kX64 ? 16 : 8));
static_assert(offsetof(ObjectTypeInformation, TypeIndex) == (kX64 ? 90 : 82));
static_assert(sizeof(ObjectTypeInformation) == (kX64 ? 104 : 96));

std::string status_text(NtStatus status) {
  std::string text = "NTSTATUS " + hex_status(status);
  if (status == nt::kInfoLengthMismatch) text += " (STATUS_INFO_LENGTH_MISMATCH: kept growing)";
  if (status == static_cast<NtStatus>(0xC0000003)) text += " (STATUS_INVALID_INFO_CLASS)";
  if (status == static_cast<NtStatus>(0xC0000002)) text += " (STATUS_NOT_IMPLEMENTED)";
  if (status == static_cast<NtStatus>(0xC0000022)) text += " (STATUS_ACCESS_DENIED)";
  return text;
}

// The handle census of one sample: per process handle counts by type and references to exited
// processes and threads (docs/windows.md). Holds one PROCESS_QUERY_LIMITED_INFORMATION handle per
// live process and one THREAD_QUERY_LIMITED_INFORMATION handle per live thread (its probes: they
// name the live objects in the handle table), each closed when its process or thread leaves the
// list, so it never keeps an exited object alive past a sample. Thread probes stop above
// kMaxThreadProbes live threads (exited-thread references are then not recorded, with a note).
class HandleCensusCollector {
 public:
  HandleCensusCollector(NtQuerySystemInformationFn query, NtQueryObjectFn query_object)
      : query_(query), query_object_(query_object) {}
  ~HandleCensusCollector() {
    for (auto& [identity, handle] : probes_) {
      if (handle) ::CloseHandle(handle);
    }
    close_thread_probes();
  }
  HandleCensusCollector(const HandleCensusCollector&) = delete;
  HandleCensusCollector& operator=(const HandleCensusCollector&) = delete;

  // Adds handle_kinds and exited_process_handles to the processes (sorted by pid). A refusal is
  // a note (once), not an error: the other facts stand.
  // `threads` is every live thread of the process list (nullptr: the list's thread arrays could not
  // be read, so references to exited threads are not known).
  void add_to(ProcessSample& sample, const std::vector<parse::ThreadIdentity>* threads) {
    if (refused_) return;
    // The recorder's CPU budget: when no process started, ended or changed its HandleCount or
    // its number of threads, nothing can have moved but a handle's type swapped for another's
    // (or a thread replaced by another in one interval), so the last census stands and neither
    // the handle table nor the probes are touched.
    std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>> counts;
    counts.reserve(sample.processes.size());
    for (const ProcessFacts& p : sample.processes) {
      counts.emplace_back(p.pid, p.start_time, p.handle_count.value_or(0), p.threads.value_or(0));
    }
    if (have_census_ && counts == last_counts_) {
      parse::apply_handle_census(census_, sample.processes);
      return;
    }
    // A driver can register a type after the list was read: read it again when more handles
    // have an index it does not list than when it was read (Wine lists fewer types than its
    // handles use, so not whenever there are some).
    if (types_.types.empty() || census_.unknown_type_handles > unknown_at_load_) {
      if (!load_types(sample)) return;
      unknown_at_load_ = have_census_ ? census_.unknown_type_handles : 0;
    }
    const std::uint64_t not_opened = update_probes(sample.processes);
    parse::LiveObjects live;
    live.own_pid = ::GetCurrentProcessId();
    live.processes_not_opened = not_opened;
    for (const auto& [identity, handle] : probes_) {
      if (handle) live.own_process_handles.push_back(reinterpret_cast<std::uintptr_t>(handle));
    }
    if (threads && threads->size() <= kMaxThreadProbes) {
      live.threads_known = true;
      live.threads_not_opened = update_thread_probes(*threads);
      for (const auto& [identity, handle] : thread_probes_) {
        if (handle) live.own_thread_handles.push_back(reinterpret_cast<std::uintptr_t>(handle));
      }
    } else {
      close_thread_probes();
      if (threads && !told_too_many_threads_) {
        told_too_many_threads_ = true;
        sample.notes.push_back(
            std::to_string(threads->size()) + " live threads are more than poolscope probes (" +
            std::to_string(kMaxThreadProbes) + "): references to exited threads are not recorded");
      }
    }
    std::size_t length = 0;
    const NtStatus status = nt::query_growing(
        buffer_, kInitialHandleBuffer, kMaxBuffer,
        [&](void* data, ULONG size, ULONG* returned) {
          return query_(kSystemExtendedHandleInformation, data, size, returned);
        },
        length);
    if (status < 0) {
      refuse(sample, "NtQuerySystemInformation(SystemExtendedHandleInformation) was refused: " +
                         status_text(status));
      return;
    }
    const auto table = std::span(buffer_).first(length);
    // Checked once per type list against the collector's own Process handles: Wine numbers the
    // list 2 above the table (docs/windows.md), and a layout change would show here first.
    if (!shift_checked_) {
      if (const auto shift = parse::type_index_shift(table, kPointerWidth, types_, live)) {
        shift_checked_ = true;
        if (*shift != 0) {
          parse::shift_type_indexes(types_, *shift);
          sample.notes.push_back(
              "the handle table numbers object types " + std::to_string(*shift) +
              " from the type list's indexes (Wine does); poolscope's own Process handles set "
              "the match");
        }
      }
    }
    auto census = parse::census_handles(table, kPointerWidth, types_, &live);
    if (!census) {
      refuse(sample, census.error().message +
                         " (this Windows' handle table layout is new to "
                         "poolscope)");
      return;
    }
    census_ = std::move(*census);
    have_census_ = true;
    last_counts_ = std::move(counts);
    parse::apply_handle_census(census_, sample.processes);
    if (census_.object_addresses_hidden && !told_hidden_) {
      told_hidden_ = true;
      sample.notes.push_back(
          "the handle table shows no object addresses (all 0: Wine, or Windows 11 24H2 and later "
          "without SeDebugPrivilege; run elevated): handle counts by type are recorded, "
          "references to exited processes are not");
    }
    if (census_.exited_threads_known && live.threads_not_opened > 0 && !told_threads_not_opened_) {
      told_threads_not_opened_ = true;
      sample.notes.push_back(
          std::to_string(live.threads_not_opened) +
          " live threads could not be opened (THREAD_QUERY_LIMITED_INFORMATION; run elevated): "
          "handles to them count as references to exited threads");
    }
    if (census_.exited_processes_known && not_opened > 0 && !told_not_opened_) {
      told_not_opened_ = true;
      sample.notes.push_back(
          std::to_string(not_opened) +
          " live processes could not be opened (PROCESS_QUERY_LIMITED_INFORMATION; run "
          "elevated): handles to them count as references to exited processes, so at most that "
          "many objects are counted wrongly");
    }
    // The table can be big (2 million handles are 80 MB): give it back when it was.
    if (buffer_.size() > kKeepHandleBuffer) std::vector<std::byte>().swap(buffer_);
  }

 private:
  static constexpr std::size_t kInitialHandleBuffer = std::size_t{1} << 20;
  static constexpr std::size_t kKeepHandleBuffer = std::size_t{16} << 20;
  // One handle each: 64 Ki handles are about 1 MiB of our handle table, the most poolscope adds
  // to the paged pool it is diagnosing.
  static constexpr std::size_t kMaxThreadProbes = 65536;

  void refuse(ProcessSample& sample, std::string why) {
    refused_ = true;
    sample.notes.push_back(why +
                           "; handle counts by type and references to exited processes "
                           "are not recorded");
  }

  bool load_types(ProcessSample& sample) {
    if (!query_object_) {
      refuse(sample, "ntdll.dll has no NtQueryObject");
      return false;
    }
    std::vector<std::byte> buffer;
    std::size_t length = 0;
    const NtStatus status = nt::query_growing(
        buffer, 64 * 1024, kMaxBuffer,
        [&](void* data, ULONG size, ULONG* returned) {
          return query_object_(nullptr, kObjectTypesInformation, data, size, returned);
        },
        length);
    if (status < 0) {
      refuse(sample, "NtQueryObject(ObjectTypesInformation) was refused: " + status_text(status));
      return false;
    }
    auto types = parse::decode_object_types(std::span(buffer).first(length), kPointerWidth);
    if (!types) {
      refuse(sample, types.error().message);
      return false;
    }
    types_ = std::move(*types);
    shift_checked_ = false;
    return true;
  }

  using Probes = std::map<std::pair<std::uint64_t, std::uint64_t>, HANDLE>;

  // Keeps the probes of the objects still listed (keyed by id and creation time, so a reused id
  // is a new object), opens one for each new object and closes the rest. Objects of the idle
  // process (pid 0) are no objects anyone holds. Returns how many live objects have no probe.
  template <typename Item, typename Identity, typename Open>
  static std::uint64_t update(Probes& probes, const std::vector<Item>& items, Identity identity_of,
                              Open open) {
    Probes next;
    std::uint64_t not_opened = 0;
    for (const Item& item : items) {
      if (item.pid == 0) continue;
      const auto identity = identity_of(item);
      auto it = probes.find(identity);
      HANDLE handle = nullptr;
      if (it != probes.end()) {
        handle = it->second;
        probes.erase(it);
      } else {
        handle = open(static_cast<DWORD>(identity.first));
      }
      if (!handle) ++not_opened;
      next.emplace(identity, handle);
    }
    for (auto& [identity, handle] : probes) {
      if (handle) ::CloseHandle(handle);
    }
    probes = std::move(next);
    return not_opened;
  }

  std::uint64_t update_probes(const std::vector<ProcessFacts>& processes) {
    return update(
        probes_, processes,
        [](const ProcessFacts& p) { return std::make_pair(p.pid, p.start_time); },
        [](DWORD pid) { return ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid); });
  }

  std::uint64_t update_thread_probes(const std::vector<parse::ThreadIdentity>& threads) {
    return update(
        thread_probes_, threads,
        [](const parse::ThreadIdentity& t) { return std::make_pair(t.tid, t.create_time); },
        [](DWORD tid) { return ::OpenThread(THREAD_QUERY_LIMITED_INFORMATION, FALSE, tid); });
  }

  void close_thread_probes() {
    for (auto& [identity, handle] : thread_probes_) {
      if (handle) ::CloseHandle(handle);
    }
    thread_probes_.clear();
  }

  NtQuerySystemInformationFn query_;
  NtQueryObjectFn query_object_;
  parse::ObjectTypeTable types_;
  std::vector<std::byte> buffer_;
  Probes probes_;         // (pid, start) -> handle
  Probes thread_probes_;  // (tid, start) -> handle
  parse::HandleCensus census_;
  bool have_census_ = false;
  std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>> last_counts_;
  bool refused_ = false;
  bool shift_checked_ = false;  // types_ matched to the table's indexes
  bool told_not_opened_ = false;
  bool told_threads_not_opened_ = false;
  bool told_too_many_threads_ = false;
  bool told_hidden_ = false;
  std::uint64_t unknown_at_load_ = 0;
};

class WindowsProcessFacts final : public ProcessFactsCollector {
 public:
  WindowsProcessFacts(const Clock& clock, NtQuerySystemInformationFn query,
                      NtQueryObjectFn query_object)
      : clock_(clock), query_(query), handles_(query, query_object) {}

  Result<ProcessSample> collect() override {
    ProcessSample sample;
    sample.time = clock_.wall();
    sample.monotonic_ns = clock_.monotonic_ns();
    std::size_t length = 0;
    const NtStatus status = nt::query_growing(
        buffer_, kInitialBuffer, kMaxBuffer,
        [&](void* data, ULONG size, ULONG* returned) {
          return query_(kSystemProcessInformation, data, size, returned);
        },
        length);
    if (status < 0) {
      return make_error(
          ErrorCode::kEnvironment,
          "NtQuerySystemInformation(SystemProcessInformation) was refused: NTSTATUS " +
              hex_status(status) +
              (status == nt::kInfoLengthMismatch
                   ? " (STATUS_INFO_LENGTH_MISMATCH: the process list kept growing)"
                   : std::string()) +
              "; per-process handle counts and pool quota are not recorded",
          static_cast<std::uint32_t>(status));
    }
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
    // The thread arrays name the live threads for the exited-thread rule; a list whose arrays do
    // not decode still gives every other fact.
    auto threads = parse::decode_process_threads(std::span(buffer_).first(length), kPointerWidth);
    if (!threads && !told_threads_) {
      told_threads_ = true;
      sample.notes.push_back(threads.error().message +
                             "; references to exited threads are not recorded");
    }
    handles_.add_to(sample, threads ? &*threads : nullptr);
    return sample;
  }

 private:
  const Clock& clock_;
  NtQuerySystemInformationFn query_;
  std::vector<std::byte> buffer_;
  HandleCensusCollector handles_;
  bool told_threads_ = false;
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
  auto query_object = resolve<NtQueryObjectFn>(::GetModuleHandleW(L"ntdll.dll"), "NtQueryObject");
  return std::unique_ptr<ProcessFactsCollector>(
      new WindowsProcessFacts(clock, query, query_object));
}

}  // namespace poolscope
