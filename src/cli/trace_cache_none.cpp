// `diagnose`'s call-site confirmation where no kmalloc cache trace exists (not Linux): diagnose
// only asks for it about a Linux slab cache, which a recording of this machine never holds.
#include <cstdio>

#include "cli/verbs.h"

namespace poolscope::cli {

int trace_call_sites(const std::string& cache, const std::string&, std::size_t, std::string*) {
  std::fprintf(stderr, "poolscope: tracing %s needs Linux\n",
               cache.empty() ? "the page allocator" : ("the cache " + cache).c_str());
  return kExitEnvironment;
}

}  // namespace poolscope::cli
