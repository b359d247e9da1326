// The HTML report of a recording: one self-contained page (inline CSS and SVG, no script, no
// network) with the verdict, pool totals against their limits, the top growers, each finding with
// its fitted trend, forecast and culprit process, imported events on the same time axis, the owner
// evidence and the next steps. Layout and content: docs/report.md.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "detect/detector.h"
#include "detect/history.h"
#include "report/chart.h"
#include "store/recording.h"

namespace poolscope::report {

// An imported event (an httperr.log line, ...) on the time axis.
struct ReportEvent {
  double t = 0;  // seconds since 1970 UTC
  std::string kind;
  std::string summary;         // "Connections_Refused (503), 12 refused connections"
  bool pool_pressure = false;  // HTTP.sys refused connections: nonpaged pool fell below 20 MB
};

// An imported PDH counter (typeperf, relog, perfmon).
struct ReportCounter {
  std::string path, kind;
  std::vector<Point> points;
};

// What is known of a finding's owner: one line per fact (pooltag.txt, driver call sites, the
// cache's module), for people.
struct OwnerEvidence {
  std::string key;  // display_key of the finding's key
  std::vector<std::string> lines;
};

struct ReportInput {
  std::string file;          // the recording, as the user named it
  std::string generated_at;  // UTC
  std::string host, source;  // from the recording, when known
  std::string version;       // poolscope's
  std::size_t top = 10;      // growers listed
  std::vector<ReportEvent> events;
  std::vector<ReportCounter> counters;
  std::vector<OwnerEvidence> owners;
};

// The recording's events (summarised from their JSON detail), counters and meta. Events beyond
// max_events are dropped with a note in the page (the newest kept); counter series are
// down-sampled to max_points each.
Result<ReportInput> load_report_input(const store::Recording& recording,
                                      std::size_t max_events = 20000,
                                      std::size_t max_points = 4096);
ReportEvent summarize_event(const store::Event& event);

// The page. History and report are the detector's over the same recording.
std::string render_report(const detect::History& history, const detect::Report& report,
                          const ReportInput& input);

// A key's series for a chart: per history bucket its min, max and mean (outstanding objects, or
// bytes when `bytes`).
std::vector<Point> key_points(const detect::History& history, const detect::KeyTrack& key,
                              bool bytes);

}  // namespace poolscope::report
