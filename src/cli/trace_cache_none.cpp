// `diagnose`'s call-site confirmation where no kmalloc cache trace exists (not Linux): diagnose
// only asks for it about a Linux slab cache, which a recording of this machine never holds.
#include <cstdio>

#include "cli/verbs.h"

namespace poolscope::cli {

int trace_cache_call_sites(const std::string& cache, const std::string&, std::size_t,
                           std::string*) {
  std::fprintf(stderr, "poolscope: tracing the cache %s needs Linux\n", cache.c_str());
  return kExitEnvironment;
}

int trace_page_call_sites(const std::string&, std::size_t) {
  std::fprintf(stderr, "poolscope: tracing the page allocator needs Linux\n");
  return kExitEnvironment;
}

}  // namespace poolscope::cli
