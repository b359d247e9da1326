// pooltag.txt database: indexes and lookups.
#include "attrib/tag_database.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "parse/text.h"

namespace poolscope::attrib {

namespace {

constexpr std::size_t kMaxDiagnosticsShown = 10;
// The real file is 255 KB; entries take ~40 times their text in memory.
constexpr std::uint64_t kMaxPooltagBytes = 16ull << 20;

using parse::ascii_lower;
using parse::equals_ignore_case;
std::uint32_t pack(std::string_view bytes) {
  std::uint32_t key = 0;
  for (std::size_t i = 0; i < 4 && i < bytes.size(); ++i) {
    key |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  }
  return key;
}

std::uint32_t fold(std::uint32_t key) {
  for (int shift = 0; shift < 32; shift += 8) {
    std::uint32_t byte = (key >> shift) & 0xFF;
    if (byte >= 'A' && byte <= 'Z') key += static_cast<std::uint32_t>('a' - 'A') << shift;
  }
  return key;
}

struct Specificity {
  int literals = 0;
  bool star = false;
};

Specificity specificity(std::string_view pattern) {
  Specificity s;
  for (char c : pattern) {
    if (c == '*') {
      s.star = true;
    } else if (c != '?') {
      ++s.literals;
    }
  }
  return s;
}

}  // namespace

TagDatabase::TagDatabase(parse::ParsedPoolTags parsed, std::string source)
    : parsed_(std::move(parsed)), source_(std::move(source)) {
  const auto& entries = parsed_.entries;
  exact_.reserve(entries.size());
  for (std::uint32_t i = 0; i < entries.size(); ++i) {
    if (entries[i].wildcard) {
      wildcards_.push_back(i);
    } else {
      exact_.push_back({pack(entries[i].tag.name), i});
    }
  }
  folded_ = exact_;
  for (auto& e : folded_) e.key = fold(e.key);
  const auto by_key = [](const IndexEntry& a, const IndexEntry& b) {
    return a.key != b.key ? a.key < b.key : a.entry < b.entry;
  };
  std::sort(exact_.begin(), exact_.end(), by_key);
  std::sort(folded_.begin(), folded_.end(), by_key);
  std::stable_sort(wildcards_.begin(), wildcards_.end(), [&](std::uint32_t a, std::uint32_t b) {
    Specificity sa = specificity(entries[a].pattern);
    Specificity sb = specificity(entries[b].pattern);
    if (sa.literals != sb.literals) return sa.literals > sb.literals;
    return !sa.star && sb.star;
  });
}

TagLookup TagDatabase::lookup(const PoolKey& tag) const {
  TagLookup out;
  if (tag.kind != KeyKind::kPoolTag || tag.name.size() != 4) return out;
  const auto& entries = parsed_.entries;
  const std::uint32_t key = pack(tag.name);
  const auto less_key = [](const IndexEntry& e, std::uint32_t k) { return e.key < k; };
  for (auto it = std::lower_bound(exact_.begin(), exact_.end(), key, less_key);
       it != exact_.end() && it->key == key; ++it) {
    out.exact.push_back(&entries[it->entry]);
  }
  const std::uint32_t folded = fold(key);
  for (auto it = std::lower_bound(folded_.begin(), folded_.end(), folded, less_key);
       it != folded_.end() && it->key == folded; ++it) {
    if (pack(entries[it->entry].tag.name) != key) out.near_misses.push_back(&entries[it->entry]);
  }
  for (std::uint32_t index : wildcards_) {
    const auto& entry = entries[index];
    if (parse::pooltag_pattern_matches(entry.pattern, tag.name)) {
      out.wildcard.push_back(&entry);
    } else if (parse::pooltag_pattern_matches_ignore_case(entry.pattern, tag.name)) {
      out.near_misses.push_back(&entry);
    }
  }
  return out;
}

std::vector<const parse::PoolTagLine*> TagDatabase::entries_for_file(
    std::string_view file_name) const {
  std::vector<const parse::PoolTagLine*> out;
  for (const auto& entry : parsed_.entries) {
    for (const auto& module : entry.modules) {
      if (module_names_file(module, file_name)) {
        out.push_back(&entry);
        break;
      }
    }
  }
  return out;
}

bool module_names_file(const parse::PoolTagModule& module, std::string_view file_name) {
  if (module.name.empty() || file_name.empty()) return false;
  if (module.name.find('.') != std::string::npos) return equals_ignore_case(module.name, file_name);
  auto dot = file_name.rfind('.');
  std::string_view stem = dot == std::string_view::npos ? file_name : file_name.substr(0, dot);
  if (equals_ignore_case(module.name, stem)) return true;
  if (equals_ignore_case(module.name, "nt")) {
    static constexpr std::array<std::string_view, 4> kKernels = {"ntoskrnl.exe", "ntkrnlmp.exe",
                                                                 "ntkrnlpa.exe", "ntkrpamp.exe"};
    for (auto kernel : kKernels) {
      if (equals_ignore_case(file_name, kernel)) return true;
    }
  }
  return false;
}

Result<TagDatabase> load_tag_database(const std::filesystem::path& path,
                                      const TagDatabaseOptions& options) {
  namespace fs = std::filesystem;
  const std::string shown = path.string();
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return make_error(
        ErrorCode::kInput,
        "cannot open " + shown + ": " + (ec ? ec.message() : "No such file or directory"),
        ec.value());
  }
  if (fs::is_directory(status)) {
    return make_error(ErrorCode::kInput, shown + " is a directory; pass the pooltag.txt file");
  }
  auto size = fs::file_size(path, ec);
  if (ec) {
    return make_error(ErrorCode::kInput, "cannot read " + shown + ": " + ec.message(), ec.value());
  }
  if (size > kMaxPooltagBytes) {
    return make_error(ErrorCode::kInput,
                      shown + " is larger than 16 MiB; that is not a pooltag.txt");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return make_error(ErrorCode::kInput, "cannot open " + shown + ": " + std::strerror(err), err);
  }
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));

  auto parsed = parse::parse_pooltag_txt(text);
  if (!parsed) return make_error(parsed.error().code, shown + ": " + parsed.error().message);
  if (!parsed->diagnostics.empty() && !options.allow_bad_lines) {
    std::ostringstream msg;
    std::size_t count = 0;
    for (const auto& d : parsed->diagnostics) {
      if (count++ == kMaxDiagnosticsShown) {
        msg << "... and " << parsed->diagnostics.size() - kMaxDiagnosticsShown << " more\n";
        break;
      }
      msg << shown << ":" << d.line << ": " << d.message << "\n";
    }
    msg << "the tag database would be partial; fix the lines or pass --allow-bad-lines to skip "
           "them";
    return make_error(ErrorCode::kInput, msg.str());
  }
  return TagDatabase(std::move(*parsed), shown);
}

std::optional<std::filesystem::path> find_default_pooltag(
    std::span<const std::filesystem::path> roots) {
  static constexpr std::array<const char*, 3> kArchitectures = {"x64", "arm64", "x86"};
  for (const auto& root : roots) {
    if (root.empty()) continue;
    for (const char* arch : kArchitectures) {
      auto candidate = root / "Windows Kits" / "10" / "Debuggers" / arch / "triage" / "pooltag.txt";
      std::error_code ec;
      if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
    }
  }
  return std::nullopt;
}

std::vector<std::filesystem::path> pooltag_search_roots(
    const std::function<std::optional<std::string>(const char*)>& get_env) {
  std::vector<std::filesystem::path> roots;
  for (const char* name : {"ProgramFiles(x86)", "ProgramFiles", "ProgramW6432"}) {
    auto value = get_env(name);
    if (!value || value->empty()) continue;
    std::filesystem::path root(*value);
    if (std::find(roots.begin(), roots.end(), root) == roots.end()) roots.push_back(root);
  }
  return roots;
}

}  // namespace poolscope::attrib
