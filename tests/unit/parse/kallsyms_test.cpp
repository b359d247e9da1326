#include "parse/kallsyms.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.h"

namespace poolscope::parse {
namespace {

TEST(Kallsyms, ParsesKernelAndModuleSymbols) {
  const auto text = testing::read_file(testing::test_data("kallsyms/kallsyms_small.txt"));
  auto parsed = parse_kallsyms(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  EXPECT_FALSE(parsed->addresses_hidden);
  ASSERT_EQ(parsed->symbols.size(), 23u);
  const KernelSymbol& first = parsed->symbols[0];
  EXPECT_EQ(first.address, 0xffffffff81000000u);
  EXPECT_EQ(first.type, 'T');
  EXPECT_EQ(first.name, "_stext");
  EXPECT_EQ(first.module, "");
  const KernelSymbol& cachep = parsed->symbols[15];
  EXPECT_EQ(cachep.address, 0xffffffffc0a44000u);
  EXPECT_EQ(cachep.type, 'b');
  EXPECT_EQ(cachep.name, "ext4_inode_cachep");
  EXPECT_EQ(cachep.module, "ext4");
  EXPECT_EQ(parsed->symbols[22].name, "bpf_prog_6deef7357e7b4530_sd_fw_egress");
  EXPECT_EQ(parsed->symbols[22].module, "bpf");
}

TEST(Kallsyms, HiddenAddressesStillGiveNamesAndModules) {
  const auto text = testing::read_file(testing::test_data("kallsyms/kallsyms_hidden.txt"));
  auto parsed = parse_kallsyms(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->addresses_hidden);
  ASSERT_EQ(parsed->symbols.size(), 23u);
  EXPECT_EQ(parsed->symbols[15].address, 0u);
  EXPECT_EQ(parsed->symbols[15].name, "ext4_inode_cachep");
  EXPECT_EQ(parsed->symbols[15].module, "ext4");
}

TEST(Kallsyms, MalformedLinesAreDiagnosticsWithLineNumbers) {
  const std::string text =
      "ffffffff81000000 T _stext\r\n"
      "ffffffff81000000 T\n"              // 2: no name
      "zz T x\n"                          // 3: not hex
      "ffffffff81000000 TT x\n"           // 4: two-letter type
      "ffffffff81000000 t x [unclosed\n"  // 5: module not bracketed
      "1ffffffffffffffff T too_long\n"    // 6: 17 hex digits
      "\n"
      "ffffffffc0000000 t y\t[m]\n";
  auto parsed = parse_kallsyms(text);
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->symbols.size(), 2u);
  EXPECT_EQ(parsed->symbols[0].name, "_stext");  // "\r" stripped
  EXPECT_EQ(parsed->symbols[1].module, "m");
  ASSERT_EQ(parsed->diagnostics.size(), 5u);
  EXPECT_EQ(parsed->diagnostics[0].line, 2u);
  EXPECT_EQ(parsed->diagnostics[1].line, 3u);
  EXPECT_EQ(parsed->diagnostics[2].line, 4u);
  EXPECT_EQ(parsed->diagnostics[3].line, 5u);
  EXPECT_EQ(parsed->diagnostics[3].message,
            "expected the module name in brackets after the symbol name");
  EXPECT_EQ(parsed->diagnostics[4].line, 6u);
}

TEST(Kallsyms, NoSymbolAtAllIsAnInputError) {
  auto empty = parse_kallsyms("");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, ErrorCode::kInput);
  EXPECT_EQ(empty.error().message,
            "empty kallsyms: the kernel lists no symbols (CONFIG_KALLSYMS off?)");
  auto other = parse_kallsyms("slabinfo - version: 2.1\n");
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().message, "not /proc/kallsyms: no line is \"address type name [module]\"");
}

TEST(Kallsyms, SymbolKinds) {
  for (char c : std::string_view("TtWw")) EXPECT_TRUE(is_text_symbol(c)) << c;
  for (char c : std::string_view("DdBbRrGgSsVv")) EXPECT_TRUE(is_data_symbol(c)) << c;
  EXPECT_FALSE(is_text_symbol('d'));
  EXPECT_FALSE(is_data_symbol('t'));
  EXPECT_FALSE(is_data_symbol('A'));
  EXPECT_FALSE(is_data_symbol('U'));
}

TEST(KernelLocation, SymbolOffsetSizeAndModule) {
  auto ctor = parse_kernel_location("init_once+0x0/0x80 [ext4]\n");
  ASSERT_TRUE(ctor.has_value());
  EXPECT_EQ(ctor->function, "init_once");
  EXPECT_EQ(ctor->offset, 0u);
  EXPECT_EQ(ctor->function_size, 0x80u);
  EXPECT_EQ(ctor->module, "ext4");

  auto builtin = parse_kernel_location("radix_tree_node_ctor+0x0/0x50");
  ASSERT_TRUE(builtin.has_value());
  EXPECT_EQ(builtin->function, "radix_tree_node_ctor");
  EXPECT_EQ(builtin->function_size, 0x50u);
  EXPECT_EQ(builtin->module, "");

  auto bare = parse_kernel_location("0xffffffffc0123456");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->function, "0xffffffffc0123456");
  EXPECT_FALSE(bare->offset.has_value());

  auto plus_in_name = parse_kernel_location("a+b");  // no "/size": not symbol+offset
  ASSERT_TRUE(plus_in_name.has_value());
  EXPECT_EQ(plus_in_name->function, "a+b");

  EXPECT_FALSE(parse_kernel_location("  ").has_value());
  EXPECT_FALSE(parse_kernel_location("f+0x1/0x2 [ext4").has_value());
  EXPECT_FALSE(parse_kernel_location("f+0x1/0x2 junk").has_value());
}

TEST(SlabCallers, TracesWithStacksUnknownCallersAndBareAddresses) {
  const auto text = testing::read_file(testing::test_data("kallsyms/alloc_traces.txt"));
  const auto parsed = parse_slab_callers(text);
  EXPECT_TRUE(parsed.diagnostics.empty());
  EXPECT_FALSE(parsed.no_data);
  ASSERT_EQ(parsed.callers.size(), 3u);
  const SlabCaller& first = parsed.callers[0];
  EXPECT_EQ(first.count, 17u);
  EXPECT_EQ(first.location.function, "ext4_alloc_inode");
  EXPECT_EQ(first.location.offset, 0x1au);
  EXPECT_EQ(first.location.function_size, 0x80u);
  EXPECT_EQ(first.location.module, "ext4");
  EXPECT_EQ(first.details, "age=12/80/144 pid=1-88 cpus=0-1");
  ASSERT_EQ(first.stack.size(), 4u);
  EXPECT_EQ(first.stack[0].function, "__kmem_cache_alloc_node");
  EXPECT_EQ(first.stack[2].module, "ext4");
  EXPECT_EQ(first.stack[3].function, "alloc_inode");

  EXPECT_EQ(parsed.callers[1].count, 2u);
  EXPECT_EQ(parsed.callers[1].location.function, "<not-available>");
  EXPECT_EQ(parsed.callers[1].details, "age=4295 pid=0 cpus=0");
  EXPECT_EQ(parsed.callers[2].location.function, "0xffffffffc0123456");
  EXPECT_EQ(parsed.callers[2].details, "waste=64/32 age=7 pid=312");
  EXPECT_TRUE(parsed.callers[2].stack.empty());
}

TEST(SlabCallers, OldSysfsAllocCallsWithoutStacks) {
  // /sys/kernel/slab/<cache>/alloc_calls before Linux 5.14: the same lines, no stacks.
  const auto parsed = parse_slab_callers(
      "    340 sk_prot_alloc+0x2e/0x120 age=2/512/9001 pid=1-2201 cpus=0-3\n"
      "      5 inet_twsk_alloc+0x1f/0x160 age=700 pid=0 cpus=1\n");
  EXPECT_TRUE(parsed.diagnostics.empty());
  ASSERT_EQ(parsed.callers.size(), 2u);
  EXPECT_EQ(parsed.callers[0].count, 340u);
  EXPECT_EQ(parsed.callers[0].location.function, "sk_prot_alloc");
  EXPECT_EQ(parsed.callers[1].location.function, "inet_twsk_alloc");
  EXPECT_EQ(parsed.callers[1].details, "age=700 pid=0 cpus=1");
}

TEST(SlabCallers, NoDataAndMalformedLines) {
  const auto none = parse_slab_callers("No data\n");
  EXPECT_TRUE(none.no_data);
  EXPECT_TRUE(none.callers.empty());
  EXPECT_TRUE(none.diagnostics.empty());

  const auto bad = parse_slab_callers(
      "        orphan+0x1/0x2\n"         // 1: a frame before any caller
      "   3 f+0x1/0x2 [m\n"              // 2: module not closed
      "x+0x1/0x2\n"                      // 3: not indented, no count
      "   99999999999999999999 f+0/0\n"  // 4: count out of range
      "   4 g+0x1/0x2 age=1\n");
  ASSERT_EQ(bad.callers.size(), 1u);
  EXPECT_EQ(bad.callers[0].location.function, "g");
  ASSERT_EQ(bad.diagnostics.size(), 4u);
  EXPECT_EQ(bad.diagnostics[0].line, 1u);
  EXPECT_EQ(bad.diagnostics[1].line, 2u);
  EXPECT_EQ(bad.diagnostics[2].line, 3u);
  EXPECT_EQ(bad.diagnostics[3].line, 4u);
}

TEST(Kallsyms, LiveKernelParsesWithoutDiagnostics) {
  std::ifstream in("/proc/kallsyms");
  if (!in) GTEST_SKIP() << "/proc/kallsyms is not readable here (not Linux, or no permission)";
  const auto text = testing::read_file("/proc/kallsyms");
  auto parsed = parse_kallsyms(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty())
      << parsed->diagnostics.front().line << ": " << parsed->diagnostics.front().message;
  EXPECT_GT(parsed->symbols.size(), 1000u);
  bool has_kmalloc = false;
  for (const auto& s : parsed->symbols)
    has_kmalloc |= s.name == "__kmalloc_noprof" || s.name == "__kmalloc";
  EXPECT_TRUE(has_kmalloc);
}

}  // namespace
}  // namespace poolscope::parse
