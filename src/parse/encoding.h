// Text encodings met in Windows artifacts: UTF-16LE (kernel strings, "Unicode" logs) and cp1251
// (Russian-locale PDH logs), converted to the UTF-8 poolscope uses everywhere.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace poolscope::parse {

// True if text is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// UTF-16LE bytes to UTF-8; an odd trailing byte is dropped, unpaired surrogates become U+FFFD.
std::string utf16le_to_utf8(std::span<const std::byte> bytes);

// Windows-1251 to UTF-8 with a built-in table; the one unassigned byte (0x98) becomes U+FFFD.
std::string cp1251_to_utf8(std::string_view text);

}  // namespace poolscope::parse
