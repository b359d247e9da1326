// /proc/allocinfo call sites as keys.
#include "source/allocinfo_keys.h"

#include <string>

#include "core/kernel_memory.h"

namespace poolscope {

void apply_allocinfo(const trace::ParsedAllocinfo& parsed, Snapshot& snapshot) {
  for (const trace::AllocinfoSite& site : parsed.sites) {
    if (site.bytes == 0 && site.calls == 0) continue;
    std::string name(kAllocSitePrefix);
    name += site.file;
    name += ':';
    name += std::to_string(site.line);
    name += ' ';
    name += site.function;
    if (!site.module.empty()) {
      name += " [";
      name += site.module;
      name += ']';
    }
    Entry entry;
    entry.key = kernel_memory_key(name);
    entry.pool = PoolKind::kKernel;
    entry.counters.bytes = site.bytes;
    entry.counters.outstanding = site.calls;
    snapshot.entries.push_back(std::move(entry));
  }
}

}  // namespace poolscope
