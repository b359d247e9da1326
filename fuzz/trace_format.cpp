// Fuzzer for the tracefs layout parsers: event format files, header_page and header_event, and
// the kmem decoder built from what they say.
#include <cstdint>
#include <string_view>

#include "trace/kmem_events.h"
#include "trace/tracefs_format.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace poolscope::trace;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto format = parse_event_format(text);
  (void)parse_header_event(text);
  (void)parse_page_layout(text, text);
  if (format) {
    // The same format for all four events (ids clash: rejected) and with distinct ids.
    KmemFormats formats{*format, *format, *format, *format};
    (void)KmemDecoder::create(formats);
    formats.kfree.id += 1, formats.cache_alloc.id += 2, formats.cache_free.id += 3;
    (void)KmemDecoder::create(formats);
  }
  return 0;
}
