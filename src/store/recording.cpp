// The recording file: SQLite schema, the one-writer rule, appends, retention and reads.
#include "store/recording.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>

#include "core/forward_error.h"
#include "core/names.h"
#include "core/time_format.h"
#include "store/process_identity.h"
#include "store/sqlite_stmt.h"

namespace poolscope::store {

namespace {

// WAL: readers never block the writer and a committed sample survives a killed process.
// synchronous=NORMAL: the WAL is synced at checkpoints, not at every commit, so a power loss
// (not a process crash) can lose the last commits but never corrupts the file.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recorder(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pid INTEGER NOT NULL,
  process_start INTEGER NOT NULL,
  host TEXT NOT NULL,
  boot_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  started_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS keys(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  name BLOB NOT NULL,
  pool TEXT NOT NULL,
  session_id INTEGER,
  owner TEXT NOT NULL DEFAULT '',
  aliases TEXT NOT NULL DEFAULT '[]',
  first_seq INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS keys_identity ON keys(kind, name, pool, ifnull(session_id, -1));
CREATE TABLE IF NOT EXISTS samples(
  seq INTEGER PRIMARY KEY,
  wall_ns INTEGER NOT NULL,
  mono_ns INTEGER,
  keyframe INTEGER NOT NULL,
  data BLOB NOT NULL
);
-- No index on wall_ns: it would add ~14 bytes per sample (~15% of a file); finding a sample by
-- time scans instead (a fraction of a second for a week of 1 Hz samples).
CREATE INDEX IF NOT EXISTS samples_keyframes ON samples(seq) WHERE keyframe = 1;
CREATE TABLE IF NOT EXISTS process_samples(
  seq INTEGER PRIMARY KEY,
  keyframe INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS process_keyframes ON process_samples(seq) WHERE keyframe = 1;
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY,
  wall_ns INTEGER NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_wall ON events(wall_ns);
CREATE TABLE IF NOT EXISTS counters(
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counter_samples(
  counter_id INTEGER NOT NULL,
  wall_ns INTEGER NOT NULL,
  value REAL,
  PRIMARY KEY(counter_id, wall_ns)
) WITHOUT ROWID;
)sql";

// The writer's WAL bounds (see open_write): a sample commits 2-3 pages, so a checkpoint runs
// every ~10-15 samples, and its fsync is the only one (synchronous=NORMAL).
constexpr int kWalCheckpointPages = 32;
constexpr const char* kWalSizeLimitPragma =
    "PRAGMA journal_size_limit=131872";  // 32 frames of 4120 + 32
// The writer touches the right edge of the samples tree, the keys and (with --retention) the left
// edge: 64 pages are plenty. SQLite's default cache (2000 KiB) would grow the recorder's resident
// memory with the file for its first 2 MB.
constexpr const char* kWriterCachePragma = "PRAGMA cache_size=-256";  // KiB

std::string_view key_kind_text(KeyKind kind) {
  switch (kind) {
    case KeyKind::kPoolTag:
      return "tag";
    case KeyKind::kSlabCache:
      return "slab";
    case KeyKind::kKernelMemory:
      break;
  }
  return "kmem";
}

KeyKind key_kind_from_text(std::string_view text) {
  if (text == "tag") return KeyKind::kPoolTag;
  return text == "kmem" ? KeyKind::kKernelMemory : KeyKind::kSlabCache;
}

std::string key_identity(KeyKind kind, std::string_view name, PoolKind pool,
                         std::optional<std::uint32_t> session) {
  std::string id;
  id.reserve(name.size() + 8);
  id.push_back(static_cast<char>(kind));
  id.push_back(static_cast<char>(pool));
  const std::int64_t s = session ? static_cast<std::int64_t>(*session) : -1;
  id.append(reinterpret_cast<const char*>(&s), sizeof s);
  id.append(name);
  return id;
}

std::string aliases_json(const std::vector<std::string>& aliases) {
  return nlohmann::json(aliases).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<std::string> aliases_from_json(const std::string& text) {
  std::vector<std::string> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& a : j) {
    if (a.is_string()) out.push_back(a.get<std::string>());
  }
  return out;
}

std::uint64_t file_size_or_zero(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// "file:" URI for a path (for immutable=1), with the characters URIs reserve escaped.
std::string file_uri(const std::string& path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string uri = "file:";
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c < 0x20 || c >= 0x7F) {
      uri += '%';
      uri += kHex[c >> 4];
      uri += kHex[c & 0xF];
    } else {
      uri += static_cast<char>(c);
    }
  }
  return uri + "?immutable=1";
}

}  // namespace

std::int64_t to_wall_ns(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_wall_ns(std::int64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(ns)));
}

bool looks_like_sqlite(const std::string& path) {
  // Only a regular file is opened: a FIFO without a writer would block here forever.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  std::ifstream in(path, std::ios::binary);
  char header[16] = {};
  if (!in.read(header, sizeof header)) return false;
  return std::memcmp(header, "SQLite format 3\0", 16) == 0;
}

// ---------------------------------------------------------------------------------------------
// Writer state

struct Recording::Writer {
  WriterOptions options;
  ProcessIdentity me;
  std::unordered_map<std::string, std::uint32_t> key_ids;
  struct Attributes {
    std::string owner;
    std::vector<std::string> aliases;
  };
  std::vector<Attributes> attributes;  // by key id
  std::uint32_t next_key_id = 1;
  std::int64_t last_seq = 0;
  std::int64_t last_process_seq = 0;  // of the last sample with process facts
  std::int64_t since_keyframe = 0, since_process_keyframe = 0;
  bool need_keyframe = true, need_process_keyframe = true;
  bool in_batch = false;
  bool meta_written = false;
  PoolState prev, cur;
  ProcessState prev_processes, cur_processes;
  PoolEncoder encoder;
  std::string blob, process_blob, identity;
  Stmt insert_sample, insert_process, insert_key, update_key, check_owner, begin, commit, rollback;
};

// ---------------------------------------------------------------------------------------------
// Opening

Error Recording::sqlite_error(const std::string& what) const {
  const int code = db_ ? sqlite3_extended_errcode(db_) : SQLITE_CANTOPEN;
  const int sys = db_ ? sqlite3_system_errno(db_) : 0;
  std::string msg = path_ + ": " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "cannot open");
  ErrorCode kind = ErrorCode::kInternal;
  switch (code & 0xFF) {
    case SQLITE_FULL:
      kind = ErrorCode::kEnvironment;
      msg +=
          ". The disk is full: free space (or record to another disk); every sample "
          "committed so far is in the file and readable";
      break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_AUTH:
      kind = ErrorCode::kEnvironment;
      if (sys == ENOSPC) {
        msg +=
            ". The disk is full: free space (or record to another disk); every sample "
            "committed so far is in the file and readable";
      } else if (sys == EROFS || (code & 0xFF) == SQLITE_READONLY) {
        msg += ". The file or its file system is read-only: record to a writable location";
      } else if (sys == EACCES || sys == EPERM) {
        msg += ". No permission: check the file's and its directory's owner and mode";
      } else if (sys != 0) {
        msg += std::string(" (") + std::strerror(sys) + ")";
      }
      if (sys != ENOSPC && (code == SQLITE_IOERR_WRITE || code == SQLITE_IOERR_FSYNC ||
                            code == SQLITE_IOERR_TRUNCATE || code == SQLITE_IOERR_SHMSIZE)) {
        // SQLite often no longer knows the errno here; say what it can be.
        msg +=
            ". A write to the file or its WAL failed: the disk may be full, a file size limit "
            "(ulimit -f) reached, or the device failing; every sample committed so far is in "
            "the file and readable";
      }
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      kind = ErrorCode::kEnvironment;
      msg += ". Another process holds the file locked; try again";
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      kind = ErrorCode::kInput;
      msg += ". It is not a poolscope recording, or it is damaged";
      break;
    default:
      break;
  }
  return Error{kind, sys, msg};
}

Result<void> Recording::exec(const char* sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    sqlite3_free(err);
    return unexpected(sqlite_error("cannot run \"" + std::string(sql).substr(0, 40) + "\""));
  }
  return {};
}

Result<void> Recording::check_format() const {
  Stmt app(db_, "PRAGMA application_id");
  if (!app.ok() || app.step() != SQLITE_ROW) {
    return unexpected(sqlite_error("cannot read the file header"));
  }
  const std::int64_t application_id = app.i64(0);
  Stmt version(db_, "PRAGMA user_version");
  if (!version.ok() || version.step() != SQLITE_ROW) {
    return unexpected(sqlite_error("cannot read the file header"));
  }
  const std::int64_t user_version = version.i64(0);
  Stmt tables(db_, "SELECT count(*) FROM sqlite_schema");
  if (!tables.ok() || tables.step() != SQLITE_ROW) {
    return unexpected(sqlite_error("cannot read the schema"));
  }
  const bool empty = tables.i64(0) == 0;
  if (empty && application_id == 0) return {};  // new file, schema not written yet
  if (application_id != kApplicationId) {
    return make_error(ErrorCode::kInput, path_ +
                                             " is an SQLite database but not a poolscope recording "
                                             "(application_id " +
                                             std::to_string(application_id) + ")");
  }
  if (user_version > kSchemaVersion) {
    return make_error(ErrorCode::kInput, path_ + " was written by a newer poolscope (format " +
                                             std::to_string(user_version) +
                                             "); upgrade poolscope to read it");
  }
  return {};
}

Result<Recording> Recording::open_read(const std::string& path) {
  Recording rec;
  rec.path_ = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    // errno says why: no such file, a symlink loop ("Too many levels of symbolic links"), ...
    const int err = errno;
    return make_error(ErrorCode::kInput, "cannot open " + path + ": " + std::strerror(err), err);
  }
  if (!S_ISREG(st.st_mode)) {
    // A FIFO without a writer would block open() forever; a device is no recording.
    return make_error(ErrorCode::kInput,
                      path +
                          " is not a regular file (a directory, FIFO or device); pass a "
                          "recording file");
  }
  if (sqlite3_open_v2(path.c_str(), &rec.db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    auto err = rec.sqlite_error("cannot open");
    return unexpected(err);
  }
  sqlite3_busy_timeout(rec.db_, 5000);
  auto checked = rec.check_format();
  if (!checked && checked.error().code == ErrorCode::kEnvironment &&
      file_size_or_zero(path + "-wal") == 0) {
    // A WAL file needs a writable -shm beside it; on read-only media without a WAL (closed
    // cleanly) the file is complete on its own and can be read as immutable.
    sqlite3_close_v2(rec.db_);
    rec.db_ = nullptr;
    if (sqlite3_open_v2(file_uri(path).c_str(), &rec.db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                        nullptr) != SQLITE_OK) {
      return unexpected(rec.sqlite_error("cannot open"));
    }
    checked = rec.check_format();
  }
  if (!checked) return forward_error(checked);
  Stmt has_samples(rec.db_, "SELECT 1 FROM sqlite_schema WHERE name = 'samples'");
  if (!has_samples.ok() || has_samples.step() != SQLITE_ROW) {
    return make_error(ErrorCode::kInput, path + " is not a poolscope recording (no samples table)");
  }
  // A recording that lost a table it always has is damaged input, not a bug of ours (issue 21).
  // Without keys nothing can be named; without meta the samples are still read, as damage.
  for (const char* table : {"meta", "keys"}) {
    Stmt has(rec.db_, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1");
    if (!has.ok()) return unexpected(rec.sqlite_error("cannot read the schema"));
    has.bind(1, std::string_view(table));
    if (has.step() == SQLITE_ROW) continue;
    if (std::string_view(table) == "meta") {
      rec.problems_.push_back("its meta table is missing");
      continue;
    }
    return make_error(ErrorCode::kInput, path + " is a damaged recording: its " +
                                             std::string(table) + " table is missing");
  }
  // Names longer than their format allows are cut when read back (keys()); say so (issue 21).
  Stmt long_names(rec.db_,
                  "SELECT count(*) FROM keys WHERE length(CAST(name AS BLOB)) > CASE kind WHEN "
                  "'tag' THEN ?1 WHEN 'slab' THEN ?2 ELSE ?3 END");
  long_names.bind(1, static_cast<std::int64_t>(kMaxTagBytes));
  long_names.bind(2, static_cast<std::int64_t>(kMaxSlabNameBytes));
  long_names.bind(3, static_cast<std::int64_t>(kMaxKernelMemoryNameBytes));
  if (long_names.ok() && long_names.step() == SQLITE_ROW && long_names.i64(0) > 0) {
    rec.problems_.push_back(std::to_string(long_names.i64(0)) +
                            " key name(s) longer than their format allows, cut to it");
  }
  return rec;
}

Result<void> Recording::create_schema(const WriterOptions& options) {
  if (auto ok = exec("PRAGMA journal_mode=WAL"); !ok) return ok;
  if (auto ok = exec("PRAGMA synchronous=NORMAL"); !ok) return ok;
  if (auto ok = exec("BEGIN IMMEDIATE"); !ok) return ok;
  if (auto ok = exec(kSchema); !ok) {
    rollback();
    return ok;
  }
  const std::string pragmas = "PRAGMA application_id=" + std::to_string(kApplicationId) +
                              "; PRAGMA user_version=" + std::to_string(kSchemaVersion);
  if (auto ok = exec(pragmas.c_str()); !ok) {
    rollback();
    return ok;
  }
  Stmt meta(db_, "INSERT OR IGNORE INTO meta(key, value) VALUES (?1, ?2)");
  const std::pair<const char*, std::string> initial[] = {
      {"created", format_utc(std::chrono::system_clock::now())},
      {"poolscope_version", options.version},
      {"keyframe_interval", std::to_string(options.keyframe_interval)},
      {"format", "poolscope recording " + std::to_string(kSchemaVersion)},
  };
  for (const auto& [key, value] : initial) {
    meta.bind(1, std::string_view(key));
    meta.bind(2, value);
    if (meta.step() != SQLITE_DONE) {
      auto err = sqlite_error("cannot write meta");
      rollback();
      return unexpected(err);
    }
    meta.reset();
  }
  return exec("COMMIT");
}

Result<void> Recording::take_writer_lock(const WriterOptions& options) {
  // BEGIN IMMEDIATE serializes two writers starting at once: the second waits for the first's
  // commit and then sees its row.
  if (auto ok = exec("BEGIN IMMEDIATE"); !ok) return ok;
  Stmt row(db_, "SELECT pid, process_start, host, boot_id, purpose, started_ns FROM recorder");
  if (!row.ok()) {
    auto err = sqlite_error("cannot read the recorder table");
    rollback();
    return unexpected(err);
  }
  const ProcessIdentity& me = writer_->me;
  if (row.step() == SQLITE_ROW) {
    ProcessIdentity holder{static_cast<std::uint64_t>(row.i64(0)),
                           static_cast<std::uint64_t>(row.i64(1)), row.text(2), row.text(3)};
    const std::string purpose = row.text(4);
    const std::string since = format_utc(from_wall_ns(row.i64(5)));
    const Liveness alive = process_liveness(holder);
    if (alive != Liveness::kGone) {
      rollback();
      std::string msg = path_ + " is already being written by `poolscope " + purpose + "` (pid " +
                        std::to_string(holder.pid) + " on host " + holder.host + ", since " +
                        since + "). One writer per file: ";
      if (alive == Liveness::kAlive) {
        msg += "stop it first (kill " + std::to_string(holder.pid) + "), or write to another file";
      } else {
        msg +=
            "that host cannot be checked from here; if that process no longer runs, clear "
            "its entry with: sqlite3 " +
            path_ + " \"DELETE FROM recorder\"";
      }
      return make_error(ErrorCode::kEnvironment, msg);
    }
    takeover_note_ = "took over " + path_ + " from `poolscope " + purpose + "` (pid " +
                     std::to_string(holder.pid) + ", since " + since +
                     "), which ended without closing it";
  }
  Stmt insert(db_,
              "INSERT OR REPLACE INTO recorder(id, pid, process_start, host, boot_id, purpose, "
              "started_ns) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)");
  insert.bind(1, me.pid);
  insert.bind(2, me.start_time);
  insert.bind(3, me.host);
  insert.bind(4, me.boot_id);
  insert.bind(5, options.purpose);
  insert.bind(6, to_wall_ns(std::chrono::system_clock::now()));
  if (!insert.ok() || insert.step() != SQLITE_DONE) {
    auto err = sqlite_error("cannot take the writer entry");
    rollback();
    return unexpected(err);
  }
  return exec("COMMIT");
}

Result<Recording> Recording::open_write(const std::string& path, const WriterOptions& options) {
  Recording rec;
  rec.path_ = path;
  rec.writable_ = true;
  if (sqlite3_open_v2(path.c_str(), &rec.db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    // SQLite's own errno is from its last retry (often ENOENT); the directory tells more.
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    const std::string dir = parent.empty() ? std::string(".") : parent.string();
    if (!file_exists(path) && ::access(dir.c_str(), W_OK) != 0) {
      const int err = errno;
      return make_error(ErrorCode::kEnvironment,
                        "cannot create " + path + ": its directory " + dir + " is not writable (" +
                            std::strerror(err) + "): record to a writable location",
                        err);
    }
    const int sys = rec.db_ ? sqlite3_system_errno(rec.db_) : 0;
    std::string msg = "cannot create or open " + path + ": " +
                      (rec.db_ ? sqlite3_errmsg(rec.db_) : "out of memory");
    if (sys) msg += std::string(" (") + std::strerror(sys) + ")";
    return make_error(ErrorCode::kEnvironment,
                      msg +
                          ". Check that its directory exists and is "
                          "writable",
                      sys);
  }
  // SQLite opens a file it may not write (read-only file system or mode) read-only without
  // saying so; say it now instead of at the first sample.
  if (sqlite3_db_readonly(rec.db_, "main") == 1) {
    return make_error(ErrorCode::kEnvironment,
                      path +
                          " cannot be written (read-only file system, or no write permission "
                          "on the file): record to a writable location",
                      EROFS);
  }
  sqlite3_busy_timeout(rec.db_, 5000);
  if (auto ok = rec.check_format(); !ok) return forward_error(ok);
  if (auto ok = rec.create_schema(options); !ok) return forward_error(ok);
  // SQLite's default (checkpoint at 1000 WAL pages, WAL file kept at its largest) lets the WAL
  // reach ~4 MB, more than an hour of 1 Hz samples takes in the file. Checkpointing at a few
  // pages keeps file + WAL within the size goal at any moment; the checkpoint is PASSIVE (it
  // never waits for readers) and the WAL is cut back to the limit whenever it restarts.
  sqlite3_wal_autocheckpoint(rec.db_, kWalCheckpointPages);
  if (auto ok = rec.exec(kWalSizeLimitPragma); !ok) return forward_error(ok);
  if (auto ok = rec.exec(kWriterCachePragma); !ok) return forward_error(ok);
  rec.writer_ = std::make_unique<Writer>();
  Writer& w = *rec.writer_;
  w.options = options;
  if (w.options.keyframe_interval < 1) w.options.keyframe_interval = 1;
  w.me = current_process_identity();
  if (auto ok = rec.take_writer_lock(options); !ok) {
    rec.writer_.reset();  // not ours: do not delete the holder's entry on close
    return forward_error(ok);
  }
  sqlite3* db = rec.db_;
  w.insert_sample = Stmt(
      db, "INSERT INTO samples(seq, wall_ns, mono_ns, keyframe, data) VALUES (?1,?2,?3,?4,?5)");
  w.insert_process =
      Stmt(db, "INSERT INTO process_samples(seq, keyframe, data) VALUES (?1, ?2, ?3)");
  w.insert_key = Stmt(db,
                      "INSERT INTO keys(id, kind, name, pool, session_id, owner, aliases, "
                      "first_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  w.update_key = Stmt(db, "UPDATE keys SET owner = ?2, aliases = ?3 WHERE id = ?1");
  w.check_owner = Stmt(db, "SELECT pid, process_start FROM recorder");
  w.begin = Stmt(db, "BEGIN IMMEDIATE");
  w.commit = Stmt(db, "COMMIT");
  w.rollback = Stmt(db, "ROLLBACK");
  for (Stmt* s : {&w.insert_sample, &w.insert_process, &w.insert_key, &w.update_key, &w.check_owner,
                  &w.begin, &w.commit, &w.rollback}) {
    if (!s->ok()) return unexpected(rec.sqlite_error("cannot prepare statements"));
  }
  if (auto ok = rec.reload_writer_state(); !ok) return forward_error(ok);
  return rec;
}

Result<void> Recording::reload_writer_state() {
  Writer& w = *writer_;
  w.key_ids.clear();
  w.attributes.clear();
  w.next_key_id = 1;
  Stmt keys(db_, "SELECT id, kind, name, pool, session_id, owner, aliases FROM keys");
  if (!keys.ok()) return unexpected(sqlite_error("cannot read keys"));
  int rc;
  while ((rc = keys.step()) == SQLITE_ROW) {
    const auto id = static_cast<std::uint32_t>(keys.i64(0));
    const KeyKind kind = key_kind_from_text(keys.text(1));
    const PoolKind pool = parse_pool_kind(keys.text(3)).value_or(PoolKind::kNonPaged);
    std::optional<std::uint32_t> session;
    if (!keys.is_null(4)) session = static_cast<std::uint32_t>(keys.i64(4));
    w.key_ids[key_identity(kind, keys.blob(2), pool, session)] = id;
    if (w.attributes.size() <= id) w.attributes.resize(id + 1);
    w.attributes[id] = {keys.text(5), aliases_from_json(keys.text(6))};
    w.next_key_id = std::max(w.next_key_id, id + 1);
  }
  if (rc != SQLITE_DONE) return unexpected(sqlite_error("cannot read keys"));
  Stmt last(db_, "SELECT ifnull(max(seq), 0) FROM samples");
  if (!last.ok() || last.step() != SQLITE_ROW) {
    return unexpected(sqlite_error("cannot read samples"));
  }
  w.last_seq = last.i64(0);
  w.need_keyframe = w.need_process_keyframe = true;
  w.prev = PoolState{};
  w.prev_processes = ProcessState{};
  return {};
}

void Recording::close() {
  if (!db_) return;
  if (writer_) {
    if (writer_->in_batch) rollback();
    // Our entry only: a writer that took over from us keeps its own.
    Stmt release(db_, "DELETE FROM recorder WHERE pid = ?1 AND process_start = ?2");
    release.bind(1, writer_->me.pid);
    release.bind(2, writer_->me.start_time);
    release.step();
  }
  writer_.reset();  // finalizes its statements before the close
  sqlite3_close_v2(db_);
  db_ = nullptr;
}

Recording::~Recording() {
  close();
}

Recording::Recording(Recording&& other) noexcept
    : path_(std::move(other.path_)),
      db_(std::exchange(other.db_, nullptr)),
      writable_(other.writable_),
      takeover_note_(std::move(other.takeover_note_)),
      problems_(std::move(other.problems_)),
      writer_(std::move(other.writer_)) {}

Recording& Recording::operator=(Recording&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    db_ = std::exchange(other.db_, nullptr);
    writable_ = other.writable_;
    takeover_note_ = std::move(other.takeover_note_);
    problems_ = std::move(other.problems_);
    writer_ = std::move(other.writer_);
  }
  return *this;
}

// ---------------------------------------------------------------------------------------------
// Writing

Result<void> Recording::begin() {
  if (!writer_) return make_error(ErrorCode::kInternal, path_ + " is not open for writing");
  if (writer_->in_batch) return make_error(ErrorCode::kInternal, "nested transaction");
  if (auto ok = exec("BEGIN IMMEDIATE"); !ok) return ok;
  writer_->in_batch = true;
  return {};
}

Result<void> Recording::commit() {
  if (!writer_ || !writer_->in_batch) return make_error(ErrorCode::kInternal, "no transaction");
  writer_->in_batch = false;
  if (auto ok = exec("COMMIT"); !ok) {
    rollback();
    return ok;
  }
  return {};
}

void Recording::rollback() {
  if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  if (writer_) {
    writer_->in_batch = false;
    // The in-memory encoder state and key ids may include what was rolled back.
    (void)reload_writer_state();
  }
}

Result<std::uint32_t> Recording::key_id_for(const Entry& e) {
  Writer& w = *writer_;
  w.identity = key_identity(e.key.kind, e.key.name, e.pool, e.session_id);
  auto it = w.key_ids.find(w.identity);
  if (it != w.key_ids.end()) {
    const std::uint32_t id = it->second;
    auto& attr = w.attributes[id];
    if (attr.owner != e.owner || attr.aliases != e.aliases) {
      Stmt& u = w.update_key;
      u.reset();
      u.bind(1, std::int64_t{id});
      u.bind(2, e.owner);
      u.bind(3, aliases_json(e.aliases));
      if (u.step() != SQLITE_DONE) return unexpected(sqlite_error("cannot update a key"));
      attr.owner = e.owner;
      attr.aliases = e.aliases;
    }
    return id;
  }
  const std::uint32_t id = w.next_key_id;
  Stmt& ins = w.insert_key;
  ins.reset();
  ins.bind(1, std::int64_t{id});
  ins.bind(2, key_kind_text(e.key.kind));
  ins.bind_blob(3, e.key.name);
  ins.bind(4, pool_kind_name(e.pool));
  if (e.session_id) {
    ins.bind(5, std::int64_t{*e.session_id});
  } else {
    ins.bind_null(5);
  }
  ins.bind(6, e.owner);
  ins.bind(7, aliases_json(e.aliases));
  ins.bind(8, w.last_seq + 1);
  if (ins.step() != SQLITE_DONE) return unexpected(sqlite_error("cannot add a key"));
  ++w.next_key_id;
  w.key_ids.emplace(w.identity, id);
  if (w.attributes.size() <= id) w.attributes.resize(id + 1);
  w.attributes[id] = {e.owner, e.aliases};
  return id;
}

Result<std::int64_t> Recording::append_locked(const Snapshot& snapshot,
                                              const ProcessSample* processes) {
  Writer& w = *writer_;
  // Still ours? Someone may have cleared the entry and started another writer.
  Stmt& owner = w.check_owner;
  owner.reset();
  if (owner.step() != SQLITE_ROW || static_cast<std::uint64_t>(owner.i64(0)) != w.me.pid ||
      static_cast<std::uint64_t>(owner.i64(1)) != w.me.start_time) {
    return make_error(ErrorCode::kEnvironment,
                      path_ +
                          ": another process took over this recording (its recorder entry "
                          "changed); stopping so the two do not mix their samples");
  }
  owner.reset();

  w.cur.keys.clear();
  w.cur.keys.reserve(snapshot.entries.size());
  for (const Entry& e : snapshot.entries) {
    auto id = key_id_for(e);
    if (!id) return forward_error(id);
    w.cur.keys.push_back(key_sample_from_entry(*id, e));
  }
  std::sort(w.cur.keys.begin(), w.cur.keys.end(),
            [](const KeySample& a, const KeySample& b) { return a.key_id < b.key_id; });
  w.cur.extras = extras_from_snapshot(snapshot);
  // The same key twice in one snapshot (an edited or concatenated text): keep the first.
  auto dup =
      std::unique(w.cur.keys.begin(), w.cur.keys.end(),
                  [](const KeySample& a, const KeySample& b) { return a.key_id == b.key_id; });
  if (dup != w.cur.keys.end()) {
    const auto dropped = static_cast<std::size_t>(w.cur.keys.end() - dup);
    w.cur.keys.erase(dup, w.cur.keys.end());
    w.cur.extras.notes.push_back(std::to_string(dropped) +
                                 " duplicate row(s) of the same key dropped when recorded");
  }

  const bool keyframe = w.need_keyframe || w.since_keyframe >= w.options.keyframe_interval;
  w.encoder.encode(keyframe ? nullptr : &w.prev, w.cur, w.blob);
  const std::int64_t seq = w.last_seq + 1;
  Stmt& ins = w.insert_sample;
  ins.reset();
  ins.bind(1, seq);
  ins.bind(2, to_wall_ns(snapshot.wall_time));
  ins.bind(3, snapshot.monotonic_ns);
  ins.bind(4, std::int64_t{keyframe ? 1 : 0});
  ins.bind_blob(5, w.blob);
  if (ins.step() != SQLITE_DONE) return unexpected(sqlite_error("cannot add a sample"));

  bool process_keyframe = false;
  if (processes) {
    w.cur_processes = process_state_of(*processes);
    process_keyframe =
        w.need_process_keyframe || w.since_process_keyframe >= w.options.keyframe_interval;
    encode_process_sample(process_keyframe ? nullptr : &w.prev_processes, w.cur_processes,
                          w.process_blob, w.last_process_seq != seq - 1);
    Stmt& p = w.insert_process;
    p.reset();
    p.bind(1, seq);
    p.bind(2, std::int64_t{process_keyframe ? 1 : 0});
    p.bind_blob(3, w.process_blob);
    if (p.step() != SQLITE_DONE) {
      return unexpected(sqlite_error("cannot add the process facts"));
    }
  }

  if (!w.meta_written) {
    Stmt meta(db_, "INSERT OR IGNORE INTO meta(key, value) VALUES (?1, ?2)");
    std::vector<std::pair<std::string, std::string>> items = {
        {"host", snapshot.host},
        {"source", snapshot.source},
        {"counter_bits", snapshot.counter_width == CounterWidth::k32 ? "32" : "64"}};
    if (snapshot.source.starts_with("live:")) items.emplace_back("os", snapshot.source.substr(5));
    for (const auto& [key, value] : items) {
      meta.reset();
      meta.bind(1, key);
      meta.bind(2, value);
      if (meta.step() != SQLITE_DONE) return unexpected(sqlite_error("cannot write meta"));
    }
  }

  // Written: this sample is the base of the next one (a failed commit reloads all of this).
  w.meta_written = true;
  w.last_seq = seq;
  w.prev.keys.swap(w.cur.keys);
  std::swap(w.prev.extras, w.cur.extras);
  w.need_keyframe = false;
  w.since_keyframe = keyframe ? 1 : w.since_keyframe + 1;
  // Samples without process facts (--process-interval, or the collector failed) do not break
  // the process chain: the next change set says it follows a gap. The keyframe distance counts
  // samples, so a reader starting in the middle goes back as far as for the pools.
  if (processes) {
    std::swap(w.prev_processes, w.cur_processes);
    w.need_process_keyframe = false;
    w.last_process_seq = seq;
    w.since_process_keyframe = process_keyframe ? 1 : w.since_process_keyframe + 1;
  } else {
    ++w.since_process_keyframe;
  }
  return seq;
}

Result<std::int64_t> Recording::append(const Snapshot& snapshot, const ProcessSample* processes) {
  if (!writer_) return make_error(ErrorCode::kInternal, path_ + " is not open for writing");
  Writer& w = *writer_;
  if (w.in_batch) {
    auto seq = append_locked(snapshot, processes);
    if (!seq) w.need_keyframe = w.need_process_keyframe = true;
    return seq;
  }
  w.begin.reset();
  if (w.begin.step() != SQLITE_DONE) {
    auto err = sqlite_error("cannot start a transaction");
    rollback();
    return unexpected(err);
  }
  auto seq = append_locked(snapshot, processes);
  if (!seq) {
    rollback();
    return seq;
  }
  w.commit.reset();
  if (w.commit.step() != SQLITE_DONE) {
    auto err = sqlite_error("cannot commit a sample");
    rollback();
    return unexpected(err);
  }
  return seq;
}

Result<void> Recording::add_event(std::int64_t wall_ns, std::string_view kind,
                                  std::string_view detail_json) {
  Stmt s(db_, "INSERT INTO events(wall_ns, kind, detail) VALUES (?1, ?2, ?3)");
  s.bind(1, wall_ns);
  s.bind(2, kind);
  s.bind(3, detail_json);
  if (!s.ok() || s.step() != SQLITE_DONE) return unexpected(sqlite_error("cannot add event"));
  return {};
}

Result<std::int64_t> Recording::add_counter(std::string_view path, std::string_view kind) {
  Stmt ins(db_, "INSERT OR IGNORE INTO counters(path, kind) VALUES (?1, ?2)");
  ins.bind(1, path);
  ins.bind(2, kind);
  if (!ins.ok() || ins.step() != SQLITE_DONE) {
    return unexpected(sqlite_error("cannot add a counter"));
  }
  Stmt get(db_, "SELECT id FROM counters WHERE path = ?1");
  get.bind(1, path);
  if (!get.ok() || get.step() != SQLITE_ROW) {
    return unexpected(sqlite_error("cannot read a counter"));
  }
  return get.i64(0);
}

Result<void> Recording::add_counter_samples(std::int64_t counter_id,
                                            std::span<const CounterPoint> points) {
  Stmt s(db_,
         "INSERT OR REPLACE INTO counter_samples(counter_id, wall_ns, value) VALUES (?1, ?2, ?3)");
  if (!s.ok()) return unexpected(sqlite_error("cannot add counter samples"));
  for (const CounterPoint& p : points) {
    s.reset();
    s.bind(1, counter_id);
    s.bind(2, p.wall_ns);
    if (p.value == p.value) {
      s.bind(3, p.value);
    } else {
      s.bind_null(3);  // a missing sample in the log (NaN)
    }
    if (s.step() != SQLITE_DONE) return unexpected(sqlite_error("cannot add counter samples"));
  }
  return {};
}

Result<void> Recording::set_meta(std::string_view key, std::string_view value) {
  Stmt s(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)");
  s.bind(1, key);
  s.bind(2, value);
  if (!s.ok() || s.step() != SQLITE_DONE) return unexpected(sqlite_error("cannot write meta"));
  return {};
}

Result<std::int64_t> Recording::apply_retention(std::int64_t cutoff_ns, std::int64_t max_rows) {
  if (!writer_) return make_error(ErrorCode::kInternal, path_ + " is not open for writing");
  const bool own_tx = !writer_->in_batch;
  if (own_tx) {
    if (auto ok = exec("BEGIN IMMEDIATE"); !ok) return forward_error(ok);
  }
  auto fail = [&](const char* what) -> Result<std::int64_t> {
    auto err = sqlite_error(what);
    if (own_tx) rollback();
    return unexpected(err);
  };
  // Samples before the newest keyframe at or before the cutoff are not needed to decode anything
  // after it.
  Stmt kf(db_,
          "SELECT ifnull(max(seq), 0), (SELECT ifnull(min(seq), 0) FROM samples) FROM samples "
          "WHERE keyframe = 1 AND wall_ns <= ?1");
  kf.bind(1, cutoff_ns);
  if (!kf.ok() || kf.step() != SQLITE_ROW) return fail("cannot find old samples");
  const std::int64_t keep_from = kf.i64(0);
  const std::int64_t first = kf.i64(1);
  std::int64_t deleted = 0;
  if (keep_from > first) {
    // A batch ends at a keyframe when it can, so what remains always starts with one.
    std::int64_t upto = std::min(keep_from, first + max_rows);
    Stmt batch_end(db_,
                   "SELECT max(seq) FROM samples WHERE keyframe = 1 AND seq > ?1 AND seq <= ?2");
    batch_end.bind(1, first);
    batch_end.bind(2, upto);
    if (!batch_end.ok() || batch_end.step() != SQLITE_ROW) return fail("cannot find old samples");
    if (!batch_end.is_null(0)) upto = batch_end.i64(0);
    Stmt del(db_, "DELETE FROM samples WHERE seq < ?1");
    del.bind(1, upto);
    if (!del.ok() || del.step() != SQLITE_DONE) return fail("cannot delete old samples");
    deleted = sqlite3_changes(db_);
    // The process chain needs its own keyframe at or before what is kept.
    Stmt pkf(db_,
             "SELECT ifnull(max(seq), 0) FROM process_samples WHERE keyframe = 1 AND seq <= ?1");
    pkf.bind(1, upto);
    if (!pkf.ok() || pkf.step() != SQLITE_ROW) return fail("cannot find old process samples");
    Stmt pdel(db_, "DELETE FROM process_samples WHERE seq < ?1");
    pdel.bind(1, pkf.i64(0));
    if (!pdel.ok() || pdel.step() != SQLITE_DONE) return fail("cannot delete old process samples");
  }
  Stmt ev(db_,
          "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE wall_ns < ?1 LIMIT ?2)");
  ev.bind(1, cutoff_ns);
  ev.bind(2, max_rows);
  if (!ev.ok() || ev.step() != SQLITE_DONE) return fail("cannot delete old events");
  // counter_samples is WITHOUT ROWID: delete by its key.
  Stmt cs_key(db_,
              "DELETE FROM counter_samples WHERE (counter_id, wall_ns) IN (SELECT counter_id, "
              "wall_ns FROM counter_samples WHERE wall_ns < ?1 LIMIT ?2)");
  cs_key.bind(1, cutoff_ns);
  cs_key.bind(2, max_rows);
  if (!cs_key.ok() || cs_key.step() != SQLITE_DONE) return fail("cannot delete old counters");
  if (own_tx) {
    if (auto ok = exec("COMMIT"); !ok) {
      rollback();
      return forward_error(ok);
    }
  }
  return deleted;
}

Result<void> Recording::checkpoint() {
  return exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

// ---------------------------------------------------------------------------------------------
// Reading

Result<std::vector<KeyInfo>> Recording::keys() const {
  std::vector<KeyInfo> out;
  Stmt s(db_, "SELECT id, kind, name, pool, session_id, owner, aliases FROM keys ORDER BY id");
  if (!s.ok()) return unexpected(sqlite_error("cannot read keys"));
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    KeyInfo k;
    k.id = static_cast<std::uint32_t>(s.i64(0));
    k.key.kind = key_kind_from_text(s.text(1));
    k.key.name = s.blob(2);
    cap_name(k.key.name, max_key_name_bytes(k.key.kind));  // counted in problems() when opened
    k.pool = parse_pool_kind(s.text(3)).value_or(PoolKind::kNonPaged);
    if (!s.is_null(4)) k.session_id = static_cast<std::uint32_t>(s.i64(4));
    k.owner = s.text(5);
    k.aliases = aliases_from_json(s.text(6));
    out.push_back(std::move(k));
  }
  if (rc != SQLITE_DONE) return unexpected(sqlite_error("cannot read keys"));
  return out;
}

Result<RecordingSummary> Recording::summary() const {
  Stmt s(db_,
         "SELECT count(*), ifnull(min(seq),0), ifnull(max(seq),0), ifnull(min(wall_ns),0), "
         "ifnull(max(wall_ns),0), "
         "ifnull((SELECT wall_ns FROM samples ORDER BY seq LIMIT 1),0), "
         "ifnull((SELECT wall_ns FROM samples ORDER BY seq DESC LIMIT 1),0), "
         "(SELECT count(*) FROM keys), (SELECT count(*) FROM process_samples), "
         "(SELECT count(*) FROM events), (SELECT count(*) FROM counters), "
         "(SELECT count(*) FROM counter_samples) FROM samples");
  if (!s.ok() || s.step() != SQLITE_ROW) return unexpected(sqlite_error("cannot summarize"));
  RecordingSummary r;
  r.samples = s.i64(0);
  r.first_seq = s.i64(1);
  r.last_seq = s.i64(2);
  r.min_wall_ns = s.i64(3);
  r.max_wall_ns = s.i64(4);
  r.first_wall_ns = s.i64(5);
  r.last_wall_ns = s.i64(6);
  r.keys = s.i64(7);
  r.process_samples = s.i64(8);
  r.events = s.i64(9);
  r.counters = s.i64(10);
  r.counter_samples = s.i64(11);
  return r;
}

Result<std::map<std::string, std::string>> Recording::meta() const {
  std::map<std::string, std::string> out;
  if (!problems_.empty()) {
    Stmt has(db_, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'");
    if (!has.ok() || has.step() != SQLITE_ROW) return out;  // counted in problems()
  }
  Stmt s(db_, "SELECT key, value FROM meta");
  if (!s.ok()) return unexpected(sqlite_error("cannot read meta"));
  while (s.step() == SQLITE_ROW) out[s.text(0)] = s.text(1);
  return out;
}

Result<std::int64_t> Recording::count_samples(std::int64_t from_seq, std::int64_t to_seq) const {
  Stmt s(db_, "SELECT count(*) FROM samples WHERE seq >= ?1 AND seq <= ?2");
  s.bind(1, from_seq);
  s.bind(2, to_seq);
  if (!s.ok() || s.step() != SQLITE_ROW) return unexpected(sqlite_error("cannot count"));
  return s.i64(0);
}

Result<std::optional<std::int64_t>> Recording::seq_at(
    std::optional<std::chrono::system_clock::time_point> at) const {
  Stmt s = at ? Stmt(db_,
                     "SELECT seq FROM samples WHERE wall_ns <= ?1 ORDER BY wall_ns DESC, seq DESC "
                     "LIMIT 1")
              : Stmt(db_, "SELECT max(seq) FROM samples");
  if (!s.ok()) return unexpected(sqlite_error("cannot find a sample"));
  if (at) s.bind(1, to_wall_ns(*at));
  const int rc = s.step();
  if (rc == SQLITE_DONE || (rc == SQLITE_ROW && s.is_null(0))) return std::optional<std::int64_t>{};
  if (rc != SQLITE_ROW) return unexpected(sqlite_error("cannot find a sample"));
  return std::optional<std::int64_t>{s.i64(0)};
}

Result<std::optional<Snapshot>> Recording::snapshot_at(
    std::optional<std::chrono::system_clock::time_point> at, ReadDamage* damage) const {
  auto seq = seq_at(at);
  if (!seq) return forward_error(seq);
  if (!*seq) return std::optional<Snapshot>{};
  auto key_list = keys();
  if (!key_list) return forward_error(key_list);
  std::vector<const KeyInfo*> by_id;
  for (const KeyInfo& k : *key_list) {
    if (by_id.size() <= k.id) by_id.resize(k.id + 1, nullptr);
    by_id[k.id] = &k;
  }
  auto cur = cursor(CursorOptions{.from_seq = **seq, .to_seq = **seq});
  if (!cur) return forward_error(cur);
  auto got = cur->next();
  if (!got) {
    return make_error(ErrorCode::kInput, path_ + ": " + got.error().message +
                                             "; the sample cannot be rebuilt (damaged recording)");
  }
  if (!*got) {
    // The sample exists (seq_at found it) but the chain of changes up to it is broken: a gap in
    // the sequence numbers or a damaged sample since its keyframe (issue 21: not "no sample").
    return make_error(ErrorCode::kInput,
                      path_ + ": sample " + std::to_string(**seq) +
                          " cannot be rebuilt: a sample between it and its keyframe is missing "
                          "or damaged (damaged recording)");
  }
  Snapshot snap;
  snap.wall_time = from_wall_ns(cur->info().wall_ns);
  snap.monotonic_ns = cur->info().mono_ns;
  apply_extras(cur->extras(), snap);
  snap.entries.reserve(cur->keys().size());
  for (const KeySample& k : cur->keys()) {
    if (k.key_id >= by_id.size() || !by_id[k.key_id]) continue;  // counted in damage()
    const KeyInfo& info = *by_id[k.key_id];
    Entry e;
    e.key = info.key;
    e.pool = info.pool;
    e.session_id = info.session_id;
    e.counters = counters_of(k);
    e.object_size = k.get(kObjectSize);
    e.aliases = info.aliases;
    e.owner = info.owner;
    snap.entries.push_back(std::move(e));
  }
  if (damage) *damage = cur->damage();
  return std::optional<Snapshot>(std::move(snap));
}

Result<std::vector<Event>> Recording::events() const {
  std::vector<Event> out;
  Stmt s(db_, "SELECT id, wall_ns, kind, detail FROM events ORDER BY wall_ns, id");
  if (!s.ok()) return unexpected(sqlite_error("cannot read events"));
  while (s.step() == SQLITE_ROW) out.push_back({s.i64(0), s.i64(1), s.text(2), s.text(3)});
  return out;
}

Result<std::vector<CounterInfo>> Recording::counters() const {
  std::vector<CounterInfo> out;
  Stmt s(db_, "SELECT id, path, kind FROM counters ORDER BY id");
  if (!s.ok()) return unexpected(sqlite_error("cannot read counters"));
  while (s.step() == SQLITE_ROW) out.push_back({s.i64(0), s.text(1), s.text(2)});
  return out;
}

Result<std::vector<CounterPoint>> Recording::counter_samples(std::int64_t counter_id) const {
  std::vector<CounterPoint> out;
  Stmt s(db_, "SELECT wall_ns, value FROM counter_samples WHERE counter_id = ?1 ORDER BY wall_ns");
  if (!s.ok()) return unexpected(sqlite_error("cannot read counter samples"));
  s.bind(1, counter_id);
  while (s.step() == SQLITE_ROW) {
    out.push_back({s.i64(0), s.is_null(1) ? std::numeric_limits<double>::quiet_NaN()
                                          : sqlite3_column_double(s.get(), 1)});
  }
  return out;
}

std::uint64_t Recording::file_bytes() const {
  return file_size_or_zero(path_) + file_size_or_zero(path_ + "-wal");
}

}  // namespace poolscope::store
