// Reading a recording in order: the sample cursor (keyframes and deltas decoded back into whole
// samples, with the process facts) and the columnar series built on it.
#include <sqlite3.h>

#include <algorithm>

#include "core/forward_error.h"
#include "store/recording.h"
#include "store/sqlite_stmt.h"

namespace poolscope::store {

Result<SampleCursor> Recording::cursor(const CursorOptions& options) const {
  // Start at the keyframe(s) before from_seq: decoding needs the chain from there.
  std::int64_t start = options.from_seq;
  if (options.from_seq != INT64_MIN) {
    Stmt kf(db_,
            "SELECT ifnull((SELECT max(seq) FROM samples WHERE keyframe = 1 AND seq <= ?1), "
            "(SELECT min(seq) FROM samples))");
    kf.bind(1, options.from_seq);
    if (!kf.ok() || kf.step() != SQLITE_ROW) return unexpected(sqlite_error("cannot seek"));
    start = std::min(start, kf.i64(0));
    if (options.processes) {
      Stmt pkf(db_,
               "SELECT ifnull((SELECT max(seq) FROM process_samples WHERE keyframe = 1 AND "
               "seq <= ?1), ?1)");
      pkf.bind(1, options.from_seq);
      if (!pkf.ok() || pkf.step() != SQLITE_ROW) {
        return unexpected(sqlite_error("cannot seek"));
      }
      start = std::min(start, pkf.i64(0));
    }
  }
  const char* sql =
      options.processes
          ? "SELECT s.seq, s.wall_ns, s.mono_ns, s.data, p.data FROM samples s LEFT JOIN "
            "process_samples p ON p.seq = s.seq WHERE s.seq >= ?1 AND s.seq <= ?2 ORDER BY s.seq"
          : "SELECT seq, wall_ns, mono_ns, data, NULL FROM samples WHERE seq >= ?1 AND seq <= ?2 "
            "ORDER BY seq";
  Stmt s(db_, sql);
  if (!s.ok()) return unexpected(sqlite_error("cannot read samples"));
  s.bind(1, start);
  s.bind(2, options.to_seq);
  // The key ids the keys table names: a sample using another one is counted as damage.
  std::vector<char> known;
  Stmt ids(db_, "SELECT id FROM keys WHERE id >= 0 AND id < 4294967296");
  if (!ids.ok()) return unexpected(sqlite_error("cannot read keys"));
  int rc;
  while ((rc = ids.step()) == SQLITE_ROW) {
    const auto id = static_cast<std::size_t>(ids.i64(0));
    if (id >= known.size()) known.resize(id + 1, 0);
    known[id] = 1;
  }
  if (rc != SQLITE_DONE) return unexpected(sqlite_error("cannot read keys"));
  return SampleCursor(s.release(), options, std::move(known), problems_);
}

SampleCursor::SampleCursor(sqlite3_stmt* stmt, CursorOptions options, std::vector<char> known_keys,
                           std::vector<std::string> problems)
    : stmt_(stmt), options_(options), known_keys_(std::move(known_keys)) {
  damage_.problems = std::move(problems);
}

void SampleCursor::count_unknown_keys() {
  for (const KeySample& k : pools_.state().keys) {
    if (k.key_id < known_keys_.size() && known_keys_[k.key_id]) continue;
    if (unknown_seen_.insert(k.key_id).second) ++damage_.unknown_keys;
  }
}

bool is_damaged(const ReadDamage& d) {
  return d.samples_skipped || d.samples_missing || d.process_samples_skipped || d.unknown_keys ||
         !d.problems.empty();
}

std::string describe_damage(const ReadDamage& d) {
  if (!is_damaged(d)) return {};
  const std::int64_t total = d.samples_read + d.samples_skipped + d.samples_missing;
  std::string out =
      std::to_string(d.samples_read) + " of " + std::to_string(total) + " samples read";
  if (d.samples_skipped) {
    out += "; " + std::to_string(d.samples_skipped) +
           " could not be decoded (damaged, or after a damaged or missing one up to the next "
           "keyframe";
    for (std::size_t i = 0; i < d.first_skipped.size(); ++i) {
      out += i == 0 ? "; the first: \"" : ", \"";
      out += d.first_skipped[i];
      out += '"';
    }
    if (d.first_skipped.size() == kShownDamagedSamples &&
        d.samples_skipped > static_cast<std::int64_t>(kShownDamagedSamples)) {
      out += ", ...";
    }
    out += ')';
  }
  if (d.samples_missing) {
    out += "; " + std::to_string(d.samples_missing) + " missing (gaps in the sequence numbers";
    if (d.first_gap_after) out += ", the first after sample " + std::to_string(*d.first_gap_after);
    out += ')';
  }
  if (d.process_samples_skipped) {
    out += "; the process facts of " + std::to_string(d.process_samples_skipped) +
           " sample(s) could not be decoded";
  }
  if (d.unknown_keys) {
    out += "; " + std::to_string(d.unknown_keys) +
           " key(s) used by samples are missing from the keys table (left out)";
  }
  for (const std::string& p : d.problems) out += "; " + p;
  return out;
}

SampleCursor::~SampleCursor() {
  sqlite3_finalize(stmt_);
}

SampleCursor::SampleCursor(SampleCursor&& o) noexcept
    : stmt_(std::exchange(o.stmt_, nullptr)),
      options_(o.options_),
      info_(o.info_),
      pools_(std::move(o.pools_)),
      procs_(std::move(o.procs_)),
      has_processes_(o.has_processes_),
      pool_chain_ok_(o.pool_chain_ok_),
      proc_chain_ok_(o.proc_chain_ok_),
      last_seq_(o.last_seq_),
      last_proc_seq_(o.last_proc_seq_),
      last_row_seq_(o.last_row_seq_),
      known_keys_(std::move(o.known_keys_)),
      unknown_seen_(std::move(o.unknown_seen_)),
      damage_(std::move(o.damage_)),
      done_(o.done_) {}

SampleCursor& SampleCursor::operator=(SampleCursor&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(o.stmt_, nullptr);
    options_ = o.options_;
    info_ = o.info_;
    pools_ = std::move(o.pools_);
    procs_ = std::move(o.procs_);
    has_processes_ = o.has_processes_;
    pool_chain_ok_ = o.pool_chain_ok_;
    proc_chain_ok_ = o.proc_chain_ok_;
    last_seq_ = o.last_seq_;
    last_proc_seq_ = o.last_proc_seq_;
    last_row_seq_ = o.last_row_seq_;
    known_keys_ = std::move(o.known_keys_);
    unknown_seen_ = std::move(o.unknown_seen_);
    damage_ = std::move(o.damage_);
    done_ = o.done_;
  }
  return *this;
}

Result<bool> SampleCursor::leave_out(std::string message) {
  if (damage_.first_skipped.size() < kShownDamagedSamples) {
    // A malformed blob's message is short, but keep the summary line short whatever it says.
    constexpr std::size_t kMaxShown = 160;
    damage_.first_skipped.push_back(
        message.size() > kMaxShown ? message.substr(0, kMaxShown) + "..." : message);
  }
  return make_error(ErrorCode::kInput, std::move(message));
}

Result<bool> SampleCursor::next() {
  while (!done_) {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_DONE) {
      done_ = true;
      break;
    }
    if (rc != SQLITE_ROW) {
      done_ = true;
      // Counted too: a reader that goes on after an error still reports it.
      std::string message =
          std::string("cannot read samples: ") + sqlite3_errmsg(sqlite3_db_handle(stmt_));
      if (last_row_seq_ != INT64_MIN)
        message += " (after sample " + std::to_string(last_row_seq_) + ")";
      damage_.problems.push_back(message);
      return make_error(ErrorCode::kInput, std::move(message));
    }
    const std::int64_t seq = sqlite3_column_int64(stmt_, 0);
    const auto* data = static_cast<const unsigned char*>(sqlite3_column_blob(stmt_, 3));
    const std::span<const unsigned char> blob(
        data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, 3)));
    const bool wanted = seq >= options_.from_seq;
    // The recorder appends at max(seq) + 1: a gap inside the range is rows lost.
    if (wanted && last_row_seq_ != INT64_MIN && seq > last_row_seq_ + 1 &&
        last_row_seq_ >= options_.from_seq) {
      damage_.samples_missing += seq - last_row_seq_ - 1;
      if (!damage_.first_gap_after) damage_.first_gap_after = last_row_seq_;
    }
    last_row_seq_ = seq;

    // A change set only applies onto the sample right before it.
    if (!is_keyframe_blob(blob) && (!pool_chain_ok_ || seq != last_seq_ + 1)) {
      const bool was_ok = pool_chain_ok_;
      pool_chain_ok_ = false;
      proc_chain_ok_ = false;  // this row's process facts, if any, are not applied either
      if (wanted) ++damage_.samples_skipped;
      if (was_ok && wanted) {
        return leave_out("sample " + std::to_string(seq) +
                         " follows a missing sample; skipped up to the next keyframe");
      }
      continue;
    }
    if (auto ok = pools_.apply(blob); !ok) {
      pool_chain_ok_ = false;
      proc_chain_ok_ = false;
      std::string message = "sample " + std::to_string(seq) + ": " + ok.error().message;
      if (!wanted) return make_error(ErrorCode::kInput, std::move(message));
      ++damage_.samples_skipped;
      return leave_out(std::move(message));
    }
    pool_chain_ok_ = true;
    last_seq_ = seq;

    has_processes_ = false;
    if (options_.processes && sqlite3_column_type(stmt_, 4) != SQLITE_NULL) {
      const auto* pdata = static_cast<const unsigned char*>(sqlite3_column_blob(stmt_, 4));
      const std::span<const unsigned char> pblob(
          pdata, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, 4)));
      if (is_process_keyframe_blob(pblob) ||
          (proc_chain_ok_ && (seq == last_proc_seq_ + 1 || is_process_after_gap_blob(pblob)))) {
        if (procs_.apply(pblob)) {
          proc_chain_ok_ = true;
          has_processes_ = true;
          last_proc_seq_ = seq;
        } else {
          proc_chain_ok_ = false;
          if (wanted) ++damage_.process_samples_skipped;
        }
      } else {
        proc_chain_ok_ = false;
        if (wanted) ++damage_.process_samples_skipped;
      }
    }
    // A sample without process facts keeps the chain: a change set after it either says it
    // follows a gap or must be at last_proc_seq_ + 1.
    if (!wanted) continue;
    info_.seq = seq;
    info_.wall_ns = sqlite3_column_int64(stmt_, 1);
    if (sqlite3_column_type(stmt_, 2) == SQLITE_NULL) {
      info_.mono_ns.reset();
    } else {
      info_.mono_ns = sqlite3_column_int64(stmt_, 2);
    }
    info_.keyframe = is_keyframe_blob(blob);
    ++damage_.samples_read;
    count_unknown_keys();
    return true;
  }
  return false;
}

Result<ColumnarSeries> read_columns(const Recording& recording, const CursorOptions& options,
                                    unsigned fields, const std::vector<std::uint32_t>& key_ids) {
  ColumnarSeries out;
  auto count = recording.count_samples(options.from_seq, options.to_seq);
  if (!count) return forward_error(count);
  // Most keys are in every sample: reserving that much saves the regrowth copies.
  const auto samples = static_cast<std::size_t>(*count);
  out.seq.reserve(samples);
  out.wall_ns.reserve(samples);
  auto cursor = recording.cursor(options);
  if (!cursor) return forward_error(cursor);
  // Key id -> its series (index + 1 into out.keys; 0 = not created yet, or not wanted).
  std::vector<std::uint32_t> slot;
  std::vector<char> wanted;
  if (!key_ids.empty()) {
    for (std::uint32_t id : key_ids) {
      if (wanted.size() <= id) wanted.resize(id + 1, 0);
      wanted[id] = 1;
    }
  }
  int errors_in_a_row = 0;
  for (;;) {
    auto more = cursor->next();
    if (!more) {
      // A damaged sample is left out (counted in damage); an error that repeats (the file
      // unreadable, not one sample) ends the read.
      if (++errors_in_a_row > 64) return forward_error(more);
      continue;
    }
    errors_in_a_row = 0;
    if (!*more) break;
    const auto index = static_cast<std::uint32_t>(out.seq.size());
    out.seq.push_back(cursor->info().seq);
    out.wall_ns.push_back(cursor->info().wall_ns);
    for (const KeySample& k : cursor->keys()) {
      if (!key_ids.empty() && (k.key_id >= wanted.size() || !wanted[k.key_id])) continue;
      if (slot.size() <= k.key_id) slot.resize(k.key_id + 1, 0);
      if (slot[k.key_id] == 0) {
        KeySeries& s = out.keys.emplace_back(KeySeries{.key_id = k.key_id});
        s.sample.reserve(samples - index);
        s.present.reserve(samples - index);
        for (unsigned f = 0; f < kFieldCount; ++f) {
          if (fields & (1u << f)) s.values[f].reserve(samples - index);
        }
        slot[k.key_id] = static_cast<std::uint32_t>(out.keys.size());
      }
      KeySeries& s = out.keys[slot[k.key_id] - 1];
      s.sample.push_back(index);
      s.present.push_back(k.present);
      for (unsigned f = 0; f < kFieldCount; ++f) {
        if (fields & (1u << f)) s.values[f].push_back(k.value[f]);
      }
    }
  }
  out.damage = cursor->damage();
  std::sort(out.keys.begin(), out.keys.end(),
            [](const KeySeries& a, const KeySeries& b) { return a.key_id < b.key_id; });
  return out;
}

}  // namespace poolscope::store
