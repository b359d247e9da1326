// The Windows process-facts collector against the real NtQuerySystemInformation (or Wine's):
// the portable decoder's offsets must find this very process.
#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <gtest/gtest.h>
#include <windows.h>

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

}  // namespace
}  // namespace poolscope
#endif  // _WIN32
