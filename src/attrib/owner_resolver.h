// The OWNER column of snapshot, top, leaks and diagnose: one short owner text per pool key, from
// pooltag.txt for Windows tags and from kallsyms + /sys/kernel/slab for Linux slab caches, each
// loaded once.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "attrib/slab_owner.h"
#include "attrib/tag_database.h"
#include "core/pool.h"
#include "core/result.h"

namespace poolscope::attrib {

struct OwnerResolverOptions {
  std::optional<std::filesystem::path> pooltag;   // pooltag.txt for tags; nullopt: not loaded
  std::optional<std::filesystem::path> kallsyms;  // kernel symbols for caches; nullopt: none
  // false: a kallsyms that cannot be read is a note, not an error (the default /proc/kallsyms).
  bool kallsyms_required = true;
  // Read /sys/kernel/slab (constructors, merged names, recorded callers) for caches: right only
  // for a live snapshot of this machine.
  bool read_sysfs = false;
  SlabSysfsPaths sysfs;
  bool allow_bad_lines = false;  // pooltag.txt: keep the good lines
  // Cache owners between runs: loading /proc/kallsyms costs 0.1-0.3 s, most of a `snapshot`. The
  // file holds "cache<TAB>owner" lines under a first line naming memo_key (boot, kernel release
  // and loaded modules, built by the caller); a file with another key, or damaged, is ignored
  // and rewritten. With a memo, kernel symbols are loaded only when a cache is not in it.
  std::optional<std::filesystem::path> memo_file;
  std::string memo_key;
};

class OwnerResolver {
 public:
  OwnerResolver() = default;  // knows nothing: every owner is ""

  // Loads what the options name. A file that cannot be read is an error (the user asked for it).
  static Result<OwnerResolver> load(const OwnerResolverOptions& options);

  // "ext4", "vmlinux", "kmalloc (generic)", "xfs?" (a guess from the name only), "ntfs.sys",
  // pooltag.txt's description when it names no binary; "" when nothing is known. Results are
  // remembered (top asks every refresh), so the resolver is not safe to share between threads.
  std::string owner_of(const PoolKey& key, std::span<const std::string> aliases = {}) const;

  // Sets Entry::owner where the source gave none (poolmon's Mapped_Driver and !poolused's
  // description stay). Returns how many entries got an owner.
  std::size_t fill(Snapshot& snapshot) const;

  // Writes the owners learnt since loading to the memo file (options.memo_file), replacing it
  // atomically; nothing when there is no memo file or nothing new. Failing to write is not an
  // error (the next run loads the symbols again): the reason is returned for a debug note.
  std::optional<std::string> save_memo() const;
  // How many owners came from the memo file, and whether the kernel symbols had to be loaded.
  std::size_t memo_hits() const { return memo_hits_; }
  bool symbols_loaded() const { return symbols_.has_value(); }

  // The kernel's symbols (loaded now when a memo deferred them); nullptr when none.
  const KernelSymbols* kernel_symbols() const { return symbols(); }
  bool knows_tags() const { return tags_.has_value(); }
  bool knows_caches() const { return symbols_.has_value() || lazy_kallsyms_ || read_sysfs_; }
  const TagDatabase* tag_database() const { return tags_ ? &*tags_ : nullptr; }
  // What could not be loaded and what that means for the column, for the user to read.
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  std::optional<TagDatabase> tags_;
  const KernelSymbols* symbols() const;  // loads the lazy kallsyms on first use

  mutable std::optional<KernelSymbols> symbols_;
  mutable std::optional<std::filesystem::path> lazy_kallsyms_;  // not loaded yet (memo in use)
  std::optional<std::filesystem::path> memo_file_;
  std::string memo_key_;
  std::unordered_map<std::string, std::string> memo_;  // read from memo_file_
  mutable std::size_t memo_hits_ = 0;
  mutable bool memo_dirty_ = false;
  bool read_sysfs_ = false;
  SlabSysfsPaths sysfs_;
  mutable std::vector<std::string> notes_;
  mutable std::unordered_map<std::string, std::string> remembered_;  // cache name -> owner
};

// The owner text pooltag.txt gives a tag: the binaries of its exact lines (or of the most
// specific wildcard line), else their descriptions; "" when the tag is not listed.
std::string pooltag_owner(const TagDatabase& database, const PoolKey& tag);

}  // namespace poolscope::attrib
