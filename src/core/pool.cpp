// Pool model helpers: tag construction and display, wildcard matching, modular counter deltas.
#include "core/pool.h"

#include <algorithm>
#include <array>

namespace poolscope {

namespace {
constexpr std::array<std::string_view, 8> kPoolNames = {
    "paged", "nonpaged", "session", "unreclaimable", "reclaimable", "kernel", "tcp", "udp"};

// Iterative glob with backtracking on the last '*': linear in practice, no recursion.
bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}
}  // namespace

std::string_view pool_kind_name(PoolKind kind) {
  return kPoolNames[static_cast<std::size_t>(kind)];
}

std::optional<PoolKind> parse_pool_kind(std::string_view name) {
  for (std::size_t i = 0; i < kPoolNames.size(); ++i) {
    if (kPoolNames[i] == name) return static_cast<PoolKind>(i);
  }
  return std::nullopt;
}

PoolKey tag_from_ulong(std::uint32_t value) {
  std::string bytes(4, '\0');
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  return PoolKey{KeyKind::kPoolTag, std::move(bytes)};
}

PoolKey tag_from_text(std::string_view text) {
  std::string bytes(text.substr(0, 4));
  bytes.resize(4, ' ');
  return PoolKey{KeyKind::kPoolTag, std::move(bytes)};
}

PoolKey slab_cache(std::string_view name) {
  return PoolKey{KeyKind::kSlabCache, std::string(name)};
}

std::string display_key(const PoolKey& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(key.name.size());
  for (char c : key.name) {
    auto byte = static_cast<unsigned char>(c);
    if (byte == '\\') {
      out += "\\\\";
    } else if (byte >= 0x20 && byte < 0x7F) {
      out += c;
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
  return out;
}

bool key_matches(const PoolKey& key, std::string_view pattern) {
  const std::string shown = display_key(key);
  if (glob_match(pattern, shown)) return true;
  if (key.kind == KeyKind::kPoolTag) {
    std::string_view trimmed = shown;
    while (!trimmed.empty() && trimmed.back() == ' ') trimmed.remove_suffix(1);
    return glob_match(pattern, trimmed);
  }
  return false;
}

std::uint64_t counter_delta(std::uint64_t prev, std::uint64_t cur, CounterWidth width) {
  if (width == CounterWidth::k32) {
    return static_cast<std::uint32_t>(static_cast<std::uint32_t>(cur) -
                                      static_cast<std::uint32_t>(prev));
  }
  return cur - prev;
}

const PoolTotal* find_total(const Snapshot& snapshot, PoolKind pool) {
  auto it = std::find_if(snapshot.totals.begin(), snapshot.totals.end(),
                         [pool](const PoolTotal& t) { return t.pool == pool; });
  return it == snapshot.totals.end() ? nullptr : &*it;
}

PoolTotal& total_for(Snapshot& snapshot, PoolKind pool) {
  for (auto& total : snapshot.totals) {
    if (total.pool == pool) return total;
  }
  snapshot.totals.push_back(PoolTotal{.pool = pool});
  return snapshot.totals.back();
}

}  // namespace poolscope
