// The owner column: pooltag.txt and kernel symbol lookups behind one memoised call.
#include "attrib/owner_resolver.h"

#include <algorithm>

namespace poolscope::attrib {

namespace {

std::string line_owner(const parse::PoolTagLine& line) {
  if (line.owner_kind == parse::PoolTagOwnerKind::kNamed || line.description.empty()) {
    return line.binary;
  }
  return line.description;
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
    if (!database) return std::unexpected(database.error());
    out.tags_ = std::move(*database);
  }
  if (options.kallsyms) {
    auto symbols = load_kernel_symbols(*options.kallsyms);
    if (symbols) {
      out.symbols_ = std::move(*symbols);
    } else if (options.kallsyms_required) {
      return std::unexpected(symbols.error());
    } else {
      out.notes_.push_back("OWNER of caches without kernel symbols: " + symbols.error().message);
    }
  }
  out.read_sysfs_ = options.read_sysfs;
  out.sysfs_ = options.sysfs;
  return out;
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
  if (is_generic_kmalloc_cache(key.name)) {
    owner = "kmalloc (generic)";  // needs no symbols
  } else if (symbols_ || read_sysfs_) {
    SlabFacts facts;
    if (read_sysfs_) facts = read_slab_facts(key.name, sysfs_, false);
    facts.aliases.assign(aliases.begin(), aliases.end());  // the source found them already
    owner = short_owner(slab_owner(key.name, facts, symbols_ ? &*symbols_ : nullptr));
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
