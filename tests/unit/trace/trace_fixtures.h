// The real layout files of this project's test machine (Linux 6.18, x86_64), from tests/data/trace.
#pragma once

#include "test_support.h"
#include "trace/kmem_events.h"
#include "trace/tracefs_format.h"
#include "unit/trace/page_builder.h"

namespace poolscope::testing {

inline std::string trace_data(const std::string& name) {
  return read_file(test_data("trace/" + name));
}

inline trace::PageLayout real_page_layout() {
  return *trace::parse_page_layout(trace_data("header_page"), trace_data("header_event"));
}

inline trace::KmemFormats real_kmem_formats() {
  return kmem_formats_from(trace_data("kmalloc.format"), trace_data("kfree.format"),
                           trace_data("kmem_cache_alloc.format"),
                           trace_data("kmem_cache_free.format"));
}

}  // namespace poolscope::testing
