// Parser for WinDbg `!vm` output: pool usage against its limit, failures and memory; no entries.
#pragma once

#include <string_view>
#include <vector>

#include "core/pool.h"
#include "core/result.h"
#include "parse/slabinfo.h"  // ParsedSnapshot
#include "parse/text.h"

namespace poolscope::parse {

// What the parser takes from "Name: pages (KB Kb)" lines, in bytes (the KB value * 1024):
//  - NonPaged used = "NonPagedPool Usage" + "NonPagedPoolNx Usage" (Windows 8 and later split it);
//    limit = "NonPagedPool Max". Paged used = "PagedPool Usage"; limit = "PagedPool Maximum".
//    The per-pool lines ("PagedPool 0 Usage:", "PagedPool  1:", "NonPagedPool 0 Used:") are parts,
//    not totals, and are skipped.
//  - A maximum of 4294967296 pages (17179869184 Kb) is what !vm prints for the dynamic pools of
//    Windows 8.1 and later: no fixed limit. The limit stays unknown and limit_note says why.
//  - "********** N pool allocations have failed **********" (nt!ExPoolFailures, one count for all
//    pool types) sets failures on both pools, with a note; without the line failures are 0, since
//    !vm prints it only when the count is not zero. Other "*****" lines (Excessive NonPaged Pool
//    Usage, kernel stack PTE allocations have failed, ...) become notes.
//  - Page counts of 2^63 or more are negative numbers printed unsigned (e.g. "PagedPool Commit:
//    18446735300397918280" on Windows 10/11): never used, and noted.
//  - memory_total_bytes from "Physical Memory", memory_available_bytes from "Available Pages".
//  - When the text has kd prompt lines, only lines after a "!vm" prompt count (a later "!poolused"
//    prompt ends them); the per-process "Pid ImageName Commit" table is not read.
// Returns an error when the text has no pool usage line at all.
Result<ParsedSnapshot> parse_vm(std::string_view text);
Result<void> parse_vm_into(std::string_view text, Snapshot& snapshot,
                           std::vector<Diagnostic>& diagnostics);

// True for a line only !vm prints ("NonPagedPool Usage: ...", "*** Virtual Memory Usage ***").
bool is_vm_line(std::string_view line);

// Copies what !vm says into a snapshot from another source (e.g. !poolused entries saved in the
// same text): the nonpaged and paged totals (used, limit, failures, note), memory, and notes.
void apply_vm(const Snapshot& vm, Snapshot& snapshot);

}  // namespace poolscope::parse
