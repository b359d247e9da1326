// `who`'s answers as JSON and text: a pool tag's pooltag.txt lines, and what the kernel's symbols
// and /sys/kernel/slab say of a slab cache's owner.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attrib/slab_owner.h"
#include "parse/pooltag_txt.h"

namespace poolscope {

// One pooltag.txt line; match is "exact", "wildcard" or "case" (a near miss).
nlohmann::ordered_json pooltag_line_json(const parse::PoolTagLine& line, const char* match);

// `who CACHE --format json`: the owner, evidence, cache pointers, constructor (with the facts'
// text), recorded callers, the symbols used (null when none) and the notes.
nlohmann::ordered_json cache_owner_json(const attrib::SlabOwner& owner,
                                        const attrib::SlabFacts& facts,
                                        const attrib::KernelSymbols* symbols,
                                        const std::vector<std::string>& notes);
// `who CACHE`: the same for people.
std::string cache_owner_text(const attrib::SlabOwner& owner, const std::vector<std::string>& notes);

}  // namespace poolscope
