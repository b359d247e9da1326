// Import of saved artifacts into a recording: poolmon logs (streamed screen by screen), !poolused
// and !vm dumps, slabinfo copies, PDH-CSV counter logs, httperr.log and ETL pool traces. Every file
// is read and checked first; the writing is one transaction (all or nothing).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/pool.h"
#include "core/process.h"
#include "core/result.h"
#include "parse/httperr.h"
#include "parse/pdh_csv.h"
#include "store/recording.h"

namespace poolscope::store {

// What one file contributes, read and checked, ready to write.
struct ImportedFile {
  std::string path;
  std::string format;
  std::vector<Snapshot> snapshots;
  // A poolmon log is streamed again when written: how many screens it holds, and their time.
  std::size_t streamed_snapshots = 0;
  // Screens with poolmon's "( delta)" columns: each is also the previous refresh (current -
  // delta), written as a sample before it when its time is known (ImportOptions::refresh_seconds)
  // or the import is that one screen alone (then at the screen's own time: no rate).
  std::size_t screens_with_changes = 0;
  std::chrono::system_clock::time_point when{};
  std::vector<parse::HttpErrEvent> events;
  std::optional<parse::CounterLog> counters;
  // A process list (tasklist): stored with the pool samples of the same time (`when`), so the
  // census can compare Proc with the live processes.
  std::optional<ProcessSample> processes;
  std::vector<std::string> notes;
};

// The formats import reads, one per line, for messages.
std::string import_formats_help();

// Reads and checks one artifact (format detected from its content). at: the time of text dumps
// that carry none (default: the file's mtime). Devices and FIFOs are refused before anything
// opens them.
Result<ImportedFile> read_import_file(const std::string& path,
                                      std::optional<std::chrono::system_clock::time_point> at,
                                      const parse::PdhCsvOptions& pdh_options);

struct ImportTotals {
  std::size_t samples = 0;
  std::size_t events = 0;
  std::size_t counters = 0;  // counter series
  std::size_t points = 0;
};

struct ImportOptions {
  // poolmon's refresh interval, when the user knows it: a screen's "( delta)" columns are then a
  // sample this long before it. poolmon does not print it.
  std::optional<double> refresh_seconds;
};

// Writes every file into rec in one transaction; on failure nothing is kept and the error says
// so. A single poolmon screen with "( delta)" columns gives two samples (ImportedFile).
Result<ImportTotals> write_imported(Recording& rec, std::vector<ImportedFile>& files,
                                    const ImportOptions& options = {});

// "PATH: FORMAT, N sample(s) at TIME, N event(s), ..." for the summary printed after an import.
std::string describe_imported(const ImportedFile& file);

}  // namespace poolscope::store
