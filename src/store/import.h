// Import of saved artifacts into a recording: poolmon logs (one sample per screen), !poolused/!vm,
// slabinfo copies, PDH-CSV counter logs and httperr.log events. Every file is parsed before
// anything is written, and all are written in one transaction (all or nothing).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/pool.h"
#include "core/result.h"
#include "parse/httperr.h"
#include "parse/pdh_csv.h"
#include "store/recording.h"

namespace poolscope::store {

// What one file contributes.
struct ImportedFile {
  std::string path;
  std::string format;
  std::vector<Snapshot> snapshots;
  std::vector<parse::HttpErrEvent> events;
  std::optional<parse::CounterLog> counters;
  std::vector<std::string> notes;
};

// The formats import reads, one "  - ..." line each, for error messages and help.
std::string import_formats_help();

// Reads and parses one file (format detected from its content). Text dumps carry no date: `at`,
// else the file's modification time. A malformed line fails the file (kInput, every line listed up
// to 10); so does an SQLite file, an unknown format or a file over 2 GiB.
Result<ImportedFile> parse_import_file(const std::string& path,
                                       std::optional<std::chrono::system_clock::time_point> at,
                                       const parse::PdhCsvOptions& pdh);

struct ImportTotals {
  std::size_t samples = 0, events = 0, counters = 0, points = 0;
};

// Writes the files into the recording in one transaction; on an error nothing is written and the
// message says so.
Result<ImportTotals> import_files(Recording& recording, const std::vector<ImportedFile>& files);

}  // namespace poolscope::store
