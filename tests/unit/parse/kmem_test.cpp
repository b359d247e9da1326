#include "parse/kmem.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/kernel_memory.h"
#include "test_support.h"

namespace poolscope::parse {
namespace {

const Entry* find_entry(const Snapshot& s, std::string_view name) {
  auto it = std::find_if(s.entries.begin(), s.entries.end(),
                         [&](const Entry& e) { return e.key.name == name; });
  return it == s.entries.end() ? nullptr : &*it;
}

constexpr std::uint64_t kKiB = 1024;

// tests/data/kmem/meminfo.txt is /proc/meminfo of the 6.18 test VM.
TEST(KernelMemory, UnaccountedIsMemTotalLessEveryNamedCategory) {
  auto meminfo = parse_meminfo(testing::read_file(testing::test_data("kmem/meminfo.txt")));
  ASSERT_TRUE(meminfo.has_value());
  EXPECT_EQ(meminfo->kernel_stack, 2416 * kKiB);
  EXPECT_EQ(meminfo->vmalloc_used, 15196 * kKiB);
  EXPECT_EQ(meminfo->hugepage_size, 2048 * kKiB);
  // 24683772 - 19762408 - (648168 + 3542768 + 18176) - 282904 - 4552 - 0 - 15196 - 768 - 0 kB;
  // the vmapped stacks are inside VmallocUsed.
  EXPECT_EQ(unaccounted_kernel_bytes(*meminfo, true), 408832 * kKiB);
  EXPECT_EQ(unaccounted_kernel_bytes(*meminfo, false), (408832 - 2416) * kKiB);
}

// tests/data/kmem/zoneinfo.txt: the same VM's /proc/zoneinfo, 99,269 pages on the per-CPU lists
// of its Normal zone (free, but not in MemFree).
TEST(KernelMemory, PerCpuFreePagesFromZoneinfoAreNotUnaccounted) {
  const auto pages =
      zoneinfo_pcp_pages(testing::read_file(testing::test_data("kmem/zoneinfo.txt")));
  EXPECT_EQ(pages, 99269u);
  EXPECT_FALSE(zoneinfo_pcp_pages("MemTotal: 5 kB\n").has_value());
  auto meminfo = parse_meminfo(testing::read_file(testing::test_data("kmem/meminfo.txt")));
  ASSERT_TRUE(meminfo.has_value());
  EXPECT_EQ(unaccounted_kernel_bytes(*meminfo, true, 100 * 1024 * kKiB), (408832 - 102400) * kKiB);
}

TEST(KernelMemory, HugetlbFallsBackToHugePagesTimesSize) {
  auto meminfo = parse_meminfo(
      "MemTotal: 1000 kB\nMemFree: 100 kB\nActive: 100 kB\nInactive: 100 kB\n"
      "HugePages_Total: 2\nHugepagesize: 100 kB\n");
  ASSERT_TRUE(meminfo.has_value());
  EXPECT_EQ(unaccounted_kernel_bytes(*meminfo, true), 500 * kKiB);
}

TEST(KernelMemory, MissingFieldsMeanNoUnaccountedKeyNotAnError) {
  auto meminfo = parse_meminfo("MemTotal: 1000 kB\nKernelStack: 16 kB\n");
  ASSERT_TRUE(meminfo.has_value());
  EXPECT_FALSE(unaccounted_kernel_bytes(*meminfo, true).has_value());
  Snapshot s;
  apply_kernel_memory(*meminfo, KernelMemoryOptions{}, s);
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].key, kernel_memory_key(kKernelStackKey));
  EXPECT_EQ(s.entries[0].pool, PoolKind::kKernel);
  EXPECT_FALSE(s.entries[0].counters.outstanding.has_value());
}

TEST(KernelMemory, CategoriesAndLargeKmallocBesideTheCaches) {
  auto meminfo = parse_meminfo(testing::read_file(testing::test_data("kmem/meminfo.txt")));
  ASSERT_TRUE(meminfo.has_value());
  Snapshot s;
  Entry cache;
  cache.key = slab_cache("kmalloc-64");
  cache.pool = PoolKind::kUnreclaimable;
  cache.counters.bytes = 30000 * kKiB;
  s.entries.push_back(cache);
  cache.key = slab_cache("dentry");
  cache.pool = PoolKind::kReclaimable;
  s.entries.push_back(cache);
  apply_kernel_memory(*meminfo, KernelMemoryOptions{}, s);
  const Entry* large = find_entry(s, kLargeKmallocKey);
  ASSERT_NE(large, nullptr);
  EXPECT_EQ(large->pool, PoolKind::kUnreclaimable);
  EXPECT_EQ(large->counters.bytes, (37500 - 30000) * kKiB);  // SUnreclaim - unreclaimable caches
  for (auto name : {kKernelStackKey, kPageTablesKey, kSecPageTablesKey, kVmallocUsedKey, kPercpuKey,
                    kUnaccountedKey}) {
    const Entry* e = find_entry(s, name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->key.kind, KeyKind::kKernelMemory);
    EXPECT_EQ(e->pool, PoolKind::kKernel);
  }
  EXPECT_EQ(find_entry(s, kPageTablesKey)->counters.bytes, 4552 * kKiB);
  const PoolTotal* kernel = find_total(s, PoolKind::kKernel);
  ASSERT_NE(kernel, nullptr);
  // Stacks counted once (inside VmallocUsed): 4552 + 0 + 15196 + 768 + 408832 kB.
  EXPECT_EQ(kernel->used_bytes, (4552 + 15196 + 768 + 408832) * kKiB);
  EXPECT_EQ(kernel->limit_bytes, 24683772 * kKiB);
}

TEST(Vmallocinfo, PerCallerWithoutIoremapAndUnpurged) {
  const std::string text =
      testing::read_file(testing::test_data("kmem/vmallocinfo.txt")) +
      "0x0000000012345678-0x0000000023456789   16384 foo_probe+0x1c/0x90 [foo] "
      "pages=3 vmalloc N0=3\n";
  auto parsed = parse_vmallocinfo(text, 4096);
  EXPECT_TRUE(parsed.diagnostics.empty());
  EXPECT_EQ(parsed.excluded_areas, 18u + 3u);  // ioremap (phys=) lines and unpurged areas
  auto caller = [&](std::string_view f) -> const VmallocCaller* {
    for (const auto& c : parsed.callers) {
      if (c.function == f) return &c;
    }
    return nullptr;
  };
  ASSERT_NE(caller("kernel_clone"), nullptr);
  EXPECT_EQ(caller("kernel_clone")->bytes, caller("kernel_clone")->areas * 4 * 4096);
  ASSERT_NE(caller("pcpu_create_chunk"), nullptr);
  EXPECT_EQ(caller("pcpu_create_chunk")->bytes, 512u * 4096);
  EXPECT_EQ(caller("bpf_prog_alloc_no_stats")->areas, 2u);
  // vmap without pages=: the size less its guard page.
  EXPECT_EQ(caller("irq_init_percpu_irqstack")->bytes,
            caller("irq_init_percpu_irqstack")->areas * 16384);
  EXPECT_EQ(caller("acpi_os_map_iomem"), nullptr);
  EXPECT_EQ(caller("memremap"), nullptr);
  ASSERT_NE(caller("foo_probe"), nullptr);
  EXPECT_EQ(caller("foo_probe")->module, "foo");
  Snapshot s;
  apply_vmalloc_callers(parsed, s);
  const Entry* foo = find_entry(s, "vmalloc:foo_probe [foo]");
  ASSERT_NE(foo, nullptr);
  EXPECT_EQ(foo->counters.bytes, 3u * 4096);
  EXPECT_EQ(foo->counters.outstanding, 1u);
}

TEST(Vmallocinfo, GarbageLinesAreDiagnosticsNotCrashes) {
  auto parsed = parse_vmallocinfo("hello\n0x1-0x2 big caller\n\n0x1-0x2 4096\n", 4096);
  EXPECT_TRUE(parsed.callers.empty());
  EXPECT_EQ(parsed.diagnostics.size(), 3u);
}

TEST(Sockstat, TcpUdpAndFragmentsWithTheirLimits) {
  Sockstat s;
  ASSERT_TRUE(parse_sockstat(
                  "sockets: used 17\nTCP: inuse 1 orphan 0 tw 1 alloc 1 mem 139\nUDP: inuse 2 mem "
                  "5\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 100\n",
                  s)
                  .has_value());
  ASSERT_TRUE(
      parse_sockstat(testing::read_file(testing::test_data("kmem/sockstat6.txt")), s).has_value());
  ASSERT_TRUE(parse_sockstat("TCP6: inuse 3\nFRAG6: inuse 1 memory 28\n", s).has_value());
  EXPECT_EQ(s.tcp_mem_pages, 139u);
  EXPECT_EQ(s.tcp_inuse, 4u);
  EXPECT_EQ(s.udp_mem_pages, 5u);
  EXPECT_EQ(s.frag_bytes, 128u);
  auto tcp_mem = parse_socket_memory_limit("287907\t383877\t575814\n");  // as the file reads
  ASSERT_TRUE(tcp_mem.has_value());
  EXPECT_EQ(tcp_mem->max_pages, 575814u);
  Snapshot snap;
  apply_sockets(s, *tcp_mem, std::nullopt, 4096, snap);
  const Entry* tcp = find_entry(snap, "sock:TCP");
  ASSERT_NE(tcp, nullptr);
  EXPECT_EQ(tcp->pool, PoolKind::kTcp);
  EXPECT_EQ(tcp->counters.bytes, 139u * 4096);
  const PoolTotal* total = find_total(snap, PoolKind::kTcp);
  ASSERT_NE(total, nullptr);
  EXPECT_EQ(total->limit_bytes, 575814u * 4096);
  EXPECT_NE(total->limit_note.find("pressure from 1499 MiB"), std::string::npos);
  EXPECT_EQ(total->pressure_bytes, 383877u * 4096);
  const PoolTotal* udp = find_total(snap, PoolKind::kUdp);
  ASSERT_NE(udp, nullptr);
  EXPECT_FALSE(udp->limit_bytes.has_value());
  EXPECT_EQ(find_entry(snap, "sock:FRAG")->counters.bytes, 128u);
  Sockstat none;
  EXPECT_FALSE(parse_sockstat("MemTotal: 5 kB\n", none).has_value());
  EXPECT_FALSE(parse_socket_memory_limit("1 2").has_value());
}

// debugfs dma_buf/bufinfo as kernel 6.x prints it (drivers/dma-buf/dma-buf.c, dma_buf_debug_show).
TEST(Dmabuf, BufinfoPerExporter) {
  auto exporters = parse_dmabuf_bufinfo(
      "\nDma-buf Objects:\n"
      "size    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n"
      "00065536\t00000002\t00080007\t00000003\tudmabuf\t00000041\t<none>\n"
      "\tAttached Devices:\n"
      "Total 0 devices attached\n\n"
      "01048576\t00000002\t00080007\t00000002\tsystem\t00000042\t<none>\n"
      "00004096\t00000002\t00080007\t00000002\tudmabuf\t00000043\t<none>\n"
      "\nTotal 3 objects, 1118208 bytes\n");
  ASSERT_EQ(exporters.size(), 2u);
  EXPECT_EQ(exporters[0].name, "udmabuf");
  EXPECT_EQ(exporters[0].bytes, 65536u + 4096);
  EXPECT_EQ(exporters[0].buffers, 2u);
  EXPECT_EQ(exporters[1].bytes, 1048576u);
  Snapshot s;
  apply_dmabuf(exporters, s);
  EXPECT_NE(find_entry(s, "dmabuf:system"), nullptr);
}

TEST(Fdinfo, DmabufSizeAndBpfMemlock) {
  auto dmabuf = parse_fdinfo(
      "pos:\t0\nflags:\t02\nmnt_id:\t16\nino:\t65\nsize:\t65536\ncount:\t1\nexp_name:\tudmabuf\n");
  EXPECT_EQ(dmabuf.dmabuf_size, 65536u);
  EXPECT_EQ(dmabuf.exporter, "udmabuf");
  auto map = parse_fdinfo(
      "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1060\nmap_type:\t2\nkey_size:\t4\n"
      "value_size:\t1024\nmax_entries:\t1024\nmap_flags:\t0x0\nmap_extra:\t0x0\n"
      "memlock:\t1052672\nmap_id:\t5\nfrozen:\t0\n");
  EXPECT_EQ(map.bpf_memlock, 1052672u);
  EXPECT_FALSE(map.dmabuf_size.has_value());
  auto file = parse_fdinfo("pos:\t0\nflags:\t0100000\nmnt_id:\t20\nino:\t12\n");
  EXPECT_FALSE(file.bpf_memlock.has_value());
}

TEST(KernelMemory, PageTraceIsForPageBackedKeysOnly) {
  EXPECT_TRUE(wants_page_trace(kernel_memory_key(kUnaccountedKey)));
  EXPECT_TRUE(wants_page_trace(kernel_memory_key(kLargeKmallocKey)));
  EXPECT_TRUE(wants_page_trace(kernel_memory_key("vmalloc:bpf_map_area_alloc")));
  EXPECT_TRUE(wants_page_trace(kernel_memory_key("sock:TCP")));
  EXPECT_FALSE(wants_page_trace(kernel_memory_key("alloc:fs/pipe.c:808 alloc_pipe_info")));
  EXPECT_FALSE(wants_page_trace(slab_cache("kmalloc-64")));
  EXPECT_FALSE(wants_page_trace(tag_from_text("Proc")));
}

// Pipes are counted by inode: both ends of one pipe show the same "pipe:[N]".
TEST(Fdinfo, PipeInodeOfEitherEndIsThePipe) {
  EXPECT_EQ(pipe_inode("pipe:[123456]"), 123456u);
  EXPECT_EQ(socket_inode("socket:[77]"), 77u);
  EXPECT_FALSE(pipe_inode("socket:[77]").has_value());
  EXPECT_FALSE(pipe_inode("pipe:[12").has_value());
  EXPECT_FALSE(pipe_inode("pipe:[]").has_value());
  EXPECT_FALSE(pipe_inode("/tmp/pipe:[1]").has_value());
}

}  // namespace
}  // namespace poolscope::parse
