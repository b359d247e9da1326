#include "detect/output.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "core/time_format.h"

namespace poolscope::detect {

std::string wrap_text(std::string_view text, std::size_t width, std::string_view indent) {
  std::string out, line;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(start, end - start);
    start = end + 1;
    if (word.empty()) continue;
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = std::string(indent);
    } else if (!line.empty() && line != indent) {
      line += ' ';
    }
    line += word;
  }
  if (!line.empty()) out += line + "\n";
  return out;
}

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds)) return "never";
  if (seconds < 0) seconds = 0;
  const auto s = static_cast<long long>(std::llround(seconds));
  if (s < 120) return fmt::format("{}s", s);
  if (s < 7200) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 2 * 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string wall_text(std::int64_t wall_ns) {
  return format_utc(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(wall_ns))));
}

namespace {

// Divides by the scale (not multiplies by the unit) so the result is the double nearest the
// decimal, which JSON prints short: 4097111.3, not 4097111.3000000003.
double round_to(double v, double unit) {
  const double scale = std::round(1 / unit);
  return std::round(v * scale) / scale;
}

nlohmann::ordered_json processes_json(const std::vector<ProcessEvidence>& processes) {
  nlohmann::ordered_json procs = nlohmann::ordered_json::array();
  for (const ProcessEvidence& p : processes) {
    procs.push_back({{"pid", p.pid},
                     {"name", p.name},
                     {"evidence", p.evidence},
                     {"metric", p.metric},
                     {"growth", p.growth},
                     {"seconds", round_to(p.seconds, 0.1)},
                     {"correlation", round_to(p.correlation, 0.001)},
                     {"objects_per_unit", round_to(p.objects_per_unit, 0.001)}});
    if (p.fd_limit_eta_seconds && std::isfinite(*p.fd_limit_eta_seconds)) {
      procs.back()["fd_limit"] = *p.fd_limit;
      procs.back()["fd_limit_eta_seconds"] = std::llround(*p.fd_limit_eta_seconds);
    }
  }
  return procs;
}

}  // namespace

std::string rate_text(const std::optional<double>& per_hour, const char* unit) {
  if (!per_hour) return "-";
  const double v = *per_hour;
  if (std::string_view(unit) == "B") {
    const double a = std::fabs(v);
    const std::string sign = v < 0 ? "-" : "";
    if (a >= 1024.0 * 1024 * 1024)
      return fmt::format("{}{:.1f} GiB/h", sign, a / (1024.0 * 1024 * 1024));
    if (a >= 1024.0 * 1024) return fmt::format("{}{:.1f} MiB/h", sign, a / (1024.0 * 1024));
    if (a >= 1024.0) return fmt::format("{}{:.1f} KiB/h", sign, a / 1024.0);
    return fmt::format("{}{:.0f} B/h", sign, v);
  }
  // Objects per hour with thousands separators, like every count in a table ("4,307/h").
  const auto rounded = std::llround(std::fabs(v));
  if (rounded == 0) return "0/h";
  return (v < 0 ? "-" : "") + thousands(static_cast<std::uint64_t>(rounded)) + "/h";
}

nlohmann::ordered_json finding_json(const Finding& f) {
  nlohmann::ordered_json j;
  j["key"] = display_key(f.key);
  j["pool"] = pool_kind_name(f.pool);
  if (f.session_id) j["session"] = *f.session_id;
  if (!f.owner.empty()) j["owner"] = f.owner;
  if (!f.aliases.empty()) j["aliases"] = f.aliases;
  j["verdict"] = verdict_name(f.verdict);
  j["rate_bytes_per_hour"] = f.rate_bytes_per_hour
                                 ? nlohmann::ordered_json(round_to(*f.rate_bytes_per_hour, 0.1))
                                 : nullptr;
  j["rate_objects_per_hour"] =
      f.rate_objects_per_hour ? nlohmann::ordered_json(round_to(*f.rate_objects_per_hour, 0.01))
                              : nullptr;
  j["onset"] = wall_text(f.onset_wall_ns);
  j["confidence"] = round_to(f.confidence, 0.0001);
  j["exhaustion_eta_seconds"] =
      f.exhaustion_eta_seconds && std::isfinite(*f.exhaustion_eta_seconds)
          ? nlohmann::ordered_json(std::llround(*f.exhaustion_eta_seconds))
          : nullptr;
  j["exhaustion_note"] = f.exhaustion_note;
  if (f.pressure_eta_seconds && std::isfinite(*f.pressure_eta_seconds)) {
    j["pressure_eta_seconds"] = std::llround(*f.pressure_eta_seconds);
  }
  if (f.fd_wall_eta_seconds && std::isfinite(*f.fd_wall_eta_seconds)) {
    j["fd_wall_eta_seconds"] = std::llround(*f.fd_wall_eta_seconds);
    j["fd_wall"] = f.fd_wall_note;
  }
  j["processes"] = processes_json(f.processes);
  j["explanation"] = f.explanation;
  j["unit"] = f.unit;
  j["start"] = std::llround(f.start_value);
  j["end"] = std::llround(f.end_value);
  j["window_seconds"] = round_to(f.window_seconds, 0.1);
  if (f.incident) j["incident"] = f.incident;
  if (f.zero_frees) j["zero_frees"] = true;
  if (f.census) {
    const Census& c = *f.census;
    j["census"] = {{"owner_kind", c.owner_kind},
                   {"objects", std::llround(c.objects)},
                   {"owners", std::llround(c.owners)},
                   {"gap", std::llround(c.gap)},
                   {"gap_rate_per_hour", c.gap_rate_per_hour ? nlohmann::ordered_json(round_to(
                                                                   *c.gap_rate_per_hour, 0.01))
                                                             : nullptr},
                   {"text", c.text}};
  }
  j["trend"] = {{"sparse", f.trend.sparse},
                {"z", round_to(f.trend.z, 0.01)},
                {"autocorrelation", round_to(f.trend.autocorrelation, 0.001)},
                {"second_half_ratio", round_to(f.trend.second_half_ratio, 0.001)},
                {"above_noise", f.trend.above_noise},
                {"persistent", f.trend.persistent}};
  return j;
}

nlohmann::ordered_json incident_json(const Report& r, const Incident& in) {
  nlohmann::ordered_json j;
  j["id"] = in.id;
  j["source"] = display_key(r.findings[in.source].key);
  nlohmann::ordered_json members = nlohmann::ordered_json::array();
  for (const IncidentMember& m : in.members) {
    const Finding& f = r.findings[m.finding];
    members.push_back({{"key", display_key(f.key)},
                       {"pool", pool_kind_name(f.pool)},
                       {"ratio", round_to(m.ratio, 0.001)}});
  }
  j["members"] = std::move(members);
  j["verdict"] = verdict_name(in.verdict);
  j["rate_bytes_per_hour"] = in.rate_bytes_per_hour
                                 ? nlohmann::ordered_json(round_to(*in.rate_bytes_per_hour, 0.1))
                                 : nullptr;
  j["exhaustion_eta_seconds"] =
      in.exhaustion_eta_seconds && std::isfinite(*in.exhaustion_eta_seconds)
          ? nlohmann::ordered_json(std::llround(*in.exhaustion_eta_seconds))
          : nullptr;
  j["processes"] = processes_json(in.processes);
  if (!in.source_reason.empty()) j["source_reason"] = in.source_reason;
  j["explanation"] = in.explanation;
  j["next_steps"] = in.next_steps;
  return j;
}

nlohmann::ordered_json report_json(const Report& r) {
  nlohmann::ordered_json j;
  nlohmann::ordered_json incidents = nlohmann::ordered_json::array();
  for (const Incident& in : r.incidents) incidents.push_back(incident_json(r, in));
  j["incidents"] = std::move(incidents);
  nlohmann::ordered_json findings = nlohmann::ordered_json::array();
  for (const Finding& f : r.findings) findings.push_back(finding_json(f));
  j["findings"] = std::move(findings);
  j["samples"] = r.samples;
  j["seconds"] = round_to(r.seconds, 0.001);
  j["from"] = r.samples ? nlohmann::ordered_json(wall_text(r.first_wall_ns)) : nullptr;
  j["to"] = r.samples ? nlohmann::ordered_json(wall_text(r.last_wall_ns)) : nullptr;
  j["process_facts"] = r.process_facts;
  nlohmann::ordered_json reclaimable = nlohmann::ordered_json::array();
  for (const Finding& f : r.reclaimable) {
    reclaimable.push_back(
        {{"key", display_key(f.key)},
         {"pool", pool_kind_name(f.pool)},
         {"rate_objects_per_hour",
          f.rate_objects_per_hour ? nlohmann::ordered_json(round_to(*f.rate_objects_per_hour, 0.01))
                                  : nullptr},
         {"explanation", f.explanation}});
  }
  j["reclaimable_growth"] = std::move(reclaimable);
  nlohmann::ordered_json top = nlohmann::ordered_json::array();
  for (const Consumer& c : r.top) {
    nlohmann::ordered_json e{{"key", display_key(c.key)}, {"pool", pool_kind_name(c.pool)}};
    if (!c.owner.empty()) e["owner"] = c.owner;
    if (c.outstanding) e["outstanding"] = std::llround(*c.outstanding);
    if (c.bytes) e["bytes"] = std::llround(*c.bytes);
    top.push_back(std::move(e));
  }
  j["top_consumers"] = std::move(top);
  j["zero_frees"] = r.zero_frees;
  j["notes"] = r.notes;
  return j;
}

std::string report_text(const Report& r) {
  std::string out;
  out += fmt::format("{} sample(s) over {}", r.samples, duration_text(r.seconds));
  if (r.samples)
    out += fmt::format(" ({} .. {})", wall_text(r.first_wall_ns), wall_text(r.last_wall_ns));
  out += r.process_facts ? ", with process facts\n" : ", without process facts\n";
  for (const std::string& n : r.notes) out += "note: " + n + "\n";
  out += "\n";
  if (r.findings.empty()) {
    out += "No leak found: no key kept growing.\n";
  } else {
    std::string keys;
    keys +=
        fmt::format("{:>3} {:<8} {:<24} {:<13} {:>14} {:>12} {:>6} {:>10}  {}\n", "INC", "VERDICT",
                    "KEY", "POOL", "BYTES/H", "OBJECTS/H", "CONF", "RUNS OUT", "SINCE");
    for (const Finding& f : r.findings) {
      keys += fmt::format("{:>3} {:<8} {:<24} {:<13} {:>14} {:>12} {:>6.3f} {:>10}  {}\n",
                          f.incident, verdict_name(f.verdict), display_key(f.key),
                          pool_kind_name(f.pool), rate_text(f.rate_bytes_per_hour, "B"),
                          rate_text(f.rate_objects_per_hour, "o"), f.confidence,
                          f.exhaustion_eta_seconds ? duration_text(*f.exhaustion_eta_seconds) : "-",
                          wall_text(f.onset_wall_ns));
    }
    out += fmt::format("{} incident(s) in {} key(s)\n\n", r.incidents.size(), r.findings.size());
    for (const Incident& in : r.incidents) {
      const Finding& src = r.findings[in.source];
      if (in.members.size() == 1) {
        out += fmt::format("incident {}: {} {}: {}\n", in.id, verdict_name(src.verdict),
                           display_key(src.key), src.explanation);
      } else {
        out += fmt::format("incident {}: {} in {} keys, source {}: {}\n", in.id,
                           verdict_name(in.verdict), in.members.size(), display_key(src.key),
                           in.explanation);
      }
      if (!src.owner.empty()) out += "  owner: " + src.owner + "\n";
      // One slab cache under several names (SLUB merging): the names a reader may know it by.
      if (!src.aliases.empty()) {
        out +=
            fmt::format("  {} (merged: {})\n", display_key(src.key), fmt::join(src.aliases, ", "));
      }
      if (src.zero_frees) out += "  never frees: allocations grew, frees did not\n";
      if (src.census) out += "  census: " + src.census->text + "\n";
      out += "  forecast: ";
      out += in.exhaustion_eta_seconds && std::isfinite(*in.exhaustion_eta_seconds)
                 ? fmt::format("runs out in {} ({}{})", duration_text(*in.exhaustion_eta_seconds),
                               src.exhaustion_note,
                               in.members.size() > 1 ? ", all members together" : "")
                 : src.exhaustion_note;
      out += "\n";
      for (const ProcessEvidence& p : in.processes) out += "  process: " + p.evidence + "\n";
      for (const std::string& step : in.next_steps) out += "  next: " + step + "\n";
    }
    out += "\nKeys (INC: the incident each belongs to):\n" + keys;
  }
  if (!r.zero_frees.empty()) {
    out += "\nNever freed (allocations without a single free):";
    for (std::size_t i = 0; i < r.zero_frees.size() && i < 20; ++i) out += " " + r.zero_frees[i];
    if (r.zero_frees.size() > 20) out += fmt::format(" and {} more", r.zero_frees.size() - 20);
    out += "\n";
  }
  if (!r.reclaimable.empty()) {
    out += "\nGrowth in reclaimable caches (not leaks):\n";
    for (const Finding& f : r.reclaimable) out += "  " + f.explanation + "\n";
  }
  if (!r.top.empty()) {
    out += "\nLargest consumers now:\n";
    // OWNER as in snapshot/top: shown when anything named one (kallsyms/sysfs facts on Linux,
    // --pooltag/--drivers on Windows), "-" for the keys nothing names.
    const bool owners =
        std::any_of(r.top.begin(), r.top.end(), [](const Consumer& c) { return !c.owner.empty(); });
    const auto line = [owners](std::string_view key, std::string_view pool,
                               std::string_view outstanding, std::string_view bytes,
                               std::string_view owner) {
      std::string text =
          fmt::format("  {:<24} {:<13} {:>14} {:>14}", key, pool, outstanding, bytes);
      if (owners) text += fmt::format("  {}", owner);
      return text + "\n";
    };
    out += line("KEY", "POOL", "OUTSTANDING", "BYTES", "OWNER");
    for (const Consumer& c : r.top) {
      out += line(display_key(c.key), pool_kind_name(c.pool),
                  c.outstanding ? thousands(static_cast<std::uint64_t>(
                                      std::max<long long>(0, std::llround(*c.outstanding))))
                                : "-",
                  c.bytes ? human_bytes(static_cast<std::uint64_t>(*c.bytes)) : "-",
                  c.owner.empty() ? "-" : c.owner);
    }
  }
  return out;
}

}  // namespace poolscope::detect
