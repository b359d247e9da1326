// A recording as a source: the sample at or before --at (default the last), for `snapshot`,
// `summary` and `top --source FILE.db`.
#include "store/recording_source.h"

#include "core/forward_error.h"
#include "core/time_format.h"
#include "store/recording.h"

namespace poolscope::store {

Result<std::unique_ptr<Source>> open_recording_source(const std::string& path,
                                                      const std::string& at) {
  std::optional<std::chrono::system_clock::time_point> when;
  if (!at.empty()) {
    when = parse_utc(at);
    if (!when) {
      return make_error(ErrorCode::kUsage,
                        "--at \"" + at + "\" is not a time (expected 2026-11-21T11:40:02Z)");
    }
  }
  auto rec = Recording::open_read(path);
  if (!rec) return forward_error(rec);
  ReadDamage damage;
  auto snapshot = rec->snapshot_at(when, &damage);
  if (!snapshot) return forward_error(snapshot);
  if (!*snapshot) {
    auto summary = rec->summary();
    std::string msg = path + " has no sample";
    if (when) msg += " at or before " + format_utc(*when);
    if (summary && summary->samples > 0) {
      msg += " (it holds " + std::to_string(summary->samples) + " from " +
             format_utc(from_wall_ns(summary->min_wall_ns)) + " to " +
             format_utc(from_wall_ns(summary->max_wall_ns)) + ")";
    }
    return make_error(ErrorCode::kInput, msg);
  }
  Snapshot s = std::move(**snapshot);
  s.notes.push_back("sample of " + format_utc(s.wall_time, true) + " from the recording " + path);
  if (is_damaged(damage)) {
    s.notes.push_back(std::string(kDamagedRecordingNote) + describe_damage(damage));
  }
  return fixed_snapshot_source(path, std::move(s));
}

std::string recording_damage(const Snapshot& snapshot) {
  for (const std::string& note : snapshot.notes) {
    if (note.starts_with(kDamagedRecordingNote)) return note.substr(kDamagedRecordingNote.size());
  }
  return {};
}

}  // namespace poolscope::store
