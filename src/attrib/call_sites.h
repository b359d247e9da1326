// The call-site scanner: decodes a driver's x86/x64 code with Zydis, finds every call of a pool API
// import (directly, through a register, through a jmp thunk, or through the driver's own wrapper
// functions) and recovers the tag, pool type and size arguments; plus the `findstr` byte search.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "attrib/pool_apis.h"
#include "core/pool.h"
#include "parse/pe.h"

namespace poolscope::attrib {

enum class Confidence : std::uint8_t {
  kHigh,    // the tag is the argument of a pool API call (directly or through wrappers)
  kMedium,  // a rule names it (KMDF's service-name tag) or only pooltag.txt does
  kLow,     // the 4 bytes occur somewhere in the file: only a byte match
};

std::string_view confidence_name(Confidence confidence);  // "high", "medium", "low"

// One call of a pool API. For a tag that reaches the API through wrapper functions, one CallSite
// per call of the outermost wrapper that passes a constant.
struct CallSite {
  std::uint32_t rva = 0;                     // of the call instruction where the tag is a constant
  std::optional<std::uint64_t> file_offset;  // of that instruction
  const PoolApi* api = nullptr;
  // The tag; for an allocation without a tag argument (ExAllocatePool) "None", the tag Windows
  // charges it to. Empty when the argument is not a constant at this call.
  std::optional<PoolKey> tag;
  std::optional<std::uint64_t> tag_file_offset;  // where the tag's 4 immediate bytes are
  std::optional<std::uint64_t> pool_type;        // POOL_TYPE, or POOL_FLAGS for ExAllocatePool2/3
  std::optional<std::uint64_t> size;
  Confidence confidence = Confidence::kHigh;
  std::string note;
  // Wrapper chain, outermost first: the RVAs of the calls from this site down to the pool API
  // call itself (rva, the call inside the first wrapper, ..., the pool API call). Empty for a
  // direct call.
  std::vector<std::uint32_t> via;
};

// A function of the driver that passes one of its parameters to a pool API's tag argument.
struct PoolWrapper {
  std::uint32_t function_rva = 0;
  int parameter = 0;  // 0-based
  const PoolApi* api = nullptr;
  int depth = 1;                   // 1: calls the API itself; 2: calls a depth-1 wrapper; ...
  std::vector<std::uint32_t> via;  // call RVAs from inside this function down to the API call
};

struct CallSiteScan {
  bool supported = true;  // false for machines other than x86/x64 (ARM64): nothing was decoded
  std::string note;       // why not supported, or what was limited
  std::vector<CallSite> sites;  // sorted by rva, then via
  std::vector<PoolWrapper> wrappers;
  std::uint64_t decoded_bytes = 0;
  // The image's directories could not all be read (PeImage::problems): `damage` says what is
  // damaged and what was still done, so "0 tags" is never mistaken for a clean result.
  bool damaged = false;
  std::string damage;
};

struct CallSiteOptions {
  std::size_t window = 32;    // instructions walked back from a call to find an argument
  int max_wrapper_depth = 3;  // levels of wrapper functions followed
  // Decode the linear sweep with the quick length decoder (attrib/x86_quick.h) and only the
  // instructions an argument walk reads with Zydis. false: Zydis decodes every instruction fully,
  // the slower reference the fast path is tested against (same results).
  bool quick_decoder = true;
  // Code bytes decoded per file at most (memory: about 6 bytes held per byte of code); the code
  // sections past it are not read and CallSiteScan::note says the file was cut short.
  std::uint64_t max_code_bytes = 64ull << 20;
};

// Scans the code sections of image (parsed from data). Never fails: unreadable code is skipped.
CallSiteScan scan_call_sites(const parse::PeImage& image, parse::ByteSpan data,
                             const CallSiteOptions& options = {});

// Every file offset at which the 4 bytes of tag occur (the `strings | findstr` method).
std::vector<std::uint64_t> find_tag_bytes(parse::ByteSpan data, const PoolKey& tag);

// One tag of a driver with its evidence.
struct DriverTag {
  PoolKey tag;
  Confidence confidence = Confidence::kHigh;
  std::vector<CallSite> call_sites;         // kHigh: the calls that pass it (frees included)
  std::vector<std::uint64_t> byte_offsets;  // kLow: where the 4 bytes occur in the file
  std::string note;
};

// A tag stored as a little-endian 32-bit value (an immediate, a structure field): its four
// characters in memory order, and whether they are all printable ASCII (as real tags are).
PoolKey tag_from_le32(std::uint32_t value);
bool is_printable_tag(std::uint32_t value);

// Every tag the driver's call sites pass (kHigh only), sorted by tag; "None" for the untagged
// allocation calls.
std::vector<DriverTag> driver_tags(const CallSiteScan& scan);

// What one driver says about one tag: kHigh with the call sites when a pool call passes it, kLow
// with the byte offsets when the bytes only occur somewhere; nullopt when neither. Files that do
// not contain the 4 bytes are not decoded at all (a tag immediate is always in the file), except
// for "None", whose evidence is the untagged API calls.
std::optional<DriverTag> find_tag_in_driver(const parse::PeImage& image, parse::ByteSpan data,
                                            const PoolKey& tag,
                                            const CallSiteOptions& options = {});

}  // namespace poolscope::attrib
