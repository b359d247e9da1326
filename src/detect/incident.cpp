// Incidents: findings whose growth moves together are one leak, with a source among the followers
// (docs/detection.md, "Incidents").
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <span>

#include "detect/detector.h"
#include "detect/links.h"
#include "detect/output.h"
#include "detect/stats.h"

namespace poolscope::detect {

namespace {

constexpr int kMaxTerm = 4;               // ratios p/q with p, q <= 4: 1:1, 2:1, 3:2, 4:1 ...
constexpr double kRatioTolerance = 0.05;  // relative, when only the rates tie them
constexpr double kMovedTolerance = 0.10;  // when their increments also move together
constexpr double kMovesTogether = 0.6;    // correlation of the increments
constexpr double kMovesApart = 0.3;

// The growth rate grouping compares: objects where both count objects, else bytes.
std::optional<std::pair<double, double>> rates(const Finding& a, const Finding& b) {
  if (a.rate_objects_per_hour && b.rate_objects_per_hour && *a.rate_objects_per_hour > 0 &&
      *b.rate_objects_per_hour > 0) {
    return std::pair{*a.rate_objects_per_hour, *b.rate_objects_per_hour};
  }
  if (a.rate_bytes_per_hour && b.rate_bytes_per_hour && *a.rate_bytes_per_hour > 0 &&
      *b.rate_bytes_per_hour > 0) {
    return std::pair{*a.rate_bytes_per_hour, *b.rate_bytes_per_hour};
  }
  return std::nullopt;
}

// Relative distance of x from the nearest p/q (p, q <= kMaxTerm).
double rational_error(double x) {
  double best = INFINITY;
  for (int p = 1; p <= kMaxTerm; ++p) {
    for (int q = 1; q <= kMaxTerm; ++q) {
      const double r = static_cast<double>(p) / q;
      best = std::min(best, std::fabs(x - r) / r);
    }
  }
  return best;
}

double value_at(const Finding& f, double t) {
  const auto& ts = f.growth_t;
  const auto& ys = f.growth_y;
  if (t <= ts.front()) return ys.front();
  if (t >= ts.back()) return ys.back();
  const auto it = std::upper_bound(ts.begin(), ts.end(), t);
  const std::size_t i = static_cast<std::size_t>(it - ts.begin());
  const double w = (t - ts[i - 1]) / (ts[i] - ts[i - 1]);
  return ys[i - 1] + w * (ys[i] - ys[i - 1]);
}

double variation(const std::vector<double>& x) {
  const double m = std::accumulate(x.begin(), x.end(), 0.0) / x.size();
  double v = 0;
  for (double e : x) v += (e - m) * (e - m);
  return m > 0 ? std::sqrt(v / x.size()) / m : INFINITY;
}

struct Comovement {
  bool known = false;  // enough points to say
  double correlation = 0, cv_a = 0, cv_b = 0;
};

// The increments of both floors over their common window, resampled at 16 steps.
Comovement comovement(const Finding& a, const Finding& b) {
  Comovement c;
  if (a.growth_t.size() < 8 || b.growth_t.size() < 8) return c;
  const double from = std::max(a.growth_t.front(), b.growth_t.front());
  const double to = std::min(a.growth_t.back(), b.growth_t.back());
  if (!(to > from)) return c;
  constexpr int kSteps = 16;
  std::vector<double> da, db;
  double pa = value_at(a, from), pb = value_at(b, from);
  for (int i = 1; i <= kSteps; ++i) {
    const double t = from + (to - from) * i / kSteps;
    const double va = value_at(a, t), vb = value_at(b, t);
    da.push_back(va - pa);
    db.push_back(vb - pb);
    pa = va;
    pb = vb;
  }
  c.known = true;
  c.correlation = pearson(da, db);
  c.cv_a = variation(da);
  c.cv_b = variation(db);
  return c;
}

bool linked(const Finding& a, const Finding& b) {
  // Onsets within the resolution: both windows end now, so compare their lengths.
  const double longer = std::max(a.window_seconds, b.window_seconds);
  if (std::fabs(a.window_seconds - b.window_seconds) > 0.25 * longer + 1e-9) return false;
  // Lockstep in one snapshot (no rates to compare).
  if (a.lockstep_group != 0 || b.lockstep_group != 0) return a.lockstep_group == b.lockstep_group;
  // A process that explains both is the strongest tie; two different ones keep them apart.
  if (!a.processes.empty() && !b.processes.empty()) {
    return a.processes.front().pid == b.processes.front().pid;
  }
  const auto r = rates(a, b);
  if (!r) return false;
  const double err = rational_error(r->second / r->first);
  const Comovement c = comovement(a, b);
  if (c.known && c.correlation >= kMovesTogether) return err <= kMovedTolerance;
  // Both grow in bursts, and not in the same ones: two leaks.
  if (c.known && c.correlation < kMovesApart && c.cv_a > 0.5 && c.cv_b > 0.5) return false;
  return err <= kRatioTolerance;
}

std::size_t find_root(std::vector<std::size_t>& parent, std::size_t i) {
  while (parent[i] != i) i = parent[i] = parent[parent[i]];
  return i;
}

double rate_for_ratio(const Finding& f, bool objects) {
  return objects ? f.rate_objects_per_hour.value_or(0) : f.rate_bytes_per_hour.value_or(0);
}

bool one_to_one(const Finding& f) {
  return !f.processes.empty() && f.processes.front().objects_per_unit >= 0.75 &&
         f.processes.front().objects_per_unit <= 1.34;
}

// Keeps the candidates that pass, when that tells them apart (some pass, not all); returns
// whether it did.
template <typename Pred>
bool narrow(std::vector<std::size_t>& candidates, Pred pass) {
  std::vector<std::size_t> kept;
  for (std::size_t c : candidates)
    if (pass(c)) kept.push_back(c);
  if (kept.empty() || kept.size() == candidates.size()) return false;
  candidates = std::move(kept);
  return true;
}

std::string join_keys(const Report& r, const std::vector<std::size_t>& idx, std::size_t skip) {
  std::string out;
  for (std::size_t i : idx) {
    if (i == skip) continue;
    if (!out.empty()) out += ", ";
    out += display_key(r.findings[i].key);
  }
  return out;
}

// Chooses the source among the members and says why.
std::pair<std::size_t, std::string> choose_source(const Report& r,
                                                  const std::vector<std::size_t>& members) {
  std::vector<std::size_t> c = members;
  std::vector<std::string> why;
  auto f = [&](std::size_t i) -> const Finding& { return r.findings[i]; };
  if (narrow(c, [&](std::size_t i) { return f(i).zero_frees; })) {
    why.push_back("it allocates and never frees while the others free");
  }
  if (c.size() > 1) {
    const auto kernel = std::find_if(members.begin(), members.end(),
                                     [&](std::size_t i) { return kernel_owned(f(i).owner); });
    if (kernel != members.end() &&
        narrow(c, [&](std::size_t i) { return !kernel_owned(f(i).owner); })) {
      why.push_back(fmt::format("its owner is not the kernel itself, as {}'s is ({})",
                                display_key(f(*kernel).key), f(*kernel).owner));
    }
  }
  if (c.size() > 1 && narrow(c, [&](std::size_t i) { return one_to_one(f(i)); })) {
    const ProcessEvidence& p = f(c.front()).processes.front();
    why.push_back(
        fmt::format("{} (pid {})'s {} growth explains it one to one", p.name, p.pid, p.metric));
  }
  if (c.size() > 1) {
    const std::int64_t first =
        f(*std::min_element(c.begin(), c.end(), [&](std::size_t a, std::size_t b) {
          return f(a).onset_bucket < f(b).onset_bucket;
        })).onset_bucket;
    // Earlier by more than one bucket: a real lead, not rounding.
    const bool lead = std::all_of(c.begin(), c.end(), [&](std::size_t i) {
      return f(i).onset_bucket == first || f(i).onset_bucket > first + 1;
    });
    if (lead && narrow(c, [&](std::size_t i) { return f(i).onset_bucket == first; })) {
      why.push_back("it grew first");
    }
  }
  if (c.size() > 1) {
    std::stable_sort(c.begin(), c.end(), [&](std::size_t a, std::size_t b) {
      return f(a).rate_bytes_per_hour.value_or(0) > f(b).rate_bytes_per_hour.value_or(0);
    });
    why.push_back("nothing else tells them apart: it grows the most in bytes");
  }
  std::string reason;
  for (std::size_t i = 0; i < why.size(); ++i) reason += (i ? "; " : "") + why[i];
  return {c.front(), reason};
}

}  // namespace

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = x.size();
  if (n < 3) return 0;
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0;
}

std::vector<std::string> finding_next_steps(const Finding& f, const std::string& recording_path) {
  std::vector<std::string> out;
  const std::string key = display_key(f.key);
  if (f.verdict == Verdict::kSuspect) {
    out.push_back(key + " is a suspect only: keep recording to confirm (poolscope leaks " +
                  recording_path + " later, or poolscope watch).");
    return out;
  }
  if (!f.processes.empty() && f.processes.front().pid == kSystemPid &&
      f.key.kind == KeyKind::kPoolTag) {
    const auto& p = f.processes.front();
    out.push_back(key + ": System (pid 4) holds ever more " + metric_plural(p.metric, 2) +
                  ": the references are the kernel's or a driver's, not an application's. Find "
                  "the driver: poolscope who " +
                  key + " (restarting System is a reboot, which only postpones the exhaustion).");
    return out;
  }
  if (!f.processes.empty()) {
    const auto& p = f.processes.front();
    std::string line = key + ": process " + p.name + " (pid " + std::to_string(p.pid) +
                       ") holds ever more " + metric_plural(p.metric, 2) + ". Check it";
    if (f.key.kind == KeyKind::kSlabCache) {
      line += " (ls -l /proc/" + std::to_string(p.pid) + "/fd)";
    } else {
      line += " (handle counts in Task Manager / Process Explorer)";
    }
    line += "; restarting it frees what it holds, fixing it stops the leak.";
    out.push_back(line);
    return out;
  }
  if (f.census) {
    out.push_back(key + ": " + f.census->text +
                  ". Something holds references to them: find the driver or module that does "
                  "(poolscope who " +
                  key + "; update the drivers that take such references, e.g. display drivers).");
    return out;
  }
  if (f.key.kind == KeyKind::kSlabCache) {
    if (f.key.name.starts_with("kmalloc-") || f.key.name.starts_with("dma-kmalloc-")) {
      out.push_back(key +
                    " is a generic kmalloc cache shared by many callers: `poolscope trace "
                    "--cache " +
                    f.key.name +
                    "` as root names the call sites that hold its objects. Without tracing: "
                    "boot with slub_debug=U," +
                    f.key.name +
                    " (SLUB user tracking, a reboot) and read /sys/kernel/debug/slab/" +
                    f.key.name + "/alloc_traces (debugfs, Linux 5.14+; /sys/kernel/slab/" +
                    f.key.name + "/alloc_calls before 5.14).");
    } else {
      out.push_back(key + ": `poolscope who " + f.key.name +
                    "` names the module that owns it; a kernel or module update is the fix, "
                    "unloading the module frees it.");
    }
  } else {
    // poolscope's own trace first: the ETW pool events of this tag, by call site and driver.
    const std::string confirm = "`poolscope trace --tag " + key +
                                " --duration 60s` as Administrator on the leaking machine shows "
                                "the call sites still holding its allocations";
    const std::string driver = owner_driver(f.owner);
    if (!driver.empty()) {
      out.push_back(key + " is " + driver + "'s (the owner above): " + confirm +
                    "; update or remove " + driver +
                    " and send its vendor this report. Driver Verifier's pool tracking "
                    "(verifier /flags 0x8 /driver " +
                    driver + ") confirms it too.");
    } else {
      out.push_back(key + ": `poolscope who " + key +
                    "` on that Windows machine names the driver (it searches the loaded drivers "
                    "and System32\\drivers; elsewhere add --drivers DIR with a copy of them); " +
                    confirm + ". Update or remove the driver and send its vendor this report.");
    }
  }
  return out;
}

std::string owner_driver(const std::string& owner) {
  std::size_t begin = 0;
  while (begin < owner.size()) {
    const std::size_t end = owner.find_first_of(" ,;[]()\t", begin);
    const std::string word = owner.substr(begin, end == std::string::npos ? end : end - begin);
    if (word.size() > 4 && word.ends_with(".sys")) return word;
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return {};
}

std::vector<std::string> incident_next_steps(const Report& r, const Incident& in,
                                             const std::string& recording_path) {
  std::vector<std::string> out = finding_next_steps(r.findings[in.source], recording_path);
  if (in.members.size() > 1) {
    std::vector<std::size_t> idx;
    for (const IncidentMember& m : in.members) idx.push_back(m.finding);
    out.push_back("The others (" + join_keys(r, idx, in.source) + ") follow " +
                  display_key(r.findings[in.source].key) +
                  ": they stop growing when it does; chase it, not them.");
  }
  return out;
}

void group_incidents(Report& r) {
  r.incidents.clear();
  const std::size_t n = r.findings.size();
  std::vector<std::size_t> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      if (find_root(parent, i) == find_root(parent, j)) continue;
      if (linked(r.findings[i], r.findings[j])) parent[find_root(parent, j)] = find_root(parent, i);
    }
  }
  // Components in the order of their first finding (leaks first, by bytes rate).
  std::map<std::size_t, std::vector<std::size_t>> groups;
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t root = find_root(parent, i);
    if (!groups.contains(root)) order.push_back(root);
    groups[root].push_back(i);
  }
  for (std::size_t root : order) {
    const std::vector<std::size_t>& members = groups[root];
    Incident in;
    in.id = r.incidents.size() + 1;
    auto [source, reason] = choose_source(r, members);
    in.source = source;
    in.source_reason = members.size() > 1 ? reason : "";
    const Finding& s = r.findings[source];
    const bool objects = std::all_of(members.begin(), members.end(), [&](std::size_t i) {
      return r.findings[i].rate_objects_per_hour.value_or(0) > 0;
    });
    const double base = rate_for_ratio(s, objects);
    in.members.push_back({source, 1.0});
    for (std::size_t i : members) {
      if (i == source) continue;
      const double ri = rate_for_ratio(r.findings[i], objects);
      // One snapshot has no rates: the held counts give the ratio.
      const Finding& fi = r.findings[i];
      in.members.push_back({i, base > 0          ? ri / base
                               : s.end_value > 0 ? fi.end_value / s.end_value
                                                 : 0});
    }
    in.verdict = Verdict::kSuspect;
    // Memory and room by what runs out: a Windows pool, or (Linux) available memory.
    std::map<int, std::pair<double, double>> by_pool;  // pool -> (bytes rate, room)
    double total_rate = 0;
    bool any_rate = false;
    for (std::size_t i : members) {
      Finding& f = r.findings[i];
      f.incident = in.id;
      if (f.verdict == Verdict::kLeak) in.verdict = Verdict::kLeak;
      if (f.rate_bytes_per_hour) {
        any_rate = true;
        total_rate += *f.rate_bytes_per_hour;
        const bool windows = f.pool == PoolKind::kPaged || f.pool == PoolKind::kNonPaged ||
                             f.pool == PoolKind::kSession;
        auto& [rate, room] = by_pool[windows ? static_cast<int>(f.pool) : -1];
        rate += std::max(0.0, *f.rate_bytes_per_hour);
        if (f.exhaustion_eta_seconds && std::isfinite(*f.exhaustion_eta_seconds)) {
          room = *f.exhaustion_eta_seconds * *f.rate_bytes_per_hour / 3600;
        }
      }
      // Each member's first culprit: a second one named on a shared key (filp under two leakers)
      // belongs to the other leaker's incident.
      for (const ProcessEvidence& p : std::span(f.processes).first(f.processes.empty() ? 0 : 1)) {
        auto it = std::find_if(in.processes.begin(), in.processes.end(),
                               [&](const ProcessEvidence& q) { return q.pid == p.pid; });
        if (it == in.processes.end()) {
          in.processes.push_back(p);
        } else if (p.correlation > it->correlation + 0.02) {
          *it = p;
        }
      }
    }
    if (any_rate) in.rate_bytes_per_hour = total_rate;
    for (const auto& [pool, rr] : by_pool) {
      const auto& [rate, room] = rr;
      if (rate <= 0 || room <= 0) continue;
      const double eta = room / (rate / 3600);
      if (!in.exhaustion_eta_seconds || eta < *in.exhaustion_eta_seconds) {
        in.exhaustion_eta_seconds = eta;
      }
    }
    if (!in.exhaustion_eta_seconds) in.exhaustion_eta_seconds = s.exhaustion_eta_seconds;
    std::sort(in.processes.begin(), in.processes.end(),
              [](const ProcessEvidence& a, const ProcessEvidence& b) {
                return a.correlation > b.correlation;
              });
    if (members.size() == 1) {
      in.explanation = s.explanation;
    } else {
      std::string followers;
      for (std::size_t k = 1; k < in.members.size(); ++k) {
        followers += fmt::format("{}{}: {:.2f} per {}", k > 1 ? ", " : "",
                                 display_key(r.findings[in.members[k].finding].key),
                                 in.members[k].ratio, display_key(s.key));
      }
      in.explanation =
          fmt::format("{} keys {}, one leak: {} is the source ({}); {}. {}", members.size(),
                      s.lockstep_group ? "held in lockstep" : "grow together", display_key(s.key),
                      in.source_reason, followers, s.explanation);
    }
    in.next_steps = incident_next_steps(r, in, "the recording");
    r.incidents.push_back(std::move(in));
  }
  std::stable_sort(r.incidents.begin(), r.incidents.end(),
                   [](const Incident& a, const Incident& b) {
                     return a.verdict != b.verdict && a.verdict == Verdict::kLeak;
                   });
  for (std::size_t k = 0; k < r.incidents.size(); ++k) {
    r.incidents[k].id = k + 1;
    for (const IncidentMember& m : r.incidents[k].members) r.findings[m.finding].incident = k + 1;
  }
}

}  // namespace poolscope::detect
