#include "attrib/slab_owner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "attrib/owner_resolver.h"
#include "test_support.h"

namespace poolscope::attrib {
namespace {

KernelSymbols fixture_symbols() {
  auto symbols = KernelSymbols::from_text(
      testing::read_file(testing::test_data("kallsyms/kallsyms_small.txt")), "fixture");
  EXPECT_TRUE(symbols.has_value());
  return symbols ? std::move(*symbols) : KernelSymbols{};
}

TEST(KernelSymbols, NamedAndPrefixLookups) {
  const auto symbols = fixture_symbols();
  EXPECT_EQ(symbols.size(), 23u);
  EXPECT_TRUE(symbols.has_local_data_symbols());
  const auto init_once = symbols.named("init_once");
  ASSERT_EQ(init_once.size(), 2u);
  EXPECT_EQ(init_once[0].module, "");  // vmlinux sorts first
  EXPECT_EQ(init_once[1].module, "ext4");
  EXPECT_TRUE(symbols.named("no_such_symbol").empty());
  const auto ext4 = symbols.with_prefix("ext4");
  EXPECT_EQ(ext4.count, 4u);
  ASSERT_EQ(ext4.modules.size(), 1u);
  EXPECT_EQ(ext4.modules[0], "ext4");
  EXPECT_EQ(symbols.with_prefix("ext").count, 0u);  // "ext4_..." does not continue "ext" with '_'
}

TEST(SlabOwner, GenericKmallocNames) {
  for (const char* name : {"kmalloc-64", "kmalloc-8k", "kmalloc-rcl-192", "kmalloc-cg-1k",
                           "dma-kmalloc-96", "kmalloc-rnd-01-64", "dma-kmalloc-rcl-8"}) {
    EXPECT_TRUE(is_generic_kmalloc_cache(name)) << name;
  }
  for (const char* name : {"kmalloc-", "kmalloc-64x", "kmalloc_buckets", "kmalloc-cg-",
                           "memdup_user-64", "kmem_cache", "dma-kmalloc", "kmalloc-k"}) {
    EXPECT_FALSE(is_generic_kmalloc_cache(name)) << name;
  }
  EXPECT_EQ(kmalloc_cache_size("kmalloc-96"), 96u);
  EXPECT_EQ(kmalloc_cache_size("kmalloc-cg-1k"), 1024u);
  EXPECT_EQ(kmalloc_cache_size("kmalloc-rnd-01-8k"), 8192u);
  EXPECT_EQ(kmalloc_cache_size("dma-kmalloc-rcl-8"), 8u);
  EXPECT_FALSE(kmalloc_cache_size("dentry").has_value());
}

TEST(SlabOwner, CachePointerSymbolsNameTheModule) {
  const auto symbols = fixture_symbols();
  struct Case {
    const char* cache;
    const char* pointer;
    const char* module;
    char type;
  };
  const Case cases[] = {
      {"ext4_inode_cache", "ext4_inode_cachep", "ext4", 'b'},
      {"dentry", "dentry_cache", "vmlinux", 'd'},
      {"names_cache", "names_cachep", "vmlinux", 'b'},
      {"task_struct", "task_struct_cachep", "vmlinux", 'D'},
      {"xfs_inode", "xfs_inode_cache", "xfs", 'd'},
      {"nf_conntrack", "nf_conntrack_cachep", "nf_conntrack", 'b'},
  };
  for (const auto& c : cases) {
    const auto owner = slab_owner(c.cache, SlabFacts{}, &symbols);
    ASSERT_EQ(owner.cache_pointers.size(), 1u) << c.cache;
    EXPECT_EQ(owner.cache_pointers[0].name, c.pointer);
    EXPECT_EQ(owner.cache_pointers[0].module, c.module);
    EXPECT_EQ(owner.cache_pointers[0].type, c.type);
    EXPECT_EQ(owner.modules, std::vector<std::string>{c.module});
    EXPECT_EQ(owner.confidence, OwnerConfidence::kHigh);
    EXPECT_EQ(short_owner(owner), c.module);
    EXPECT_FALSE(owner.generic_kmalloc);
  }
  const auto ext4 = slab_owner("ext4_inode_cache", SlabFacts{}, &symbols);
  EXPECT_EQ(ext4.evidence, "the data symbol ext4_inode_cachep [ext4] holds the cache pointer");
  EXPECT_EQ(ext4.cache_pointers[0].address, 0xffffffffc0a44000u);
  // A module's cache needs no subsystem hint; a built-in one gets the symbols named like it.
  for (const auto& note : ext4.notes)
    EXPECT_EQ(note.find("vmlinux is the kernel image"), std::string::npos);
  const auto task = slab_owner("task_struct", SlabFacts{}, &symbols);
  EXPECT_NE(std::find(task.notes.begin(), task.notes.end(),
                      "vmlinux is the kernel image itself (built-in code); 1 of its symbols are "
                      "named task_struct or task_struct_*, the likely subsystem"),
            task.notes.end());
}

TEST(SlabOwner, AnAliasCanNameThePointer) {
  const auto symbols = fixture_symbols();
  SlabFacts facts;
  facts.aliases = {"ext4_es"};  // merged: ext4_es_cachep holds the pointer of the alias
  const auto owner = slab_owner("some_merged_cache", facts, &symbols);
  ASSERT_EQ(owner.cache_pointers.size(), 1u);
  EXPECT_EQ(owner.cache_pointers[0].name, "ext4_es_cachep");
  EXPECT_EQ(short_owner(owner), "ext4");
}

TEST(SlabOwner, TextSymbolsAreNotCachePointers) {
  const auto symbols = fixture_symbols();
  // "ext4_alloc_inode" is a function ('t'): a cache of that name gets no pointer, only a guess.
  const auto owner = slab_owner("ext4_alloc_inode", SlabFacts{}, &symbols);
  EXPECT_TRUE(owner.cache_pointers.empty());
  EXPECT_EQ(owner.confidence, OwnerConfidence::kLow);
  EXPECT_EQ(short_owner(owner), "ext4?");
}

TEST(SlabOwner, KmallocIsGenericAndPointsToTracing) {
  const auto symbols = fixture_symbols();
  const auto owner = slab_owner("kmalloc-64", SlabFacts{}, &symbols);
  EXPECT_TRUE(owner.generic_kmalloc);
  EXPECT_TRUE(owner.modules.empty());
  EXPECT_FALSE(owner.confidence.has_value());
  EXPECT_EQ(short_owner(owner), "kmalloc (generic)");
  EXPECT_NE(owner.callers_note.find("`poolscope trace --cache kmalloc-64` (root)"),
            std::string::npos)
      << owner.callers_note;
  EXPECT_NE(owner.callers_note.find("slub_debug=U,kmalloc-64"), std::string::npos);
  EXPECT_FALSE(owner.callers_available);
}

// Issue 20: the advice named perf (another tool) where poolscope's own trace does the same.
TEST(SlabOwner, KmallocAdviceNamedPerfBeforePoolscopesOwnTrace) {
  const auto symbols = fixture_symbols();
  const auto owner = slab_owner("kmalloc-64", SlabFacts{}, &symbols);
  EXPECT_EQ(owner.callers_note.find("perf record"), std::string::npos) << owner.callers_note;
  EXPECT_LT(owner.callers_note.find("poolscope trace"), owner.callers_note.find("slub_debug=U"))
      << owner.callers_note;
}

TEST(SlabOwner, ConstructorNamesTheModuleWithoutSymbols) {
  SlabFacts facts;
  facts.in_sysfs = true;
  facts.constructor = "init_once+0x0/0x80 [ext4]";
  const auto ext4 = slab_owner("ext4_inode_cache", facts, nullptr);
  ASSERT_TRUE(ext4.constructor.has_value());
  EXPECT_EQ(ext4.constructor->name, "init_once");
  EXPECT_EQ(ext4.modules, std::vector<std::string>{"ext4"});
  EXPECT_EQ(ext4.confidence, OwnerConfidence::kHigh);
  EXPECT_EQ(ext4.evidence,
            "its constructor init_once is code of ext4 (/sys/kernel/slab/ext4_inode_cache/ctor)");
  facts.constructor = "ovl_inode_init_once+0x0/0x10";
  EXPECT_EQ(short_owner(slab_owner("ovl_inode", facts, nullptr)), "vmlinux");
}

TEST(SlabOwner, RecordedCallersNameTheModules) {
  SlabFacts facts;
  facts.callers_text = testing::read_file(testing::test_data("kallsyms/alloc_traces.txt"));
  facts.callers_path = "/sys/kernel/debug/slab/x/alloc_traces";
  const auto owner = slab_owner("x", facts, nullptr);
  EXPECT_TRUE(owner.callers_available);
  ASSERT_EQ(owner.callers.size(), 3u);
  EXPECT_EQ(owner.callers[0].module, "ext4");
  EXPECT_EQ(owner.callers[0].stack[0], "__kmem_cache_alloc_node+0x1b2/0x2d0");
  EXPECT_EQ(owner.callers[0].stack[2], "ext4_alloc_inode+0x1a/0x80 [ext4]");
  EXPECT_EQ(owner.callers[1].module, "");  // <not-available>
  EXPECT_EQ(owner.modules, std::vector<std::string>{"ext4"});
  EXPECT_EQ(owner.callers_note, "from /sys/kernel/debug/slab/x/alloc_traces");

  // A generic cache keeps saying so, and its callers are the answer.
  const auto kmalloc = slab_owner("kmalloc-128", facts, nullptr);
  EXPECT_TRUE(kmalloc.generic_kmalloc);
  EXPECT_EQ(kmalloc.modules, std::vector<std::string>{"ext4"});
}

TEST(SlabOwner, NothingKnown) {
  const auto owner = slab_owner("TCP", SlabFacts{}, nullptr);
  EXPECT_TRUE(owner.modules.empty());
  EXPECT_EQ(short_owner(owner), "");
  EXPECT_EQ(owner.evidence, "unknown: kernel symbols were not loaded");
  EXPECT_NE(owner.callers_note.find("boot with slub_debug=U,TCP"), std::string::npos);
}

class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef _WIN32
    // /sys/kernel/slab is Linux's; the fake tree needs directory symlinks, which Wine refuses.
    GTEST_SKIP() << "the fake /sys/kernel/slab tree needs directory symlinks (not on Windows/Wine)";
#endif
    root_ = std::filesystem::temp_directory_path() /
            ("poolscope_slab_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    paths_.sys_slab = root_ / "slab";
    paths_.debug_slab = root_ / "debug";
    std::filesystem::create_directories(paths_.sys_slab / ":0000064");
    std::filesystem::create_directories(paths_.sys_slab / "ext4_inode_cache");
    std::filesystem::create_directories(paths_.debug_slab / "kmalloc-64");
    std::filesystem::create_directory_symlink(":0000064", paths_.sys_slab / "kmalloc-64");
    std::filesystem::create_directory_symlink(":0000064", paths_.sys_slab / "my_cache");
    write(paths_.sys_slab / "ext4_inode_cache" / "ctor", "init_once+0x0/0x80 [ext4]\n");
    write(paths_.sys_slab / "ext4_inode_cache" / "store_user", "0\n");
    write(paths_.sys_slab / ":0000064" / "store_user", "1\n");
    write(paths_.debug_slab / "kmalloc-64" / "alloc_traces",
          "     40 nf_ct_alloc+0x10/0x40 [nf_conntrack] age=1 pid=1 cpus=0\n"
          "      2 __d_alloc+0x30/0x200 age=2 pid=1 cpus=0\n");
  }
  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }
  static void write(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  std::filesystem::path root_;
  SlabSysfsPaths paths_;
};

TEST_F(FakeSysfs, MergedNamesConstructorAndTraces) {
  const auto kmalloc = read_slab_facts("kmalloc-64", paths_);
  EXPECT_TRUE(kmalloc.in_sysfs);
  EXPECT_EQ(kmalloc.aliases, std::vector<std::string>{"my_cache"});
  EXPECT_EQ(kmalloc.store_user, true);
  ASSERT_TRUE(kmalloc.callers_text.has_value());
  EXPECT_EQ(kmalloc.callers_path, (paths_.debug_slab / "kmalloc-64" / "alloc_traces").string());
  const auto owner = slab_owner("kmalloc-64", kmalloc, nullptr);
  EXPECT_TRUE(owner.generic_kmalloc);
  EXPECT_EQ(owner.modules, (std::vector<std::string>{"nf_conntrack", "vmlinux"}));

  // An alias of a kmalloc cache is the same generic cache.
  const auto mine = slab_owner("my_cache", read_slab_facts("my_cache", paths_), nullptr);
  EXPECT_EQ(mine.aliases, std::vector<std::string>{"kmalloc-64"});
  EXPECT_TRUE(mine.generic_kmalloc);

  const auto ext4 = read_slab_facts("ext4_inode_cache", paths_);
  EXPECT_TRUE(ext4.in_sysfs);
  EXPECT_TRUE(ext4.aliases.empty());
  EXPECT_EQ(ext4.constructor, "init_once+0x0/0x80 [ext4]");
  EXPECT_EQ(ext4.store_user, false);
  EXPECT_FALSE(ext4.callers_text.has_value());
  EXPECT_EQ(ext4.callers_path, (paths_.debug_slab / "ext4_inode_cache" / "alloc_traces").string());
}

TEST_F(FakeSysfs, OldKernelsAllocCallsAndNamesThatAreNotCaches) {
  write(paths_.sys_slab / "ext4_inode_cache" / "alloc_calls",
        "      3 ext4_alloc_inode+0x1a/0x80 [ext4] age=1 pid=1\n");
  const auto ext4 = read_slab_facts("ext4_inode_cache", paths_);
  ASSERT_TRUE(ext4.callers_text.has_value());
  EXPECT_EQ(ext4.callers_path, (paths_.sys_slab / "ext4_inode_cache" / "alloc_calls").string());
  for (const char* name : {"", ".", "..", "../slab", "no_such"}) {
    EXPECT_FALSE(read_slab_facts(name, paths_).in_sysfs) << name;
  }
}

TEST_F(FakeSysfs, OwnerResolverFillsOnlyMissingOwners) {
  OwnerResolverOptions options;
  options.kallsyms = testing::test_data("kallsyms/kallsyms_small.txt");
  options.pooltag = testing::test_data("pooltag/pooltag_small.txt");
  options.allow_bad_lines = true;  // the fixture has malformed lines on purpose
  options.read_sysfs = true;
  options.sysfs = paths_;
  auto resolver = OwnerResolver::load(options);
  ASSERT_TRUE(resolver.has_value()) << resolver.error().message;
  EXPECT_TRUE(resolver->knows_tags());
  EXPECT_TRUE(resolver->knows_caches());
  EXPECT_EQ(resolver->owner_of(slab_cache("ext4_inode_cache")), "ext4");
  EXPECT_EQ(resolver->owner_of(slab_cache("kmalloc-64")), "kmalloc (generic)");
  EXPECT_EQ(resolver->owner_of(slab_cache("dentry")), "vmlinux");
  EXPECT_EQ(resolver->owner_of(slab_cache("TCP")), "");
  EXPECT_EQ(resolver->owner_of(tag_from_text("_Tst")), "tstmon.sys");
  EXPECT_EQ(resolver->owner_of(tag_from_text("@Tst")), "(Test video driver) leading at-sign tag");
  EXPECT_EQ(resolver->owner_of(tag_from_text("ZqAb")), "nt!zq");
  EXPECT_EQ(resolver->owner_of(tag_from_text("ZxyQ")), "zxy.sys");  // wildcard "Zxy?"
  EXPECT_EQ(resolver->owner_of(tag_from_text("Qq9z")), "");

  Snapshot snapshot;
  snapshot.entries.resize(3);
  snapshot.entries[0].key = slab_cache("nf_conntrack");
  snapshot.entries[1].key = tag_from_text("_Tst");
  snapshot.entries[1].owner = "from the poolmon log";
  snapshot.entries[2].key = slab_cache("unnamed");
  EXPECT_EQ(resolver->fill(snapshot), 1u);
  EXPECT_EQ(snapshot.entries[0].owner, "nf_conntrack");
  EXPECT_EQ(snapshot.entries[1].owner, "from the poolmon log");
  EXPECT_EQ(snapshot.entries[2].owner, "");
}

TEST(OwnerResolver, EmptyKnowsNothingAndMissingFilesAreErrors) {
  OwnerResolver empty;
  EXPECT_FALSE(empty.knows_tags());
  EXPECT_FALSE(empty.knows_caches());
  EXPECT_EQ(empty.owner_of(slab_cache("ext4_inode_cache")), "");
  EXPECT_EQ(empty.owner_of(slab_cache("kmalloc-64")), "kmalloc (generic)");  // by name alone
  OwnerResolverOptions options;
  options.kallsyms = "/nonexistent/kallsyms";
  auto missing = OwnerResolver::load(options);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kEnvironment);
  EXPECT_NE(missing.error().message.find("cannot read /nonexistent/kallsyms"), std::string::npos);
}

// snapshot cost 170 ms against slabtop's 7 ms, nearly all of it /proc/kallsyms loaded for the
// OWNER column on every run: the owners are kept in a memo between runs of the same boot.
TEST(OwnerResolver, SnapshotLoadsKallsymsEveryRunFixedByMemo) {
  const auto dir =
      std::filesystem::temp_directory_path() /
      ("poolscope_memo_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::remove_all(dir);
  OwnerResolverOptions options;
  options.kallsyms = testing::test_data("kallsyms/kallsyms_small.txt");
  options.kallsyms_required = false;
  options.memo_file = dir / "slab-owners";
  options.memo_key = "boot-1 6.18.0 abc";

  auto first = OwnerResolver::load(options);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_FALSE(first->symbols_loaded());  // not until a cache needs them
  EXPECT_EQ(first->owner_of(slab_cache("kmalloc-64")), "kmalloc (generic)");
  EXPECT_FALSE(first->symbols_loaded());  // generic caches need no symbols
  EXPECT_EQ(first->owner_of(slab_cache("ext4_inode_cache")), "ext4");
  EXPECT_TRUE(first->symbols_loaded());
  EXPECT_EQ(first->owner_of(slab_cache("dentry")), "vmlinux");
  EXPECT_EQ(first->save_memo(), std::nullopt);
  ASSERT_TRUE(std::filesystem::exists(dir / "slab-owners"));

  auto second = OwnerResolver::load(options);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->owner_of(slab_cache("ext4_inode_cache")), "ext4");
  EXPECT_EQ(second->owner_of(slab_cache("dentry")), "vmlinux");
  EXPECT_EQ(second->memo_hits(), 2u);
  EXPECT_FALSE(second->symbols_loaded());
  // A cache the memo does not know loads the symbols after all.
  EXPECT_EQ(second->owner_of(slab_cache("xfs_inode")), "xfs");
  EXPECT_TRUE(second->symbols_loaded());
  EXPECT_EQ(second->save_memo(), std::nullopt);

  // Another boot (or kernel, or module set): the memo is not trusted.
  options.memo_key = "boot-2 6.18.0 abc";
  auto rebooted = OwnerResolver::load(options);
  ASSERT_TRUE(rebooted.has_value());
  EXPECT_EQ(rebooted->owner_of(slab_cache("dentry")), "vmlinux");
  EXPECT_EQ(rebooted->memo_hits(), 0u);
  EXPECT_TRUE(rebooted->symbols_loaded());

  // A damaged memo is ignored, not believed.
  {
    std::ofstream out(dir / "slab-owners", std::ios::binary | std::ios::trunc);
    out << "poolscope-slab-owners 1\tboot-2 6.18.0 abc\ndentry\tfake\textra\n";
  }
  auto damaged = OwnerResolver::load(options);
  ASSERT_TRUE(damaged.has_value());
  EXPECT_EQ(damaged->owner_of(slab_cache("dentry")), "vmlinux");
  EXPECT_EQ(damaged->memo_hits(), 0u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace poolscope::attrib
