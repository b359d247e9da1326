#include "report/page.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>

#include "core/forward_error.h"
#include "core/time_format.h"
#include "detect/output.h"
#include "report/next_steps.h"

namespace poolscope::report {

namespace {

using detect::Finding;
using detect::History;
using detect::KeyTrack;

constexpr std::size_t kMaxFindingCharts = 24;  // findings drawn; the rest are listed
constexpr std::size_t kMaxEventRows = 100;
constexpr std::size_t kMaxCounterCharts = 12;
constexpr int kFullWidth = 952, kKeyWidth = 560, kSideWidth = 340, kChartHeight = 240;

std::string e(std::string_view text) {
  return html_escape(text);
}

// An escaped <ul> of the items' texts.
template <typename Items, typename Text>
std::string list(const Items& items, Text text) {
  std::string s = "<ul>";
  for (const auto& item : items) s += "<li>" + e(text(item)) + "</li>";
  return s + "</ul>";
}
std::string list(const std::vector<std::string>& items) {
  return list(items, [](const std::string& item) -> const std::string& { return item; });
}

double seconds_of(std::int64_t wall_ns) {
  return static_cast<double>(wall_ns) / 1e9;
}

std::string wall_of(double t) {
  return detect::wall_text(static_cast<std::int64_t>(std::llround(t * 1e9)));
}

std::string count_text(double v) {
  // 1234567 -> "1,234,567"
  const auto n = static_cast<long long>(std::llround(v));
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string bytes_text(double v) {
  return (v < 0 ? "-" : "") + human_bytes(static_cast<std::uint64_t>(std::llround(std::fabs(v))));
}

// The last bucket a series has a value in, or -1.
std::int64_t last_bucket(const detect::Series& s) {
  for (auto b = s.first_bucket() + static_cast<std::int64_t>(s.size()) - 1; b >= s.first_bucket();
       --b) {
    if (s.has(b)) return b;
  }
  return -1;
}
std::int64_t first_bucket(const detect::Series& s) {
  for (auto b = s.first_bucket(); b < s.first_bucket() + static_cast<std::int64_t>(s.size()); ++b) {
    if (s.has(b)) return b;
  }
  return -1;
}

std::vector<Point> series_points(const History& h, const detect::Series& s) {
  std::vector<Point> out;
  if (s.empty()) return out;
  out.reserve(s.size());
  for (auto b = s.first_bucket(); b < s.first_bucket() + static_cast<std::int64_t>(s.size()); ++b) {
    if (!s.has(b) || b >= h.buckets()) continue;
    out.push_back({seconds_of(h.bucket_wall_ns(b)), s.min(b), s.max(b), s.mean(b)});
  }
  return out;
}

std::optional<std::size_t> metric_index(const std::string& name) {
  for (std::size_t m = 0; m < detect::kProcessMetricCount; ++m) {
    if (detect::process_metric_name(m) == name) return m;
  }
  return std::nullopt;
}

std::vector<Point> process_points(const History& h, const detect::ProcessTrack& p,
                                  std::size_t metric) {
  std::vector<Point> out;
  const detect::Series& s = p.series(metric);
  for (auto b = p.first_bucket; b <= p.last_bucket && b < h.buckets(); ++b) {
    const double t = seconds_of(h.bucket_wall_ns(b));
    if (s.has(b)) {
      out.push_back({t, s.min(b), s.max(b), s.mean(b)});
    } else if (auto v = p.value_at(metric, b)) {
      out.push_back(raw_point(t, *v));
    }
  }
  return out;
}

const detect::ProcessTrack* find_process(const History& h, const detect::ProcessEvidence& e,
                                         std::size_t metric) {
  const detect::ProcessTrack* best = nullptr;
  for (const auto& p : h.processes()) {
    if (p.pid != e.pid || p.name != e.name) continue;
    if (!best || (!p.series(metric).empty() && best->series(metric).empty()) ||
        p.last_bucket > best->last_bucket) {
      best = &p;
    }
  }
  return best;
}

const KeyTrack* find_key(const History& h, const Finding& f) {
  for (const KeyTrack& k : h.keys()) {
    if (k.key == f.key && k.pool == f.pool && k.session_id == f.session_id) return &k;
  }
  return nullptr;
}

std::vector<Marker> markers_of(const ReportInput& in) {
  std::vector<Marker> out;
  out.reserve(in.events.size());
  for (const ReportEvent& ev : in.events) {
    out.push_back({ev.t, ev.kind + ": " + ev.summary, ev.pool_pressure});
  }
  return out;
}

struct Axis {
  double t0 = 0, t1 = 0;
  bool known = false;
  void add(double t) {
    if (!std::isfinite(t)) return;
    if (!known) {
      t0 = t1 = t;
      known = true;
      return;
    }
    t0 = std::min(t0, t);
    t1 = std::max(t1, t);
  }
};

Axis time_axis(const History& h, const ReportInput& in) {
  Axis a;
  if (h.samples() > 0) {
    a.add(seconds_of(h.first_wall_ns()));
    a.add(seconds_of(h.last_wall_ns()));
  }
  for (const ReportEvent& ev : in.events) a.add(ev.t);
  for (const ReportCounter& c : in.counters) {
    if (!c.points.empty()) {
      a.add(c.points.front().t);
      a.add(c.points.back().t);
    }
  }
  return a;
}

const char* kStyle = R"CSS(
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d232a;background:#f3f5f7;margin:0}
main{max-width:1000px;margin:0 auto;padding:12px 24px 48px}
h1{font-size:22px;margin:10px 0 2px}
h2{font-size:18px;margin:30px 0 10px;padding-bottom:4px;border-bottom:1px solid #d3dae0}
h3{font-size:15px;margin:0 0 6px}
p{margin:6px 0}
.meta{color:#5b6670;font-size:13px}
.verdict{border-radius:6px;padding:12px 16px;margin:14px 0;border-left:6px solid;background:#fff}
.verdict.leak{background:#fdecea;border-color:#c62828}
.verdict.suspect{background:#fff5dc;border-color:#e6a100}
.verdict.ok{background:#e8f5e9;border-color:#2e7d32}
.verdict strong{font-size:16px}
.card{background:#fff;border:1px solid #dce2e7;border-radius:6px;padding:12px 14px;margin:12px 0}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:#c62828;vertical-align:1px}
.badge.suspect{background:#d89600}
table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}
th,td{padding:4px 6px;border-bottom:1px solid #e3e8ec;text-align:left;vertical-align:middle}
th{background:#f7f9fa;font-weight:600}
.wide{overflow-x:auto}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.facts td,table.facts th{border:none;padding:2px 10px 2px 0;background:none}
.charts{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.charts figure{margin:0;display:table}
figcaption{display:table-caption;caption-side:bottom;font-size:12px;color:#5b6670;padding:2px 4px}
svg.chart{background:#fff;max-width:100%;height:auto;display:block}
svg text{font:11px system-ui,"DejaVu Sans",sans-serif;fill:#46525c}
svg text.legend{fill:#1d232a}
svg text.empty{font-size:13px;fill:#8a949c}
.plot{fill:#fbfcfd;stroke:#cfd6dc}
.grid{stroke:#e8ecef}
.band{stroke:none;opacity:.25}
polyline.line{fill:none;stroke-width:1.6}
line.line{stroke-width:2.5}
polyline.ref{fill:none;stroke-width:1.2;stroke-dasharray:2 2}
.trend{stroke:#111;stroke-width:1.6;stroke-dasharray:1 3;stroke-linecap:round;fill:none}
.forecast{stroke:#c62828;stroke-width:2;stroke-dasharray:7 4;fill:none}
.future{fill:#fdf0ef}
.limit{stroke:#c62828;stroke-width:1.4;stroke-dasharray:4 3}
text.limit-label{fill:#c62828}
.marker line{stroke:#7e57c2;stroke-width:1;opacity:.7}
.marker path{fill:#7e57c2}
.marker.alarm line{stroke:#d32f2f;opacity:.8}
.marker.alarm path{fill:#d32f2f}
.nodata{display:flex;align-items:center;justify-content:center;width:340px;height:240px;background:#fbfcfd;border:1px dashed #cfd6dc;color:#6b7680;font-size:13px;padding:16px;text-align:center}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}
ul{margin:4px 0 8px;padding-left:22px}
li{margin:3px 0}
footer{margin-top:36px;color:#7a858e;font-size:12px}
)CSS";

std::string palette_css() {
  static constexpr const char* kColors[] = {"#1f6fd1", "#e8710a", "#2e9d4f",
                                            "#8e44ad", "#00838f", "#6d4c41"};
  std::string css;
  for (int i = 0; i < 6; ++i) {
    css += fmt::format(".line.c{0},.ref.c{0}{{stroke:{1}}}.band.c{0},.dot.c{0}{{fill:{1}}}\n", i,
                       kColors[i]);
  }
  return css;
}

std::string figure(const Chart& chart, const std::string& caption) {
  std::string s = "<figure>" + render_svg(chart);
  if (!caption.empty()) s += "<figcaption>" + e(caption) + "</figcaption>";
  return s + "</figure>";
}

// ---------------------------------------------------------------------------------------------

std::string verdict_section(const History& h, const detect::Report& r, const ReportInput& in) {
  // Counted by incident: keys that grow together are one leak.
  std::size_t leaks = 0, suspects = 0;
  for (const detect::Incident& i : r.incidents)
    (i.verdict == detect::Verdict::kLeak ? leaks : suspects)++;
  std::string cls = leaks ? "leak" : suspects ? "suspect" : "ok";
  std::string s = "<section id=\"verdict\"><div class=\"verdict " + cls + "\">";
  if (h.samples() == 0) {
    s += "<strong>No pool samples in this recording.</strong> Only imported events or counters "
         "are shown; record the pools (poolscope record) or import poolmon screens to find the "
         "leaking tag.";
  } else if (leaks) {
    const detect::Incident& first = r.incidents.front();
    const Finding& f = r.findings[first.source];
    s += fmt::format("<strong>Leak: {} incident{}", leaks, leaks == 1 ? "" : "s");
    if (suspects) s += fmt::format(", {} more suspect{}", suspects, suspects == 1 ? "" : "s");
    s += ".</strong> The largest: <b>" + e(display_key(f.key)) + "</b>" +
         (first.members.size() > 1
              ? fmt::format(" (the source of {} keys growing together)", first.members.size())
              : std::string()) +
         " (" + e(pool_kind_name(f.pool)) + (f.owner.empty() ? "" : ", owner " + e(f.owner)) +
         ") grows " + e(detect::rate_text(f.rate_bytes_per_hour, "B"));
    if (f.rate_objects_per_hour) {
      s += " (" + e(detect::rate_text(f.rate_objects_per_hour, "")) + " objects)";
    }
    s += " since " + e(detect::wall_text(f.onset_wall_ns));
    if (f.exhaustion_eta_seconds) {
      s += "; at this rate the pool runs out in <b>" +
           e(detect::duration_text(*f.exhaustion_eta_seconds)) + "</b>";
    }
    if (!f.processes.empty()) {
      s += "; culprit process <b>" + e(f.processes.front().name) + "</b> (pid " +
           std::to_string(f.processes.front().pid) + ")";
    }
    s += ".";
  } else if (suspects) {
    s += fmt::format(
        "<strong>No leak yet: {} suspect{}.</strong> Their growth is significant but not yet at "
        "the leak confidence; a longer recording decides.",
        suspects, suspects == 1 ? "" : "s");
  } else {
    s += "<strong>No leak found</strong> in " + e(detect::duration_text(r.seconds)) +
         " of samples: no key kept growing.";
  }
  s += "</div><table class=\"facts\">";
  s += "<tr><th>Recording</th><td>" + e(in.file) + "</td></tr>";
  if (!in.host.empty() || !in.source.empty()) {
    s += "<tr><th>Host / source</th><td>" + e(in.host) + (in.host.empty() ? "" : " / ") +
         e(in.source) + "</td></tr>";
  }
  if (h.samples() > 0) {
    s += "<tr><th>Samples</th><td>" +
         e(fmt::format("{} over {} ({} .. {}), {}", r.samples, detect::duration_text(r.seconds),
                       detect::wall_text(r.first_wall_ns), detect::wall_text(r.last_wall_ns),
                       r.process_facts ? "with process facts" : "without process facts")) +
         "</td></tr>";
  }
  if (!in.events.empty()) {
    std::size_t pressure = 0;
    for (const auto& ev : in.events) pressure += ev.pool_pressure ? 1 : 0;
    s += fmt::format("<tr><th>Imported events</th><td>{} ({} of them pool pressure)</td></tr>",
                     in.events.size(), pressure);
  }
  if (!in.counters.empty()) {
    s += fmt::format("<tr><th>Imported counters</th><td>{}</td></tr>", in.counters.size());
  }
  s += "</table></section>\n";
  return s;
}

std::string pools_section(const History& h, const ReportInput& in, const Axis& axis,
                          const std::vector<Marker>& markers) {
  std::string s =
      "<section id=\"pools\"><h2>Pool totals against the limit</h2><div "
      "class=\"charts\">";
  std::size_t charts = 0;
  int color = 2;
  for (const auto& [pool, series] : h.pool_used()) {
    Chart c;
    c.title = std::string(pool_kind_name(pool)) + " pool used";
    c.unit = Unit::kBytes;
    c.t0 = axis.t0;
    c.t1 = axis.t1;
    c.width = kFullWidth;
    c.height = 220;
    c.markers = markers;
    c.lines.push_back({std::string(pool_kind_name(pool)) + " used", series_points(h, series),
                       LineStyle::kSeries, color++});
    double peak = 0;
    for (const Point& p : c.lines.back().points) peak = std::max(peak, p.hi);
    std::string caption;
    if (auto limit = h.pool_limit(pool)) {
      if (*limit <= 4 * peak) {
        c.levels.push_back({*limit, "limit " + bytes_text(*limit)});
        c.zero_based = true;
      } else {
        caption = fmt::format("limit {} is off the scale: the peak, {}, is {:.1f}% of it",
                              bytes_text(*limit), bytes_text(peak), 100 * peak / *limit);
      }
    } else {
      caption = "no limit in this data (a live Windows sample or an imported !vm gives it)";
    }
    s += figure(c, caption);
    ++charts;
  }
  for (const ReportCounter& counter : in.counters) {
    if (counter.kind != "memory_pool_nonpaged_bytes" && counter.kind != "memory_pool_paged_bytes") {
      continue;
    }
    Chart c;
    c.title = counter.path;
    c.unit = Unit::kBytes;
    c.t0 = axis.t0;
    c.t1 = axis.t1;
    c.width = kFullWidth;
    c.height = 220;
    c.markers = markers;
    c.lines.push_back({counter.path, counter.points, LineStyle::kSeries, color++});
    s += figure(c, "imported performance counter (" + counter.kind + ")");
    ++charts;
  }
  s += "</div>";
  if (charts == 0) {
    s += "<p class=\"meta\">This recording has no pool totals (poolmon screens and !poolused give "
         "none; a live recording, !vm or a perfmon log of \\Memory\\Pool Nonpaged Bytes "
         "does).</p>";
  }
  if (!markers.empty()) {
    s += "<p class=\"meta\">Vertical marks are imported events; red ones mean pool pressure "
         "(HTTP.sys Connections_Refused: nonpaged pool fell below 20 MB). Hover for details.</p>";
  }
  return s + "</section>\n";
}

struct Grower {
  const KeyTrack* key = nullptr;
  bool bytes = false;
  double first = 0, last = 0, score = 0;
  double first_objects = 0, last_objects = 0;
  bool has_objects = false;
  double seconds = 0;
};

std::vector<Grower> top_growers(const History& h, std::size_t top) {
  std::vector<Grower> out;
  for (const KeyTrack& k : h.keys()) {
    Grower g;
    g.key = &k;
    g.bytes = k.seen_bytes;
    const detect::Series& s = g.bytes ? k.bytes : k.outstanding;
    const auto b0 = first_bucket(s), b1 = last_bucket(s);
    if (b0 < 0 || b1 <= b0) continue;
    g.first = s.mean(b0);
    g.last = s.mean(b1);
    g.seconds = h.bucket_time(b1) - h.bucket_time(b0);
    const double growth = g.last - g.first;
    if (growth <= 0) continue;
    g.score = g.bytes ? growth : growth * k.object_size.value_or(1);
    const auto o0 = first_bucket(k.outstanding), o1 = last_bucket(k.outstanding);
    if (o0 >= 0 && o1 >= 0) {
      g.has_objects = true;
      g.first_objects = k.outstanding.mean(o0);
      g.last_objects = k.outstanding.mean(o1);
    }
    out.push_back(g);
  }
  std::sort(out.begin(), out.end(), [](const Grower& a, const Grower& b) {
    if (a.score != b.score) return a.score > b.score;
    return display_key(a.key->key) < display_key(b.key->key);
  });
  if (out.size() > top) out.resize(top);
  return out;
}

std::string growers_section(const History& h, const detect::Report& r, std::size_t top) {
  std::string s = "<section id=\"growers\"><h2>Top growers</h2>";
  const auto growers = top_growers(h, top);
  if (growers.empty()) {
    return s + "<p class=\"meta\">No key grew between its first and last sample.</p></section>\n";
  }
  s += "<div class=\"wide\"><table><tr><th>Key</th><th>Pool</th><th>Owner</th><th>Objects</th>"
       "<th>Bytes</th><th>Growth</th><th>Per hour</th><th>Verdict</th><th>Series</th></tr>";
  for (const Grower& g : growers) {
    const KeyTrack& k = *g.key;
    std::string verdict = "-";
    for (const Finding& f : r.findings) {
      if (f.key == k.key && f.pool == k.pool && f.session_id == k.session_id) {
        verdict = detect::verdict_name(f.verdict);
      }
    }
    const double growth = g.last - g.first;
    const double per_hour = g.seconds > 0 ? growth / g.seconds * 3600 : 0;
    const auto value = [&](double v) { return g.bytes ? bytes_text(v) : count_text(v); };
    s += "<tr><td><b>" + e(display_key(k.key)) + "</b></td><td>" + e(pool_kind_name(k.pool)) +
         "</td><td>" + e(k.owner) + "</td><td class=\"n\">" +
         (g.has_objects ? e(count_text(g.first_objects) + " → " + count_text(g.last_objects))
                        : "-") +
         "</td><td class=\"n\">" + e(value(g.first) + " → " + value(g.last)) +
         "</td><td class=\"n\">+" + e(value(growth)) + "</td><td class=\"n\">" +
         (g.seconds > 0 ? "+" + e(value(per_hour)) + "/h" : "-") + "</td><td>" + e(verdict) +
         "</td><td>" + render_sparkline(key_points(h, k, g.bytes), 120, 28) + "</td></tr>";
  }
  s += "</table></div><p class=\"meta\">Growth from each key's first to its last sample (bucket "
       "means), "
       "largest in bytes first. A grower is not a leak by itself: caches warm up and level off; "
       "the findings below are what the detector judged.</p></section>\n";
  return s;
}

std::string finding_card(const History& h, const Finding& f, std::size_t index, const Axis& axis,
                         const std::vector<Marker>& markers) {
  const bool leak = f.verdict == detect::Verdict::kLeak;
  std::string s = fmt::format("<div class=\"card finding\" id=\"finding-{}\">", index);
  s += "<h3><span class=\"badge" + std::string(leak ? "" : " suspect") + "\">" +
       detect::verdict_name(f.verdict) + "</span> " + e(display_key(f.key)) +
       " <span class=\"meta\">" + e(pool_kind_name(f.pool));
  if (f.session_id) s += " session " + std::to_string(*f.session_id);
  if (!f.owner.empty()) s += " · owner " + e(f.owner);
  if (!f.aliases.empty()) {
    std::string aliases;
    for (const auto& a : f.aliases) aliases += (aliases.empty() ? "" : ", ") + a;
    s += " · merged: " + e(aliases);
  }
  s += "</span></h3><table class=\"facts\"><tr><th>Rate</th><td>" +
       e(detect::rate_text(f.rate_bytes_per_hour, "B"));
  if (f.rate_objects_per_hour) {
    s += " (" + e(detect::rate_text(f.rate_objects_per_hour, "")) + " objects)";
  }
  s += "</td><th>Confidence</th><td>" + fmt::format("{:.3f}", f.confidence) +
       "</td><th>Since</th><td>" + e(detect::wall_text(f.onset_wall_ns)) +
       "</td><th>Runs out</th><td>" +
       (f.exhaustion_eta_seconds ? e(detect::duration_text(*f.exhaustion_eta_seconds)) : "-") +
       "</td></tr></table>";
  s += "<p>" + e(f.explanation) + "</p>";

  // The key's series with the fitted trend and the forecast.
  const KeyTrack* k = find_key(h, f);
  const bool bytes = f.unit == "bytes";
  const double span = axis.t1 - axis.t0;
  const double last_t = seconds_of(h.last_wall_ns());
  const double onset_t = seconds_of(f.onset_wall_ns);
  const double slope =
      f.window_seconds > 0 ? (f.end_value - f.start_value) / f.window_seconds : f.trend.slope;
  double horizon = std::max(span * 0.25, 60.0);
  bool reaches_exhaustion = false;
  if (f.exhaustion_eta_seconds && *f.exhaustion_eta_seconds <= horizon) {
    horizon = std::max(*f.exhaustion_eta_seconds, 1.0);
    reaches_exhaustion = true;
  }
  Chart c;
  c.title = display_key(f.key) + " " + (bytes ? "bytes" : "outstanding objects");
  c.unit = bytes ? Unit::kBytes : Unit::kCount;
  c.t0 = axis.t0;
  c.t1 = std::max(axis.t1, last_t + horizon);
  c.forecast_from = last_t;
  c.width = kKeyWidth;
  c.height = kChartHeight;
  c.markers = markers;
  if (k) c.lines.push_back({c.title, key_points(h, *k, bytes), LineStyle::kSeries, 0});
  c.lines.push_back({"fitted trend",
                     {raw_point(onset_t, f.start_value), raw_point(last_t, f.end_value)},
                     LineStyle::kTrend,
                     0});
  if (std::isfinite(slope) && slope > 0) {
    c.lines.push_back({"forecast",
                       {raw_point(last_t, f.end_value),
                        raw_point(last_t + horizon, f.end_value + slope * horizon)},
                       LineStyle::kForecast,
                       0});
  }
  std::string caption;
  if (f.exhaustion_eta_seconds) {
    caption = "At the fitted rate the pool runs out in " +
              detect::duration_text(*f.exhaustion_eta_seconds) + " (" +
              wall_of(last_t + *f.exhaustion_eta_seconds) + ")" +
              (reaches_exhaustion ? ", where the dashed line ends" : "") + ". " + f.exhaustion_note;
  } else {
    caption = "Forecast: " + f.exhaustion_note;
  }
  s += "<div class=\"charts\">" + figure(c, caption);

  // Beside it: the culprit process's handle or fd curve.
  const detect::ProcessEvidence* p = f.processes.empty() ? nullptr : &f.processes.front();
  const auto metric = p ? metric_index(p->metric) : std::nullopt;
  const detect::ProcessTrack* track = metric ? find_process(h, *p, *metric) : nullptr;
  if (track) {
    Chart pc;
    pc.title = p->name + " (pid " + std::to_string(p->pid) + ") " + p->metric;
    pc.unit = p->metric.find("bytes") != std::string::npos ? Unit::kBytes : Unit::kCount;
    pc.t0 = axis.t0;
    pc.t1 = c.t1;
    pc.forecast_from = last_t;
    pc.width = kSideWidth;
    pc.height = kChartHeight;
    pc.markers = markers;
    pc.lines.push_back(
        {p->name + " " + p->metric, process_points(h, *track, *metric), LineStyle::kSeries, 1});
    s += figure(pc, p->evidence);
  } else {
    s += "<div class=\"nodata\">" +
         e(!h.has_process_facts()
               ? std::string("The recording has no process facts: no culprit curve (record "
                             "without --no-processes).")
               : "No process's handles or fds grew with it: a driver or the kernel itself.") +
         "</div>";
  }
  s += "</div>";
  if (!f.processes.empty()) {
    s += list(f.processes, [](const auto& proc) -> const std::string& { return proc.evidence; });
  }
  return s + "</div>";
}

const std::string& explanation(const Finding& f) {
  return f.explanation;
}

std::string findings_section(const History& h, const detect::Report& r, const Axis& axis,
                             const std::vector<Marker>& markers) {
  std::string s = "<section id=\"findings\"><h2>Findings</h2>";
  if (r.findings.empty()) {
    s += "<p>No leak and no suspect: no key's outstanding objects kept growing";
    if (h.samples() > 0) s += " over " + e(detect::duration_text(r.seconds));
    s += ". A single sample never gives a verdict; a slow leak needs a longer recording.</p>";
  }
  if (!r.incidents.empty()) {
    s += "<h3>Incidents</h3><ol>";
    for (const detect::Incident& i : r.incidents) {
      s += "<li><b>" + e(verdict_name(i.verdict)) + " " + e(display_key(r.findings[i.source].key)) +
           "</b>: " + e(i.explanation) + "</li>";
    }
    s += "</ol>";
  }
  for (std::size_t i = 0; i < r.findings.size() && i < kMaxFindingCharts; ++i) {
    s += finding_card(h, r.findings[i], i + 1, axis, markers);
  }
  if (r.findings.size() > kMaxFindingCharts) {
    s += "<p class=\"meta\">" + std::to_string(r.findings.size() - kMaxFindingCharts) +
         " more finding(s), without charts:</p>" +
         list(std::span(r.findings).subspan(kMaxFindingCharts), explanation);
  }
  if (!r.reclaimable.empty()) {
    s += "<h3>Growth in reclaimable caches (not leaks)</h3>" + list(r.reclaimable, explanation);
  }
  return s + "</section>\n";
}

std::string events_section(const ReportInput& in) {
  if (in.events.empty()) return "";
  std::string s = "<section id=\"events\"><h2>Imported events</h2>";
  struct Group {
    std::size_t n = 0;
    double first = 0, last = 0;
    bool pressure = false;
  };
  std::map<std::string, Group> groups;
  for (const ReportEvent& ev : in.events) {
    std::string what = ev.kind + ": " + ev.summary.substr(0, ev.summary.find(" ("));
    Group& g = groups[what];
    if (g.n == 0) g.first = ev.t;
    g.first = std::min(g.first, ev.t);
    g.last = std::max(g.last, ev.t);
    g.pressure = g.pressure || ev.pool_pressure;
    ++g.n;
  }
  s += "<table><tr><th>Event</th><th>Count</th><th>First</th><th>Last</th></tr>";
  for (const auto& [what, g] : groups) {
    s += "<tr><td>" + std::string(g.pressure ? "<span class=\"badge\">pool pressure</span> " : "") +
         e(what) + "</td><td class=\"n\">" + std::to_string(g.n) + "</td><td>" +
         e(wall_of(g.first)) + "</td><td>" + e(wall_of(g.last)) + "</td></tr>";
  }
  s += "</table>";
  s += "<h3 style=\"margin-top:12px\">Events";
  if (in.events.size() > kMaxEventRows) s += fmt::format(" (the first {})", kMaxEventRows);
  s += "</h3><table><tr><th>Time (UTC)</th><th>Kind</th><th>Detail</th></tr>";
  for (std::size_t i = 0; i < in.events.size() && i < kMaxEventRows; ++i) {
    const ReportEvent& ev = in.events[i];
    s += "<tr><td>" + e(wall_of(ev.t)) + "</td><td>" + e(ev.kind) + "</td><td>" +
         (ev.pool_pressure ? "<span class=\"badge\">pool pressure</span> " : "") + e(ev.summary) +
         "</td></tr>";
  }
  return s + "</table></section>\n";
}

std::string counters_section(const ReportInput& in, const Axis& axis,
                             const std::vector<Marker>& markers) {
  std::string charts;
  std::size_t n = 0, left = 0;
  for (const ReportCounter& counter : in.counters) {
    if (counter.kind == "memory_pool_nonpaged_bytes" || counter.kind == "memory_pool_paged_bytes") {
      continue;
    }
    if (n >= kMaxCounterCharts) {
      ++left;
      continue;
    }
    Chart c;
    c.title = counter.path;
    c.unit = counter.kind.find("bytes") != std::string::npos ? Unit::kBytes : Unit::kCount;
    c.t0 = axis.t0;
    c.t1 = axis.t1;
    c.width = kFullWidth / 2 - 4;
    c.height = 200;
    c.markers = markers;
    c.lines.push_back({counter.path, counter.points, LineStyle::kSeries, 4});
    charts += figure(c, counter.kind);
    ++n;
  }
  if (n == 0) return "";
  std::string s = "<section id=\"counters\"><h2>Imported counters</h2><div class=\"charts\">" +
                  charts + "</div>";
  if (left) s += fmt::format("<p class=\"meta\">{} more counter(s) not drawn.</p>", left);
  return s + "</section>\n";
}

std::string owners_section(const detect::Report& r, const ReportInput& in) {
  std::string s = "<section id=\"owners\"><h2>Owner evidence</h2>";
  if (r.findings.empty()) {
    return s + "<p class=\"meta\">No finding, so no owner to look for.</p></section>\n";
  }
  for (std::size_t i = 0; i < r.findings.size() && i < kMaxFindingCharts; ++i) {
    const Finding& f = r.findings[i];
    const std::string key = display_key(f.key);
    s += "<div class=\"card\"><h3>" + e(key) + "</h3><ul>";
    bool any = false;
    for (const OwnerEvidence& o : in.owners) {
      if (o.key != key) continue;
      for (const auto& line : o.lines) {
        s += "<li>" + e(line) + "</li>";
        any = true;
      }
    }
    if (!any) {
      s += "<li>" +
           e(f.owner.empty() ? "no owner known from this data"
                             : "owner " + f.owner + " (from the recording or the symbols)") +
           "</li>";
      if (f.key.kind == KeyKind::kPoolTag) {
        s += "<li>" +
             e("poolscope report --drivers DIR (a copy of C:\\Windows\\System32\\drivers) "
               "searches the drivers' pool calls for the tag " +
               key) +
             "</li>";
      } else {
        s += "<li>" + e("poolscope who " + f.key.name + " on the machine names its module") +
             "</li>";
      }
    }
    for (const auto& p : f.processes) s += "<li>" + e("process " + p.evidence) + "</li>";
    s += "</ul></div>";
  }
  return s + "</section>\n";
}

std::string next_section(const detect::Report& r, const ReportInput& in) {
  std::string s = "<section id=\"next\"><h2>Next steps</h2>" + list(next_steps(r, in.file));
  for (const Guidance& g : guidance(r, in.file)) {
    s += "<div class=\"card\"><h3>" + e(g.heading) + "</h3>";
    if (!g.fix.empty()) s += "<b>Fix</b>" + list(g.fix);
    s += "<b>Confirm</b>" + list(g.confirm);
    s += "<b>Send the vendor</b>" + list(g.send);
    s += "</div>";
  }
  return s + "</section>\n";
}

std::string consumers_section(const detect::Report& r) {
  if (r.top.empty()) return "";
  std::string s =
      "<section id=\"consumers\"><h2>Largest consumers now</h2><table><tr><th>Key</"
      "th><th>Pool</th><th>Owner</th><th>Outstanding</th><th>Bytes</th></tr>";
  for (const detect::Consumer& c : r.top) {
    s += "<tr><td>" + e(display_key(c.key)) + "</td><td>" + e(pool_kind_name(c.pool)) +
         "</td><td>" + e(c.owner) + "</td><td class=\"n\">" +
         (c.outstanding ? e(count_text(*c.outstanding)) : "-") + "</td><td class=\"n\">" +
         (c.bytes ? e(bytes_text(*c.bytes)) : "-") + "</td></tr>";
  }
  return s + "</table></section>\n";
}

}  // namespace

std::vector<Point> key_points(const History& history, const KeyTrack& key, bool bytes) {
  return series_points(history, bytes ? key.bytes : key.outstanding);
}

ReportEvent summarize_event(const store::Event& event) {
  ReportEvent out;
  out.t = seconds_of(event.wall_ns);
  out.kind = event.kind;
  const auto j = nlohmann::json::parse(event.detail, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    out.summary = event.detail.substr(0, 200);
    return out;
  }
  const auto text = [&](const char* field) -> std::string {
    auto it = j.find(field);
    if (it == j.end() || it->is_null()) return "";
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  out.pool_pressure = j.value("pool_pressure", false) == true;
  std::string s = text("reason");
  if (s.empty()) s = event.kind;
  std::vector<std::string> parts;
  if (auto status = text("status"); !status.empty()) parts.push_back(status);
  if (auto refused = text("refused_connections"); !refused.empty()) {
    parts.push_back(refused + " refused connection(s)");
  }
  if (auto url = text("url"); !url.empty() && url != "-") parts.push_back(url);
  if (auto file = text("file"); !file.empty()) {
    parts.push_back(file + (text("line").empty() ? "" : ":" + text("line")));
  }
  if (!parts.empty()) {
    s += " (";
    for (std::size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : "") + parts[i];
    s += ")";
  }
  if (s.size() > 300) s = s.substr(0, 297) + "...";
  out.summary = s;
  return out;
}

Result<ReportInput> load_report_input(const store::Recording& recording, std::size_t max_events,
                                      std::size_t max_points) {
  ReportInput in;
  in.file = recording.path();
  auto meta = recording.meta();
  if (!meta) return forward_error(meta);
  if (auto it = meta->find("host"); it != meta->end()) in.host = it->second;
  if (auto it = meta->find("source"); it != meta->end()) in.source = it->second;
  auto events = recording.events();
  if (!events) return forward_error(events);
  std::sort(events->begin(), events->end(),
            [](const store::Event& a, const store::Event& b) { return a.wall_ns < b.wall_ns; });
  const std::size_t from = events->size() > max_events ? events->size() - max_events : 0;
  for (std::size_t i = from; i < events->size(); ++i) {
    in.events.push_back(summarize_event((*events)[i]));
  }
  auto counters = recording.counters();
  if (!counters) return forward_error(counters);
  for (const store::CounterInfo& info : *counters) {
    auto samples = recording.counter_samples(info.id);
    if (!samples) return forward_error(samples);
    ReportCounter c{info.path, info.kind, {}};
    std::vector<Point> raw;
    raw.reserve(samples->size());
    for (const store::CounterPoint& p : *samples)
      raw.push_back(raw_point(seconds_of(p.wall_ns), p.value));
    std::sort(raw.begin(), raw.end(), [](const Point& a, const Point& b) { return a.t < b.t; });
    if (!raw.empty()) c.points = downsample(raw, raw.front().t, raw.back().t, max_points);
    in.counters.push_back(std::move(c));
  }
  return in;
}

std::string render_report(const History& h, const detect::Report& r, const ReportInput& in) {
  const Axis axis = time_axis(h, in);
  const std::vector<Marker> markers = markers_of(in);
  std::string s;
  s.reserve(1 << 20);
  s += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       // Nothing on this page may load anything: no network, whatever the input holds.
       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
       "'unsafe-inline'; img-src data:\">"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
       "<meta name=\"generator\" content=\"poolscope " +
       e(in.version) + "\"><title>poolscope report: " + e(in.file) + "</title><style>" + kStyle +
       palette_css() + "</style></head><body><main>\n";
  s += "<h1>Kernel pool report</h1><p class=\"meta\">" + e(in.file) +
       (in.generated_at.empty() ? "" : " · generated " + e(in.generated_at)) + " by poolscope " +
       e(in.version) + "</p>\n";
  s += verdict_section(h, r, in);
  s += pools_section(h, in, axis, markers);
  s += growers_section(h, r, in.top);
  s += findings_section(h, r, axis, markers);
  s += events_section(in);
  s += counters_section(in, axis, markers);
  s += owners_section(r, in);
  s += next_section(r, in);
  s += consumers_section(r);
  if (!r.notes.empty()) s += "<section id=\"notes\"><h2>Notes</h2>" + list(r.notes) + "</section>";
  s += "<footer>All times UTC. Bands show each pixel's lowest to highest sample, the line their "
       "mean; how the verdicts are reached: docs/detection.md of poolscope.</footer>";
  s += "</main></body></html>\n";
  return s;
}

}  // namespace poolscope::report
