// Parser for Windows `tasklist` output: the default table and `tasklist /FO CSV`. It gives the list
// of live processes at one time, which `import` stores beside the pool samples of the same time
// (the census compares the Proc tag with it: docs/detection.md, "Census").
#pragma once

#include <string_view>
#include <vector>

#include "core/process.h"
#include "core/result.h"
#include "parse/text.h"

namespace poolscope::parse {

// - Table: an "Image Name ... PID ..." header, then a line of "=" runs that gives each column's
//   width; every non-blank line after it is a process: the image name is the first column (trailing
//   blanks removed), the PID the second. /V's extra columns are ignored.
// - CSV: a header whose first two fields are "Image Name" and "PID" (quoted), then one process
//   per line.
// - ProcessFacts get pid and name; start_time is 0 (tasklist does not print it). A row whose PID
//   is not a number is a Diagnostic. A name longer than kMaxProcessNameBytes is cut (cap_name).
struct ParsedTasklist {
  ProcessSample sample;  // processes sorted by pid; no time
  std::vector<Diagnostic> diagnostics;
};

// True when the text starts (after blank lines) like tasklist output: the table's "Image Name"
// header followed by its "=" line, or the CSV header.
bool looks_like_tasklist(std::string_view head);

// An error when the text is not tasklist output at all.
Result<ParsedTasklist> parse_tasklist(std::string_view text);

}  // namespace poolscope::parse
