// A recording (poolscope record/import) as a source of the one sample at or before `at` (UTC text;
// empty: the last one), for `snapshot`, `summary` and `top --source FILE.db`.
#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "source/source.h"

namespace poolscope::store {

Result<std::unique_ptr<Source>> open_recording_source(const std::string& path,
                                                      const std::string& at);

// A sample of a damaged recording carries a note starting with this (issue 21).
inline constexpr std::string_view kDamagedRecordingNote = "damaged recording: ";
// What could not be read of the recording a snapshot came from (store::describe_damage); empty
// when nothing, or when it came from no recording.
std::string recording_damage(const Snapshot& snapshot);

}  // namespace poolscope::store
