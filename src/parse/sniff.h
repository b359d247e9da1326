// Format sniffing (which pool text is this?) and the one entry point that parses any known pool
// text into a snapshot. (Leak detection is src/detect.)
#pragma once

#include <string_view>
#include <vector>

#include "core/result.h"
#include "parse/slabinfo.h"

namespace poolscope::parse {

enum class TextFormat { kUnknown, kSlabinfo, kPoolmon, kPoolused, kVm };

std::string_view text_format_name(TextFormat format);

// The formats `--source PATH` understands, for error messages.
std::string_view known_formats_help();

// Looks at the first lines only; cheap.
TextFormat detect_format(std::string_view text);

// Detects and parses. An unknown format is ErrorCode::kInput listing the known formats.
Result<ParsedSnapshot> parse_pool_text(std::string_view text);

}  // namespace poolscope::parse
