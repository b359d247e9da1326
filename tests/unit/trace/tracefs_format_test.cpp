#include "trace/tracefs_format.h"

#include <gtest/gtest.h>

#include "unit/trace/trace_fixtures.h"

namespace poolscope::trace {
namespace {

using testing::trace_data;

TEST(TracefsFormat, ReadsKmallocFormatOfThisKernel) {
  auto format = parse_event_format(trace_data("kmalloc.format"));
  ASSERT_TRUE(format) << format.error().message;
  EXPECT_EQ(format->name, "kmalloc");
  EXPECT_EQ(format->id, 658u);
  ASSERT_EQ(format->fields.size(), 10u);
  const EventField* call_site = find_field(*format, "call_site");
  ASSERT_NE(call_site, nullptr);
  EXPECT_EQ(call_site->type, "unsigned long");
  EXPECT_EQ(call_site->offset, 8u);
  EXPECT_EQ(call_site->size, 8u);
  EXPECT_FALSE(call_site->is_signed);
  const EventField* ptr = find_field(*format, "ptr");
  ASSERT_NE(ptr, nullptr);
  EXPECT_EQ(ptr->type, "const void *");
  EXPECT_EQ(ptr->offset, 16u);
  const EventField* node = find_field(*format, "node");
  ASSERT_NE(node, nullptr);
  EXPECT_TRUE(node->is_signed);
  EXPECT_EQ(node->offset, 48u);
  EXPECT_EQ(find_field(*format, "common_pid")->offset, 4u);
  EXPECT_EQ(find_field(*format, "bytes_alloc")->offset, 32u);
}

TEST(TracefsFormat, ReadsDataLocNameOfKmemCacheAlloc) {
  auto format = parse_event_format(trace_data("kmem_cache_alloc.format"));
  ASSERT_TRUE(format);
  EXPECT_EQ(format->id, 659u);
  const EventField* name = find_field(*format, "name");
  ASSERT_NE(name, nullptr);
  EXPECT_TRUE(name->data_loc);
  EXPECT_EQ(name->type, "__data_loc char[]");
  EXPECT_EQ(name->offset, 24u);
  EXPECT_EQ(name->size, 4u);
  EXPECT_EQ(find_field(*format, "bytes_alloc")->offset, 40u);
  EXPECT_EQ(find_field(*format, "accounted")->size, 1u);
  EXPECT_EQ(parse_event_format(trace_data("kfree.format"))->id, 657u);
  EXPECT_EQ(parse_event_format(trace_data("kmem_cache_free.format"))->fields.size(), 7u);
}

TEST(TracefsFormat, ArrayFieldNameExcludesItsSize) {
  auto format = parse_event_format(
      "name: sched_switch\nID: 316\nformat:\n"
      "\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n");
  ASSERT_TRUE(format);
  EXPECT_EQ(format->fields[0].name, "prev_comm");
  EXPECT_EQ(format->fields[0].type, "char[16]");
}

TEST(TracefsFormat, RejectsTextThatIsNoFormat) {
  EXPECT_FALSE(parse_event_format(""));
  EXPECT_FALSE(parse_event_format("name: x\nformat:\n"));  // no ID, no field
  auto bad = parse_event_format("name: x\nID: 1\n\tfield:int;\toffset:0;\tsize:4;\tsigned:1;\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInput);
  EXPECT_NE(bad.error().message.find("line 3"), std::string::npos);
}

TEST(TracefsFormat, ReadsPageAndEventHeaders) {
  auto layout = parse_page_layout(trace_data("header_page"), trace_data("header_event"));
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_EQ(layout->timestamp_offset, 0u);
  EXPECT_EQ(layout->commit_offset, 8u);
  EXPECT_EQ(layout->commit_size, 8u);
  EXPECT_EQ(layout->data_offset, 16u);
  EXPECT_EQ(layout->page_size(), 4096u);
  EXPECT_EQ(layout->event.type_len_bits, 5u);
  EXPECT_EQ(layout->event.time_delta_bits, 27u);
  EXPECT_EQ(layout->event.padding_type, 29u);
  EXPECT_EQ(layout->event.time_extend_type, 30u);
  EXPECT_EQ(layout->event.time_stamp_type, 31u);
  EXPECT_EQ(layout->event.data_max_type_len, 28u);
}

TEST(TracefsFormat, ThirtyTwoBitKernelPageHeader) {
  auto layout = parse_page_layout(
      "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
      "\tfield: local_t commit;\toffset:8;\tsize:4;\tsigned:1;\n"
      "\tfield: char data;\toffset:12;\tsize:4084;\tsigned:0;\n",
      trace_data("header_event"));
  ASSERT_TRUE(layout);
  EXPECT_EQ(layout->commit_size, 4u);
  EXPECT_EQ(layout->data_offset, 12u);
  EXPECT_EQ(layout->page_size(), 4096u);
}

TEST(TracefsFormat, RejectsBrokenHeaders) {
  EXPECT_FALSE(parse_page_layout("", trace_data("header_event")));
  EXPECT_FALSE(parse_page_layout(trace_data("header_page"), ""));
  EXPECT_FALSE(parse_header_event("\ttype_len    :    6 bits\n\ttime_delta  :   27 bits\n"));
  EXPECT_FALSE(
      parse_header_event("\ttype_len : 5 bits\n\ttime_delta : 27 bits\n"
                         "\tpadding : type == 40\n"));
}

}  // namespace
}  // namespace poolscope::trace
