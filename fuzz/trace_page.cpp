// Fuzzer for the ring-buffer page decoder and the kmem record decoder with the real layouts of
// Linux 6.18 x86_64 (tests/data/trace), fed through the processor and the pairing engine.
#include <cstdint>
#include <span>

#include "trace/processor.h"

namespace {

constexpr const char* kHeaderPage =
    "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
    "\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n"
    "\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"
    "\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n";
constexpr const char* kHeaderEvent =
    "# compressed entry header\n\ttype_len    :    5 bits\n\ttime_delta  :   27 bits\n"
    "\tarray       :   32 bits\n\n\tpadding     : type == 29\n\ttime_extend : type == 30\n"
    "\ttime_stamp : type == 31\n\tdata max type_len  == 28\n";
constexpr const char* kCommon =
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
    "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
    "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n"
    "\tfield:unsigned long call_site;\toffset:8;\tsize:8;\tsigned:0;\n"
    "\tfield:const void * ptr;\toffset:16;\tsize:8;\tsigned:0;\n";

poolscope::trace::EventFormat format(const char* name, int id, const char* fields) {
  std::string text = std::string("name: ") + name + "\nID: " + std::to_string(id) + "\nformat:\n" +
                     kCommon + fields;
  return *poolscope::trace::parse_event_format(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace poolscope::trace;
  static const PageLayout layout = *parse_page_layout(kHeaderPage, kHeaderEvent);
  static const KmemFormats formats{
      format("kmalloc", 658,
             "\tfield:size_t bytes_req;\toffset:24;\tsize:8;\tsigned:0;\n"
             "\tfield:size_t bytes_alloc;\toffset:32;\tsize:8;\tsigned:0;\n"),
      format("kfree", 657, ""),
      format("kmem_cache_alloc", 659,
             "\tfield:__data_loc char[] name;\toffset:24;\tsize:4;\tsigned:0;\n"
             "\tfield:size_t bytes_alloc;\toffset:40;\tsize:8;\tsigned:0;\n"),
      format("kmem_cache_free", 656,
             "\tfield:__data_loc char[] name;\toffset:24;\tsize:4;\tsigned:0;\n")};
  TrackerOptions options;
  options.max_tracked = 64;
  TraceProcessor processor(layout, *KmemDecoder::create(formats), options);
  processor.add_pages(std::span<const std::uint8_t>(data, size));
  processor.flush();
  (void)processor.tracker().report(0, 0);
  return 0;
}
