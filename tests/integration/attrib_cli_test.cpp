// `poolscope who` and `poolscope drivers` run as a binary on the real sample drivers and Wine's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "cli_support.h"
#include "test_paths.h"
#include "test_support.h"
#include "unit/attrib/arm64_driver.h"

namespace poolscope::testing {
namespace {

const std::filesystem::path kWine = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows";

#define REQUIRE_WINE()                                                       \
  do {                                                                       \
    if (!std::filesystem::exists(kWine / "hidclass.sys")) {                  \
      GTEST_SKIP() << "needs Debian's wine64 drivers in " << kWine.string(); \
    }                                                                        \
  } while (0)

nlohmann::json run_json(const std::string& args, int expected_exit = 0) {
  const auto r = run_poolscope(args);
  EXPECT_EQ(r.exit_code, expected_exit) << r.out;
  // stderr is merged; JSON starts at the first '{'.
  const auto brace = r.out.find('{');
  if (brace == std::string::npos) return {};
  return nlohmann::json::parse(r.out.substr(brace), nullptr, false);
}

std::string pooltag_fixture() {
  return test_data("pooltag/pooltag_owners.txt").string();
}

TEST(WhoCli, WinDivertOwnsWDivWithItsCallSites) {
  POOLSCOPE_REQUIRE_SHARED("drivers/windivert/WinDivert64.sys");
  const auto j = run_json("who WDiv --drivers " + shared_data("drivers/windivert").string() +
                          " --drivers " + shared_data("drivers/winpmem").string() + " --pooltag " +
                          pooltag_fixture() + " --format json");
  EXPECT_EQ(j["tag"], "WDiv");
  ASSERT_EQ(j["pooltag"].size(), 1u);
  EXPECT_EQ(j["pooltag"][0]["binary"], "windivert.sys");
  EXPECT_EQ(j["pooltag"][0]["line"], 4);
  ASSERT_EQ(j["near_misses"].size(), 1u);
  EXPECT_EQ(j["near_misses"][0]["pattern"], "Wdiv");
  ASSERT_EQ(j["owners"].size(), 1u);
  const auto& owner = j["owners"][0];
  EXPECT_EQ(std::filesystem::path(owner["file"].get<std::string>()).filename(), "WinDivert64.sys");
  EXPECT_EQ(owner["confidence"], "high");
  EXPECT_EQ(owner["machine"], "x64");
  std::size_t allocs = 0, frees = 0;
  std::set<std::uint64_t> offsets;
  for (const auto& site : owner["call_sites"]) {
    if (site["api"] == "ExAllocatePoolWithTag") {
      ++allocs;
      offsets.insert(site["tag_file_offset"].get<std::uint64_t>());
    }
    if (site["api"] == "ExFreePoolWithTag") ++frees;
  }
  EXPECT_EQ(allocs, 5u);
  EXPECT_EQ(frees, 7u);
  EXPECT_EQ(offsets, (std::set<std::uint64_t>{6669, 10557, 10924, 14367, 14902}));
  std::set<std::string> rvas;
  std::size_t nbl_pools = 0;
  for (const auto& site : owner["call_sites"]) {
    rvas.insert(site["rva"].get<std::string>());
    if (site["api"] == "NdisAllocateNetBufferListPool") ++nbl_pools;
  }
  EXPECT_TRUE(rvas.contains("0x2616"));
  EXPECT_EQ(nbl_pools, 1u);  // the tag in NET_BUFFER_LIST_POOL_PARAMETERS (issue 16)
}

// Issue 16: `who WDiv --drivers ../shared/data/real/drivers` found nothing and `drivers` printed
// an empty table without a word: neither descended into the package subfolders.
TEST(WhoCli, DriversFolderIsSearchedWithItsSubfolders) {
  POOLSCOPE_REQUIRE_SHARED("drivers/windivert/WinDivert64.sys");
  const auto j =
      run_json("who WDiv --drivers " + shared_data("drivers").string() + " --format json");
  ASSERT_EQ(j["owners"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["owners"][0]["confidence"], "high");
  ASSERT_FALSE(j["searched"].empty());
  EXPECT_NE(j["searched"][0].get<std::string>().find("4 .sys files in 4 folders"),
            std::string::npos)
      << j["searched"].dump();
  const auto table = run_poolscope("drivers " + shared_data("drivers").string());
  EXPECT_EQ(table.exit_code, 0) << table.out;
  for (const char* name : {"WinDivert64.sys", "winpmem_x64.sys", "winpmem_x86.sys"}) {
    EXPECT_NE(table.out.find(name), std::string::npos) << table.out;
  }
  EXPECT_NE(table.out.find("4 read as PE files"), std::string::npos) << table.out;
}

TEST(DriversCli, EmptyFolderSaysWhatWasSearched) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("poolscope-empty-drivers-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "pkg");
  std::ofstream(dir / "pkg" / "driver.inf") << "[Version]\n";
  const auto r = run_poolscope("drivers " + dir.string());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("0 .sys files in 2 folders under " + dir.string()), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 other file not read"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

// poolused_01: 1.9 GB under 'amda', owned by amdacpbus2.sys, a KMDF driver whose framework
// objects carry its service-name tag; a test driver of that name stands in for it.
// The KMDF test drivers' folder: built beside the binary's build tree (tests/CMakeLists.txt).
std::filesystem::path kmdf_test_drivers() {
  return std::filesystem::path(POOLSCOPE_BINARY).parent_path().parent_path().parent_path() /
         "test_drivers" / "kmdf";
}

TEST(WhoCli, KmdfServiceNameTagIsMediumWithTheReason) {
  const auto dir = kmdf_test_drivers();
  if (!std::filesystem::exists(dir / "amdacpbus2.sys")) {
    GTEST_SKIP() << "KMDF test driver not built (needs x86_64-w64-mingw32-gcc)";
  }
  const auto j = run_json("who amda --drivers " + dir.string() + " --format json");
  ASSERT_EQ(j["owners"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["owners"][0]["confidence"], "medium");
  EXPECT_NE(j["owners"][0]["note"].get<std::string>().find("KMDF driver"), std::string::npos);
  const auto table = run_poolscope("who amda --drivers " + dir.string());
  EXPECT_NE(table.out.find("amdacpbus2.sys               medium"), std::string::npos) << table.out;
}

// Issue 16: a tag passed to WdfMemoryCreate through the KMDF function table was not found.
TEST(WhoCli, WdfMemoryCreateTagIsHighWithTheTableCallSite) {
  const auto dir = kmdf_test_drivers();
  if (!std::filesystem::exists(dir / "wdfsample.sys")) {
    GTEST_SKIP() << "KMDF test driver not built (needs x86_64-w64-mingw32-gcc)";
  }
  const auto j = run_json("who KMem --drivers " + dir.string() + " --format json");
  ASSERT_EQ(j["owners"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["owners"][0]["confidence"], "high");
  ASSERT_EQ(j["owners"][0]["call_sites"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["owners"][0]["call_sites"][0]["api"], "WdfMemoryCreate");
  EXPECT_EQ(j["owners"][0]["call_sites"][0]["size"], 256);
  const auto table = run_poolscope("drivers " + dir.string());
  EXPECT_NE(table.out.find("KCfg KLsd KMem KWr2 KWrp KTag(KMDF DriverPoolTag)"), std::string::npos)
      << table.out;
}

TEST(WhoCli, WinPmemDriversOwnPmemAndFspt) {
  POOLSCOPE_REQUIRE_SHARED("drivers/winpmem/winpmem_x86.sys");
  for (const char* tag : {"PMEM", "FSPT"}) {
    const auto j = run_json(std::string("who ") + tag + " --drivers " +
                            shared_data("drivers/winpmem").string() + " --format json");
    ASSERT_EQ(j["owners"].size(), 3u) << tag;
    std::set<std::string> machines;
    for (const auto& owner : j["owners"]) {
      EXPECT_EQ(owner["confidence"], "high") << tag;
      machines.insert(owner["machine"].get<std::string>());
    }
    EXPECT_EQ(machines, (std::set<std::string>{"x64", "x86"}));
  }
}

TEST(WhoCli, NoneIsOwnedByTheSixWineDriversCallingExAllocatePool) {
  REQUIRE_WINE();
  const auto j = run_json("who None --drivers " + kWine.string() + " --pooltag " +
                          pooltag_fixture() + " --format json");
  std::set<std::string> high;
  for (const auto& owner : j["owners"]) {
    if (owner["confidence"] != "high") {
      EXPECT_NE(owner["note"].get<std::string>().find("only a byte match"), std::string::npos);
      continue;
    }
    high.insert(std::filesystem::path(owner["file"].get<std::string>()).filename().string());
    for (const auto& site : owner["call_sites"]) EXPECT_EQ(site["api"], "ExAllocatePool");
  }
  EXPECT_EQ(high, (std::set<std::string>{"hidclass.sys", "hidparse.sys", "usbd.sys", "winebus.sys",
                                         "wineusb.sys", "winexinput.sys"}));
}

// An ARM64 driver (a PE32+ file for machine 0xAA64 written by the test): `drivers` lists its
// untagged import and says call sites are x86/x64 only; `who` finds 'None' by the import and a tag
// by the byte search only.
TEST(DriversCli, Arm64DriverImportsAndByteSearchWorkAndCallSitesSaySo) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("poolscope-arm64-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto driver = arm64_driver();
  {
    std::ofstream out(dir / "arm64drv.sys", std::ios::binary);
    out.write(reinterpret_cast<const char*>(driver.bytes.data()),
              static_cast<std::streamsize>(driver.bytes.size()));
  }
  const auto drivers = run_json("drivers " + dir.string() + " --format json")["drivers"];
  ASSERT_TRUE(drivers.is_array()) << drivers.dump();
  ASSERT_EQ(drivers.size(), 1u);
  const auto& d = drivers[0];
  EXPECT_EQ(d["file"], "arm64drv.sys");
  EXPECT_EQ(d["machine"], "arm64");
  EXPECT_TRUE(d["tags"].empty());
  EXPECT_EQ(d["untagged_imports"], nlohmann::json::array({"ExAllocatePool"}));
  EXPECT_NE(d["call_site_note"].get<std::string>().find("call-site recovery is x86/x64 only"),
            std::string::npos);
  const auto table = run_poolscope("drivers " + dir.string());
  EXPECT_EQ(table.exit_code, 0) << table.out;
  EXPECT_NE(table.out.find("arm64drv.sys"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("untagged: ExAllocatePool"), std::string::npos) << table.out;

  const auto none = run_json("who None --drivers " + dir.string() + " --format json");
  ASSERT_EQ(none["owners"].size(), 1u) << none.dump();
  EXPECT_EQ(none["owners"][0]["confidence"], "high");
  EXPECT_TRUE(none["owners"][0]["call_sites"].empty());
  const auto tag = run_json("who a64T --drivers " + dir.string() + " --format json");
  ASSERT_EQ(tag["owners"].size(), 1u) << tag.dump();
  EXPECT_EQ(tag["owners"][0]["confidence"], "low");
  EXPECT_EQ(tag["owners"][0]["byte_offsets"], nlohmann::json::array({driver.tag_file_offset}));
  EXPECT_NE(tag["owners"][0]["note"].get<std::string>().find("arm64 code was not decoded"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

// Issue 21 item 6: a corrupted import table (the import directory outside the file) read as "0
// tags, 0 sites" with no note. The driver is now said to be damaged, with what was still done.
TEST(DriversCli, CorruptedImportTableSaysDamagedNotZeroTags) {
  const auto built =
      std::filesystem::path(POOLSCOPE_BINARY).parent_path().parent_path().parent_path() /
      "test_drivers" / "pool_driver.sys";
  if (!std::filesystem::exists(built)) {
    GTEST_SKIP() << "test driver not built (needs x86_64-w64-mingw32-gcc)";
  }
  const auto dir = std::filesystem::temp_directory_path() /
                   ("poolscope-damaged-imports-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string bytes;
  {
    std::ifstream in(built, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::uint32_t pe = 0;
  std::memcpy(&pe, bytes.data() + 0x3C, 4);
  ASSERT_EQ(bytes.substr(pe, 4), std::string("PE\0\0", 4));
  ASSERT_EQ(static_cast<unsigned char>(bytes[pe + 24 + 1]), 0x02u);  // PE32+ optional header
  // Data directory 1 (imports) of a PE32+ optional header: RVA at +120, size at +124.
  const std::uint32_t outside = 0x7FFF0000;
  std::memcpy(bytes.data() + pe + 24 + 120, &outside, 4);
  std::ofstream(dir / "damaged.sys", std::ios::binary) << bytes;

  const auto drivers = run_json("drivers " + dir.string() + " --format json")["drivers"];
  ASSERT_EQ(drivers.size(), 1u) << drivers.dump();
  const std::string damage = drivers[0].value("damage", "");
  EXPECT_NE(damage.find("the file is damaged: "), std::string::npos) << drivers.dump(2);
  EXPECT_NE(damage.find("still done: "), std::string::npos) << damage;
  const auto table = run_poolscope("drivers " + dir.string());
  EXPECT_NE(table.out.find("the file is damaged"), std::string::npos) << table.out;
  std::filesystem::remove_all(dir);
}

// `leaks` fills the OWNER of its findings and largest consumers from the kernel symbols (the
// recording's samples carry none: slabinfo has no owner).
TEST(LeaksCli, LargestConsumersCarryTheOwnerFromKallsyms) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("poolscope-leaks-owner-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string db = (dir / "slab.db").string();
  const auto imported =
      run_poolscope("import --into " + db + " " + test_data("store/slabinfo_a.txt").string() + " " +
                    test_data("store/slabinfo_b.txt").string() +
                    " --at 2026-11-21T08:00:00Z --at 2026-11-21T08:01:00Z");
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  const std::string kallsyms = test_data("kallsyms/kallsyms_small.txt").string();
  const auto owners_of = [](const nlohmann::json& report) {
    std::map<std::string, std::string> out;
    for (const auto& c : report["top_consumers"]) out[c["key"]] = c.value("owner", "");
    return out;
  };
  // dentry_cache is a data symbol of vmlinux in the fixture; nothing names kcopyd_job.
  const auto with = owners_of(run_json("leaks " + db + " --format json --kallsyms " + kallsyms));
  EXPECT_EQ(with, (std::map<std::string, std::string>{{"dentry", "vmlinux"}, {"kcopyd_job", ""}}));
  const auto without = owners_of(run_json("leaks " + db + " --format json --no-owner"));
  EXPECT_EQ(without, (std::map<std::string, std::string>{{"dentry", ""}, {"kcopyd_job", ""}}));
  // The text table has the OWNER column, a dash where nothing names the cache.
  const auto text = run_poolscope("leaks " + db + " --kallsyms " + kallsyms);
  ASSERT_EQ(text.exit_code, 0) << text.out;
  const auto consumers = text.out.find("Largest consumers now:");
  ASSERT_NE(consumers, std::string::npos) << text.out;
  const std::string table = text.out.substr(consumers);
  EXPECT_NE(table.find(" OWNER\n"), std::string::npos) << table;
  const auto line = [&table](const std::string& key) {
    const auto at = table.find("\n  " + key + " ");
    return at == std::string::npos ? std::string()
                                   : table.substr(at + 1, table.find('\n', at + 1) - at - 1);
  };
  EXPECT_TRUE(line("dentry").ends_with("  vmlinux")) << table;
  EXPECT_TRUE(line("kcopyd_job").ends_with("  -")) << table;
  const auto plain = run_poolscope("leaks " + db + " --no-owner");
  EXPECT_EQ(plain.out.find("OWNER"), std::string::npos) << plain.out;
  // A file named on the command line that cannot be read is an error that says what to do.
  const auto missing = run_poolscope("leaks " + db + " --kallsyms " + (dir / "absent").string());
  EXPECT_EQ(missing.exit_code, 3) << missing.out;
  EXPECT_NE(missing.out.find("--kallsyms FILE"), std::string::npos) << missing.out;
  std::filesystem::remove_all(dir);
}

// `diagnose` on this machine: the live samples carry the OWNER into the recording, and the
// findings and largest consumers show it (kmalloc caches need no kernel symbols to be named).
TEST(DiagnoseCli, LiveConsumersCarryTheOwner) {
  if (!is_root() || read_file("/proc/slabinfo").empty()) {
    GTEST_SKIP() << "needs root (reads /proc/slabinfo)";
  }
  const auto dir = std::filesystem::temp_directory_path() /
                   ("poolscope-diagnose-owner-" + std::to_string(::getpid()));
  const auto j = run_json(
      "diagnose --duration 2s --interval 1 --no-processes --top 50 --format json "
      "--out " +
      dir.string());
  ASSERT_FALSE(j["top_consumers"].empty()) << j.dump();
  std::size_t kmalloc = 0, owned = 0;
  for (const auto& c : j["top_consumers"]) {
    const std::string key = c["key"];
    owned += c.contains("owner");
    if (key.starts_with("kmalloc-") &&
        key.find_first_not_of("0123456789k", 8) == std::string::npos) {
      ++kmalloc;
      EXPECT_EQ(c.value("owner", ""), "kmalloc (generic)") << key;
    }
  }
  EXPECT_GT(kmalloc, 0u) << j.dump();
  EXPECT_GT(owned, 0u);
  std::filesystem::remove_all(dir);
}

TEST(WhoCli, MissingTagExitsZeroWithSuggestions) {
  REQUIRE_WINE();
  const auto r = run_poolscope("who Qq9z --drivers " + kWine.string());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("no owner found in 1 folder(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("try: pass --pooltag FILE"), std::string::npos) << r.out;
}

TEST(WhoCli, LinuxNeedsDriversFolder) {
  const auto r = run_poolscope("who WDiv");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("pass --drivers DIR"), std::string::npos) << r.out;
  EXPECT_EQ(run_poolscope("who ABCDE --drivers /").exit_code, 2);
}

#define REQUIRE_KALLSYMS()                                                                     \
  do {                                                                                         \
    if (read_file("/proc/kallsyms").empty() || !std::filesystem::exists("/sys/kernel/slab")) { \
      GTEST_SKIP() << "needs a readable /proc/kallsyms and /sys/kernel/slab (Linux, SLUB)";    \
    }                                                                                          \
  } while (0)

// The caches of this kernel, from /proc/slabinfo (empty when unreadable).
std::set<std::string> live_caches() {
  std::set<std::string> out;
  std::istringstream in(read_file("/proc/slabinfo"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("slabinfo") || line.starts_with("#")) continue;
    out.insert(line.substr(0, line.find(' ')));
  }
  return out;
}

std::string trim_newline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST(WhoCli, LiveSlabCacheOwnedByItsConstructorOrPointerSymbol) {
  REQUIRE_KALLSYMS();
  const auto caches = live_caches();
  if (caches.empty()) GTEST_SKIP() << "/proc/slabinfo is not readable (needs root)";
  // Caches whose creator is known from the kernel source: a constructor or a cachep variable.
  std::string cache;
  for (const char* candidate : {"ext4_inode_cache", "ovl_inode", "fuse_inode", "xfs_inode",
                                "radix_tree_node", "sighand_cache", "anon_vma", "inode_cache"}) {
    if (caches.contains(candidate)) {
      cache = candidate;
      break;
    }
  }
  if (cache.empty()) GTEST_SKIP() << "none of the known caches exists on this kernel";
  const auto j = run_json("who -f json " + cache);
  EXPECT_EQ(j["cache"], cache);
  EXPECT_EQ(j["kind"], "slab_cache");
  EXPECT_EQ(j["exists"], true);
  EXPECT_EQ(j["generic_kmalloc"], false);
  EXPECT_EQ(j["confidence"], "high") << j.dump(2);
  ASSERT_FALSE(j["modules"].empty()) << j.dump(2);
  // Cross-check with the kernel itself: the ctor file or kallsyms names the same module.
  const std::string ctor = trim_newline(read_file("/sys/kernel/slab/" + cache + "/ctor"));
  if (!j["cache_pointers"].empty()) {
    const std::string name = j["cache_pointers"][0]["name"];
    const std::string module = j["cache_pointers"][0]["module"];
    const std::string kallsyms = read_file("/proc/kallsyms");
    const std::string suffix = module == "vmlinux" ? std::string("\n") : "\t[" + module + "]\n";
    EXPECT_NE(kallsyms.find(" " + name + suffix), std::string::npos) << name << " " << module;
    EXPECT_EQ(j["owner"], module);
  } else {
    ASSERT_FALSE(ctor.empty()) << "no pointer symbol and no constructor: " << j.dump(2);
    ASSERT_TRUE(j["constructor"].is_object());
    EXPECT_EQ(j["constructor"]["text"], ctor);
    const std::string function = j["constructor"]["function"];
    EXPECT_TRUE(ctor.starts_with(function + "+0x")) << ctor;
    const auto bracket = ctor.find(" [");
    const std::string module = bracket == std::string::npos
                                   ? "vmlinux"
                                   : ctor.substr(bracket + 2, ctor.size() - bracket - 3);
    EXPECT_EQ(j["constructor"]["module"], module);
    EXPECT_EQ(j["owner"], module);
  }
  EXPECT_EQ(j["kallsyms"]["source"], "/proc/kallsyms");
  EXPECT_GT(j["kallsyms"]["symbols"].get<std::size_t>(), 1000u);
  EXPECT_EQ(j["kallsyms"]["addresses_hidden"], !is_root());
}

TEST(WhoCli, LiveKmalloc64IsGenericAndPointsToTracing) {
  REQUIRE_KALLSYMS();
  if (!std::filesystem::exists("/sys/kernel/slab/kmalloc-64")) {
    GTEST_SKIP() << "this kernel has no kmalloc-64 cache";
  }
  const auto j = run_json("who kmalloc-64 --format json");
  EXPECT_EQ(j["cache"], "kmalloc-64");
  EXPECT_EQ(j["exists"], true);
  EXPECT_EQ(j["generic_kmalloc"], true);
  EXPECT_EQ(j["owner"], "kmalloc (generic)");
  EXPECT_EQ(j["constructor"], nullptr);
  const std::string note = j["callers"]["note"];
  const bool tracked = j["callers"]["available"].get<bool>();
  if (!tracked) {
    EXPECT_NE(note.find("slub_debug=U,kmalloc-64"), std::string::npos) << note;
    EXPECT_NE(note.find("poolscope trace --cache kmalloc-64"), std::string::npos) << note;
  }
  const auto table = run_poolscope("who kmalloc-64");
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("owner: kmalloc (generic)\n"), std::string::npos) << table.out;
}

TEST(WhoCli, ShortNamesAreCachesOnlyWhenTheKernelHasThemAndNoTagOptionIsGiven) {
  REQUIRE_KALLSYMS();
  std::string short_cache;
  for (const auto& name : live_caches()) {
    if (name.size() <= 4 && std::filesystem::exists("/sys/kernel/slab/" + name)) {
      short_cache = name;
      break;
    }
  }
  if (short_cache.empty()) GTEST_SKIP() << "no slab cache with a name of 4 characters or less";
  const auto as_cache = run_poolscope("who " + short_cache);
  EXPECT_EQ(as_cache.exit_code, 0) << as_cache.out;
  EXPECT_TRUE(as_cache.out.starts_with("cache " + short_cache + " (Linux slab cache)\n"))
      << as_cache.out;
  const auto as_tag = run_poolscope("who " + short_cache + " --drivers /nonexistent");
  EXPECT_EQ(as_tag.exit_code, 2) << as_tag.out;  // a tag: the folder is read (and missing)
  // Issue 20: a cache this kernel does not have is an error, not an empty answer.
  const auto unknown = run_poolscope("who --cache -f json Qq9z");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.out;
  EXPECT_NE(unknown.out.find("no slab cache named \"Qq9z\""), std::string::npos) << unknown.out;
}

TEST(DriversCli, WineFolderListsUntaggedImportersAndWritesLocaltag) {
  REQUIRE_WINE();
  const auto localtag =
      std::filesystem::temp_directory_path() / ("poolscope_localtag_" + std::to_string(::getpid()));
  const auto j =
      run_json("drivers " + kWine.string() + " --format json --localtag " + localtag.string());
  std::set<std::string> untagged;
  std::size_t drivers = 0;
  for (const auto& d : j["drivers"]) {
    ++drivers;
    if (!d["untagged_imports"].empty()) untagged.insert(d["file"].get<std::string>());
  }
  EXPECT_EQ(drivers, 17u);  // the .sys files; ntoskrnl.exe and the DLLs beside them are not read
  EXPECT_EQ(untagged, (std::set<std::string>{"hidclass.sys", "hidparse.sys", "usbd.sys",
                                             "winebus.sys", "wineusb.sys", "winexinput.sys"}));
  const std::string text = read_file(localtag);
  EXPECT_NE(text.find("None - winebus.sys - found by poolscope (7 call sites)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("None - usbd.sys - found by poolscope (2 call sites)\n"), std::string::npos);
  std::filesystem::remove(localtag);
}

TEST(DriversCli, RealDriversTable) {
  POOLSCOPE_REQUIRE_SHARED("drivers/winpmem/winpmem_x86.sys");
  const auto r = run_poolscope("drivers " + shared_data("drivers/winpmem").string());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("winpmem_x86.sys"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FSPT PMEM"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace poolscope::testing
