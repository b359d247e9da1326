// The page of a recording already analysed, with the owner evidence of its findings: what
// pooltag.txt says of each tag, which drivers of --drivers folders pass it to a pool call, the
// owner the resolver found and the merged cache names. Shared by `report` and `diagnose`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attrib/owner_resolver.h"
#include "core/result.h"
#include "detect/detector.h"
#include "detect/history.h"
#include "report/page.h"
#include "store/recording.h"

namespace poolscope::report {

struct HtmlReportOptions {
  std::size_t top = 10;                             // growers listed
  std::vector<std::string> drivers;                 // folders searched for the findings' tags
  const attrib::OwnerResolver* resolver = nullptr;  // pooltag.txt lines of the findings' tags
  std::string file_label;                           // the recording as the page names it
  std::string version;                              // poolscope's
  // How the reader gets the drivers searched when `drivers` is empty: the verb's option ("pass
  // --drivers DIR"), or for a verb without it the command that has it ("run poolscope report
  // FILE --drivers DIR").
  std::string drivers_advice = "pass --drivers DIR";
};
struct HtmlReportSummary {
  std::uint64_t bytes = 0;
  std::size_t events = 0, counters = 0;
};

// Per finding, one line per fact: the owner, merged caches, pooltag.txt's lines of a tag (or why
// there are none), the drivers whose pool calls pass it (or why none were searched).
Result<std::vector<OwnerEvidence>> owner_evidence(const detect::Report& report,
                                                  const HtmlReportOptions& options);

// Writes the page to out_path (replaced when it exists). kInput when the recording holds nothing to
// report, kEnvironment when the file cannot be written.
Result<HtmlReportSummary> write_html_report(const store::Recording& recording,
                                            const detect::History& history,
                                            const detect::Report& report,
                                            const std::string& out_path,
                                            const HtmlReportOptions& options);

}  // namespace poolscope::report
