// Kernel memory outside the slab caches: meminfo categories, vmallocinfo, sockstat, DMA-BUF.
#include "parse/kmem.h"

#include <algorithm>

#include "core/kernel_memory.h"

namespace poolscope::parse {

namespace {

void add_entry(Snapshot& snapshot, std::string name, PoolKind pool, std::uint64_t bytes) {
  Entry entry;
  entry.key = kernel_memory_key(name);  // cut (and counted) when a hostile file's is too long
  entry.pool = pool;
  entry.counters.bytes = bytes;
  snapshot.entries.push_back(std::move(entry));
}

std::uint64_t saturating_sub(std::uint64_t a, std::uint64_t b) {
  return a > b ? a - b : 0;
}

}  // namespace

std::optional<std::uint64_t> zoneinfo_pcp_pages(std::string_view text) {
  LineReader lines(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  std::optional<std::uint64_t> pages;
  bool in_pagesets = false;
  while (lines.next(line)) {
    split_fields(line, fields);
    if (fields.empty()) continue;
    if (fields[0] == "pagesets") {
      in_pagesets = true;
    } else if (fields[0] == "Node" || fields[0] == "vm" || fields[0] == "node_unreclaimable:") {
      in_pagesets = fields[0] == "vm";  // "vm stats threshold" lines sit between the CPUs
    } else if (in_pagesets && fields[0] == "count:" && fields.size() >= 2) {
      if (auto v = parse_u64(fields[1])) pages = pages.value_or(0) + *v;
    }
  }
  return pages;
}

std::optional<std::uint64_t> unaccounted_kernel_bytes(const Meminfo& m, bool stacks_in_vmalloc,
                                                      std::uint64_t pcp_free_bytes) {
  if (!m.mem_total || !m.mem_free || !m.active || !m.inactive) return std::nullopt;
  std::uint64_t hugetlb = m.hugetlb.value_or(0);
  if (!m.hugetlb && m.hugepages_total && m.hugepage_size) {
    hugetlb = *m.hugepages_total * *m.hugepage_size;
  }
  const std::uint64_t named =
      *m.mem_free + *m.active + *m.inactive + m.unevictable.value_or(0) + m.slab.value_or(0) +
      (stacks_in_vmalloc ? 0 : m.kernel_stack.value_or(0)) + m.page_tables.value_or(0) +
      m.sec_page_tables.value_or(0) + m.vmalloc_used.value_or(0) + m.percpu.value_or(0) + hugetlb +
      m.zswap.value_or(0) + m.hardware_corrupted.value_or(0) + m.unaccepted.value_or(0) +
      pcp_free_bytes;
  return saturating_sub(*m.mem_total, named);
}

void apply_kernel_memory(const Meminfo& m, const KernelMemoryOptions& options, Snapshot& snapshot) {
  std::uint64_t unreclaimable_caches = 0;
  bool any_cache = false;
  for (const Entry& e : snapshot.entries) {
    if (e.key.kind == KeyKind::kSlabCache && e.pool == PoolKind::kUnreclaimable) {
      unreclaimable_caches += e.counters.bytes.value_or(0);
      any_cache = true;
    }
  }
  std::uint64_t sum = 0;
  bool any = false;
  const auto category = [&](std::string_view name, const std::optional<std::uint64_t>& bytes) {
    if (!bytes) return;
    add_entry(snapshot, std::string(name), PoolKind::kKernel, *bytes);
    sum += *bytes;
    any = true;
  };
  category(kKernelStackKey, m.kernel_stack);
  category(kPageTablesKey, m.page_tables);
  category(kSecPageTablesKey, m.sec_page_tables);
  category(kVmallocUsedKey, m.vmalloc_used);
  category(kPercpuKey, m.percpu);
  // The stacks are inside VmallocUsed when vmapped: the pool total counts them once.
  if (options.stacks_in_vmalloc && m.kernel_stack && m.vmalloc_used) {
    sum -= std::min(*m.kernel_stack, *m.vmalloc_used);
  }
  category(kUnaccountedKey,
           unaccounted_kernel_bytes(m, options.stacks_in_vmalloc, options.pcp_free_bytes));
  if (any_cache && m.s_unreclaim) {
    add_entry(snapshot, std::string(kLargeKmallocKey), PoolKind::kUnreclaimable,
              saturating_sub(*m.s_unreclaim, unreclaimable_caches));
  }
  if (!any) return;
  PoolTotal& total = total_for(snapshot, PoolKind::kKernel);
  total.used_bytes = sum;
  if (m.mem_total) {
    total.limit_bytes = m.mem_total;
    total.limit_note = "MemTotal (kernel memory outside slab has no limit of its own)";
  }
}

ParsedVmallocinfo parse_vmallocinfo(std::string_view text, std::uint64_t page_size) {
  ParsedVmallocinfo out;
  LineReader lines(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  while (lines.next(line)) {
    split_fields(line, fields);
    if (fields.empty()) continue;
    if (fields.size() < 3 || !fields[0].starts_with("0x") ||
        fields[0].find('-') == std::string_view::npos) {
      out.diagnostics.push_back(
          {lines.line_number(), "expected \"0xSTART-0xEND SIZE CALLER ...\""});
      continue;
    }
    const auto size = parse_u64(fields[1]);
    if (!size) {
      out.diagnostics.push_back({lines.line_number(), "expected the area's size in bytes"});
      continue;
    }
    std::string_view function = fields[2];
    std::string_view module;
    std::optional<std::uint64_t> pages;
    bool excluded = function == "unpurged" || function == "vm_map_ram";
    for (std::size_t i = 3; i < fields.size(); ++i) {
      const std::string_view f = fields[i];
      if (f == "ioremap" || f.starts_with("phys=")) excluded = true;
      if (f.starts_with("pages=")) pages = parse_u64(f.substr(6));
      if (i == 3 && f.size() > 2 && f.front() == '[' && f.back() == ']') {
        module = f.substr(1, f.size() - 2);
      }
    }
    if (excluded) {
      ++out.excluded_areas;
      continue;
    }
    if (auto plus = function.find('+'); plus != std::string_view::npos) {
      function = function.substr(0, plus);
    }
    std::uint64_t bytes = 0;
    if (pages && (page_size == 0 || *pages <= UINT64_MAX / page_size)) {
      bytes = *pages * page_size;
    } else {
      bytes = *size > page_size ? *size - page_size : *size;  // less the guard page
    }
    auto it = std::find_if(out.callers.begin(), out.callers.end(), [&](const VmallocCaller& c) {
      return c.function == function && c.module == module;
    });
    if (it == out.callers.end()) {
      out.callers.push_back(VmallocCaller{function, module, 0, 0});
      it = out.callers.end() - 1;
    }
    it->bytes += bytes;
    ++it->areas;
  }
  return out;
}

void apply_vmalloc_callers(const ParsedVmallocinfo& parsed, Snapshot& snapshot) {
  for (const VmallocCaller& c : parsed.callers) {
    std::string name(kVmallocPrefix);
    name += c.function;
    if (!c.module.empty()) {
      name += " [";
      name += c.module;
      name += ']';
    }
    add_entry(snapshot, std::move(name), PoolKind::kKernel, c.bytes);
    snapshot.entries.back().counters.outstanding = c.areas;
  }
}

Result<void> parse_sockstat(std::string_view text, Sockstat& out) {
  LineReader lines(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  bool any = false;
  const auto add = [](std::optional<std::uint64_t>& to, std::optional<std::uint64_t> v) {
    if (v) to = to.value_or(0) + *v;
  };
  while (lines.next(line)) {
    split_fields(line, fields);
    if (fields.size() < 3 || !fields[0].ends_with(":")) continue;
    const std::string_view proto = fields[0].substr(0, fields[0].size() - 1);
    // "NAME value" pairs after the protocol.
    const auto value = [&](std::string_view name) -> std::optional<std::uint64_t> {
      for (std::size_t i = 1; i + 1 < fields.size(); i += 2) {
        if (fields[i] == name) return parse_u64(fields[i + 1]);
      }
      return std::nullopt;
    };
    if (proto == "sockets") {
      add(out.sockets_used, value("used"));
    } else if (proto == "TCP" || proto == "TCP6") {
      add(out.tcp_inuse, value("inuse"));
      add(out.tcp_orphan, value("orphan"));
      add(out.tcp_mem_pages, value("mem"));
    } else if (proto == "UDP" || proto == "UDP6") {
      add(out.udp_inuse, value("inuse"));
      add(out.udp_mem_pages, value("mem"));
    } else if (proto == "FRAG" || proto == "FRAG6") {
      add(out.frag_bytes, value("memory"));
    } else if (!proto.starts_with("UDPLITE") && !proto.starts_with("RAW")) {
      continue;
    }
    any = true;
  }
  if (!any)
    return make_error(ErrorCode::kInput, "not /proc/net/sockstat: no \"TCP: inuse N\" line");
  return {};
}

Result<SocketMemoryLimit> parse_socket_memory_limit(std::string_view text) {
  std::vector<std::string_view> fields;
  std::string_view line;
  LineReader lines(text);
  if (lines.next(line)) split_fields(trim(line), fields);
  if (fields.size() != 3) {
    return make_error(ErrorCode::kInput, "expected three page counts: min pressure max");
  }
  SocketMemoryLimit out;
  const auto min = parse_u64(fields[0]), pressure = parse_u64(fields[1]),
             max = parse_u64(fields[2]);
  if (!min || !pressure || !max) {
    return make_error(ErrorCode::kInput, "expected three page counts: min pressure max");
  }
  out.min_pages = *min;
  out.pressure_pages = *pressure;
  out.max_pages = *max;
  return out;
}

void apply_sockets(const Sockstat& s, const std::optional<SocketMemoryLimit>& tcp_mem,
                   const std::optional<SocketMemoryLimit>& udp_mem, std::uint64_t page_size,
                   Snapshot& snapshot) {
  const auto socket = [&](std::string_view proto, PoolKind pool,
                          const std::optional<std::uint64_t>& pages,
                          const std::optional<SocketMemoryLimit>& limit, std::string_view sysctl) {
    if (!pages) return;
    const std::uint64_t bytes = *pages * page_size;
    add_entry(snapshot, std::string(kSocketPrefix) + std::string(proto), pool, bytes);
    PoolTotal& total = total_for(snapshot, pool);
    total.used_bytes = bytes;
    if (limit) {
      total.limit_bytes = limit->max_pages * page_size;
      total.pressure_bytes = limit->pressure_pages * page_size;
      total.limit_note = std::string(sysctl) + " hard limit (memory pressure from " +
                         std::to_string(limit->pressure_pages * page_size / (1024 * 1024)) +
                         " MiB; above the limit the kernel drops packets and refuses buffers)";
    } else {
      total.limit_note = std::string(sysctl) + " not readable: no limit known";
    }
  };
  socket("TCP", PoolKind::kTcp, s.tcp_mem_pages, tcp_mem, "net.ipv4.tcp_mem");
  socket("UDP", PoolKind::kUdp, s.udp_mem_pages, udp_mem, "net.ipv4.udp_mem");
  if (s.frag_bytes) {
    add_entry(snapshot, std::string(kSocketPrefix) + "FRAG", PoolKind::kKernel, *s.frag_bytes);
  }
}

void add_dmabuf(std::vector<DmabufExporter>& exporters, std::string_view exporter,
                std::uint64_t bytes) {
  auto it = std::find_if(exporters.begin(), exporters.end(),
                         [&](const DmabufExporter& e) { return e.name == exporter; });
  if (it == exporters.end()) {
    exporters.push_back(DmabufExporter{std::string(exporter), 0, 0});
    it = exporters.end() - 1;
  }
  it->bytes += bytes;
  ++it->buffers;
}

std::vector<DmabufExporter> parse_dmabuf_bufinfo(std::string_view text) {
  std::vector<DmabufExporter> out;
  LineReader lines(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  std::size_t exporter_column = 0;  // from the header; 0 = header not seen yet
  while (lines.next(line)) {
    split_fields(line, fields);
    if (fields.empty()) continue;
    if (fields[0] == "size") {
      for (std::size_t i = 1; i < fields.size(); ++i) {
        if (fields[i] == "exp_name") exporter_column = i;
      }
      continue;
    }
    if (exporter_column == 0 || fields.size() <= exporter_column) continue;
    // Buffer lines start at column 0 with the size; attachment lines are indented.
    if (is_blank(line.front())) continue;
    const auto size = parse_u64(fields[0]);
    if (!size) continue;
    add_dmabuf(out, fields[exporter_column], *size);
  }
  return out;
}

void apply_dmabuf(const std::vector<DmabufExporter>& exporters, Snapshot& snapshot) {
  for (const DmabufExporter& e : exporters) {
    add_entry(snapshot, std::string(kDmabufPrefix) + e.name, PoolKind::kKernel, e.bytes);
    snapshot.entries.back().counters.outstanding = e.buffers;
  }
}

Fdinfo parse_fdinfo(std::string_view text) {
  Fdinfo out;
  LineReader lines(text);
  std::string_view line;
  std::optional<std::uint64_t> size;
  while (lines.next(line)) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (name == "size") {
      size = parse_u64(value);
    } else if (name == "exp_name") {
      out.exporter = value;
    } else if (name == "memlock") {
      out.bpf_memlock = parse_u64(value);
    }
  }
  if (!out.exporter.empty()) out.dmabuf_size = size;
  return out;
}

namespace {

// The number in "PREFIX[N]".
std::optional<std::uint64_t> bracketed_inode(std::string_view target, std::string_view prefix) {
  if (!target.starts_with(prefix) || !target.ends_with("]")) return std::nullopt;
  return parse_u64(target.substr(prefix.size(), target.size() - prefix.size() - 1));
}

}  // namespace

std::optional<std::uint64_t> socket_inode(std::string_view target) {
  return bracketed_inode(target, "socket:[");
}

std::optional<std::uint64_t> pipe_inode(std::string_view target) {
  return bracketed_inode(target, "pipe:[");
}

bool is_bpf_target(std::string_view target) {
  return target == "anon_inode:bpf-map" || target == "anon_inode:bpf-prog";
}

bool is_dmabuf_target(std::string_view target) {
  return target.starts_with("/dmabuf:") || target == "anon_inode:dmabuf";
}

std::optional<std::uint64_t> status_vm_pte(std::string_view text) {
  constexpr std::string_view kField = "VmPTE:";
  LineReader lines(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  while (lines.next(line)) {
    if (!line.starts_with(kField)) continue;
    split_fields(line.substr(kField.size()), fields);
    if (fields.empty()) return std::nullopt;
    const auto kib = parse_u64(fields[0]);
    if (!kib || *kib > UINT64_MAX / 1024) return std::nullopt;
    return *kib * 1024;
  }
  return std::nullopt;
}

namespace {
std::optional<std::uint64_t> parse_hex(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : -1;
    if (d < 0) return std::nullopt;
    v = v * 16 + static_cast<std::uint64_t>(d);
  }
  return v;
}
}  // namespace

void add_socket_queues(std::string_view text,
                       std::vector<std::pair<std::uint64_t, std::uint64_t>>& queue_by_inode) {
  LineReader lines(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  while (lines.next(line)) {
    split_fields(line, fields);
    // "sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ..."
    if (fields.size() < 10 || !fields[0].ends_with(":")) continue;
    const auto colon = fields[4].find(':');
    if (colon == std::string_view::npos) continue;
    const auto tx = parse_hex(fields[4].substr(0, colon));
    const auto rx = parse_hex(fields[4].substr(colon + 1));
    const auto inode = parse_u64(fields[9]);
    if (!tx || !rx || !inode || *inode == 0) continue;
    queue_by_inode.emplace_back(*inode, *tx + *rx);
  }
}

}  // namespace poolscope::parse
