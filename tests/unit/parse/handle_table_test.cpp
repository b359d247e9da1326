#include "parse/handle_table.h"

#include <gtest/gtest.h>

#include <vector>

#include "unit/parse/handle_table_builder.h"

namespace poolscope::parse {
namespace {

using testing::HandleTableBuilder;
using testing::ObjectTypesBuilder;
using testing::windows_types;

constexpr std::uint16_t kProcessType = 7, kThreadType = 8, kEventType = 16, kFileType = 37;

class HandleTableWidths : public ::testing::TestWithParam<PointerWidth> {};

TEST_P(HandleTableWidths, DecodesEveryFieldAtThePhntOffsets) {
  HandleTableBuilder table(GetParam());
  const bool x64 = GetParam() == PointerWidth::k64;
  const HandleEntry first{.object = x64 ? 0xFFFFA80012345670u : 0x85A01230u,
                          .pid = 1234,
                          .handle = 0x4C,
                          .granted_access = 0x1F0003,
                          .type_index = kEventType,
                          .attributes = 2};
  const HandleEntry second{.object = x64 ? 0xFFFFA80099990010u : 0x86000010u,
                           .pid = 4,
                           .handle = 0x1000,
                           .granted_access = 0x120089,
                           .type_index = kFileType,
                           .attributes = 0};
  table.add(first);
  table.add(second);
  auto entries = decode_handle_table(table.bytes(/*slack=*/64), GetParam());
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0], first);
  EXPECT_EQ((*entries)[1], second);
}

TEST_P(HandleTableWidths, CountThatDoesNotFitIsRefused) {
  HandleTableBuilder table(GetParam());
  table.add(HandleEntry{.object = 1, .pid = 8, .handle = 4, .type_index = kEventType});
  auto bytes = table.bytes();
  bytes.resize(bytes.size() - 1);  // the one entry is cut short
  auto entries = decode_handle_table(bytes, GetParam());
  ASSERT_FALSE(entries);
  EXPECT_EQ(entries.error().code, ErrorCode::kInput);
  EXPECT_NE(entries.error().message.find("NumberOfHandles 1"), std::string::npos)
      << entries.error().message;
  EXPECT_FALSE(decode_handle_table(std::span(bytes).first(3), GetParam()));
}

TEST_P(HandleTableWidths, ObjectTypesGiveIndexToName) {
  auto types = decode_object_types(windows_types(GetParam()).bytes(), GetParam());
  ASSERT_TRUE(types) << types.error().message;
  ASSERT_EQ(types->types.size(), 21u);
  EXPECT_EQ(types->name_of(kEventType), "Event");
  EXPECT_EQ(types->name_of(46), "ALPC Port");
  EXPECT_EQ(types->name_of(99), "");
  EXPECT_EQ(types->kind_of(kEventType), HandleKind::kEvent);
  EXPECT_EQ(types->kind_of(46), HandleKind::kAlpcPort);
  EXPECT_EQ(types->kind_of(6), HandleKind::kOther);  // Job: no counter of its own
  EXPECT_EQ(types->kind_of(44), HandleKind::kKey);
}

TEST_P(HandleTableWidths, ObjectTypesBefore81AreNumberedFromTwo) {
  ObjectTypesBuilder types(GetParam());
  types.add(u"Type", 0, 50, 0);
  types.add(u"Directory", 0, 40, 120);
  types.add(u"Event", 0, 9000, 9100);
  auto table = decode_object_types(types.bytes(), GetParam());
  ASSERT_TRUE(table) << table.error().message;
  EXPECT_EQ(table->name_of(2), "Type");
  EXPECT_EQ(table->name_of(4), "Event");
  EXPECT_EQ(table->types[2].total_objects, 9000u);
  EXPECT_EQ(table->types[2].total_handles, 9100u);
}

TEST_P(HandleTableWidths, ObjectTypesMalformedIsRefused) {
  auto good = windows_types(GetParam()).bytes();
  auto cut = good;
  cut.resize(cut.size() - 20);
  EXPECT_FALSE(decode_object_types(cut, GetParam()));
  auto odd = good;
  odd[object_type_layout(GetParam()).first_entry] = std::byte{7};  // Length 7
  EXPECT_FALSE(decode_object_types(odd, GetParam()));
  ObjectTypesBuilder twice(GetParam());
  twice.add(u"Event", 16);
  twice.add(u"File", 16);
  auto dup = decode_object_types(twice.bytes(), GetParam());
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("index 16"), std::string::npos);
  EXPECT_FALSE(decode_object_types({}, GetParam()));
}

TEST_P(HandleTableWidths, CensusCountsKindsPerProcess) {
  auto types = decode_object_types(windows_types(GetParam()).bytes(), GetParam());
  ASSERT_TRUE(types);
  HandleTableBuilder table(GetParam());
  for (std::uint64_t h = 0; h < 5; ++h) {
    table.add(HandleEntry{
        .object = 0x1000 + h * 16, .pid = 800, .handle = 4 + 4 * h, .type_index = kEventType});
  }
  table.add(HandleEntry{.object = 0x9000, .pid = 800, .handle = 40, .type_index = kFileType});
  table.add(HandleEntry{.object = 0x9100, .pid = 4, .handle = 4, .type_index = kFileType});
  table.add(HandleEntry{.object = 0x9200, .pid = 800, .handle = 44, .type_index = 6});    // Job
  table.add(HandleEntry{.object = 0x9300, .pid = 800, .handle = 48, .type_index = 200});  // ?
  auto census = census_handles(table.bytes(), GetParam(), *types, nullptr);
  ASSERT_TRUE(census) << census.error().message;
  EXPECT_EQ(census->handles, 9u);
  ASSERT_EQ(census->processes.size(), 2u);
  EXPECT_EQ(census->processes[0].pid, 4u);  // sorted by pid
  EXPECT_EQ(census->processes[0].kinds[HandleKind::kFile], 1u);
  const auto& p = census->processes[1];
  EXPECT_EQ(p.pid, 800u);
  EXPECT_EQ(p.kinds[HandleKind::kEvent], 5u);
  EXPECT_EQ(p.kinds[HandleKind::kFile], 1u);
  EXPECT_EQ(p.kinds[HandleKind::kOther], 2u);
  EXPECT_EQ(p.total, 8u);
  EXPECT_EQ(census->unknown_type_handles, 1u);
  EXPECT_FALSE(census->exited_processes_known);
}

// Wine 8 lists the types from index 2 (Type = 2, ..., Process = 7, Thread = 8, Event = 10) but
// numbers them from 0 in the handle table, so its Event handles carry the list's Thread index
// (seen under Wine: five CreateEvent handles with ObjectTypeIndex 8). The collector's own Process
// probes give the shift; without it, the Events would be counted as Threads.
// Found by fuzz_handle_table: a first entry whose pid was all ones matched the census's initial
// "last pid" sentinel, so its handles were counted into a process slot that did not exist
// (a read out of bounds).
TEST_P(HandleTableWidths, FirstEntryWithAnAllOnesPidCrashedTheCensus) {
  auto types = decode_object_types(windows_types(GetParam()).bytes(), GetParam());
  ASSERT_TRUE(types);
  const std::uint64_t all_ones =
      GetParam() == PointerWidth::k64 ? ~std::uint64_t{0} : std::uint64_t{0xFFFFFFFF};
  HandleTableBuilder table(GetParam());
  table.add(HandleEntry{.object = 0x1000, .pid = all_ones, .handle = 4, .type_index = kEventType});
  table.add(HandleEntry{.object = 0x2000, .pid = 800, .handle = 8, .type_index = kFileType});
  auto census = census_handles(table.bytes(), GetParam(), *types, nullptr);
  ASSERT_TRUE(census) << census.error().message;
  ASSERT_EQ(census->processes.size(), 2u);
  EXPECT_EQ(census->handles, 2u);
  EXPECT_EQ(census->processes[1].pid, all_ones);
  EXPECT_EQ(census->processes[1].kinds[HandleKind::kEvent], 1u);
}

TEST_P(HandleTableWidths, WineTypeIndexShiftFoundFromTheCollectorsOwnProbes) {
  ObjectTypesBuilder builder(GetParam());
  const char16_t* names[] = {u"Type",  u"Directory", u"SymbolicLink", u"Token",
                             u"Job",   u"Process",   u"Thread",       u"DebugObject",
                             u"Event", u"Mutant",    u"Semaphore",    u"Timer"};
  for (std::uint8_t i = 0; i < 12; ++i) builder.add(names[i], static_cast<std::uint8_t>(i + 2));
  auto types = decode_object_types(builder.bytes(), GetParam());
  ASSERT_TRUE(types);
  constexpr std::uint64_t kCollector = 32;
  HandleTableBuilder table(GetParam());
  for (std::uint64_t h = 0; h < 5; ++h) {
    table.add(HandleEntry{.pid = kCollector, .handle = 0x34 + 4 * h, .type_index = 8});  // Event
  }
  LiveObjects live{.own_pid = kCollector};
  for (std::uint64_t h = 0; h < 3; ++h) {
    table.add(HandleEntry{.pid = kCollector, .handle = 0x80 + 4 * h, .type_index = 5});  // probe
    live.own_process_handles.push_back(0x80 + 4 * h);
  }
  table.add(HandleEntry{.pid = 56, .handle = 4, .type_index = 8});  // another process's Event

  auto unshifted = census_handles(table.bytes(), GetParam(), *types, &live);
  ASSERT_TRUE(unshifted);
  EXPECT_EQ(unshifted->processes[0].kinds[HandleKind::kThread], 5u);  // the misreading

  const auto shift = type_index_shift(table.bytes(), GetParam(), *types, live);
  ASSERT_TRUE(shift);
  EXPECT_EQ(*shift, -2);
  shift_type_indexes(*types, *shift);
  EXPECT_EQ(types->name_of(8), "Event");
  EXPECT_EQ(types->types.size(), 12u);
  auto census = census_handles(table.bytes(), GetParam(), *types, &live);
  ASSERT_TRUE(census) << census.error().message;
  ASSERT_EQ(census->processes.size(), 2u);
  EXPECT_EQ(census->processes[0].pid, kCollector);
  EXPECT_EQ(census->processes[0].kinds[HandleKind::kEvent], 5u);
  EXPECT_EQ(census->processes[0].total, 5u);  // the probes are left out
  EXPECT_EQ(census->processes[1].kinds[HandleKind::kEvent], 1u);

  // Windows: the probes carry the list's own Process index, so nothing moves.
  HandleTableBuilder windows(GetParam());
  windows.add(HandleEntry{.pid = kCollector, .handle = 0x80, .type_index = 5});
  EXPECT_EQ(type_index_shift(windows.bytes(), GetParam(), *types, live), 0);
  // No probe in the table, or probes that disagree: no shift is known.
  HandleTableBuilder none(GetParam());
  none.add(HandleEntry{.pid = 56, .handle = 0x80, .type_index = 5});
  EXPECT_FALSE(type_index_shift(none.bytes(), GetParam(), *types, live));
  HandleTableBuilder mixed(GetParam());
  mixed.add(HandleEntry{.pid = kCollector, .handle = 0x80, .type_index = 5});
  mixed.add(HandleEntry{.pid = kCollector, .handle = 0x84, .type_index = 7});
  EXPECT_FALSE(type_index_shift(mixed.bytes(), GetParam(), *types, live));
}

// The rule of docs/windows.md "References to exited processes": the collector's own handles to
// the live processes name their objects; a Process handle to any other object refers to a
// process that has exited.
TEST_P(HandleTableWidths, ReferencesToExitedProcessesCountedPerHolder) {
  auto types = decode_object_types(windows_types(GetParam()).bytes(), GetParam());
  ASSERT_TRUE(types);
  constexpr std::uint64_t kCollector = 5000, kLeaker = 1234, kCsrss = 600;
  // Live processes 4, 600, 1234, 5000 have objects 0xA004.. ; exited ones 0xD000 + n.
  HandleTableBuilder table(GetParam());
  // csrss holds one handle to each live process and one to an exited one it has not closed yet.
  table.add(
      HandleEntry{.object = 0xA004, .pid = kCsrss, .handle = 0x10, .type_index = kProcessType});
  table.add(
      HandleEntry{.object = 0xA4D2, .pid = kCsrss, .handle = 0x14, .type_index = kProcessType});
  table.add(
      HandleEntry{.object = 0xD000, .pid = kCsrss, .handle = 0x18, .type_index = kProcessType});
  // The leaker: 3 handles to 3 exited processes, 2 to the same exited one, 1 to a live one.
  for (std::uint64_t n = 1; n <= 3; ++n) {
    table.add(HandleEntry{.object = 0xD000 + n * 16,
                          .pid = kLeaker,
                          .handle = 0x100 + 4 * n,
                          .type_index = kProcessType});
  }
  table.add(
      HandleEntry{.object = 0xD010, .pid = kLeaker, .handle = 0x200, .type_index = kProcessType});
  table.add(
      HandleEntry{.object = 0xA258, .pid = kLeaker, .handle = 0x204, .type_index = kProcessType});
  // Two exited threads held by the leaker and one live thread.
  table.add(
      HandleEntry{.object = 0xE000, .pid = kLeaker, .handle = 0x300, .type_index = kThreadType});
  table.add(
      HandleEntry{.object = 0xE010, .pid = kLeaker, .handle = 0x304, .type_index = kThreadType});
  table.add(
      HandleEntry{.object = 0xF000, .pid = kLeaker, .handle = 0x308, .type_index = kThreadType});
  // The collector's own handles, one per live process (itself included) and per live thread.
  const std::uint64_t live_objects[] = {0xA004, 0xA258, 0xA4D2, 0xB388};
  LiveObjects live{.own_pid = kCollector};
  for (std::uint64_t i = 0; i < 4; ++i) {
    table.add(HandleEntry{.object = live_objects[i],
                          .pid = kCollector,
                          .handle = 0x800 + 4 * i,
                          .type_index = kProcessType});
    live.own_process_handles.push_back(0x800 + 4 * i);
  }
  table.add(
      HandleEntry{.object = 0xF000, .pid = kCollector, .handle = 0x900, .type_index = kThreadType});
  live.own_thread_handles.push_back(0x900);
  live.threads_known = true;
  // A handle of the collector that is not one of its probes counts like any other.
  table.add(
      HandleEntry{.object = 0x7777, .pid = kCollector, .handle = 0x40, .type_index = kEventType});

  auto census = census_handles(table.bytes(), GetParam(), *types, &live);
  ASSERT_TRUE(census) << census.error().message;
  ASSERT_EQ(census->processes.size(), 3u);
  const auto& csrss = census->processes[0];
  const auto& leaker = census->processes[1];
  const auto& collector = census->processes[2];
  EXPECT_EQ(csrss.pid, kCsrss);
  EXPECT_EQ(csrss.exited_process_handles, 1u);
  EXPECT_EQ(leaker.pid, kLeaker);
  EXPECT_EQ(leaker.exited_process_handles, 4u);
  EXPECT_EQ(leaker.kinds[HandleKind::kProcess], 5u);
  EXPECT_EQ(leaker.exited_thread_handles, 2u);
  EXPECT_EQ(collector.pid, kCollector);
  EXPECT_EQ(collector.total, 1u);  // its probes are left out
  EXPECT_EQ(collector.kinds[HandleKind::kProcess], 0u);
  EXPECT_EQ(census->process_objects, 7u);
  EXPECT_EQ(census->exited_process_objects, 4u);
  EXPECT_EQ(census->live_process_objects, 3u);
  EXPECT_EQ(census->exited_process_objects_at_least, 4u);
  EXPECT_EQ(census->exited_thread_objects, 2u);

  // Two live processes the collector could not open blur the count: at least 2 of the 4 unnamed
  // objects are exited processes.
  live.processes_not_opened = 2;
  census = census_handles(table.bytes(), GetParam(), *types, &live);
  ASSERT_TRUE(census);
  EXPECT_EQ(census->exited_process_objects_at_least, 2u);

  // Without thread probes, exited threads are not counted.
  live.threads_known = false;
  census = census_handles(table.bytes(), GetParam(), *types, &live);
  ASSERT_TRUE(census);
  EXPECT_FALSE(census->exited_threads_known);
  EXPECT_EQ(census->processes[1].exited_thread_handles, 0u);

  std::vector<ProcessFacts> facts(4);
  facts[0].pid = 4;
  facts[1].pid = kCsrss;
  facts[2].pid = kLeaker;
  facts[3].pid = kCollector;
  apply_handle_census(*census, facts);
  ASSERT_TRUE(facts[0].handle_kinds);  // holds nothing: zero counts, not unknown
  EXPECT_EQ(facts[0].handle_kinds->count, HandleCounts{}.count);
  EXPECT_EQ(facts[0].exited_process_handles, 0u);
  EXPECT_EQ(facts[2].exited_process_handles, 4u);
  EXPECT_EQ((*facts[2].handle_kinds)[HandleKind::kThread], 3u);
  EXPECT_FALSE(facts[2].exited_thread_handles);
}

// Seen under Wine 8: every Object is 0 (Windows 11 24H2 does the same for a caller without
// SeDebugPrivilege). The counts by type stand; no reference can be called exited.
TEST_P(HandleTableWidths, HiddenObjectAddressesMakeExitedReferencesUnknown) {
  auto types = decode_object_types(windows_types(GetParam()).bytes(), GetParam());
  ASSERT_TRUE(types);
  HandleTableBuilder table(GetParam());
  table.add(HandleEntry{.object = 0, .pid = 32, .handle = 4, .type_index = kProcessType});
  table.add(HandleEntry{.object = 0, .pid = 32, .handle = 8, .type_index = kEventType});
  table.add(HandleEntry{.object = 0, .pid = 48, .handle = 4, .type_index = kProcessType});
  LiveObjects live{.own_pid = 48, .own_process_handles = {4}};
  auto census = census_handles(table.bytes(), GetParam(), *types, &live);
  ASSERT_TRUE(census);
  EXPECT_TRUE(census->object_addresses_hidden);
  EXPECT_FALSE(census->exited_processes_known);
  ASSERT_EQ(census->processes.size(), 1u);
  EXPECT_EQ(census->processes[0].kinds[HandleKind::kProcess], 1u);
  EXPECT_EQ(census->processes[0].exited_process_handles, 0u);
  std::vector<ProcessFacts> facts(1);
  facts[0].pid = 32;
  apply_handle_census(*census, facts);
  EXPECT_TRUE(facts[0].handle_kinds);
  EXPECT_FALSE(facts[0].exited_process_handles);
}

INSTANTIATE_TEST_SUITE_P(Layouts, HandleTableWidths,
                         ::testing::Values(PointerWidth::k64, PointerWidth::k32),
                         [](const auto& info) {
                           return info.param == PointerWidth::k64 ? "x64" : "x86";
                         });

TEST(HandleTableLayout, MatchesPhnt) {
  const auto x64 = handle_table_layout(PointerWidth::k64);
  EXPECT_EQ(x64.header_size, 16u);
  EXPECT_EQ(x64.entry_size, 40u);
  EXPECT_EQ(x64.object_type_index, 30u);
  const auto x86 = handle_table_layout(PointerWidth::k32);
  EXPECT_EQ(x86.header_size, 8u);
  EXPECT_EQ(x86.entry_size, 28u);
  EXPECT_EQ(x86.object_type_index, 18u);
  EXPECT_EQ(object_type_layout(PointerWidth::k64).entry_size, 104u);
  EXPECT_EQ(object_type_layout(PointerWidth::k32).entry_size, 96u);
}

TEST(HandleKinds, NamesRoundTrip) {
  for (std::size_t k = 0; k + 1 < kHandleKindCount; ++k) {
    const auto kind = static_cast<HandleKind>(k);
    EXPECT_EQ(handle_kind_of_type_name(handle_kind_name(kind)), kind);
  }
  EXPECT_EQ(handle_kind_of_type_name("event"), HandleKind::kOther);  // the kernel's spelling only
}

}  // namespace
}  // namespace poolscope::parse
