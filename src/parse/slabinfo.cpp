// /proc/slabinfo and /proc/meminfo parsers.
#include "parse/slabinfo.h"

#include <array>

#include "core/forward_error.h"
#include "core/names.h"

namespace poolscope::parse {

namespace {
constexpr std::string_view kHeader = "slabinfo - version:";

// Columns of a slabinfo 2.x line: name active num objsize perslab pagesperslab : tunables l b s :
// slabdata active_slabs num_slabs sharedavail
constexpr std::size_t kFieldCount = 16;
}  // namespace

bool is_usually_reclaimable(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kExact = {
      "dentry",  "inode_cache",        "radix_tree_node", "buffer_head",
      "mbcache", "ext4_extent_status", "xfs_ili",         "shmem_inode_cache"};
  for (auto known : kExact) {
    if (name == known) return true;
  }
  constexpr std::string_view kInodeSuffix = "_inode_cache";
  constexpr std::string_view kInodeSuffix2 = "_inode";
  return (name.size() > kInodeSuffix.size() &&
          name.substr(name.size() - kInodeSuffix.size()) == kInodeSuffix) ||
         (name.size() > kInodeSuffix2.size() &&
          name.substr(name.size() - kInodeSuffix2.size()) == kInodeSuffix2);
}

Result<void> parse_slabinfo_into(std::string_view text, const SlabinfoOptions& options,
                                 Snapshot& snapshot, std::vector<Diagnostic>& diagnostics) {
  LineReader lines(text);
  std::string_view line;
  bool header = false;
  while (lines.next(line)) {
    if (trim(line).empty()) continue;
    if (line.substr(0, kHeader.size()) != kHeader) {
      return make_error(ErrorCode::kInput,
                        "not /proc/slabinfo: first line is not \"slabinfo - version: 2.x\"");
    }
    auto version = trim(line.substr(kHeader.size()));
    if (version.substr(0, 2) != "2.") {
      return make_error(ErrorCode::kInput, "unsupported slabinfo version \"" +
                                               std::string(version) + "\" (2.x expected)");
    }
    header = true;
    break;
  }
  if (!header)
    return make_error(ErrorCode::kInput, "empty input: no \"slabinfo - version:\" header");

  snapshot.format = "slabinfo";
  snapshot.counter_width = CounterWidth::k64;
  std::uint64_t sums[2] = {0, 0};  // unreclaimable, reclaimable
  std::vector<std::string_view> fields;
  fields.reserve(kFieldCount);
  while (lines.next(line)) {
    if (line.empty() || line[0] == '#') continue;
    split_fields(line, fields);
    if (fields.empty()) continue;
    if (fields.size() != kFieldCount || fields[6] != ":" || fields[7] != "tunables" ||
        fields[11] != ":" || fields[12] != "slabdata") {
      diagnostics.push_back(
          {lines.line_number(),
           "expected \"name active_objs num_objs objsize objperslab pagesperslab : "
           "tunables L B S : slabdata active_slabs num_slabs sharedavail\""});
      continue;
    }
    auto active = parse_u64(fields[1]);
    auto objsize = parse_u64(fields[3]);
    auto pages_per_slab = parse_u64(fields[5]);
    auto num_slabs = parse_u64(fields[14]);
    if (!active || !objsize || !pages_per_slab || !num_slabs || !parse_u64(fields[2])) {
      diagnostics.push_back(
          {lines.line_number(), "expected unsigned integers in the count columns"});
      continue;
    }
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(*num_slabs, *pages_per_slab, &bytes) ||
        __builtin_mul_overflow(bytes, options.page_size, &bytes)) {
      diagnostics.push_back(
          {lines.line_number(), "slab count times pages per slab is out of range"});
      continue;
    }
    Entry entry;
    entry.key = slab_cache(fields[0]);
    if (cap_name(entry.key.name, kMaxSlabNameBytes)) {
      snapshot.notes.push_back("line " + std::to_string(lines.line_number()) +
                               ": a cache name of " + std::to_string(fields[0].size()) +
                               " bytes, cut to " + display_key(entry.key) +
                               " (slab cache names are < 64 bytes)");
    }
    bool reclaimable = false;
    if (options.attributes) {
      const SlabAttributeMap::value_type* found = nullptr;
      const std::size_t index = snapshot.entries.size();
      auto* memo = options.line_memo;
      if (memo && index < memo->size() && (*memo)[index] && (*memo)[index]->first == fields[0]) {
        found = (*memo)[index];
      } else {
        auto it = options.attributes->find(fields[0]);
        if (it != options.attributes->end()) found = &*it;
        if (memo) {
          if (memo->size() <= index) memo->resize(index + 1, nullptr);
          (*memo)[index] = found;
        }
      }
      if (found) {
        reclaimable = found->second.reclaimable;
        entry.aliases = found->second.aliases;
      } else if (options.unknown_caches) {
        ++*options.unknown_caches;
        reclaimable = is_usually_reclaimable(fields[0]);
      }
    } else {
      reclaimable = is_usually_reclaimable(fields[0]);
    }
    entry.pool = reclaimable ? PoolKind::kReclaimable : PoolKind::kUnreclaimable;
    entry.counters.outstanding = *active;
    entry.counters.bytes = bytes;
    entry.object_size = *objsize;
    sums[reclaimable ? 1 : 0] += *entry.counters.bytes;
    snapshot.entries.push_back(std::move(entry));
  }
  total_for(snapshot, PoolKind::kUnreclaimable).used_bytes = sums[0];
  total_for(snapshot, PoolKind::kReclaimable).used_bytes = sums[1];
  if (!options.attributes) {
    snapshot.notes.push_back(
        "saved slabinfo: reclaimable caches guessed from their names (no /sys/kernel/slab); page "
        "size "
        "assumed " +
        std::to_string(options.page_size) + " bytes");
  }
  return {};
}

Result<ParsedSnapshot> parse_slabinfo(std::string_view text, const SlabinfoOptions& options) {
  ParsedSnapshot out;
  auto ok = parse_slabinfo_into(text, options, out.snapshot, out.diagnostics);
  if (!ok) return forward_error(ok);
  return out;
}

namespace {
std::optional<std::uint64_t>* meminfo_field(Meminfo& info, std::string_view name) {
  struct Field {
    std::string_view name;
    std::optional<std::uint64_t> Meminfo::*member;
  };
  static constexpr std::array<Field, 20> kFields = {{
      {"MemTotal", &Meminfo::mem_total},
      {"MemFree", &Meminfo::mem_free},
      {"MemAvailable", &Meminfo::mem_available},
      {"Active", &Meminfo::active},
      {"Inactive", &Meminfo::inactive},
      {"Unevictable", &Meminfo::unevictable},
      {"Zswap", &Meminfo::zswap},
      {"Slab", &Meminfo::slab},
      {"SReclaimable", &Meminfo::s_reclaimable},
      {"SUnreclaim", &Meminfo::s_unreclaim},
      {"KernelStack", &Meminfo::kernel_stack},
      {"PageTables", &Meminfo::page_tables},
      {"SecPageTables", &Meminfo::sec_page_tables},
      {"VmallocUsed", &Meminfo::vmalloc_used},
      {"Percpu", &Meminfo::percpu},
      {"HardwareCorrupted", &Meminfo::hardware_corrupted},
      {"HugePages_Total", &Meminfo::hugepages_total},
      {"Hugepagesize", &Meminfo::hugepage_size},
      {"Hugetlb", &Meminfo::hugetlb},
      {"Unaccepted", &Meminfo::unaccepted},
  }};
  for (const Field& f : kFields) {
    if (f.name == name) return &(info.*f.member);
  }
  return nullptr;
}
}  // namespace

Result<Meminfo> parse_meminfo(std::string_view text) {
  Meminfo info;
  LineReader lines(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  bool any = false;
  while (lines.next(line)) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    split_fields(line.substr(colon + 1), fields);
    if (fields.empty()) continue;
    auto value = parse_u64(fields[0]);
    if (!value) continue;
    const bool kib = fields.size() > 1 && fields[1] == "kB";
    if (kib && *value > UINT64_MAX / 1024) continue;  // not a real kernel value
    std::uint64_t bytes = kib ? *value * 1024 : *value;
    any = true;
    if (auto* field = meminfo_field(info, name)) *field = bytes;
  }
  if (!any) return make_error(ErrorCode::kInput, "not /proc/meminfo: no \"Name: value kB\" lines");
  return info;
}

void apply_meminfo(const Meminfo& meminfo, Snapshot& snapshot) {
  // Slab has no limit of its own: it can grow until memory runs out.
  const auto apply = [&](PoolKind pool, const std::optional<std::uint64_t>& used) {
    auto& total = total_for(snapshot, pool);  // a reference: do not hold it across total_for calls
    if (used) total.used_bytes = used;
    if (meminfo.mem_total) {
      total.limit_bytes = meminfo.mem_total;
      total.limit_note = "MemTotal (slab has no limit of its own)";
    }
  };
  apply(PoolKind::kUnreclaimable, meminfo.s_unreclaim);
  apply(PoolKind::kReclaimable, meminfo.s_reclaimable);
  snapshot.memory_total_bytes = meminfo.mem_total;
  snapshot.memory_available_bytes = meminfo.mem_available;
}

}  // namespace poolscope::parse
