// Name limits of the formats (names.h), and the names cut for the run.
#include "core/names.h"

#include <array>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <unordered_set>

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
  // Cut at a character boundary: a UTF-8 name stays valid UTF-8 (issue 21, found by fuzzing a
  // Windows process name). Other bytes are kept as they are.
  std::size_t keep = max_bytes - kSuffix;
  while (keep > 0 && (static_cast<unsigned char>(name[keep]) & 0xC0) == 0x80) --keep;
  name.resize(keep);
  name += '~';
  for (int shift = 28; shift >= 0; shift -= 4) name += kHex[(hash >> shift) & 0xF];
  return true;
}

namespace {

struct CutKind {
  std::string_view what;
  std::size_t max_bytes;
};
constexpr std::array<CutKind, 2> kCutKinds = {
    {{"process name", kMaxProcessNameBytes}, {"kernel-memory name", kMaxKernelMemoryNameBytes}}};
// The distinct names cut, by a 64-bit hash of the whole name (a process is decoded again at each
// keyframe: counted once). Cuts are rare, so one lock is enough.
std::mutex cuts_mutex;
std::array<std::unordered_set<std::uint64_t>, kCutKinds.size()> cuts;

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t hash = 14695981039346656037ull;
  for (char c : s) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return hash;
}

}  // namespace

bool cap_counted_name(std::string& name, CutName what) {
  const auto index = static_cast<std::size_t>(what);
  if (name.size() <= kCutKinds[index].max_bytes) return false;
  const std::uint64_t hash = fnv1a64(name);
  cap_name(name, kCutKinds[index].max_bytes);
  const std::lock_guard lock(cuts_mutex);
  cuts[index].insert(hash);
  return true;
}

std::uint64_t names_cut(CutName what) {
  const std::lock_guard lock(cuts_mutex);
  return cuts[static_cast<std::size_t>(what)].size();
}

std::vector<std::string> name_cut_notes() {
  std::vector<std::string> notes;
  for (std::size_t i = 0; i < kCutKinds.size(); ++i) {
    const std::uint64_t n = names_cut(static_cast<CutName>(i));
    if (n == 0) continue;
    const std::string cap = std::to_string(kCutKinds[i].max_bytes);
    notes.push_back(std::to_string(n) + " " + std::string(kCutKinds[i].what) + "(s) longer than " +
                    cap + " bytes were cut to " + cap + " bytes" +
                    " (their start, '~' and a hash of the whole name)");
  }
  return notes;
}

}  // namespace poolscope
