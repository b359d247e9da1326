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

// Appends one code point as UTF-8; surrogates and values above U+10FFFF become U+FFFD.
void append_utf8(std::string& out, std::uint32_t code_point);

// UTF-16 code units in either byte order to UTF-8, stopping at the first NUL (PE resources).
std::string utf16_to_utf8(std::span<const std::byte> bytes, bool big_endian);

// Latin-1 bytes to UTF-8 (certificate strings of type T61/BMP fallbacks).
std::string latin1_to_utf8(std::span<const std::byte> bytes);

// UTF-8 as given, with invalid, overlong or surrogate sequences replaced by U+FFFD, so names from
// hostile files are always valid UTF-8 for the JSON and terminal output.
std::string clean_utf8(std::span<const std::byte> bytes);

// Windows-1251 to UTF-8 with a built-in table; the one unassigned byte (0x98) becomes U+FFFD.
std::string cp1251_to_utf8(std::string_view text);

}  // namespace poolscope::parse
