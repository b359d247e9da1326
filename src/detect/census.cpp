// The census: a key's objects against the OS's count of the things they belong to
// (docs/detection.md, "Census").
#include "detect/census.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/time_format.h"
#include "detect/links.h"
#include "detect/output.h"

namespace poolscope::detect {

namespace {

// The binary pooltag.txt names in an owner text ("Io work items , Binary: nt!io" -> "nt!io"), or
// "" when there is none or it is the kernel itself (nt!..., hal.dll): the kernel's components
// have tags of very different sizes by nature, so a peer comparison says nothing there.
std::string pooltag_binary(std::string_view owner) {
  const auto at = owner.find("Binary:");
  if (at == std::string_view::npos) return {};
  std::string_view b = owner.substr(at + 7);
  while (!b.empty() && b.front() == ' ') b.remove_prefix(1);
  while (!b.empty() && (b.back() == ' ' || b.back() == '\r')) b.remove_suffix(1);
  if (b.empty() || b.starts_with("nt!") || b.starts_with("hal")) return {};
  return std::string(b);
}

}  // namespace

namespace {

std::optional<double> newest_at_or_before(const Series& s, std::int64_t bucket) {
  if (s.empty()) return std::nullopt;
  const std::int64_t end = s.first_bucket() + static_cast<std::int64_t>(s.size()) - 1;
  for (std::int64_t b = std::min(bucket, end); b >= s.first_bucket(); --b) {
    if (s.has(b)) return s.last(b);
  }
  return std::nullopt;
}

std::string count_text(double v) {
  const long long n = std::llround(v);
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

// Objects of the key at the last bucket (floor-free: the newest value).
std::optional<double> objects_last(const KeyTrack& k, std::int64_t last) {
  if (!k.seen_outstanding) return std::nullopt;
  return newest_at_or_before(k.outstanding, last);
}

}  // namespace

std::optional<Census> census_for(const History& h, const KeyTrack& k, const Finding* finding) {
  const CensusPair* pair = census_pair(k.key);
  if (!pair) return std::nullopt;
  const auto it = h.owner_counts().find(std::string(pair->owner_kind));
  if (it == h.owner_counts().end()) return std::nullopt;
  const std::int64_t last = h.buckets() - 1;
  const auto objects = objects_last(k, last);
  const auto owners = newest_at_or_before(it->second, last);
  if (!objects || !owners) return std::nullopt;
  Census c;
  c.owner_kind = std::string(pair->owner_kind);
  c.objects = *objects;
  c.owners = *owners;
  c.gap = c.objects - c.owners;
  if (finding && finding->window_seconds > 0) {
    const auto objects_then = newest_at_or_before(k.outstanding, finding->onset_bucket);
    const auto owners_then = newest_at_or_before(it->second, finding->onset_bucket);
    if (objects_then && owners_then) {
      c.gap_rate_per_hour = ((c.objects - *objects_then) - (c.owners - *owners_then)) /
                            finding->window_seconds * 3600;
    }
  }
  if (c.gap_rate_per_hour && *c.gap_rate_per_hour > 0) {
    c.text = fmt::format(
        "{} {} outlive their {}: {} {} against {} {}, the gap growing {}/h while the {} {}",
        count_text(c.gap), pair->what, pair->owner_kind, count_text(c.objects), pair->what,
        count_text(c.owners), pair->owner_kind, count_text(*c.gap_rate_per_hour), pair->owner_kind,
        *c.gap_rate_per_hour * 0.9 <= finding->rate_objects_per_hour.value_or(0)
            ? "stay about level"
            : "grow too");
  } else {
    c.text = fmt::format("{} {} against {} {} (gap {})", count_text(c.objects), pair->what,
                         count_text(c.owners), pair->owner_kind, count_text(c.gap));
  }
  return c;
}

void add_census(const History& h, Report& r) {
  const std::vector<KeyTrack>& keys = h.keys();
  for (const KeyTrack& k : keys) {
    if (!census_pair(k.key) || !k.present_last) continue;
    auto f = std::find_if(r.findings.begin(), r.findings.end(), [&](const Finding& x) {
      return x.key == k.key && x.pool == k.pool && x.session_id == k.session_id;
    });
    if (f != r.findings.end()) {
      f->census = census_for(h, k, &*f);
      if (f->census && f->census->gap_rate_per_hour && *f->census->gap_rate_per_hour > 0 &&
          f->processes.empty()) {
        f->explanation += "; " + f->census->text + ": something holds references to them";
      }
      continue;
    }
    // Not growing: a gap far beyond what the owners explain is a suspect by itself.
    const CensusPair* pair = census_pair(k.key);
    auto c = census_for(h, k, nullptr);
    if (!c || !pair->exact || c->gap < 1000 || c->objects < 3 * c->owners) continue;
    Finding s;
    s.key = k.key;
    s.pool = k.pool;
    s.session_id = k.session_id;
    s.owner = k.owner;
    s.verdict = Verdict::kSuspect;
    s.start_value = s.end_value = c->objects;
    s.onset_wall_ns = h.last_wall_ns();
    s.onset_bucket = h.buckets() - 1;
    s.exhaustion_note = "no growth measured: no forecast";
    s.explanation = fmt::format(
        "{}: {} {} outlive their {}, {} times as many objects as owners; something holds "
        "references to exited ones (one snapshot shows the gap, a recording shows whether it "
        "grows)",
        display_key(k.key), count_text(c->gap), pair->what, pair->owner_kind,
        count_text(c->objects / std::max(1.0, c->owners)));
    c->text = s.explanation;
    s.census = std::move(c);
    r.findings.push_back(std::move(s));
  }
}

void add_snapshot_evidence(const History& h, Report& r) {
  const std::vector<KeyTrack>& keys = h.keys();
  for (const KeyTrack& k : keys) {
    if (!k.zero_frees()) continue;
    r.zero_frees.push_back(display_key(k.key));
    for (Finding& f : r.findings) {
      if (f.key == k.key && f.pool == k.pool) f.zero_frees = true;
    }
  }
  if (h.samples() != 1) return;
  const std::int64_t last = h.buckets() - 1;
  struct Row {
    const KeyTrack* k;
    double objects, bytes;
  };
  std::vector<Row> rows;
  std::map<PoolKind, double> pool_bytes;
  for (const KeyTrack& k : keys) {
    if (!k.present_last) continue;
    const double objects =
        k.seen_outstanding && k.outstanding.has(last) ? k.outstanding.last(last) : 0;
    const double bytes = k.seen_bytes && k.bytes.has(last) ? k.bytes.last(last) : 0;
    pool_bytes[k.pool] += bytes;
    rows.push_back({&k, objects, bytes});
  }
  auto suspect = [&](const Row& row, std::string why) -> Finding& {
    Finding f;
    f.key = row.k->key;
    f.pool = row.k->pool;
    f.session_id = row.k->session_id;
    f.owner = row.k->owner;
    f.aliases = row.k->aliases;
    f.verdict = Verdict::kSuspect;
    f.start_value = f.end_value = row.k->seen_outstanding ? row.objects : row.bytes;
    f.unit = row.k->seen_outstanding ? "objects" : "bytes";
    f.onset_wall_ns = h.last_wall_ns();
    f.onset_bucket = last;
    f.zero_frees = row.k->zero_frees();
    f.exhaustion_note = "one snapshot: no rate, no forecast";
    f.explanation = std::move(why) +
                    " (one snapshot shows what is held now, not whether it grows: a second "
                    "snapshot later, or a recording, tells a leak from a large steady cache)";
    r.findings.push_back(std::move(f));
    return r.findings.back();
  };
  auto has_finding = [&](const KeyTrack& k) {
    return std::any_of(r.findings.begin(), r.findings.end(),
                       [&](const Finding& f) { return f.key == k.key && f.pool == k.pool; });
  };
  // Lockstep pairs: two keys with near-equal huge counts are allocated together (one object
  // each per operation), and no steady cache does that by chance.
  constexpr double kHuge = 100'000, kNear = 0.001, kBig = 64.0 * 1024 * 1024;
  std::vector<Row> huge;
  for (const Row& row : rows)
    if (row.objects >= kHuge) huge.push_back(row);
  std::sort(huge.begin(), huge.end(),
            [](const Row& a, const Row& b) { return a.objects < b.objects; });
  std::size_t group = 0;
  for (std::size_t i = 0; i + 1 < huge.size(); ++i) {
    const Row &a = huge[i], &b = huge[i + 1];
    if ((b.objects - a.objects) > kNear * b.objects || a.bytes + b.bytes < kBig) continue;
    if (has_finding(*a.k) || has_finding(*b.k)) continue;
    ++group;
    const std::string pair = fmt::format(
        "{} holds {} objects ({}) and {} {} ({}): counts within "
        "{:.2f}% of each other, a lockstep pair",
        display_key(a.k->key), count_text(a.objects),
        human_bytes(static_cast<std::uint64_t>(a.bytes)), display_key(b.k->key),
        count_text(b.objects), human_bytes(static_cast<std::uint64_t>(b.bytes)),
        100 * (b.objects - a.objects) / b.objects);
    suspect(a, pair).lockstep_group = group;
    suspect(b, pair).lockstep_group = group;
  }
  // A key holding most of its pool.
  for (const Row& row : rows) {
    const double total = pool_bytes[row.k->pool];
    if (row.bytes < kBig || row.bytes < 0.5 * total || has_finding(*row.k)) continue;
    suspect(row,
            fmt::format("{} holds {} of {} ({:.0f}% of the {} pool in this snapshot)",
                        display_key(row.k->key), human_bytes(static_cast<std::uint64_t>(row.bytes)),
                        human_bytes(static_cast<std::uint64_t>(total)), 100 * row.bytes / total,
                        pool_kind_name(row.k->pool)));
  }
  // A key far above its pooltag.txt peers: the other tags pooltag.txt gives the same binary
  // ("..., Binary: tcpip.sys"), where this one holds kFar times the largest of them.
  constexpr double kFar = 20;
  std::map<std::string, std::vector<const Row*>> by_binary;
  for (const Row& row : rows) {
    if (const std::string binary = pooltag_binary(row.k->owner); !binary.empty()) {
      by_binary[binary].push_back(&row);
    }
  }
  for (const auto& [binary, members] : by_binary) {
    for (const Row* row : members) {
      if (row->bytes < kBig || has_finding(*row->k)) continue;
      const Row* largest = nullptr;
      std::size_t peers = 0;
      for (const Row* other : members) {
        if (other->k->key == row->k->key) continue;  // the same tag in another pool
        ++peers;
        if (!largest || other->bytes > largest->bytes) largest = other;
      }
      if (!largest || largest->bytes <= 0 || row->bytes < kFar * largest->bytes) continue;
      suspect(
          *row,
          fmt::format("{} holds {}, {:.0f}x the largest of the {} other tag(s) "
                      "pooltag.txt gives {} ({}: {})",
                      display_key(row->k->key), human_bytes(static_cast<std::uint64_t>(row->bytes)),
                      row->bytes / largest->bytes, peers, binary, display_key(largest->k->key),
                      human_bytes(static_cast<std::uint64_t>(largest->bytes))));
    }
  }
}

}  // namespace poolscope::detect
