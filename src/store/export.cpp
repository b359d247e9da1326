// A recording as JSON lines or CSV (see export.h).
#include "store/export.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "core/csv.h"
#include "core/forward_error.h"
#include "core/time_format.h"

namespace poolscope::store {

namespace {

constexpr std::size_t kFlushBytes = 1 << 20;

class Output {
 public:
  explicit Output(const std::function<void(std::string_view)>& write) : write_(write) {}
  ~Output() { flush(); }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= kFlushBytes) flush();
  }
  void flush() {
    if (!buf_.empty()) write_(buf_);
    buf_.clear();
  }

 private:
  const std::function<void(std::string_view)>& write_;
  std::string buf_;
};

void append_u64(std::string& out, std::uint64_t v) {
  char tmp[24];
  auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, v);
  out.append(tmp, end);
}

void append_i64(std::string& out, std::int64_t v) {
  char tmp[24];
  auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, v);
  out.append(tmp, end);
}

// JSON string body for text that display_key made printable ASCII.
void append_json_ascii(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
}

// RFC 4180 field (core/csv.h), appended.
void append_csv(std::string& out, std::string_view s) {
  out += csv_field(s);
}

std::string json_text(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

nlohmann::ordered_json process_json(const ProcessFacts& p) {
  nlohmann::ordered_json j;
  j["pid"] = p.pid;
  j["start_time"] = p.start_time;
  j["name"] = p.name;
  if (p.parent_pid) j["parent_pid"] = *p.parent_pid;
  if (p.handle_count) j["handle_count"] = *p.handle_count;
  if (p.paged_pool_quota_bytes) j["paged_pool_quota_bytes"] = *p.paged_pool_quota_bytes;
  if (p.nonpaged_pool_quota_bytes) j["nonpaged_pool_quota_bytes"] = *p.nonpaged_pool_quota_bytes;
  if (p.fd_total) j["fd_total"] = *p.fd_total;
  if (p.fds) {
    nlohmann::ordered_json fds = nlohmann::ordered_json::object();
    for (FdKind kind : kAllFdKinds) fds[std::string(fd_kind_name(kind))] = fd_count(*p.fds, kind);
    j["fds"] = fds;
  }
  if (p.threads) j["threads"] = *p.threads;
  if (p.page_table_bytes) j["page_table_bytes"] = *p.page_table_bytes;
  if (p.socket_queue_bytes) j["socket_queue_bytes"] = *p.socket_queue_bytes;
  if (p.bpf_memlock_bytes) j["bpf_memlock_bytes"] = *p.bpf_memlock_bytes;
  if (p.dmabuf_bytes) j["dmabuf_bytes"] = *p.dmabuf_bytes;
  if (p.fd_limit) j["fd_limit"] = *p.fd_limit;
  if (p.pipes) j["pipes"] = *p.pipes;
  if (p.pipe_unread_bytes) j["pipe_unread_bytes"] = *p.pipe_unread_bytes;
  if (p.handle_kinds) {
    nlohmann::ordered_json kinds = nlohmann::ordered_json::object();
    for (std::size_t k = 0; k < kHandleKindCount; ++k) {
      kinds[std::string(handle_kind_name(static_cast<HandleKind>(k)))] = p.handle_kinds->count[k];
    }
    j["handle_types"] = kinds;
  }
  if (p.exited_process_handles) j["exited_process_handles"] = *p.exited_process_handles;
  if (p.exited_thread_handles) j["exited_thread_handles"] = *p.exited_thread_handles;
  return j;
}

const char* kCsvHeader = "kind,time,seq,key,pool,allocs,frees,outstanding,bytes,value,detail\n";

}  // namespace

Result<ExportResult> export_recording(const Recording& rec, const ExportOptions& options,
                                      const std::function<void(std::string_view)>& write) {
  auto wants = [&](std::string_view kind) {
    return options.kinds.empty() ||
           std::find(options.kinds.begin(), options.kinds.end(), kind) != options.kinds.end();
  };
  const bool csv = options.csv;
  const std::int64_t from = options.from_ns, to = options.to_ns;
  ExportResult result;
  result.damage.problems = rec.problems();  // also when no sample is read
  auto keys = rec.keys();
  if (!keys) return forward_error(keys);
  // Per key id: its display name and whether it is selected.
  std::vector<std::string> names;
  std::vector<std::string_view> pools;
  std::vector<std::optional<std::uint32_t>> sessions;
  std::vector<char> selected;
  for (const auto& k : *keys) {
    if (names.size() <= k.id) {
      names.resize(k.id + 1);
      pools.resize(k.id + 1);
      sessions.resize(k.id + 1);
      selected.resize(k.id + 1, 0);
    }
    names[k.id] = display_key(k.key);
    pools[k.id] = pool_kind_name(k.pool);
    sessions[k.id] = k.session_id;
    bool keep = options.include.empty();
    for (const auto& p : options.include) keep = keep || key_matches(k.key, p);
    for (const auto& p : options.exclude) keep = keep && !key_matches(k.key, p);
    selected[k.id] = keep;
  }
  // --include/--exclude filter the process lines too, by process name (the same wildcards; a
  // name is matched as a cache name is, exactly as written).
  const auto process_selected = [&options](const ProcessFacts& p) {
    const PoolKey name{KeyKind::kSlabCache, p.name};
    bool keep = options.include.empty();
    for (const auto& pattern : options.include) keep = keep || key_matches(name, pattern);
    for (const auto& pattern : options.exclude) keep = keep && !key_matches(name, pattern);
    return keep;
  };

  Output out(write);
  std::string& buf = out.buf();
  if (csv) buf += kCsvHeader;
  const bool pools_wanted = wants("pool");
  const bool processes_wanted = wants("process");
  if (pools_wanted || processes_wanted) {
    auto cursor = rec.cursor(CursorOptions{.processes = processes_wanted});
    if (!cursor) return forward_error(cursor);
    std::string time;
    for (;;) {
      auto more = cursor->next();
      if (!more) continue;  // a damaged sample: counted in the damage (one line at the end)
      if (!*more) {
        result.damage = cursor->damage();
        break;
      }
      const auto& info = cursor->info();
      if (info.wall_ns < from || info.wall_ns > to) continue;
      time = format_utc(from_wall_ns(info.wall_ns), true);
      if (pools_wanted) {
        for (const KeySample& k : cursor->keys()) {
          if (k.key_id >= selected.size() || !selected[k.key_id]) continue;
          static constexpr Field kFields[] = {kAllocs, kFrees, kOutstanding, kBytes};
          static constexpr const char* kNames[] = {"allocs", "frees", "outstanding", "bytes"};
          if (csv) {
            buf += "pool,";
            buf += time;
            buf += ',';
            append_i64(buf, info.seq);
            buf += ',';
            append_csv(buf, names[k.key_id]);
            buf += ',';
            buf += pools[k.key_id];
            for (Field f : kFields) {
              buf += ',';
              if (k.has(f)) append_u64(buf, k.value[f]);
            }
            buf += ",,";
            if (sessions[k.key_id]) {
              buf += "\"{\"\"session_id\"\":";
              append_u64(buf, *sessions[k.key_id]);
              buf += "}\"";
            }
            buf += '\n';
          } else {
            buf += "{\"kind\":\"pool\",\"time\":\"";
            buf += time;
            buf += "\",\"seq\":";
            append_i64(buf, info.seq);
            buf += ",\"key\":\"";
            append_json_ascii(buf, names[k.key_id]);
            buf += "\",\"pool\":\"";
            buf += pools[k.key_id];
            buf += '"';
            if (sessions[k.key_id]) {
              buf += ",\"session_id\":";
              append_u64(buf, *sessions[k.key_id]);
            }
            for (std::size_t i = 0; i < 4; ++i) {
              if (!k.has(kFields[i])) continue;  // absent: omitted
              buf += ",\"";
              buf += kNames[i];
              buf += "\":";
              append_u64(buf, k.value[kFields[i]]);
            }
            buf += "}\n";
          }
        }
      }
      if (processes_wanted && cursor->processes()) {
        for (const ProcessFacts& p : cursor->processes()->processes) {
          if (!process_selected(p)) continue;
          nlohmann::ordered_json j = process_json(p);
          if (csv) {
            buf += "process,";
            buf += time;
            buf += ',';
            append_i64(buf, info.seq);
            buf += ',';
            append_u64(buf, p.pid);
            buf += ",,,,,,,";
            append_csv(buf, json_text(j));
            buf += '\n';
          } else {
            nlohmann::ordered_json line;
            line["kind"] = "process";
            line["time"] = time;
            line["seq"] = info.seq;
            line.update(j);
            buf += json_text(line);
            buf += '\n';
          }
        }
      }
      out.maybe_flush();
    }
  }
  if (wants("event")) {
    auto events = rec.events();
    if (!events) return forward_error(events);
    for (const auto& e : *events) {
      if (e.wall_ns < from || e.wall_ns > to) continue;
      const std::string time = format_utc(from_wall_ns(e.wall_ns), true);
      if (csv) {
        buf += "event,";
        buf += time;
        buf += ",,";
        append_csv(buf, e.kind);
        buf += ",,,,,,,";
        append_csv(buf, e.detail);
        buf += '\n';
      } else {
        nlohmann::ordered_json line;
        line["kind"] = "event";
        line["time"] = time;
        line["event"] = e.kind;
        line["detail"] = nlohmann::ordered_json::parse(e.detail, nullptr, false);
        buf += json_text(line);
        buf += '\n';
      }
      out.maybe_flush();
    }
  }
  if (wants("counter")) {
    auto counters = rec.counters();
    if (!counters) return forward_error(counters);
    for (const auto& c : *counters) {
      auto points = rec.counter_samples(c.id);
      if (!points) return forward_error(points);
      for (const auto& p : *points) {
        if (p.wall_ns < from || p.wall_ns > to || p.value != p.value) continue;
        const std::string time = format_utc(from_wall_ns(p.wall_ns), true);
        if (csv) {
          buf += "counter,";
          buf += time;
          buf += ",,";
          append_csv(buf, c.path);
          buf += ",,,,,,";
          char tmp[32];
          auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, p.value);
          buf.append(tmp, end);
          buf += ',';
          append_csv(buf, json_text(nlohmann::ordered_json{{"counter", c.kind}}));
          buf += '\n';
        } else {
          nlohmann::ordered_json line;
          line["kind"] = "counter";
          line["time"] = time;
          line["path"] = c.path;
          line["counter"] = c.kind;
          line["value"] = p.value;
          buf += json_text(line);
          buf += '\n';
        }
        out.maybe_flush();
      }
    }
  }
  out.flush();
  return result;
}

}  // namespace poolscope::store
