// Who owns a Linux slab cache: the kernel symbols (kallsyms) and /sys/kernel/slab facts that name
// the module creating it, whether it is a generic kmalloc cache, and its recorded callers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "parse/kallsyms.h"

namespace poolscope::attrib {

// The kernel's symbols, loaded once and indexed by name; names are copied into compact storage
// (about 7 MB for 120,000 symbols) so the file's text is not kept. Copies share the storage.
class KernelSymbols {
 public:
  KernelSymbols() = default;
  // source names where the text came from ("/proc/kallsyms"), for messages.
  static Result<KernelSymbols> from_text(std::string_view text, std::string source);
  // The same, from a file read in pieces (never the whole text in memory at once).
  static Result<KernelSymbols> from_file(const std::filesystem::path& path);

  // Every symbol of exactly this name, ordered by module ("" = vmlinux first). Static functions
  // such as init_once exist many times. The views live as long as this object.
  std::vector<parse::KernelSymbol> named(std::string_view name) const;
  // How many symbols are `prefix` itself or start with `prefix` + "_", and in which modules ("" =
  // vmlinux), sorted.
  struct PrefixMatch {
    std::size_t count = 0;
    std::vector<std::string_view> modules;
  };
  PrefixMatch with_prefix(std::string_view prefix) const;

  // The code symbol containing `address`: the nearest text symbol at or below it, with the offset
  // into it ("do_eventfd+0x3c"). nullopt when addresses are hidden or none is at or below it.
  struct AddressMatch {
    parse::KernelSymbol symbol;
    std::uint64_t offset = 0;
  };
  std::optional<AddressMatch> at(std::uint64_t address) const;

  std::size_t size() const { return by_name_.size(); }
  bool addresses_hidden() const { return addresses_hidden_; }
  // Local data symbols ('d', 'b') are listed only with CONFIG_KALLSYMS_ALL; without them no
  // cache pointer variable can be found.
  bool has_local_data_symbols() const { return local_data_symbols_ > 0; }
  std::size_t diagnostics() const { return diagnostics_; }
  const std::string& source() const { return source_; }

 private:
  struct Stored {
    std::uint64_t address = 0;
    std::string_view name;     // into storage_
    std::uint32_t module = 0;  // index into storage_->modules; 0 = vmlinux ("")
    char type = '?';
  };
  struct Storage {
    std::vector<std::unique_ptr<char[]>> blocks;  // names; a block never moves
    std::size_t block_used = 0;
    std::vector<std::string> modules{""};
    std::string_view keep(std::string_view name);
    std::uint32_t module_index(std::string_view module);
  };
  class Builder;
  parse::KernelSymbol view(const Stored& stored) const;

  std::shared_ptr<Storage> storage_;
  std::vector<Stored> by_name_;            // sorted by (name, module name)
  std::vector<std::uint32_t> by_address_;  // text symbols (indices into by_name_) by address
  bool addresses_hidden_ = false;
  std::size_t local_data_symbols_ = 0;
  std::size_t diagnostics_ = 0;  // malformed lines skipped
  std::string source_;
};

// Reads and indexes a kallsyms file (default /proc/kallsyms). Errors say what to do.
Result<KernelSymbols> load_kernel_symbols(const std::filesystem::path& path = "/proc/kallsyms");

// kmalloc-<size>, kmalloc-rcl-, kmalloc-cg-, kmalloc-rnd-NN-, dma-kmalloc-: the caches every
// kmalloc() of that size shares, so the cache itself names no owner.
bool is_generic_kmalloc_cache(std::string_view cache);
// The object size of a generic kmalloc cache: kmalloc-96 -> 96, kmalloc-cg-1k -> 1024; nullopt
// for any other cache.
std::optional<std::uint64_t> kmalloc_cache_size(std::string_view cache);

// Where /sys/kernel/slab and SLUB's debugfs live (tests point them at a fake tree).
struct SlabSysfsPaths {
  std::filesystem::path sys_slab = "/sys/kernel/slab";
  std::filesystem::path debug_slab = "/sys/kernel/debug/slab";
  std::filesystem::path proc_slabinfo = "/proc/slabinfo";
};

// What the kernel says about one cache, read from sysfs/debugfs (empty when not there).
struct SlabFacts {
  bool in_sysfs = false;                    // /sys/kernel/slab/<cache> exists
  std::vector<std::string> aliases;         // other names merged into the same cache
  std::string constructor;                  // the ctor file: "init_once+0x0/0x80 [ext4]"; "" = none
  std::optional<bool> store_user;           // SLUB user tracking (slub_debug=U) for this cache
  std::optional<std::string> callers_text;  // alloc_traces (debugfs) or alloc_calls (sysfs)
  std::string callers_path;                 // the file that was read, or the one to read
};
// Every cache name under sys_slab (merged names included, the ":0000064" directories not), sorted.
std::vector<std::string> list_slab_caches(const SlabSysfsPaths& paths = {});
// The names among `names` close to `name` (a typo, another spelling), closest first, at most max.
std::vector<std::string> close_names(std::string_view name, const std::vector<std::string>& names,
                                     std::size_t max = 5);

// A cache name as the kernel's allocation events carry it. `--cache` may say it another way: a
// legacy kmalloc name (kmalloc-1024 where this kernel has kmalloc-1k) or a name merged into
// another cache (UNIX, merged into the cache named signal_cache). `known` are the names the kernel
// reports caches by (/proc/slabinfo's), `paths` where the merged names are found.
struct ResolvedCache {
  std::string name;                // the name to trace
  std::string note;                // how `name` was found, when it is not the name given
  std::vector<std::string> close;  // none found: the close matches
  bool found = false;
};
ResolvedCache resolve_slab_cache(std::string_view name, const std::vector<std::string>& known,
                                 const SlabSysfsPaths& paths = {});
// The names the kernel's allocation events carry: proc_slabinfo's (merged names are not among
// them); sys_slab's when slabinfo cannot be read.
std::vector<std::string> kernel_cache_names(const SlabSysfsPaths& paths = {});
// `this kernel has no slab cache named "NAME"; close matches: a b` and what lists the caches.
std::string no_such_cache_message(std::string_view name, const std::vector<std::string>& close);
// Every name resolved (resolve_slab_cache against kernel_cache_names), duplicates dropped; `notes`
// get how a name was resolved when it is not the name given. kUsage, with the close matches, for
// a name this kernel does not have.
Result<std::vector<std::string>> resolve_slab_caches(const std::vector<std::string>& names,
                                                     std::vector<std::string>& notes,
                                                     const SlabSysfsPaths& paths = {});

// find_aliases scans every name in sys_slab (one readlink each): leave it off when the caller
// already knows the merged names (the live source does).
SlabFacts read_slab_facts(std::string_view cache, const SlabSysfsPaths& paths = {},
                          bool find_aliases = true);

enum class OwnerConfidence : std::uint8_t {
  kHigh,  // a cache pointer symbol, the constructor or the recorded callers name the module
  kLow,   // only the cache's name resembles the module's symbols
};
std::string_view owner_confidence_name(OwnerConfidence confidence);  // "high", "low"

struct SymbolRef {
  std::string name;
  char type = '?';
  std::string module;  // "vmlinux" for the kernel image
  std::uint64_t address = 0;
};

struct CallerSite {
  std::uint64_t count = 0;
  std::string function;
  std::optional<std::uint64_t> offset;
  std::string module;  // "vmlinux" when the kernel printed none; "" for an unnamed address
  std::string details;
  std::vector<std::string> stack;  // "func+0x1/0x2 [module]" as printed
};

struct SlabOwner {
  std::string cache;
  std::vector<std::string> aliases;
  bool exists = false;  // the kernel has this cache (sysfs), when known
  bool generic_kmalloc = false;
  // The module that creates the cache ("ext4", "vmlinux"); several when the evidence disagrees.
  std::vector<std::string> modules;
  std::optional<OwnerConfidence> confidence;
  std::string evidence;                   // one sentence: why these modules
  std::vector<SymbolRef> cache_pointers;  // data symbols named after the cache
  std::optional<SymbolRef> constructor;
  bool callers_available = false;
  std::vector<CallerSite> callers;  // from alloc_traces / alloc_calls, most objects first
  std::string callers_note;         // where they came from, or why absent and how to enable
  std::vector<std::string> notes;
};

// Combines the facts and the symbols (either may be empty) into what is known about the cache.
SlabOwner slab_owner(std::string_view cache, const SlabFacts& facts, const KernelSymbols* symbols);

// The short owner text of the snapshot/top OWNER column: "ext4", "vmlinux", "kmalloc (generic)";
// a low-confidence guess ends in "?" ("xfs?"); "" when nothing is known.
std::string short_owner(const SlabOwner& owner);

}  // namespace poolscope::attrib
