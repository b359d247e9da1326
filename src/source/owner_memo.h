// Where this machine keeps the OWNER column's memo between runs, and the key that says whether a
// memo still describes the running kernel (src/attrib/owner_resolver.h explains the memo).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace poolscope {

struct OwnerMemoLocation {
  std::filesystem::path file;
  std::string key;  // changes with the boot, the kernel release and the set of loaded modules
};

// nullopt where no memo is kept (Windows: pooltag.txt loads in milliseconds) or no writable
// place exists. Linux: /var/cache/poolscope/slab-owners as root, else
// $XDG_CACHE_HOME/poolscope/slab-owners or ~/.cache/poolscope/slab-owners.
std::optional<OwnerMemoLocation> owner_memo_location();

}  // namespace poolscope
