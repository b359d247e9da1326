// A recording: pool snapshots, process facts, imported events and counter series over time in one
// SQLite file (schema and encoding in docs/store-format.md).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/pool.h"
#include "core/process.h"
#include "core/result.h"
#include "store/process_codec.h"
#include "store/sample_codec.h"

struct sqlite3;
struct sqlite3_stmt;

namespace poolscope::store {

inline constexpr std::int32_t kApplicationId = 0x506F6F6C;  // "Pool"
inline constexpr std::int32_t kSchemaVersion = 1;
inline constexpr std::int64_t kDefaultKeyframeInterval = 600;

// A key as the keys table holds it. Its id is what samples refer to.
struct KeyInfo {
  std::uint32_t id = 0;
  PoolKey key;
  PoolKind pool = PoolKind::kNonPaged;
  std::optional<std::uint32_t> session_id;
  std::string owner;                 // the latest one seen
  std::vector<std::string> aliases;  // the latest ones seen
};

struct SampleInfo {
  std::int64_t seq = 0;
  std::int64_t wall_ns = 0;  // UTC, ns since 1970; may go backwards when the clock was set back
  std::optional<std::int64_t> mono_ns;
  bool keyframe = false;
};

struct RecordingSummary {
  std::int64_t samples = 0;
  std::int64_t first_seq = 0, last_seq = 0;
  std::int64_t first_wall_ns = 0, last_wall_ns = 0;  // of the first and last sample by seq
  std::int64_t min_wall_ns = 0, max_wall_ns = 0;
  std::int64_t keys = 0;
  std::int64_t process_samples = 0;
  std::int64_t events = 0;
  std::int64_t counters = 0, counter_samples = 0;
};

struct Event {
  std::int64_t id = 0;
  std::int64_t wall_ns = 0;
  std::string kind;    // "httperr", ...
  std::string detail;  // JSON object text
};

struct CounterInfo {
  std::int64_t id = 0;
  std::string path;  // PDH counter path as written ("\\HOST\Memory\Pool Nonpaged Bytes")
  std::string kind;  // "memory_pool_nonpaged_bytes", ..., "unknown"
};

struct CounterPoint {
  std::int64_t wall_ns = 0;
  double value = 0;
};

struct WriterOptions {
  std::int64_t keyframe_interval = kDefaultKeyframeInterval;
  std::string purpose = "record";  // what the writer does, shown to a second writer it refuses
  std::string version;             // poolscope version, kept in meta
};

struct CursorOptions {
  std::int64_t from_seq = INT64_MIN;  // first sample reported
  std::int64_t to_seq = INT64_MAX;    // last sample reported
  bool processes = false;             // also decode process_samples
};

// What a reader could not read of a recording (issue 21). The one rule: every verb that reads a
// recording outputs what it could, says this in its output (describe_damage), and exits 2 unless
// --allow-damaged (docs/store-format.md, "Damaged recordings").
struct ReadDamage {
  std::int64_t samples_read = 0;
  std::int64_t samples_skipped = 0;  // damaged, or after a missing one up to the next keyframe
  std::int64_t samples_missing = 0;  // gaps in the sequence numbers
  std::int64_t process_samples_skipped = 0;  // process facts present but not decodable
  std::int64_t unknown_keys = 0;             // key ids samples use that the keys table lacks
  std::vector<std::string> problems;         // of the whole file: a missing meta table, ...
  // Where: what the first few samples left out said ("sample 3: ..."), and the sample the first
  // gap follows. The counts above are the totals.
  std::vector<std::string> first_skipped;  // at most kShownDamagedSamples
  std::optional<std::int64_t> first_gap_after;
};
inline constexpr std::size_t kShownDamagedSamples = 3;
bool is_damaged(const ReadDamage& damage);
// One line: "464 of 483 samples read; 19 could not be decoded (...; the first: \"sample 7: ...\",
// ...); ..."; empty when nothing was damaged.
std::string describe_damage(const ReadDamage& damage);

class Recording;

// Reads samples in seq order, decoding each change set onto the previous state. Starting in the
// middle costs a decode from the keyframe before from_seq.
class SampleCursor {
 public:
  ~SampleCursor();
  SampleCursor(SampleCursor&&) noexcept;
  SampleCursor& operator=(SampleCursor&&) noexcept;

  // Moves to the next sample: true, false at the end, or an error for a damaged sample (call
  // next() again to continue at the next keyframe).
  Result<bool> next();
  const SampleInfo& info() const { return info_; }
  std::span<const KeySample> keys() const { return pools_.state().keys; }
  const SampleExtras& extras() const { return pools_.state().extras; }
  // The processes at this sample; null when the sample has none (recorded with --no-processes,
  // imported, or the collector failed then).
  const ProcessState* processes() const { return has_processes_ ? &procs_.state() : nullptr; }
  // Samples in the range that could not be decoded (damaged, or after a missing one up to the
  // next keyframe): left out.
  std::int64_t skipped() const { return damage_.samples_skipped; }
  // Everything not read so far (complete once next() returned false), with the recording's own
  // problems (Recording::problems()).
  const ReadDamage& damage() const { return damage_; }

 private:
  friend class Recording;
  SampleCursor(sqlite3_stmt* stmt, CursorOptions options, std::vector<char> known_keys,
               std::vector<std::string> problems);
  void count_unknown_keys();
  // Notes a sample left out (its message kept among the first few) and returns its error.
  Result<bool> leave_out(std::string message);
  sqlite3_stmt* stmt_ = nullptr;
  CursorOptions options_;
  SampleInfo info_;
  PoolDecoder pools_;
  ProcessDecoder procs_;
  bool has_processes_ = false;
  bool pool_chain_ok_ = false, proc_chain_ok_ = false;
  std::int64_t last_seq_ = 0, last_proc_seq_ = 0;
  std::int64_t last_row_seq_ = INT64_MIN;  // the row before, decoded or not
  std::vector<char> known_keys_;           // by key id: in the keys table
  std::set<std::uint32_t> unknown_seen_;   // key ids used but not in the keys table
  ReadDamage damage_;
  bool done_ = false;
};

class Recording {
 public:
  // Opens an existing recording for reading. Works on read-only media and while a recorder
  // writes it (readers see committed samples only).
  static Result<Recording> open_read(const std::string& path);
  // Opens or creates a recording for writing. One writer per file: refused with the holder's
  // pid when another live process writes it; an entry left by a killed writer is taken over.
  static Result<Recording> open_write(const std::string& path, const WriterOptions& options = {});

  ~Recording();
  Recording(Recording&&) noexcept;
  Recording& operator=(Recording&&) noexcept;

  const std::string& path() const { return path_; }
  // Releases the writer entry and closes the file (SQLite merges the WAL into it when this was the
  // last connection). The destructor does the same.
  void close();
  // Set by open_write when a stale writer entry was taken over: who it was.
  const std::string& takeover_note() const { return takeover_note_; }
  // Damage of the whole file found when it was opened for reading (a missing meta table): the
  // rest is still read. Every cursor's damage() includes these.
  const std::vector<std::string>& problems() const { return problems_; }

  // --- writing ---
  // Appends one sample (committed before it returns, unless inside begin()/commit()). Returns
  // its seq. On failure nothing of the sample is kept and the next one is a keyframe.
  Result<std::int64_t> append(const Snapshot& snapshot, const ProcessSample* processes = nullptr);
  // Groups writes into one transaction (import): all or nothing.
  Result<void> begin();
  Result<void> commit();
  void rollback();
  Result<void> add_event(std::int64_t wall_ns, std::string_view kind, std::string_view detail_json);
  Result<std::int64_t> add_counter(std::string_view path, std::string_view kind);
  Result<void> add_counter_samples(std::int64_t counter_id, std::span<const CounterPoint> points);
  Result<void> set_meta(std::string_view key, std::string_view value);
  // Deletes at most max_rows of the oldest samples whose wall time is before cutoff_ns, but never
  // a sample a later keyframe chain needs: deletion stops before the newest keyframe at or before
  // the cutoff. Returns the number of samples deleted.
  Result<std::int64_t> apply_retention(std::int64_t cutoff_ns, std::int64_t max_rows);
  // Writes the WAL back into the main file (so file size alone counts everything).
  Result<void> checkpoint();

  // --- reading ---
  Result<std::vector<KeyInfo>> keys() const;
  Result<RecordingSummary> summary() const;
  Result<std::map<std::string, std::string>> meta() const;
  Result<SampleCursor> cursor(const CursorOptions& options = {}) const;
  // Number of samples with from_seq <= seq <= to_seq.
  Result<std::int64_t> count_samples(std::int64_t from_seq, std::int64_t to_seq) const;
  // The sample with the greatest wall time <= at (the highest seq among equal times); the last
  // sample (by seq) when at is empty. nullopt when there is none.
  Result<std::optional<std::int64_t>> seq_at(
      std::optional<std::chrono::system_clock::time_point> at) const;
  // That sample as a snapshot (keys with their latest owner and aliases). Keys the keys table
  // lacks are left out and counted in damage, with the file's problems().
  Result<std::optional<Snapshot>> snapshot_at(
      std::optional<std::chrono::system_clock::time_point> at, ReadDamage* damage = nullptr) const;
  Result<std::vector<Event>> events() const;
  Result<std::vector<CounterInfo>> counters() const;
  Result<std::vector<CounterPoint>> counter_samples(std::int64_t counter_id) const;
  // Database file plus its WAL, in bytes.
  std::uint64_t file_bytes() const;

 private:
  Recording() = default;
  struct Writer;
  Result<void> exec(const char* sql) const;
  Result<void> create_schema(const WriterOptions& options);
  Result<void> check_format() const;
  Result<void> take_writer_lock(const WriterOptions& options);
  Result<std::int64_t> append_locked(const Snapshot& snapshot, const ProcessSample* processes);
  Result<std::uint32_t> key_id_for(const Entry& entry);
  Result<void> reload_writer_state();
  Error sqlite_error(const std::string& what) const;

  std::string path_;
  sqlite3* db_ = nullptr;
  bool writable_ = false;
  std::string takeover_note_;
  std::vector<std::string> problems_;
  std::unique_ptr<Writer> writer_;
};

// Samples as columns, for analysis: per key, the samples it is present in and the chosen values.
struct KeySeries {
  std::uint32_t key_id = 0;
  std::vector<std::uint32_t> sample;  // indexes into ColumnarSeries::seq / wall_ns, ascending
  std::vector<std::uint8_t> present;  // per entry of `sample`: which values are present (bits)
  std::array<std::vector<std::uint64_t>, kFieldCount> values;  // per entry; only the fields asked
};
struct ColumnarSeries {
  std::vector<std::int64_t> seq, wall_ns;  // per sample, in seq order
  std::vector<KeySeries> keys;             // ascending key id; keys never present are left out
  ReadDamage damage;                       // damaged samples are left out
};
// Reads the samples of `options` into columns. fields: bit per Field to fill (others stay empty);
// key_ids: the keys wanted (empty: all).
Result<ColumnarSeries> read_columns(const Recording& recording, const CursorOptions& options,
                                    unsigned fields,
                                    const std::vector<std::uint32_t>& key_ids = {});

// True if the file starts with the SQLite header ("SQLite format 3\0").
bool looks_like_sqlite(const std::string& path);

// Nanoseconds since 1970 UTC <-> time points.
std::int64_t to_wall_ns(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point from_wall_ns(std::int64_t ns);

}  // namespace poolscope::store
