// Table, JSON and CSV renderings of a snapshot; the summary view.
#include "render/snapshot_output.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/csv.h"
#include "core/kernel_memory.h"
#include "core/select.h"
#include "core/time_format.h"
#include "render/csv_table.h"

namespace poolscope {

namespace {

bool is_linux(const Snapshot& s) {
  return !s.entries.empty() ? s.entries.front().key.kind != KeyKind::kPoolTag
                            : (s.format == "slabinfo");
}

// Tables are read by people: counts with thousands separators, bytes in KiB/MiB/GiB.
std::string number_or_dash(const std::optional<std::uint64_t>& v) {
  return v ? thousands(*v) : std::string("-");
}

std::string bytes_or_dash(const std::optional<std::uint64_t>& v) {
  return v ? human_bytes(*v) : std::string("-");
}

std::string pool_label(const Entry& e) {
  if (e.pool == PoolKind::kSession && e.session_id) return fmt::format("session:{}", *e.session_id);
  return std::string(pool_kind_name(e.pool));
}

std::string title_case_pool(PoolKind pool) {
  switch (pool) {
    case PoolKind::kPaged:
      return "Paged";
    case PoolKind::kNonPaged:
      return "NonPaged";
    case PoolKind::kSession:
      return "Session";
    case PoolKind::kUnreclaimable:
      return "Unreclaimable slab";
    case PoolKind::kReclaimable:
      return "Reclaimable slab";
    case PoolKind::kKernel:
      return "Kernel (not slab)";
    case PoolKind::kTcp:
      return "TCP socket memory";
    case PoolKind::kUdp:
      return "UDP socket memory";
  }
  return "?";
}

std::string totals_line(const Snapshot& snapshot) {
  std::string out;
  for (const auto& t : snapshot.totals) {
    if (!t.used_bytes && !t.limit_bytes && !t.failures) continue;
    out += fmt::format("  {:<14} {:>11}", pool_kind_name(t.pool),
                       t.used_bytes ? human_bytes(*t.used_bytes) : std::string("-"));
    if (t.limit_bytes)
      out += fmt::format("  of {} ({})", human_bytes(*t.limit_bytes), t.limit_note);
    if (t.failures) out += fmt::format("  failures: {}", *t.failures);
    out += "\n";
  }
  return out;
}

nlohmann::ordered_json optional_json(const std::optional<std::uint64_t>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json totals_json(const Snapshot& snapshot) {
  nlohmann::ordered_json totals = nlohmann::ordered_json::object();
  for (const auto& t : snapshot.totals) {
    std::string name(pool_kind_name(t.pool));
    if (t.used_bytes) totals[name + "_bytes"] = *t.used_bytes;
    if (t.limit_bytes) totals[name + "_limit_bytes"] = *t.limit_bytes;
    if (t.failures) totals[name + "_failures"] = *t.failures;
  }
  if (snapshot.memory_total_bytes) totals["memory_total_bytes"] = *snapshot.memory_total_bytes;
  if (snapshot.memory_available_bytes)
    totals["memory_available_bytes"] = *snapshot.memory_available_bytes;
  return totals;
}

nlohmann::ordered_json entry_json(const Entry& e) {
  nlohmann::ordered_json j;
  j["key"] = display_key(e.key);
  j["pool"] = pool_kind_name(e.pool);
  if (e.session_id) j["session_id"] = *e.session_id;
  j["allocs"] = optional_json(e.counters.allocs);
  j["frees"] = optional_json(e.counters.frees);
  j["outstanding"] = optional_json(e.counters.outstanding);
  j["bytes"] = optional_json(e.counters.bytes);
  if (e.object_size) j["object_size"] = *e.object_size;
  if (!e.aliases.empty()) j["aliases"] = e.aliases;
  if (!e.owner.empty()) j["owner"] = e.owner;
  return j;
}

}  // namespace

std::string render_table(const Snapshot& snapshot, const std::vector<std::size_t>& rows) {
  const bool linux_keys = is_linux(snapshot);
  std::string out = fmt::format("{} {}  {}\n", snapshot.source,
                                snapshot.host.empty() ? "" : "on " + snapshot.host,
                                format_utc(snapshot.wall_time));
  out += totals_line(snapshot);
  for (const auto& note : snapshot.notes) out += fmt::format("  note: {}\n", note);
  out += "\n";

  struct Row {
    std::string cells[8];
  };
  std::vector<Row> table;
  table.reserve(rows.size() + 1);
  const bool owners = std::any_of(rows.begin(), rows.end(), [&snapshot](std::size_t i) {
    return !snapshot.entries[i].owner.empty();
  });
  table.push_back(
      Row{{linux_keys ? "Cache" : "Tag", "Pool", "Allocs", "Frees", linux_keys ? "Objects" : "Diff",
           "Bytes", linux_keys ? "ObjSize" : "PerAlloc",
           linux_keys ? (owners ? "Owner (merged names)" : "Merged names") : "Owner"}});
  for (std::size_t i : rows) {
    const Entry& e = snapshot.entries[i];
    std::string per_alloc;
    if (e.object_size) {
      per_alloc = thousands(*e.object_size);
    } else if (e.counters.bytes && e.counters.outstanding && *e.counters.outstanding > 0) {
      per_alloc = thousands(*e.counters.bytes / *e.counters.outstanding);
    } else {
      per_alloc = "-";
    }
    // The owner, and a Linux cache's merged names after it: "(merged: UNIX, UNIX-STREAM)".
    std::string last;
    if (!e.aliases.empty()) last = fmt::format("(merged: {})", fmt::join(e.aliases, ", "));
    // Under "Owner (merged names)" merged names alone would read as an owner: "-" says none is
    // known.
    if (!e.owner.empty() || (owners && !last.empty())) {
      const std::string owner = e.owner.empty() ? "-" : e.owner;
      last = last.empty() ? owner : owner + " " + last;
    }
    table.push_back(Row{{display_key(e.key), pool_label(e), number_or_dash(e.counters.allocs),
                         number_or_dash(e.counters.frees), number_or_dash(e.counters.outstanding),
                         bytes_or_dash(e.counters.bytes), per_alloc, last}});
  }
  std::size_t width[8] = {};
  for (const auto& r : table) {
    for (int c = 0; c < 8; ++c) width[c] = std::max(width[c], r.cells[c].size());
  }
  // Columns that no row fills (Allocs/Frees on Linux) are dropped rather than shown as dashes.
  bool has_allocs = false, has_frees = false;
  for (std::size_t i : rows) {
    has_allocs |= snapshot.entries[i].counters.allocs.has_value();
    has_frees |= snapshot.entries[i].counters.frees.has_value();
  }
  for (const auto& r : table) {
    std::string line = fmt::format("{:<{}}  {:<{}}", r.cells[0], width[0], r.cells[1], width[1]);
    if (has_allocs) line += fmt::format("  {:>{}}", r.cells[2], width[2]);
    if (has_frees) line += fmt::format("  {:>{}}", r.cells[3], width[3]);
    line += fmt::format("  {:>{}}  {:>{}}  {:>{}}", r.cells[4], width[4], r.cells[5], width[5],
                        r.cells[6], width[6]);
    if (!r.cells[7].empty()) line += "  " + r.cells[7];
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  if (rows.size() < snapshot.entries.size()) {
    out += fmt::format("({} of {} entries shown)\n", rows.size(), snapshot.entries.size());
  }
  return out;
}

std::string render_json(const Snapshot& snapshot, const std::vector<std::size_t>& rows) {
  nlohmann::ordered_json j;
  j["time"] = format_utc(snapshot.wall_time, true);
  j["source"] = snapshot.source;
  if (!snapshot.host.empty()) j["host"] = snapshot.host;
  j["format"] = snapshot.format;
  j["counter_bits"] = snapshot.counter_width == CounterWidth::k32 ? 32 : 64;
  j["totals"] = totals_json(snapshot);
  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  for (std::size_t i : rows) entries.push_back(entry_json(snapshot.entries[i]));
  j["entries"] = std::move(entries);
  if (!snapshot.notes.empty()) j["notes"] = snapshot.notes;
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

std::string render_csv(const Snapshot& snapshot, const std::vector<std::size_t>& rows) {
  std::string out =
      "time,source,key,pool,session_id,allocs,frees,outstanding,bytes,object_size,owner,aliases\n";
  const std::string time = format_utc(snapshot.wall_time, true);
  auto opt = [](const std::optional<std::uint64_t>& v) {
    return v ? fmt::to_string(*v) : std::string();
  };
  for (std::size_t i : rows) {
    const Entry& e = snapshot.entries[i];
    std::string aliases;
    for (const auto& a : e.aliases) aliases += (aliases.empty() ? "" : " ") + a;
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", time, csv_field(snapshot.source),
                       csv_field(display_key(e.key)), pool_kind_name(e.pool),
                       e.session_id ? fmt::to_string(*e.session_id) : std::string(),
                       opt(e.counters.allocs), opt(e.counters.frees), opt(e.counters.outstanding),
                       opt(e.counters.bytes), opt(e.object_size), csv_field(e.owner),
                       csv_field(aliases));
  }
  return out;
}

std::vector<PoolVerdict> judge_pools(const Snapshot& snapshot) {
  std::vector<PoolVerdict> out;
  for (const auto& t : snapshot.totals) {
    if (!t.used_bytes && !t.limit_bytes && !t.failures) continue;
    PoolVerdict v{.pool = t.pool};
    if (t.used_bytes && t.limit_bytes && *t.limit_bytes > 0) {
      v.used_fraction = static_cast<double>(*t.used_bytes) / static_cast<double>(*t.limit_bytes);
      v.excessive = *v.used_fraction > kExcessiveFraction;
      v.verdict = v.excessive
                      ? fmt::format("Excessive {} Usage",
                                    title_case_pool(t.pool) + (is_linux(snapshot) ? "" : " Pool"))
                      : "ok";
    } else {
      v.verdict = "limit unknown";
    }
    if (t.failures && *t.failures > 0) {
      v.verdict += fmt::format("; {} allocation failure(s)", *t.failures);
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<KernelMemorySummary> summarize_kernel_memory(const Snapshot& snapshot) {
  const auto bytes_of = [&](std::string_view key) -> std::optional<std::uint64_t> {
    for (const Entry& e : snapshot.entries) {
      if (e.key.kind == KeyKind::kKernelMemory && e.key.name == key) return e.counters.bytes;
    }
    return std::nullopt;
  };
  if (!bytes_of(kUnaccountedKey) && !bytes_of(kKernelStackKey)) return std::nullopt;
  KernelMemorySummary out;
  out.memory_total = snapshot.memory_total_bytes;
  out.memory_available = snapshot.memory_available_bytes;
  const auto add = [&](std::string label, std::string key, std::optional<std::uint64_t> bytes,
                       bool inside = false) -> KernelCategory* {
    if (!bytes) return nullptr;
    out.categories.push_back(KernelCategory{std::move(label), std::move(key), *bytes, inside});
    if (!inside) out.total_bytes += *bytes;
    return &out.categories.back();
  };
  const auto pool_used = [&](PoolKind pool) -> std::optional<std::uint64_t> {
    const PoolTotal* t = find_total(snapshot, pool);
    return t ? t->used_bytes : std::nullopt;
  };
  add("slab, unreclaimable", "SUnreclaim", pool_used(PoolKind::kUnreclaimable));
  add("  of which large kmalloc", std::string(kLargeKmallocKey), bytes_of(kLargeKmallocKey), true);
  add("slab, reclaimable (given back under pressure)", "SReclaimable",
      pool_used(PoolKind::kReclaimable), true);
  const auto stacks = bytes_of(kKernelStackKey);
  const auto vmalloc = bytes_of(kVmallocUsedKey);
  // Vmapped stacks (CONFIG_VMAP_STACK) are vmalloc areas: counted once, in vmalloc.
  add("kernel stacks", std::string(kKernelStackKey), stacks, vmalloc.has_value());
  add("page tables", std::string(kPageTablesKey), bytes_of(kPageTablesKey));
  add("secondary page tables (KVM, IOMMU)", std::string(kSecPageTablesKey),
      bytes_of(kSecPageTablesKey));
  add(stacks ? "vmalloc (kernel stacks included)" : "vmalloc", std::string(kVmallocUsedKey),
      vmalloc);
  add("per-CPU", std::string(kPercpuKey), bytes_of(kPercpuKey));
  add("unaccounted (pipes, page pools, GPU, raw pages)", std::string(kUnaccountedKey),
      bytes_of(kUnaccountedKey));
  const auto socket = [&](std::string label, PoolKind pool, std::string_view proto) {
    KernelCategory* c = add(std::move(label), std::string(kSocketPrefix) + std::string(proto),
                            bytes_of(std::string(kSocketPrefix) + std::string(proto)), true);
    const PoolTotal* t = find_total(snapshot, pool);
    if (c && t) c->limit_bytes = t->limit_bytes;
  };
  socket("  TCP socket buffers", PoolKind::kTcp, "TCP");
  socket("  UDP socket buffers", PoolKind::kUdp, "UDP");
  add("  IP fragments", std::string(kSocketPrefix) + "FRAG", bytes_of("sock:FRAG"), true);
  std::optional<std::uint64_t> dmabuf;
  for (const Entry& e : snapshot.entries) {
    if (e.key.kind == KeyKind::kKernelMemory && e.key.name.starts_with(kDmabufPrefix)) {
      dmabuf = dmabuf.value_or(0) + e.counters.bytes.value_or(0);
    }
  }
  add("  DMA-BUF", std::string(kDmabufPrefix) + "*", dmabuf, true);

  std::string why;
  for (const KernelCategory& c : out.categories) {
    if (c.limit_bytes && *c.limit_bytes > 0 &&
        static_cast<double>(c.bytes) > kExcessiveFraction * static_cast<double>(*c.limit_bytes)) {
      out.excessive = true;
      why = fmt::format("{} at {:.0f}% of its hard limit", c.key,
                        100.0 * static_cast<double>(c.bytes) / static_cast<double>(*c.limit_bytes));
    }
  }
  const KernelCategory* largest = nullptr;
  for (const KernelCategory& c : out.categories) {
    if (!c.inside && (!largest || c.bytes > largest->bytes)) largest = &c;
  }
  if (out.memory_total && *out.memory_total > 0) {
    const double share =
        static_cast<double>(out.total_bytes) / static_cast<double>(*out.memory_total);
    const bool low =
        out.memory_available && static_cast<double>(*out.memory_available) <
                                    kLowAvailableFraction * static_cast<double>(*out.memory_total);
    if (share > kExcessiveKernelFraction || (low && share > kLowMemoryKernelFraction)) {
      out.excessive = true;
      why = fmt::format("the kernel holds {:.0f}% of MemTotal{}, most in {}", share * 100,
                        low ? " and memory is low" : "", largest ? largest->key : "?");
    }
    out.verdict = out.excessive
                      ? "Excessive Kernel Memory Usage: " + why
                      : fmt::format("ok: the kernel holds {:.1f}% of MemTotal", share * 100);
  } else {
    out.verdict = out.excessive ? "Excessive Kernel Memory Usage: " + why : "MemTotal unknown";
  }
  return out;
}

namespace {
std::string_view parse_label(std::string_view label) {
  while (label.starts_with(' ')) label.remove_prefix(1);
  return label;
}

std::string kernel_memory_text(const KernelMemorySummary& k) {
  std::string out = "\nKernel memory by category";
  if (k.memory_total) out += fmt::format(" (of {} MemTotal)", human_bytes(*k.memory_total));
  out += ":\n";
  for (const KernelCategory& c : k.categories) {
    out += fmt::format("  {:<48} {:>11}", c.label, human_bytes(c.bytes));
    if (k.memory_total && *k.memory_total > 0 && !c.label.starts_with("  ")) {
      out += fmt::format(
          " {:5.1f}%", 100.0 * static_cast<double>(c.bytes) / static_cast<double>(*k.memory_total));
    }
    if (c.limit_bytes) out += fmt::format("  of {} hard limit", human_bytes(*c.limit_bytes));
    out += "\n";
  }
  out +=
      fmt::format("  {:<48} {:>11}\n", "kernel total (not given back)", human_bytes(k.total_bytes));
  out += fmt::format("Kernel memory: {}\n", k.verdict);
  return out;
}
}  // namespace

std::string render_summary_text(const Snapshot& snapshot, const std::vector<PoolVerdict>& verdicts,
                                std::size_t top_consumers) {
  std::string out = fmt::format("{} {}  {}\n\n", snapshot.source,
                                snapshot.host.empty() ? "" : "on " + snapshot.host,
                                format_utc(snapshot.wall_time));
  if (verdicts.empty()) out += "The source reports no pool totals.\n";
  for (const auto& v : verdicts) {
    const PoolTotal* t = find_total(snapshot, v.pool);
    out += fmt::format("{:<20} {:>11}", title_case_pool(v.pool) + ":",
                       t->used_bytes ? human_bytes(*t->used_bytes) : std::string("-"));
    if (t->limit_bytes) {
      out += fmt::format(" of {:>10}", human_bytes(*t->limit_bytes));
      if (v.used_fraction) out += fmt::format(" ({:5.1f}%)", *v.used_fraction * 100.0);
    } else {
      out += fmt::format(" {:<21}", "");
    }
    out += fmt::format("  {}\n", v.verdict);
    if (t->limit_bytes && !t->limit_note.empty())
      out += fmt::format("{:<21}limit: {}\n", "", t->limit_note);
    if (!t->limit_bytes && !t->limit_note.empty())
      out += fmt::format("{:<21}{}\n", "", t->limit_note);
  }
  bool any_failures = std::any_of(snapshot.totals.begin(), snapshot.totals.end(),
                                  [](const PoolTotal& t) { return t.failures.has_value(); });
  for (const auto& failure : snapshot.other_failures) {
    out += fmt::format("Allocation failures: {}\n", failure);
  }
  if (!any_failures && snapshot.other_failures.empty()) {
    out += "Allocation failures: not reported by this source\n";
  }
  if (snapshot.memory_total_bytes) {
    out += fmt::format("Memory: {} total", human_bytes(*snapshot.memory_total_bytes));
    if (snapshot.memory_available_bytes) {
      out += fmt::format(", {} available", human_bytes(*snapshot.memory_available_bytes));
    }
    out += "\n";
  }
  if (auto kernel = summarize_kernel_memory(snapshot)) out += kernel_memory_text(*kernel);
  for (const auto& note : snapshot.notes) out += fmt::format("note: {}\n", note);
  if (top_consumers > 0 && !snapshot.entries.empty()) {
    Selection sel;
    sel.top = top_consumers;
    auto rows = select_entries(snapshot, sel);
    out += fmt::format("\nLargest consumers:\n");
    for (std::size_t i : rows) {
      const Entry& e = snapshot.entries[i];
      out += fmt::format("  {:<24} {:<14} {:>11}", display_key(e.key), pool_label(e),
                         e.counters.bytes ? human_bytes(*e.counters.bytes) : std::string("-"));
      if (e.counters.outstanding) {
        out += fmt::format("  {} outstanding", thousands(*e.counters.outstanding));
      }
      out += "\n";
    }
  }
  return out;
}

std::string render_summary_json(const Snapshot& snapshot, const std::vector<PoolVerdict>& verdicts,
                                std::size_t top_consumers) {
  nlohmann::ordered_json j;
  j["time"] = format_utc(snapshot.wall_time, true);
  j["source"] = snapshot.source;
  j["totals"] = totals_json(snapshot);
  nlohmann::ordered_json pools = nlohmann::ordered_json::array();
  for (const auto& v : verdicts) {
    nlohmann::ordered_json p;
    p["pool"] = pool_kind_name(v.pool);
    p["used_fraction"] = v.used_fraction ? nlohmann::ordered_json(*v.used_fraction)
                                         : nlohmann::ordered_json(nullptr);
    p["excessive"] = v.excessive;
    p["verdict"] = v.verdict;
    pools.push_back(std::move(p));
  }
  j["pools"] = std::move(pools);
  if (!snapshot.other_failures.empty()) j["other_failures"] = snapshot.other_failures;
  if (auto kernel = summarize_kernel_memory(snapshot)) {
    nlohmann::ordered_json k;
    nlohmann::ordered_json categories = nlohmann::ordered_json::array();
    for (const KernelCategory& c : kernel->categories) {
      nlohmann::ordered_json row;
      row["category"] = std::string(parse_label(c.label));
      row["key"] = c.key;
      row["bytes"] = c.bytes;
      row["inside_another"] = c.inside;
      if (c.limit_bytes) row["limit_bytes"] = *c.limit_bytes;
      categories.push_back(std::move(row));
    }
    k["categories"] = std::move(categories);
    k["total_bytes"] = kernel->total_bytes;
    k["excessive"] = kernel->excessive;
    k["verdict"] = kernel->verdict;
    j["kernel_memory"] = std::move(k);
  }
  Selection sel;
  sel.top = top_consumers;
  nlohmann::ordered_json top = nlohmann::ordered_json::array();
  for (std::size_t i : select_entries(snapshot, sel))
    top.push_back(entry_json(snapshot.entries[i]));
  j["largest"] = std::move(top);
  if (!snapshot.notes.empty()) j["notes"] = snapshot.notes;
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

std::string render_summary_csv(const Snapshot& snapshot, const std::vector<PoolVerdict>& verdicts,
                               std::size_t top_consumers) {
  const auto j =
      nlohmann::ordered_json::parse(render_summary_json(snapshot, verdicts, top_consumers));
  const auto& totals = j["totals"];
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (auto pool : j["pools"]) {
    const std::string name = pool["pool"];
    pool["kind"] = "pool";
    for (const char* field : {"bytes", "limit_bytes", "failures"}) {
      if (totals.contains(name + "_" + field)) pool[field] = totals[name + "_" + field];
    }
    rows.push_back(std::move(pool));
  }
  for (const auto& failure : j.value("other_failures", nlohmann::ordered_json::array())) {
    rows.push_back({{"kind", "failure"}, {"detail", failure}});
  }
  if (j.contains("kernel_memory")) {
    for (auto category : j["kernel_memory"]["categories"]) {
      category["kind"] = "kernel_memory";
      rows.push_back(std::move(category));
    }
  }
  for (auto entry : j["largest"]) {
    entry["kind"] = "largest";
    rows.push_back(std::move(entry));
  }
  return csv_of_records(
      rows, {"kind", "pool", "key", "category", "bytes", "limit_bytes", "used_fraction", "failures",
             "excessive", "verdict", "outstanding", "object_size", "detail"});
}

}  // namespace poolscope
