// Slab cache owners from kallsyms and /sys/kernel/slab.
#include "attrib/slab_owner.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

namespace poolscope::attrib {

namespace {

std::optional<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return out.str();
}

// A sysfs value without its final newline and blanks.
std::string_view value_text(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || parse::is_blank(text.back()))) {
    text.remove_suffix(1);
  }
  return parse::trim(text);
}

std::string module_or_vmlinux(std::string_view module) {
  return module.empty() ? std::string("vmlinux") : std::string(module);
}

std::string location_text(const parse::KernelLocation& location) {
  std::string out(location.function);
  if (location.offset && location.function_size) {
    char buffer[48];
    std::snprintf(buffer, sizeof buffer, "+0x%llx/0x%llx",
                  static_cast<unsigned long long>(*location.offset),
                  static_cast<unsigned long long>(*location.function_size));
    out += buffer;
  }
  if (!location.module.empty()) out += " [" + std::string(location.module) + "]";
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The names of the variable that usually holds a cache's pointer: ext4_inode_cache ->
// ext4_inode_cachep, dentry -> dentry_cache, task_struct -> task_struct_cachep, xfs_inode ->
// xfs_inode_cache, nf_conntrack -> nf_conntrack_cachep.
std::vector<std::string> pointer_names(std::string_view cache) {
  std::string base(cache);
  std::replace(base.begin(), base.end(), '-', '_');
  std::vector<std::string> out = {base + "_cachep", base + "_cache", base + "_slab",
                                  base + "_slab_cache", base + "_kmem_cache"};
  if (ends_with(base, "_cache")) {
    out.push_back(base + "p");
    out.push_back(base);
  }
  return out;
}

// Names of decreasing length, cut at '_' or '-': "ext4_inode_cache" -> "ext4_inode_cache",
// "ext4_inode", "ext4"; at least 3 characters each.
std::vector<std::string_view> name_prefixes(std::string_view cache) {
  std::vector<std::string_view> out;
  std::string_view rest = cache;
  while (rest.size() >= 3) {
    out.push_back(rest);
    const auto cut = rest.find_last_of("_-");
    if (cut == std::string_view::npos) break;
    rest = rest.substr(0, cut);
  }
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

}  // namespace

namespace {
constexpr std::size_t kNameBlock = 1 << 20;
}  // namespace

std::string_view KernelSymbols::Storage::keep(std::string_view name) {
  if (name.size() > kNameBlock) name = name.substr(0, kNameBlock);  // no real symbol is this long
  if (blocks.empty() || block_used + name.size() > kNameBlock) {
    blocks.push_back(std::make_unique<char[]>(kNameBlock));
    block_used = 0;
  }
  char* at = blocks.back().get() + block_used;
  std::copy(name.begin(), name.end(), at);
  block_used += name.size();
  return {at, name.size()};
}

std::uint32_t KernelSymbols::Storage::module_index(std::string_view module) {
  // Few modules, and the symbols of one module are contiguous: the last one is checked first.
  if (modules.back() == module) return static_cast<std::uint32_t>(modules.size() - 1);
  for (std::size_t i = 0; i < modules.size(); ++i) {
    if (modules[i] == module) return static_cast<std::uint32_t>(i);
  }
  modules.emplace_back(module);
  return static_cast<std::uint32_t>(modules.size() - 1);
}

// Adds the symbols of complete lines, piece by piece; finish() sorts.
class KernelSymbols::Builder {
 public:
  explicit Builder(std::string source) {
    out_.storage_ = std::make_shared<Storage>();
    out_.source_ = std::move(source);
  }
  void add(std::string_view lines) {
    auto parsed = parse::parse_kallsyms(lines);
    if (!parsed) {
      ++out_.diagnostics_;  // a piece without any symbol line
      return;
    }
    out_.diagnostics_ += parsed->diagnostics.size();
    for (const auto& symbol : parsed->symbols) {
      Stored stored;
      stored.address = symbol.address;
      stored.name = out_.storage_->keep(symbol.name);
      stored.module = out_.storage_->module_index(symbol.module);
      stored.type = symbol.type;
      any_address_ |= symbol.address != 0;
      out_.local_data_symbols_ += symbol.type == 'd' || symbol.type == 'b';
      out_.by_name_.push_back(stored);
    }
  }
  Result<KernelSymbols> finish() {
    if (out_.by_name_.empty()) {
      return make_error(ErrorCode::kInput,
                        out_.source_ +
                            ": no kernel symbol in it (not /proc/kallsyms, or the "
                            "kernel lacks CONFIG_KALLSYMS)");
    }
    const auto& modules = out_.storage_->modules;
    std::sort(out_.by_name_.begin(), out_.by_name_.end(),
              [&modules](const Stored& a, const Stored& b) {
                return a.name != b.name ? a.name < b.name : modules[a.module] < modules[b.module];
              });
    out_.addresses_hidden_ = !any_address_;
    for (std::size_t i = 0; i < out_.by_name_.size(); ++i) {
      const Stored& stored = out_.by_name_[i];
      if (stored.address != 0 && parse::is_text_symbol(stored.type)) {
        out_.by_address_.push_back(static_cast<std::uint32_t>(i));
      }
    }
    const auto& by_name = out_.by_name_;
    std::sort(out_.by_address_.begin(), out_.by_address_.end(),
              [&by_name](std::uint32_t a, std::uint32_t b) {
                return by_name[a].address != by_name[b].address
                           ? by_name[a].address < by_name[b].address
                           : a < b;
              });
    return std::move(out_);
  }

 private:
  KernelSymbols out_;
  bool any_address_ = false;
};

std::optional<KernelSymbols::AddressMatch> KernelSymbols::at(std::uint64_t address) const {
  auto after = std::upper_bound(
      by_address_.begin(), by_address_.end(), address,
      [this](std::uint64_t value, std::uint32_t index) { return value < by_name_[index].address; });
  if (after == by_address_.begin()) return std::nullopt;
  const Stored& stored = by_name_[*(after - 1)];
  return AddressMatch{view(stored), address - stored.address};
}

parse::KernelSymbol KernelSymbols::view(const Stored& stored) const {
  return {stored.address, stored.type, stored.name, storage_->modules[stored.module]};
}

Result<KernelSymbols> KernelSymbols::from_text(std::string_view text, std::string source) {
  Builder builder(std::move(source));
  builder.add(text);
  return builder.finish();
}

Result<KernelSymbols> KernelSymbols::from_file(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.string().c_str(), "rb");
  if (file == nullptr) {
    return make_error(ErrorCode::kEnvironment,
                      "cannot read " + path.string() +
                          ": kernel symbols are needed to name a cache's module (Linux with "
                          "CONFIG_KALLSYMS; or pass a saved copy with --kallsyms FILE)",
                      errno);
  }
  Builder builder(path.string());
  // Pieces of whole lines: the carry holds the unfinished last line of the previous read.
  std::string piece;
  std::vector<char> buffer(256 * 1024);
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) {
    piece.append(buffer.data(), n);
    const auto end = piece.rfind('\n');
    if (end == std::string::npos) continue;
    builder.add(std::string_view(piece).substr(0, end + 1));
    piece.erase(0, end + 1);
  }
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) {
    return make_error(ErrorCode::kEnvironment, "cannot read " + path.string() + ": read failed");
  }
  if (!piece.empty()) builder.add(piece);
  return builder.finish();
}

std::vector<parse::KernelSymbol> KernelSymbols::named(std::string_view name) const {
  struct ByName {
    bool operator()(const Stored& a, std::string_view b) const { return a.name < b; }
    bool operator()(std::string_view a, const Stored& b) const { return a < b.name; }
  };
  const auto [lo, hi] = std::equal_range(by_name_.begin(), by_name_.end(), name, ByName{});
  std::vector<parse::KernelSymbol> out;
  for (auto it = lo; it != hi; ++it) out.push_back(view(*it));
  return out;
}

KernelSymbols::PrefixMatch KernelSymbols::with_prefix(std::string_view prefix) const {
  PrefixMatch out;
  std::set<std::string_view> modules;
  auto it = std::lower_bound(by_name_.begin(), by_name_.end(), prefix,
                             [](const Stored& a, std::string_view b) { return a.name < b; });
  for (; it != by_name_.end() && it->name.starts_with(prefix); ++it) {
    if (it->name.size() != prefix.size() && it->name[prefix.size()] != '_') continue;
    ++out.count;
    modules.insert(storage_->modules[it->module]);
  }
  out.modules.assign(modules.begin(), modules.end());
  return out;
}

Result<KernelSymbols> load_kernel_symbols(const std::filesystem::path& path) {
  return KernelSymbols::from_file(path);
}

bool is_generic_kmalloc_cache(std::string_view cache) {
  if (cache.starts_with("dma-")) cache.remove_prefix(4);
  if (!cache.starts_with("kmalloc-")) return false;
  cache.remove_prefix(8);
  for (std::string_view kind : {"rcl-", "cg-"}) {
    if (cache.starts_with(kind)) {
      cache.remove_prefix(kind.size());
      break;
    }
  }
  // CONFIG_RANDOM_KMALLOC_CACHES: kmalloc-rnd-01-64 ... kmalloc-rnd-15-8k.
  if (cache.starts_with("rnd-") && cache.size() > 7 && cache[6] == '-') cache.remove_prefix(7);
  // The size: 8, 96, 192, 1k, 8k, ...
  if (cache.empty()) return false;
  std::size_t digits = 0;
  while (digits < cache.size() && cache[digits] >= '0' && cache[digits] <= '9') ++digits;
  if (digits == 0) return false;
  return digits == cache.size() || (digits + 1 == cache.size() && cache.back() == 'k');
}

std::optional<std::uint64_t> kmalloc_cache_size(std::string_view cache) {
  if (!is_generic_kmalloc_cache(cache)) return std::nullopt;
  const auto dash = cache.rfind('-');
  std::string_view size = cache.substr(dash + 1);
  std::uint64_t multiplier = 1;
  if (size.ends_with('k')) {
    multiplier = 1024;
    size.remove_suffix(1);
  }
  const auto value = parse::parse_u64(size);
  if (!value || *value > (std::uint64_t{1} << 40)) return std::nullopt;
  return *value * multiplier;
}

std::vector<std::string> list_slab_caches(const SlabSysfsPaths& paths) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(paths.sys_slab, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.empty() && name[0] != ':') names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::vector<std::string> close_names(std::string_view name, const std::vector<std::string>& names,
                                     std::size_t max) {
  std::vector<std::pair<std::size_t, std::string>> scored;
  const std::size_t limit = std::max<std::size_t>(2, name.size() / 3);
  for (const auto& candidate : names) {
    std::size_t distance = edit_distance(name, candidate);
    // A name that contains the other ("kmalloc-1" in "kmalloc-1k") counts as close too.
    if (name.size() >= 3 && (candidate.find(name) != std::string::npos ||
                             name.find(candidate) != std::string_view::npos)) {
      distance = std::min(distance, limit);
    }
    if (distance <= limit) scored.emplace_back(distance, candidate);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < scored.size() && i < max; ++i) out.push_back(scored[i].second);
  return out;
}

ResolvedCache resolve_slab_cache(std::string_view name, const std::vector<std::string>& known,
                                 const SlabSysfsPaths& paths) {
  ResolvedCache out;
  const auto is_known = [&known](std::string_view n) {
    return std::find(known.begin(), known.end(), n) != known.end();
  };
  if (is_known(name)) {
    out.name = std::string(name);
    out.found = true;
    return out;
  }
  // The same kmalloc size under this kernel's spelling: kmalloc-1024 -> kmalloc-1k (and back).
  if (const auto size = kmalloc_cache_size(name)) {
    const std::string_view prefix = name.substr(0, name.rfind('-') + 1);
    for (const auto& candidate : known) {
      if (candidate.starts_with(prefix) &&
          candidate.find('-', prefix.size()) == std::string::npos &&
          kmalloc_cache_size(candidate) == size) {
        out.name = candidate;
        out.note = std::string(name) + " is called " + candidate + " on this kernel";
        out.found = true;
        return out;
      }
    }
  }
  // A merged name: the cache it was merged into carries the events, under the name slabinfo shows.
  const SlabFacts facts = read_slab_facts(name, paths);
  if (facts.in_sysfs) {
    for (const auto& alias : facts.aliases) {
      if (is_known(alias)) {
        out.name = alias;
        out.note = std::string(name) + " is merged into the cache named " + alias +
                   " (SLUB merging): its allocations are traced as " + alias + "'s";
        out.found = true;
        return out;
      }
    }
  }
  std::vector<std::string> all = known;
  for (auto& n : list_slab_caches(paths)) all.push_back(std::move(n));
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  out.close = close_names(name, all);
  return out;
}

SlabFacts read_slab_facts(std::string_view cache, const SlabSysfsPaths& paths, bool find_aliases) {
  SlabFacts facts;
  if (cache.empty() || cache.find('/') != std::string_view::npos || cache == "." || cache == "..") {
    return facts;  // not a cache name: never a path outside the slab folders
  }
  std::error_code ec;
  const auto dir = paths.sys_slab / std::string(cache);
  facts.in_sysfs = std::filesystem::exists(dir, ec);
  if (facts.in_sysfs) {
    // Merged caches are symlinks to one ":0000064"-style directory; the names sharing it are one
    // cache.
    if (find_aliases && std::filesystem::is_symlink(dir, ec)) {
      const auto target = std::filesystem::read_symlink(dir, ec).filename();
      for (const auto& entry : std::filesystem::directory_iterator(paths.sys_slab, ec)) {
        const auto name = entry.path().filename().string();
        if (name == cache || name.starts_with(":") || !entry.is_symlink(ec)) continue;
        if (std::filesystem::read_symlink(entry.path(), ec).filename() == target) {
          facts.aliases.push_back(name);
        }
      }
      std::sort(facts.aliases.begin(), facts.aliases.end());
    }
    if (auto ctor = read_text(dir / "ctor")) {
      facts.constructor = std::string(value_text(*ctor));
    }
    if (auto store_user = read_text(dir / "store_user")) {
      facts.store_user = value_text(*store_user) == "1";
    }
  }
  const auto traces = paths.debug_slab / std::string(cache) / "alloc_traces";
  const auto calls = dir / "alloc_calls";
  facts.callers_path = traces.string();
  if (auto text = read_text(traces)) {
    facts.callers_text = std::move(text);
  } else if (auto old = read_text(calls)) {
    facts.callers_text = std::move(old);
    facts.callers_path = calls.string();
  }
  return facts;
}

std::string_view owner_confidence_name(OwnerConfidence confidence) {
  return confidence == OwnerConfidence::kHigh ? "high" : "low";
}

SlabOwner slab_owner(std::string_view cache, const SlabFacts& facts, const KernelSymbols* symbols) {
  SlabOwner out;
  out.cache = std::string(cache);
  out.aliases = facts.aliases;
  out.exists = facts.in_sysfs;
  std::vector<std::string_view> names = {cache};
  for (const auto& alias : facts.aliases) names.push_back(alias);
  for (auto name : names) out.generic_kmalloc |= is_generic_kmalloc_cache(name);

  // 1. Data symbols that hold the cache pointer (kallsyms lists data with CONFIG_KALLSYMS_ALL).
  if (symbols != nullptr) {
    std::set<std::string> seen;
    for (auto name : names) {
      for (const auto& candidate : pointer_names(name)) {
        for (const auto& symbol : symbols->named(candidate)) {
          if (!parse::is_data_symbol(symbol.type)) continue;
          SymbolRef ref{std::string(symbol.name), symbol.type, module_or_vmlinux(symbol.module),
                        symbol.address};
          if (!seen.insert(ref.name + "\n" + ref.module).second) continue;
          out.cache_pointers.push_back(std::move(ref));
        }
      }
    }
  }
  // 2. The constructor: code of the module that created the cache.
  if (!facts.constructor.empty()) {
    if (auto ctor = parse::parse_kernel_location(facts.constructor)) {
      out.constructor =
          SymbolRef{std::string(ctor->function), 't', module_or_vmlinux(ctor->module), 0};
    }
  }
  // 3. The recorded callers (slub_debug=U).
  if (facts.callers_text) {
    const auto parsed = parse::parse_slab_callers(*facts.callers_text);
    out.callers_available = true;
    for (const auto& caller : parsed.callers) {
      CallerSite site;
      site.count = caller.count;
      site.function = std::string(caller.location.function);
      site.offset = caller.location.offset;
      // "<not-available>" and bare addresses name no module; the rest without one are vmlinux.
      const bool named = caller.location.offset.has_value();
      site.module =
          named ? module_or_vmlinux(caller.location.module) : std::string(caller.location.module);
      site.details = std::string(caller.details);
      for (const auto& frame : caller.stack) site.stack.push_back(location_text(frame));
      out.callers.push_back(std::move(site));
    }
    out.callers_note = "from " + facts.callers_path;
    if (parsed.no_data || out.callers.empty()) {
      out.callers_note += ": no object of this cache is allocated now";
    }
    if (!parsed.diagnostics.empty()) {
      out.notes.push_back(std::to_string(parsed.diagnostics.size()) + " line(s) of " +
                          facts.callers_path + " were not understood and are left out");
    }
  } else {
    out.callers_note = "not recorded: SLUB user tracking is off for this cache. ";
    if (out.generic_kmalloc) {
      // poolscope's own trace first: the kmalloc tracepoints name each caller, no reboot needed.
      out.callers_note += "Without a reboot, `poolscope trace --cache " + std::string(cache) +
                          "` (root) names the call sites that hold its objects; to have the "
                          "kernel record them instead, boot";
    } else {
      out.callers_note += "To record who allocates, boot";
    }
    out.callers_note += " with slub_debug=U," + std::string(cache) +
                        " (a reboot), mount debugfs and read " + facts.callers_path;
  }

  // The owner, from the strongest evidence.
  std::vector<std::string> caller_modules;  // most objects first
  for (const auto& caller : out.callers) {
    if (!caller.module.empty() && std::find(caller_modules.begin(), caller_modules.end(),
                                            caller.module) == caller_modules.end()) {
      caller_modules.push_back(caller.module);
    }
  }
  std::vector<std::string> modules;
  const auto add_module = [&modules](const std::string& module) {
    if (!module.empty() && std::find(modules.begin(), modules.end(), module) == modules.end()) {
      modules.push_back(module);
    }
  };
  if (out.generic_kmalloc) {
    out.evidence =
        "a generic kmalloc cache: shared by every kmalloc() of this size class in the kernel and "
        "all modules, so the cache names no owner; its callers do";
    if (!caller_modules.empty()) {
      out.modules = caller_modules;
      out.confidence = OwnerConfidence::kHigh;
      out.evidence += " (recorded callers: " + join(caller_modules, ", ") + ")";
    }
    return out;
  }
  if (!out.cache_pointers.empty()) {
    std::vector<std::string> described;
    for (const auto& ref : out.cache_pointers) {
      add_module(ref.module);
      described.push_back(ref.name + " [" + ref.module + "]");
    }
    out.modules = modules;
    out.confidence = OwnerConfidence::kHigh;
    out.evidence = "the data symbol " + join(described, ", ") + " holds the cache pointer";
  } else if (out.constructor) {
    out.modules = {out.constructor->module};
    out.confidence = OwnerConfidence::kHigh;
    out.evidence = "its constructor " + out.constructor->name + " is code of " +
                   out.constructor->module + " (/sys/kernel/slab/" + out.cache + "/ctor)";
  } else if (!caller_modules.empty()) {
    out.modules = caller_modules;
    out.confidence = OwnerConfidence::kHigh;
    out.evidence = "the recorded callers are code of " + join(caller_modules, ", ");
  } else if (symbols != nullptr) {
    for (auto prefix : name_prefixes(cache)) {
      const auto match = symbols->with_prefix(prefix);
      if (match.count == 0) continue;
      for (auto module : match.modules) add_module(module_or_vmlinux(module));
      out.modules = modules;
      out.confidence = OwnerConfidence::kLow;
      out.evidence = "only a name match: " + std::to_string(match.count) + " symbol(s) named " +
                     std::string(prefix) + " or " + std::string(prefix) + "_* are in " +
                     join(modules, ", ") + "; no cache pointer symbol or constructor confirms it";
      break;
    }
  }
  // Built into the kernel image: "vmlinux" is true but names no subsystem; the code named like
  // the cache usually does (ext4_inode_cache -> ext4_inode_*).
  if (symbols != nullptr && out.confidence == OwnerConfidence::kHigh &&
      out.modules == std::vector<std::string>{"vmlinux"}) {
    for (auto prefix : name_prefixes(cache)) {
      const auto match = symbols->with_prefix(prefix);
      if (match.count == 0 || match.modules != std::vector<std::string_view>{""}) continue;
      out.notes.push_back("vmlinux is the kernel image itself (built-in code); " +
                          std::to_string(match.count) + " of its symbols are named " +
                          std::string(prefix) + " or " + std::string(prefix) +
                          "_*, the likely subsystem");
      break;
    }
  }
  if (out.modules.empty()) {
    out.evidence = symbols == nullptr ? "unknown: kernel symbols were not loaded"
                                      : "unknown: no kernel symbol, constructor or recorded "
                                        "caller names this cache";
  }
  if (symbols != nullptr && out.cache_pointers.empty() && !out.generic_kmalloc) {
    out.notes.push_back(symbols->has_local_data_symbols()
                            ? "no data symbol holds this cache's pointer under a usual name"
                            : "this kernel's kallsyms lists no local data symbols (no "
                              "CONFIG_KALLSYMS_ALL), so cache pointer variables cannot be found");
  }
  return out;
}

std::string short_owner(const SlabOwner& owner) {
  if (owner.generic_kmalloc) return "kmalloc (generic)";
  if (owner.modules.empty()) return {};
  std::string out = join(owner.modules, ",");
  if (owner.confidence == OwnerConfidence::kLow) out += "?";
  return out;
}

std::vector<std::string> kernel_cache_names(const SlabSysfsPaths& paths) {
  std::vector<std::string> names;
  std::ifstream in(paths.proc_slabinfo);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.starts_with("slabinfo") || line.starts_with("#")) continue;
    names.push_back(line.substr(0, line.find(' ')));
  }
  return names.empty() ? list_slab_caches(paths) : names;
}

std::string no_such_cache_message(std::string_view name, const std::vector<std::string>& close) {
  std::string message = "this kernel has no slab cache named \"" + std::string(name) + "\"";
  if (!close.empty()) {
    message += "; close matches:";
    for (const auto& candidate : close) message += " " + candidate;
  }
  return message + " (poolscope snapshot lists the caches)";
}

Result<std::vector<std::string>> resolve_slab_caches(const std::vector<std::string>& names,
                                                     std::vector<std::string>& notes,
                                                     const SlabSysfsPaths& paths) {
  if (names.empty()) return names;
  const std::vector<std::string> known = kernel_cache_names(paths);
  std::vector<std::string> out;
  for (const auto& name : names) {
    const ResolvedCache resolved = resolve_slab_cache(name, known, paths);
    if (!resolved.found) {
      return make_error(ErrorCode::kUsage, no_such_cache_message(name, resolved.close));
    }
    if (!resolved.note.empty()) notes.push_back(resolved.note);
    if (std::find(out.begin(), out.end(), resolved.name) == out.end()) out.push_back(resolved.name);
  }
  return out;
}

}  // namespace poolscope::attrib
