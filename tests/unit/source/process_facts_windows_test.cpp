// The Windows process-facts collector against the real NtQuerySystemInformation (or Wine's):
// the portable decoder's offsets must find this very process.
#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <gtest/gtest.h>
#include <windows.h>

#include <cstdio>
#include <string>
#include <vector>

#include "source/process_facts.h"

namespace poolscope {
namespace {

TEST(ProcessFactsWindows, FindsThisProcessWithHandlesAndQuota) {
  SystemClock clock;
  auto collector = open_process_facts_collector(clock);
  ASSERT_TRUE(collector.has_value()) << collector.error().message;
  auto sample = (*collector)->collect();
  ASSERT_TRUE(sample.has_value()) << sample.error().message;
  ASSERT_GT(sample->processes.size(), 1u);
  const ProcessFacts* me = nullptr;
  for (const auto& p : sample->processes) {
    if (p.pid == ::GetCurrentProcessId()) me = &p;
  }
  ASSERT_NE(me, nullptr);
  EXPECT_EQ(me->name, "poolscope_tests.exe");
  ASSERT_TRUE(me->handle_count.has_value());
  EXPECT_GT(*me->handle_count, 0u);
  EXPECT_TRUE(me->paged_pool_quota_bytes.has_value());
  EXPECT_TRUE(me->nonpaged_pool_quota_bytes.has_value());
  EXPECT_FALSE(me->fds.has_value());

  FILETIME created{}, exited{}, kernel{}, user{};
  ASSERT_TRUE(::GetProcessTimes(::GetCurrentProcess(), &created, &exited, &kernel, &user));
  const std::uint64_t create_time =
      (std::uint64_t{created.dwHighDateTime} << 32) | created.dwLowDateTime;
  EXPECT_EQ(me->start_time, create_time);

  // Opening handles moves the count (Wine reports its handle table in steps of 32, so only the
  // direction is checked).
  // A thread that ends at once; this process keeps its handle too.
  HANDLE ended = ::CreateThread(
      nullptr, 0, [](LPVOID) -> DWORD { return 0; }, nullptr, 0, nullptr);
  ASSERT_NE(ended, nullptr);
  ASSERT_EQ(::WaitForSingleObject(ended, 60000), WAIT_OBJECT_0);

  std::vector<HANDLE> events;
  for (int i = 0; i < 50; ++i) events.push_back(::CreateEventW(nullptr, FALSE, FALSE, nullptr));
  auto later = (*collector)->collect();
  ASSERT_TRUE(later.has_value());
  for (const auto& p : later->processes) {
    if (p.pid == ::GetCurrentProcessId()) {
      EXPECT_GT(*p.handle_count, *me->handle_count);
    }
  }
  for (HANDLE h : events) ::CloseHandle(h);
}

// The handle census (class 64 + ObjectTypesInformation) either works — this process's Event
// handles grow by the 50 it creates, and its handle to a child that exited counts as a reference
// to an exited process — or the sample carries a note naming the NTSTATUS. scripts/test-windows.sh
// checks the line this test prints, so what Wine does is seen in CI.
TEST(ProcessFactsWindows, HandleTypesAndExitedProcessesOrTheNtstatus) {
  SystemClock clock;
  auto collector = open_process_facts_collector(clock);
  ASSERT_TRUE(collector.has_value()) << collector.error().message;
  auto before = (*collector)->collect();
  ASSERT_TRUE(before.has_value()) << before.error().message;
  auto me_in = [](const ProcessSample& sample) -> const ProcessFacts* {
    for (const auto& p : sample.processes) {
      if (p.pid == ::GetCurrentProcessId()) return &p;
    }
    return nullptr;
  };
  const ProcessFacts* me = me_in(*before);
  ASSERT_NE(me, nullptr);
  if (!me->handle_kinds) {
    std::string notes;
    for (const auto& note : before->notes) notes += note + "\n";
    std::printf("handle census: refused: %s", notes.c_str());
    EXPECT_NE(notes.find("NTSTATUS 0x"), std::string::npos) << notes;
    return;
  }
  // A child that exits at once; this process keeps its handle.
  wchar_t path[MAX_PATH];
  ASSERT_GT(::GetModuleFileNameW(nullptr, path, MAX_PATH), 0u);
  std::wstring command = L"\"" + std::wstring(path) + L"\" --gtest_filter=NoSuchTest";
  STARTUPINFOW startup{};
  startup.cb = sizeof startup;
  PROCESS_INFORMATION child{};
  ASSERT_TRUE(::CreateProcessW(nullptr, command.data(), nullptr, nullptr, FALSE, 0, nullptr,
                               nullptr, &startup, &child));
  ::CloseHandle(child.hThread);
  ASSERT_EQ(::WaitForSingleObject(child.hProcess, 60000), WAIT_OBJECT_0);

  // A thread that ends at once; this process keeps its handle too.
  HANDLE ended = ::CreateThread(
      nullptr, 0, [](LPVOID) -> DWORD { return 0; }, nullptr, 0, nullptr);
  ASSERT_NE(ended, nullptr);
  ASSERT_EQ(::WaitForSingleObject(ended, 60000), WAIT_OBJECT_0);

  // And one that waits until the census is taken: this process's thread count moves, which
  // makes the collector read the handle table again (Wine reports every HandleCount as 128, so a
  // handle count alone would not).
  HANDLE release = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  ASSERT_NE(release, nullptr);
  HANDLE parked = ::CreateThread(
      nullptr, 0,
      [](LPVOID event) -> DWORD {
        return ::WaitForSingleObject(static_cast<HANDLE>(event), 60000);
      },
      release, 0, nullptr);
  ASSERT_NE(parked, nullptr);

  std::vector<HANDLE> events;
  for (int i = 0; i < 50; ++i) events.push_back(::CreateEventW(nullptr, FALSE, FALSE, nullptr));
  auto after = (*collector)->collect();
  ::SetEvent(release);
  ::WaitForSingleObject(parked, 60000);
  ASSERT_TRUE(after.has_value()) << after.error().message;
  const ProcessFacts* me_after = me_in(*after);
  ASSERT_NE(me_after, nullptr);
  ASSERT_TRUE(me_after->handle_kinds);
  const auto events_before = (*me->handle_kinds)[HandleKind::kEvent];
  const auto events_after = (*me_after->handle_kinds)[HandleKind::kEvent];
  EXPECT_GE(events_after, events_before + 51);  // the 50 and `release`
  // The collector's own probes (one per live process and thread) are not counted as this
  // process's handles: two Thread handles more (the ended and the parked thread's), not one per
  // thread.
  const auto threads_before = (*me->handle_kinds)[HandleKind::kThread];
  const auto threads_after = (*me_after->handle_kinds)[HandleKind::kThread];
  EXPECT_GE(threads_after, threads_before + 2);
  EXPECT_LE(threads_after, threads_before + 4);
  if (me_after->exited_thread_handles) {
    EXPECT_GE(*me_after->exited_thread_handles, 1u);
  }
  std::string exited;
  if (me_after->exited_process_handles) {
    EXPECT_GE(*me_after->exited_process_handles, 1u);
    exited = std::to_string(*me_after->exited_process_handles);
  } else {
    // Wine (and Windows 11 24H2 without SeDebugPrivilege) hide the object addresses.
    std::string notes;
    for (const auto& note : before->notes) notes += note;
    EXPECT_NE(notes.find("shows no object addresses"), std::string::npos) << notes;
    exited = "not known (the table shows no object addresses)";
  }
  std::printf(
      "handle census: read: Event handles %llu -> %llu, Thread handles %llu -> %llu, handles to "
      "exited processes %s\n",
      static_cast<unsigned long long>(events_before), static_cast<unsigned long long>(events_after),
      static_cast<unsigned long long>(threads_before),
      static_cast<unsigned long long>(threads_after), exited.c_str());
  for (HANDLE h : events) ::CloseHandle(h);
  ::CloseHandle(ended);
  ::CloseHandle(parked);
  ::CloseHandle(release);
  ::CloseHandle(child.hProcess);
}

}  // namespace
}  // namespace poolscope
#endif  // _WIN32
