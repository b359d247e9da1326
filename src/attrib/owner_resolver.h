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

  bool knows_tags() const { return tags_.has_value(); }
  bool knows_caches() const { return symbols_.has_value() || read_sysfs_; }
  const KernelSymbols* kernel_symbols() const { return symbols_ ? &*symbols_ : nullptr; }
  const TagDatabase* tag_database() const { return tags_ ? &*tags_ : nullptr; }
  // What could not be loaded and what that means for the column, for the user to read.
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  std::optional<TagDatabase> tags_;
  std::optional<KernelSymbols> symbols_;
  bool read_sysfs_ = false;
  SlabSysfsPaths sysfs_;
  std::vector<std::string> notes_;
  mutable std::unordered_map<std::string, std::string> remembered_;  // cache name -> owner
};

// The owner text pooltag.txt gives a tag: the binaries of its exact lines (or of the most
// specific wildcard line), else their descriptions; "" when the tag is not listed.
std::string pooltag_owner(const TagDatabase& database, const PoolKey& tag);

}  // namespace poolscope::attrib
