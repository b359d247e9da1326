// What to do about a detector report: one step per finding (diagnose prints them, the HTML report
// shows them), and how to confirm a leak and what to send its vendor, per platform.
#pragma once

#include <string>
#include <vector>

#include "detect/detector.h"

namespace poolscope::report {

// One line per finding (or one saying to record longer when there is none); no leading "- ".
std::vector<std::string> next_steps(const detect::Report& report,
                                    const std::string& recording_path);

struct Guidance {
  std::string heading;               // "Windows pool tag TAG", "Linux slab cache CACHE"
  std::vector<std::string> fix;      // update or remove the driver/module, restart the process
  std::vector<std::string> confirm;  // trace / Driver Verifier / slub_debug commands
  std::vector<std::string> send;     // what to send the vendor
};
// For each leak or suspect (at most `max` of them): the fix, how to confirm, what to send.
std::vector<Guidance> guidance(const detect::Report& report, const std::string& recording_path,
                               std::size_t max = 5);

}  // namespace poolscope::report
