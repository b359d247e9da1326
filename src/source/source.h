// Sources of snapshots: the live OS (Linux /proc, Windows NtQuerySystemInformation) and saved
// files.
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "core/pool.h"
#include "core/result.h"

namespace poolscope {

class Source {
 public:
  virtual ~Source() = default;
  virtual Result<Snapshot> sample() = 0;
  virtual std::string describe() const = 0;
};

// The live source of the OS this binary was built for (source/linux or source/windows).
Result<std::unique_ptr<Source>> open_live_source(const Clock& clock);

struct FileSourceOptions {
  bool allow_bad_lines = false;  // print diagnostics as warnings instead of failing
};

// A saved file in any known format (format detected from its content). Malformed lines fail with
// "path:line: what was expected" unless allow_bad_lines.
Result<std::unique_ptr<Source>> open_file_source(const std::string& path,
                                                 const FileSourceOptions& options);

// A source whose every sample is this one snapshot (a saved file, a recording's sample), named
// `name` by describe().
std::unique_ptr<Source> fixed_snapshot_source(std::string name, Snapshot snapshot);

}  // namespace poolscope
