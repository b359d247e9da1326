// Parser for WinDbg `!poolused` output (every flag layout), plus the kd command-echo helper that
// the
// `!vm` parser shares.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "core/pool.h"
#include "core/result.h"
#include "parse/slabinfo.h"  // ParsedSnapshot
#include "parse/text.h"

namespace poolscope::parse {

// What the parser makes of !poolused text:
//  - Layouts: the summary "Tag Allocs Used Allocs Used" (flags 0, 2, 4; NonPaged then Paged, as the
//    "NonPaged  Paged" line above the header says) and the verbose "Allocs Frees Diff Used" per
//    pool (flag 1). The header line's column positions split a description glued to the last number
//    ("01394 OHCI ..." is Paged Used 0 and the description "1394 OHCI ...").
//  - Counters: the summary "Allocs" is the number of allocations outstanding now (WinDbg docs: "the
//    number of currently outstanding allocations"), so it is Counters::outstanding and allocs stays
//    empty. The verbose layout gives allocs, frees, outstanding (Diff) and bytes (Used).
//  - One text line gives one entry per pool; a pool whose numbers are all zero gives none, since
//    !poolused only counts what is outstanding (an absent entry means nothing outstanding).
//  - Entry::owner is the description, trailing blanks removed ("Etw Buffer , Binary: nt!etw").
//  - Several outputs in one text (`!poolused 2` then `!poolused 4`): the union, one entry per tag
//    and pool; a tag listed again replaces its earlier entry (the later output is newer). A tag
//    listed twice in one output (tags that differ only in bytes WinDbg displays alike) has its
//    counters added, with a note.
//  - "TOTAL" gives the per-pool totals (used_bytes); it is cross-checked against the rows and a
//    mismatch becomes a note. "..." lines (rows elided by whoever saved the text), a TagString
//    filter or "/tN" in the command echo make a note saying the listing is incomplete.
//  - Flag 8 (session pool): the two pools are summed into one PoolKind::kSession entry, with a
//  note.
// Returns an error when there is no "Tag ... Used" header; malformed rows become diagnostics.
Result<ParsedSnapshot> parse_poolused(std::string_view text);
Result<void> parse_poolused_into(std::string_view text, Snapshot& snapshot,
                                 std::vector<Diagnostic>& diagnostics);

// True for a !poolused column header such as " Tag    Allocs     Used    Allocs     Used" (all
// titles after "Tag" are Allocs/Frees/Diff/Used; poolmon's header has Type and Bytes instead).
bool is_poolused_header(std::string_view line);

// The command of a kd prompt line ("0: kd> !poolused 2", " kd> !vm 1", "lkd> !vm"), trimmed;
// nullopt when the line is not a kd prompt.
std::optional<std::string_view> windbg_command(std::string_view line);

}  // namespace poolscope::parse
