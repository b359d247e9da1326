// `poolscope export`: a recording as JSON lines or CSV, one line per key-sample, plus process
// samples, imported events and counter samples, each line marked with its kind.
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/verbs.h"
#include "core/time_format.h"
#include "store/recording.h"

namespace poolscope::cli {

namespace {

constexpr std::size_t kFlushBytes = 1 << 20;

class Output {
 public:
  ~Output() { flush(); }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= kFlushBytes) flush();
  }
  void flush() {
    if (!buf_.empty()) std::fwrite(buf_.data(), 1, buf_.size(), stdout);
    buf_.clear();
  }

 private:
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

// RFC 4180 field: quoted when it holds a comma, quote or line break.
void append_csv(std::string& out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(s);
    return;
  }
  out.push_back('"');
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
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

void add_export_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string file;
    std::string format = "jsonl";
    std::vector<std::string> include, exclude;
    std::string from, to;
    std::vector<std::string> kinds;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "export",
      "write a recording as JSON lines or CSV: one line per key-sample, plus process "
      "samples, events and counter samples");
  verb->add_option("file", options->file, "the recording (SQLite) file")->required();
  verb->add_option("--format,-f", options->format, "jsonl or csv")
      ->check(CLI::IsMember({"jsonl", "csv"}))
      ->default_val("jsonl");
  verb->add_option("--include,-i", options->include,
                   "only pool keys matching this pattern (* and ?, case-sensitive); repeatable");
  verb->add_option("--exclude,-x", options->exclude, "drop pool keys matching this; repeatable");
  verb->add_option("--from", options->from, "only from this time on (UTC, 2026-11-21T11:40:02Z)");
  verb->add_option("--to", options->to, "only up to this time (UTC)");
  verb->add_option("--kind", options->kinds,
                   "only these kinds of lines: pool, process, event, counter (default: all)")
      ->check(CLI::IsMember({"pool", "process", "event", "counter"}));
  verb->callback([&run, options] {
    run = [options]() -> int {
      std::int64_t from = INT64_MIN, to = INT64_MAX;
      for (auto [text, out] : {std::pair{&options->from, &from}, std::pair{&options->to, &to}}) {
        if (text->empty()) continue;
        auto t = parse_utc(*text);
        if (!t) {
          return report_error(Error{ErrorCode::kUsage, 0,
                                    "\"" + *text +
                                        "\" is not a time (expected "
                                        "2026-11-21T11:40:02Z)"});
        }
        *out = store::to_wall_ns(*t);
      }
      auto wants = [&](std::string_view kind) {
        return options->kinds.empty() || std::find(options->kinds.begin(), options->kinds.end(),
                                                   kind) != options->kinds.end();
      };
      const bool csv = options->format == "csv";
      auto rec = store::Recording::open_read(options->file);
      if (!rec) return report_error(rec.error());
      auto keys = rec->keys();
      if (!keys) return report_error(keys.error());
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
        bool keep = options->include.empty();
        for (const auto& p : options->include) keep = keep || key_matches(k.key, p);
        for (const auto& p : options->exclude) keep = keep && !key_matches(k.key, p);
        selected[k.id] = keep;
      }

      Output out;
      std::string& buf = out.buf();
      if (csv) buf += kCsvHeader;
      const bool pools_wanted = wants("pool");
      const bool processes_wanted = wants("process");
      std::int64_t damaged = 0;
      if (pools_wanted || processes_wanted) {
        auto cursor = rec->cursor(store::CursorOptions{.processes = processes_wanted});
        if (!cursor) return report_error(cursor.error());
        std::string time;
        for (;;) {
          auto more = cursor->next();
          if (!more) {
            // A damaged sample is reported and skipped; the rest is still exported.
            std::fprintf(stderr, "poolscope: warning: %s: %s\n", options->file.c_str(),
                         more.error().message.c_str());
            continue;
          }
          if (!*more) {
            damaged = cursor->skipped();
            break;
          }
          const auto& info = cursor->info();
          if (info.wall_ns < from || info.wall_ns > to) continue;
          time = format_utc(store::from_wall_ns(info.wall_ns), true);
          if (pools_wanted) {
            for (const store::KeySample& k : cursor->keys()) {
              if (k.key_id >= selected.size() || !selected[k.key_id]) continue;
              static constexpr store::Field kFields[] = {store::kAllocs, store::kFrees,
                                                         store::kOutstanding, store::kBytes};
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
                for (store::Field f : kFields) {
                  buf += ',';
                  if (k.present & (1u << f)) append_u64(buf, k.value[f]);
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
                  if (!(k.present & (1u << kFields[i]))) continue;  // absent: omitted
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
        auto events = rec->events();
        if (!events) return report_error(events.error());
        for (const auto& e : *events) {
          if (e.wall_ns < from || e.wall_ns > to) continue;
          const std::string time = format_utc(store::from_wall_ns(e.wall_ns), true);
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
        auto counters = rec->counters();
        if (!counters) return report_error(counters.error());
        for (const auto& c : *counters) {
          auto points = rec->counter_samples(c.id);
          if (!points) return report_error(points.error());
          for (const auto& p : *points) {
            if (p.wall_ns < from || p.wall_ns > to || p.value != p.value) continue;
            const std::string time = format_utc(store::from_wall_ns(p.wall_ns), true);
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
      if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        return report_error(Error{ErrorCode::kEnvironment, 0, "cannot write the export"});
      }
      if (damaged) {
        return report_error(Error{
            ErrorCode::kInput, 0,
            std::to_string(damaged) +
                " sample(s) could not be decoded (damaged, or their keyframe is missing) and were "
                "left out; everything else was written"});
      }
      return kExitOk;
    };
  });
}

}  // namespace poolscope::cli
