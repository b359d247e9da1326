// The pool tag database: pooltag.txt lookups (exact tag, wildcards, case near misses) and the
// search for the file the Windows debuggers install.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/pool.h"
#include "core/result.h"
#include "parse/pooltag_txt.h"

namespace poolscope::attrib {

// What pooltag.txt says about one tag. Pointers point into the TagDatabase that answered and stay
// valid while it lives.
struct TagLookup {
  // Lines for exactly these 4 bytes, in file order (the file lists some tags twice, e.g. "PX1").
  std::vector<const parse::PoolTagLine*> exact;
  // Wildcard lines that match ("Afd?" for "AfdZ"), most specific first: more literal bytes first,
  // then patterns without '*', then file order.
  std::vector<const parse::PoolTagLine*> wildcard;
  // Lines that would match if case were ignored but do not: for "NtFC" the lines of "NtFc", "NtfC"
  // and "Ntfc" (tags are case-sensitive; these are other tags, shown so nobody confuses them).
  std::vector<const parse::PoolTagLine*> near_misses;
};

class TagDatabase {
 public:
  TagDatabase() = default;
  // source names where the lines came from (a path), for messages.
  explicit TagDatabase(parse::ParsedPoolTags parsed, std::string source = {});

  // Exact lines first, then wildcards, then near misses; case-sensitive. Non-tag keys find nothing.
  TagLookup lookup(const PoolKey& tag) const;

  // Lines whose binary column names the file ("ntfs.sys"; "ntoskrnl.exe" for "nt!mm"), file order.
  std::vector<const parse::PoolTagLine*> entries_for_file(std::string_view file_name) const;

  const std::vector<parse::PoolTagLine>& entries() const { return parsed_.entries; }
  const std::vector<parse::Diagnostic>& diagnostics() const { return parsed_.diagnostics; }
  const std::vector<parse::Diagnostic>& prose() const { return parsed_.prose; }
  const std::string& source() const { return source_; }

 private:
  struct IndexEntry {
    std::uint32_t key;    // the 4 tag bytes (folded to lower case in folded_)
    std::uint32_t entry;  // index into parsed_.entries
  };
  parse::ParsedPoolTags parsed_;
  std::string source_;
  std::vector<IndexEntry> exact_;   // non-wildcard lines sorted by (key, line)
  std::vector<IndexEntry> folded_;  // the same, keys with ASCII letters lower-cased
  std::vector<std::uint32_t> wildcards_;
};

struct TagDatabaseOptions {
  bool allow_bad_lines = false;  // keep the good lines instead of failing on malformed ones
};

// Reads and parses a pooltag.txt. Malformed lines fail with "path:line: ..." unless
// allow_bad_lines; prose lines are never an error (see parse_pooltag_txt).
Result<TagDatabase> load_tag_database(const std::filesystem::path& path,
                                      const TagDatabaseOptions& options = {});

// True if a module of the binary column names this file name (no directory; case-insensitive).
// A module without an extension ("nt", "win32k", "FsLib") matches the file's stem; "nt" also
// matches the kernel images ntoskrnl.exe, ntkrnlmp.exe, ntkrnlpa.exe and ntkrpamp.exe.
bool module_names_file(const parse::PoolTagModule& module, std::string_view file_name);

// The pooltag.txt the Debugging Tools for Windows install, under "Windows Kits\10\Debuggers\<arch>
// \triage\" of one of the roots (x64 first, then arm64, then x86): the first that exists.
std::optional<std::filesystem::path> find_default_pooltag(
    std::span<const std::filesystem::path> roots);

// The roots to give find_default_pooltag, from the environment: ProgramFiles(x86), ProgramFiles,
// ProgramW6432, in that order, unset and duplicate ones left out. get_env returns a variable's
// value.
std::vector<std::filesystem::path> pooltag_search_roots(
    const std::function<std::optional<std::string>(const char*)>& get_env);

}  // namespace poolscope::attrib
