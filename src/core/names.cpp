// Name limits of the formats (names.h).
#include "core/names.h"

#include <cstdint>

namespace poolscope {

std::size_t max_key_name_bytes(KeyKind kind) {
  switch (kind) {
    case KeyKind::kPoolTag:
      return kMaxTagBytes;
    case KeyKind::kSlabCache:
      return kMaxSlabNameBytes;
    case KeyKind::kKernelMemory:
      break;
  }
  return kMaxKernelMemoryNameBytes;
}

bool cap_name(std::string& name, std::size_t max_bytes) {
  if (name.size() <= max_bytes) return false;
  constexpr std::size_t kSuffix = 9;  // "~" + 8 hex digits
  if (max_bytes <= kSuffix) {
    name.resize(max_bytes);
    return true;
  }
  std::uint32_t hash = 2166136261u;  // FNV-1a
  for (char c : name) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  static constexpr char kHex[] = "0123456789abcdef";
  name.resize(max_bytes - kSuffix);
  name += '~';
  for (int shift = 28; shift >= 0; shift -= 4) name += kHex[(hash >> shift) & 0xF];
  return true;
}

}  // namespace poolscope
