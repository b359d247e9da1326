// Linux: the memo lives in the cache folder; its key is the boot id, the kernel release and a hash
// of the loaded modules' names (a module loaded later adds caches and symbols).
#include "source/owner_memo.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace poolscope {
namespace {

std::string first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// FNV-1a over the first word of each /proc/modules line (the module name): sizes and use counts
// change while the set of modules does not.
std::string modules_hash() {
  std::ifstream in("/proc/modules");
  std::uint64_t hash = 1469598103934665603ull;
  std::string line;
  while (std::getline(in, line)) {
    auto space = line.find(' ');
    for (char c : line.substr(0, space) + "\n") {
      hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    }
  }
  std::ostringstream out;
  out << std::hex << hash;
  return out.str();
}

}  // namespace

std::optional<OwnerMemoLocation> owner_memo_location() {
  std::string boot = first_line("/proc/sys/kernel/random/boot_id");
  std::string release = first_line("/proc/sys/kernel/osrelease");
  if (boot.empty() || release.empty()) return std::nullopt;
  std::filesystem::path dir;
  if (geteuid() == 0) {
    dir = "/var/cache/poolscope";
  } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/') {
    dir = std::filesystem::path(xdg) / "poolscope";
  } else if (const char* home = std::getenv("HOME"); home && *home == '/') {
    dir = std::filesystem::path(home) / ".cache" / "poolscope";
  } else {
    return std::nullopt;
  }
  return OwnerMemoLocation{dir / "slab-owners", boot + " " + release + " " + modules_hash()};
}

}  // namespace poolscope
