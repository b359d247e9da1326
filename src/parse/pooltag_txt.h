// Parser for pooltag.txt, the "<Tag> - <binary> - <Description>" list of Debugging Tools for
// Windows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/pool.h"
#include "core/result.h"
#include "parse/text.h"

namespace poolscope::parse {

// What the binary column says about the owner.
enum class PoolTagOwnerKind : std::uint8_t {
  kNamed,     // one or more modules: "afd.sys", "nt!mm", "nt!store or rdyboost.sys", "FsLib"
  kUnknown,   // "<unknown>"
  kMultiple,  // "<multiple>"
  kMissing,   // the line has no binary column ("ATmp - AppTag mount point")
};

// One alternative of the binary column. "nt!mm" is {"nt", "mm"}, "afd.sys" is {"afd.sys", ""},
// "win32k!RFONTOBJ::bRealizeFont" is {"win32k", "RFONTOBJ::bRealizeFont"}, "<nvlddmkm.sys>" is
// {"nvlddmkm.sys", ""}.
struct PoolTagModule {
  std::string name;
  std::string component;

  friend bool operator==(const PoolTagModule&, const PoolTagModule&) = default;
};

struct PoolTagLine {
  // The tag column as written with trailing blanks removed: "AfdB", "Cc", "Afd?", "Bu*". 1-4 bytes.
  std::string pattern;
  bool wildcard = false;  // pattern contains '?' (any one byte) or '*' (any bytes)
  PoolKey tag;  // pattern padded with spaces to 4 bytes ("Cc  "); the padded pattern if wildcard
  std::string binary;  // the binary column as written, blanks trimmed; empty when kMissing
  PoolTagOwnerKind owner_kind = PoolTagOwnerKind::kMissing;
  std::vector<PoolTagModule> modules;  // the alternatives the binary column names (kNamed only)
  std::string description;             // the rest of the line, trimmed; may itself contain " - "
  std::size_t line = 0;                // 1-based
};

struct ParsedPoolTags {
  std::vector<PoolTagLine> entries;     // in file order; a tag may appear on several lines
  std::vector<Diagnostic> diagnostics;  // lines shaped like an entry that are not one
  // Prose lines without a " - " separator ("QUIC Allocation tags are Qc00 through QcFF", an
  // indented
  // "<unknown>"): the real file has them, they are not entries and not errors. Kept so a caller can
  // show them; message is the line text.
  std::vector<Diagnostic> prose;
};

// Comment lines start with "rem" (any case) or "//"; a line holding only Ctrl-Z (0x1A, the DOS end
// of file the real file ends with) ends the input. Fields are separated by a '-' with a blank (or
// the line end) on both sides. With three or more fields the second is the binary and the rest is
// the description; with two fields the second is the description unless it is a single word naming
// a file ("x.sys", "<unknown>", "nt!io").
// Fails only when the text holds no entry at all.
Result<ParsedPoolTags> parse_pooltag_txt(std::string_view text);

// Case-sensitive match of a pooltag.txt pattern against the 4 raw bytes of a tag: '?' is any one
// byte, '*' any run of bytes; a pattern without '*' shorter than 4 bytes is padded with spaces.
bool pooltag_pattern_matches(std::string_view pattern, std::string_view tag_bytes);

// The same ignoring ASCII case (for "near miss" reporting).
bool pooltag_pattern_matches_ignore_case(std::string_view pattern, std::string_view tag_bytes);

}  // namespace poolscope::parse
