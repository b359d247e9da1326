// The owner column: pooltag.txt and kernel symbol lookups behind one memoised call.
#include "attrib/owner_resolver.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/forward_error.h"

namespace poolscope::attrib {

namespace {

std::string line_owner(const parse::PoolTagLine& line) {
  if (line.owner_kind == parse::PoolTagOwnerKind::kNamed || line.description.empty()) {
    return line.binary;
  }
  return line.description;
}

constexpr std::string_view kMemoMagic = "poolscope-slab-owners 1\t";

// The memo file's entries when its first line names `key`; empty otherwise (another boot, kernel
// or module set, or a damaged file: rebuilt from the symbols).
std::unordered_map<std::string, std::string> read_memo(const std::filesystem::path& path,
                                                       const std::string& key) {
  std::unordered_map<std::string, std::string> out;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line) || line != std::string(kMemoMagic) + key) return out;
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    if (tab == std::string::npos || tab == 0 || line.find('\t', tab + 1) != std::string::npos) {
      return {};
    }
    out.emplace(line.substr(0, tab), line.substr(tab + 1));
  }
  return out;
}

bool memo_safe(std::string_view text) {
  return text.find_first_of("\t\n\r") == std::string_view::npos;
}

}  // namespace

std::string pooltag_owner(const TagDatabase& database, const PoolKey& tag) {
  const auto found = database.lookup(tag);
  std::vector<const parse::PoolTagLine*> lines = found.exact;
  if (lines.empty() && !found.wildcard.empty()) lines.push_back(found.wildcard.front());
  std::vector<std::string> owners;
  for (const auto* line : lines) {
    std::string owner = line_owner(*line);
    if (!owner.empty() && std::find(owners.begin(), owners.end(), owner) == owners.end()) {
      owners.push_back(std::move(owner));
    }
  }
  std::string out;
  for (const auto& owner : owners) out += (out.empty() ? "" : ", ") + owner;
  return out;
}

Result<OwnerResolver> OwnerResolver::load(const OwnerResolverOptions& options) {
  OwnerResolver out;
  if (options.pooltag) {
    auto database = load_tag_database(*options.pooltag, {options.allow_bad_lines});
    if (!database) return forward_error(database);
    out.tags_ = std::move(*database);
  }
  if (options.memo_file && !options.memo_key.empty() && memo_safe(options.memo_key)) {
    out.memo_file_ = options.memo_file;
    out.memo_key_ = options.memo_key;
    out.memo_ = read_memo(*options.memo_file, options.memo_key);
  }
  if (options.kallsyms && !options.kallsyms_required && out.memo_file_) {
    out.lazy_kallsyms_ = options.kallsyms;  // loaded when a cache is not in the memo
  } else if (options.kallsyms) {
    auto symbols = load_kernel_symbols(*options.kallsyms);
    if (symbols) {
      out.symbols_ = std::move(*symbols);
    } else if (options.kallsyms_required) {
      return forward_error(symbols);
    } else {
      out.notes_.push_back("OWNER of caches without kernel symbols: " + symbols.error().message);
    }
  }
  out.read_sysfs_ = options.read_sysfs;
  out.sysfs_ = options.sysfs;
  return out;
}

const KernelSymbols* OwnerResolver::symbols() const {
  if (lazy_kallsyms_) {
    auto symbols = load_kernel_symbols(*lazy_kallsyms_);
    if (symbols) {
      symbols_ = std::move(*symbols);
    } else {
      notes_.push_back("OWNER of caches without kernel symbols: " + symbols.error().message);
    }
    lazy_kallsyms_.reset();
  }
  return symbols_ ? &*symbols_ : nullptr;
}

std::optional<std::string> OwnerResolver::save_memo() const {
  if (!memo_file_ || !memo_dirty_) return std::nullopt;
  std::ostringstream text;
  text << kMemoMagic << memo_key_ << '\n';
  auto all = memo_;
  for (const auto& [name, owner] : remembered_) all[name] = owner;
  std::vector<std::pair<std::string, std::string>> sorted(all.begin(), all.end());
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [name, owner] : sorted) {
    if (name.empty() || !memo_safe(name) || !memo_safe(owner)) continue;
    text << name << '\t' << owner << '\n';
  }
  std::error_code ec;
  std::filesystem::create_directories(memo_file_->parent_path(), ec);
  auto temporary = *memo_file_;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text.str();
    if (!out) return "cannot write " + temporary.string();
  }
  std::filesystem::rename(temporary, *memo_file_, ec);
  if (ec) {
    std::filesystem::remove(temporary, ec);
    return "cannot replace " + memo_file_->string();
  }
  memo_dirty_ = false;
  return std::nullopt;
}

std::string OwnerResolver::owner_of(const PoolKey& key,
                                    std::span<const std::string> aliases) const {
  if (key.kind == KeyKind::kPoolTag) {
    return tags_ ? pooltag_owner(*tags_, key) : std::string();
  }
  std::string memo_key = key.name;
  auto it = remembered_.find(memo_key);
  if (it != remembered_.end()) return it->second;
  std::string owner;
  if (auto memo = memo_.find(memo_key); memo != memo_.end()) {
    ++memo_hits_;
    owner = memo->second;
  } else if (is_generic_kmalloc_cache(key.name)) {
    owner = "kmalloc (generic)";  // needs no symbols
  } else if (symbols_ || lazy_kallsyms_ || read_sysfs_) {
    SlabFacts facts;
    if (read_sysfs_) facts = read_slab_facts(key.name, sysfs_, false);
    facts.aliases.assign(aliases.begin(), aliases.end());  // the source found them already
    owner = short_owner(slab_owner(key.name, facts, symbols()));
    memo_dirty_ = memo_file_.has_value();
  }
  remembered_.emplace(std::move(memo_key), owner);
  return owner;
}

std::size_t OwnerResolver::fill(Snapshot& snapshot) const {
  std::size_t filled = 0;
  for (auto& entry : snapshot.entries) {
    if (!entry.owner.empty()) continue;
    entry.owner = owner_of(entry.key, entry.aliases);
    if (!entry.owner.empty()) ++filled;
  }
  return filled;
}

}  // namespace poolscope::attrib
