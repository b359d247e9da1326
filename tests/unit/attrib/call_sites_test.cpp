// Call-site scanner: real drivers (WinDivert, WinPmem x64/x86, Wine) and a mingw-built test driver.
#include "attrib/call_sites.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "attrib/driver_file.h"
#include "test_paths.h"
#include "test_support.h"
#include "unit/attrib/arm64_driver.h"

namespace poolscope::attrib {
namespace {

using poolscope::testing::shared_data;

DriverFile load(const std::filesystem::path& path) {
  auto file = read_driver_file(path);
  EXPECT_TRUE(file.has_value()) << (file ? "" : file.error().message);
  return file ? std::move(*file) : DriverFile{};
}

std::vector<const CallSite*> sites_of(const CallSiteScan& scan, std::string_view api) {
  std::vector<const CallSite*> out;
  for (const auto& site : scan.sites) {
    if (site.api->name == api) out.push_back(&site);
  }
  return out;
}

std::set<std::string> allocation_tags(const CallSiteScan& scan) {
  std::set<std::string> out;
  for (const auto& site : scan.sites) {
    if (site.api->kind != PoolApiKind::kFree && site.tag) out.insert(display_key(*site.tag));
  }
  return out;
}

TEST(CallSites, WinDivertHasExactlyTheFiveAllocationSitesOfSourceMd) {
  POOLSCOPE_REQUIRE_SHARED("drivers/windivert/WinDivert64.sys");
  const auto file = load(shared_data("drivers/windivert/WinDivert64.sys"));
  const auto scan = scan_call_sites(file.image, file.bytes);
  ASSERT_TRUE(scan.supported);
  const auto allocs = sites_of(scan, "ExAllocatePoolWithTag");
  std::vector<std::uint64_t> offsets;
  for (const auto* site : allocs) {
    ASSERT_TRUE(site->tag);
    EXPECT_EQ(display_key(*site->tag), "WDiv");
    EXPECT_EQ(site->confidence, Confidence::kHigh);
    EXPECT_EQ(site->pool_type, 0u);  // NonPagedPool
    ASSERT_TRUE(site->tag_file_offset);
    offsets.push_back(*site->tag_file_offset);
  }
  EXPECT_EQ(offsets, (std::vector<std::uint64_t>{6669, 10557, 10924, 14367, 14902}));
  EXPECT_EQ(allocs[0]->rva, 0x2616u);
  EXPECT_EQ(allocs[0]->file_offset, 6678u);  // the call after `mov r8d, 'viDW'`
  EXPECT_EQ(allocs[3]->size, 3072u);
  // The seven `mov edx, 'viDW'` of SOURCE.md are the ExFreePoolWithTag calls.
  std::vector<std::uint64_t> frees;
  for (const auto* site : sites_of(scan, "ExFreePoolWithTag")) {
    ASSERT_TRUE(site->tag_file_offset);
    frees.push_back(*site->tag_file_offset);
  }
  EXPECT_EQ(frees, (std::vector<std::uint64_t>{5518, 7172, 7327, 11348, 11474, 11546, 14948}));
  // SOURCE.md's offset 2237, `mov dword ptr [rsp+40h], 'viDW'`: the PoolTag of the
  // NET_BUFFER_LIST_POOL_PARAMETERS whose address is NdisAllocateNetBufferListPool's argument 2.
  const auto nbl = sites_of(scan, "NdisAllocateNetBufferListPool");
  ASSERT_EQ(nbl.size(), 1u);
  ASSERT_TRUE(nbl[0]->tag);
  EXPECT_EQ(display_key(*nbl[0]->tag), "WDiv");
  EXPECT_EQ(nbl[0]->tag_file_offset, 2237u);
}

TEST(CallSites, WinPmemX64AndX86AllocatePmemAndFspt) {
  POOLSCOPE_REQUIRE_SHARED("drivers/winpmem/winpmem_x86.sys");
  for (const char* name : {"winpmem_x64.sys", "winpmem_x64_test.sys", "winpmem_x86.sys"}) {
    SCOPED_TRACE(name);
    const auto file = load(shared_data(std::string("drivers/winpmem/") + name));
    const auto scan = scan_call_sites(file.image, file.bytes);
    const auto tags = allocation_tags(scan);
    EXPECT_TRUE(tags.contains("PMEM"));
    EXPECT_TRUE(tags.contains("FSPT"));
    // Tags of the WDK library code linked in (IoCreateDeviceSecure & co.) are real tags too.
    EXPECT_TRUE(tags.contains("SeAl"));
  }
  // SOURCE.md's byte ground truth for the x64 driver: PMEM immediates at 3282, 15529, 15623 and
  // FSPT at 26295; the "PMEM" at 26819 is inside a string and is no call site.
  const auto file = load(shared_data("drivers/winpmem/winpmem_x64.sys"));
  const auto scan = scan_call_sites(file.image, file.bytes);
  std::vector<std::uint64_t> pmem, fspt;
  for (const auto* site : sites_of(scan, "ExAllocatePoolWithTag")) {
    if (!site->tag || !site->tag_file_offset) continue;
    if (display_key(*site->tag) == "PMEM") pmem.push_back(*site->tag_file_offset);
    if (display_key(*site->tag) == "FSPT") fspt.push_back(*site->tag_file_offset);
  }
  EXPECT_EQ(pmem, (std::vector<std::uint64_t>{3282, 15529, 15623}));
  EXPECT_EQ(fspt, (std::vector<std::uint64_t>{26295}));
  // x86: `push 'FSPT'; push 70h; pop edi; push edi; push ebx; ... call [ExAllocatePoolWithTag]`.
  const auto x86 = load(shared_data("drivers/winpmem/winpmem_x86.sys"));
  const auto x86_scan = scan_call_sites(x86.image, x86.bytes);
  const auto x86_allocs = sites_of(x86_scan, "ExAllocatePoolWithTag");
  ASSERT_FALSE(x86_allocs.empty());
  const CallSite* last = x86_allocs.back();
  EXPECT_EQ(last->rva, 0xa090u);
  EXPECT_EQ(display_key(*last->tag), "FSPT");
  EXPECT_EQ(last->tag_file_offset, 17003u);
  EXPECT_EQ(last->size, 0x70u);
}

TEST(CallSites, WineDriversCallUntaggedExAllocatePool) {
  const std::filesystem::path dir = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows";
  if (!std::filesystem::exists(dir / "hidclass.sys")) {
    GTEST_SKIP() << "needs Debian's wine64 drivers in " << dir;
  }
  std::set<std::string> callers;
  std::size_t sites = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".sys") continue;
    const auto file = load(entry.path());
    const auto scan = scan_call_sites(file.image, file.bytes);
    for (const auto* site : sites_of(scan, "ExAllocatePool")) {
      ASSERT_TRUE(site->tag);
      EXPECT_EQ(display_key(*site->tag), "None");
      EXPECT_EQ(site->confidence, Confidence::kHigh);
      EXPECT_NE(site->note.find("'None'"), std::string::npos);
      callers.insert(entry.path().filename().string());
      ++sites;
    }
  }
  EXPECT_EQ(callers, (std::set<std::string>{"hidclass.sys", "hidparse.sys", "usbd.sys",
                                            "winebus.sys", "wineusb.sys", "winexinput.sys"}));
  EXPECT_EQ(sites, 20u);
}

// The quick decoder (lengths and branches without Zydis, operands only where a walk looks) must
// find exactly what decoding every instruction fully with Zydis finds.
void expect_same_scan(const CallSiteScan& fast, const CallSiteScan& full, const std::string& file) {
  EXPECT_EQ(fast.decoded_bytes, full.decoded_bytes) << file;
  ASSERT_EQ(fast.sites.size(), full.sites.size()) << file;
  for (std::size_t k = 0; k < fast.sites.size(); ++k) {
    const auto& a = fast.sites[k];
    const auto& b = full.sites[k];
    EXPECT_EQ(a.rva, b.rva) << file << " site " << k;
    EXPECT_EQ(a.file_offset, b.file_offset) << file << " site " << k;
    EXPECT_EQ(a.api, b.api) << file << " site " << k;
    EXPECT_EQ(a.tag, b.tag) << file << " site " << k;
    EXPECT_EQ(a.tag_file_offset, b.tag_file_offset) << file << " site " << k;
    EXPECT_EQ(a.pool_type, b.pool_type) << file << " site " << k;
    EXPECT_EQ(a.size, b.size) << file << " site " << k;
    EXPECT_EQ(a.note, b.note) << file << " site " << k;
    EXPECT_EQ(a.via, b.via) << file << " site " << k;
  }
  ASSERT_EQ(fast.wrappers.size(), full.wrappers.size()) << file;
  for (std::size_t k = 0; k < fast.wrappers.size(); ++k) {
    EXPECT_EQ(fast.wrappers[k].function_rva, full.wrappers[k].function_rva) << file;
    EXPECT_EQ(fast.wrappers[k].parameter, full.wrappers[k].parameter) << file;
    EXPECT_EQ(fast.wrappers[k].api, full.wrappers[k].api) << file;
    EXPECT_EQ(fast.wrappers[k].depth, full.wrappers[k].depth) << file;
    EXPECT_EQ(fast.wrappers[k].via, full.wrappers[k].via) << file;
  }
}

TEST(CallSites, QuickDecoderFindsExactlyWhatFullZydisDecodingFinds) {
  std::vector<std::filesystem::path> files;
  for (const char* dir : {"drivers/windivert", "drivers/winpmem"}) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(shared_data(dir), ec)) {
      if (e.path().extension() == ".sys") files.push_back(e.path());
    }
  }
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows", ec)) {
    if (e.path().extension() == ".sys") files.push_back(e.path());
  }
  for (const char* name : {"pool_driver.sys", "pool_driver_x86.sys", "pattern_driver.sys"}) {
    const auto path = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / name;
    if (std::filesystem::exists(path)) files.push_back(path);
  }
  if (files.empty()) GTEST_SKIP() << "needs ../shared/data/real/drivers or Debian's wine64 drivers";
  std::size_t sites = 0;
  for (const auto& path : files) {
    const auto file = load(path);
    CallSiteOptions reference;
    reference.quick_decoder = false;
    const auto fast = scan_call_sites(file.image, file.bytes);
    const auto full = scan_call_sites(file.image, file.bytes, reference);
    expect_same_scan(fast, full, path.filename().string());
    sites += fast.sites.size();
  }
  EXPECT_GT(sites, 100u) << "the comparison must cover real call sites";
}

class TestDriver : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto path = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / "pool_driver.sys";
    if (!std::filesystem::exists(path)) {
      GTEST_SKIP() << "test driver not built (needs x86_64-w64-mingw32-gcc): " << path;
    }
    file_ = load(path);
    scan_ = scan_call_sites(file_.image, file_.bytes);
  }
  const CallSite* only(std::string_view api) {
    const auto sites = sites_of(scan_, api);
    EXPECT_EQ(sites.size(), 1u) << api;
    return sites.empty() ? nullptr : sites[0];
  }
  DriverFile file_;
  CallSiteScan scan_;
};

TEST_F(TestDriver, ExAllocatePool2TagIsTheThirdArgument) {
  const CallSite* site = only("ExAllocatePool2");
  ASSERT_NE(site, nullptr);
  EXPECT_EQ(display_key(*site->tag), "st2P");
  EXPECT_EQ(site->pool_type, 0x40u);  // POOL_FLAG_NON_PAGED
  EXPECT_EQ(site->size, 100u);
  EXPECT_TRUE(site->via.empty());
}

TEST_F(TestDriver, QuotaTagAndLookasideTagOnTheStack) {
  const CallSite* quota = only("ExAllocatePoolWithQuotaTag");
  ASSERT_NE(quota, nullptr);
  EXPECT_EQ(display_key(*quota->tag), "stQt");
  EXPECT_EQ(quota->pool_type, 1u);
  EXPECT_EQ(quota->size, 200u);
  const CallSite* lookaside = only("ExInitializeNPagedLookasideList");
  ASSERT_NE(lookaside, nullptr);
  EXPECT_EQ(display_key(*lookaside->tag), "stLs");  // mov dword ptr [rsp+28h], 'sLts'
  EXPECT_EQ(lookaside->size, 48u);                  // mov qword ptr [rsp+20h], 30h
}

TEST_F(TestDriver, WrapperTagsAreRecoveredAtTheirCallersWithTheChain) {
  // MyAlloc(size, tag) tail-calls ExAllocatePoolWithTag; MyAllocTwice(tag, size) calls MyAlloc.
  ASSERT_EQ(scan_.wrappers.size(), 2u);
  EXPECT_EQ(scan_.wrappers[0].parameter, 1);
  EXPECT_EQ(scan_.wrappers[0].depth, 1);
  EXPECT_EQ(scan_.wrappers[1].parameter, 0);
  EXPECT_EQ(scan_.wrappers[1].depth, 2);
  std::vector<std::pair<std::string, std::size_t>> wrapped;
  const CallSite* inner = nullptr;
  for (const auto* site : sites_of(scan_, "ExAllocatePoolWithTag")) {
    if (site->via.empty()) {
      // The call inside MyAlloc (BranchTag's call is the other one without a chain).
      if (site->note.find("wrapper") != std::string::npos) inner = site;
      continue;
    }
    ASSERT_TRUE(site->tag);
    EXPECT_EQ(site->confidence, Confidence::kHigh);
    EXPECT_EQ(site->pool_type, 512u);  // fixed inside MyAlloc
    EXPECT_EQ(site->via.front(), site->rva);
    wrapped.emplace_back(display_key(*site->tag), site->via.size());
  }
  // stWC goes through MyAllocTwice, whose two calls of MyAlloc (one a tail call) both pass it:
  // the chain names the first one found.
  EXPECT_EQ(wrapped, (std::vector<std::pair<std::string, std::size_t>>{
                         {"stWA", 2}, {"stWB", 2}, {"stWC", 3}}));
  ASSERT_NE(inner, nullptr);
  EXPECT_FALSE(inner->tag);
  EXPECT_NE(inner->note.find("parameter 2 of the wrapper"), std::string::npos);
  EXPECT_EQ(inner->via, std::vector<std::uint32_t>{});
  for (const auto* site : sites_of(scan_, "ExAllocatePoolWithTag")) {
    if (!site->via.empty()) {
      EXPECT_EQ(site->via.back(), inner->rva);
    }
  }
}

TEST_F(TestDriver, ExAllocatePool3TagIsTheThirdArgument) {
  const CallSite* site = only("ExAllocatePool3");
  ASSERT_NE(site, nullptr);
  ASSERT_TRUE(site->tag);
  EXPECT_EQ(display_key(*site->tag), "st3P");
  EXPECT_EQ(site->pool_type, 0x40u);
  EXPECT_EQ(site->size, 120u);
  EXPECT_EQ(site->confidence, Confidence::kHigh);
  ASSERT_TRUE(site->tag_file_offset);
  EXPECT_EQ(
      std::string(reinterpret_cast<const char*>(file_.bytes.data()) + *site->tag_file_offset, 4),
      "st3P");
}

TEST_F(TestDriver, TagSetOnOneBranchOnlyIsNotAHighConfidenceTag) {
  // BranchTag: `mov r8d, edx; test ecx, ecx; jne 1f; mov r8d, 'rBts'; 1: ...; call`. The walk
  // back from the call stops at the jump target "1:", so neither "stBr" (set on one path) nor the
  // caller's "stBx" (passed on the other) is taken for the call's tag.
  for (const auto& site : scan_.sites) {
    if (!site.tag) continue;
    EXPECT_NE(display_key(*site.tag), "stBr") << site.rva;
    EXPECT_NE(display_key(*site.tag), "stBx") << site.rva;
  }
  std::size_t unknown_tag_sites = 0;
  for (const auto* site : sites_of(scan_, "ExAllocatePoolWithTag")) {
    if (site->tag || !site->via.empty()) continue;
    if (site->note == "tag argument is not a constant at this call") {
      ++unknown_tag_sites;
      EXPECT_EQ(site->pool_type, 512u);  // set after the join: still known
      EXPECT_EQ(site->size, 96u);
    }
  }
  EXPECT_EQ(unknown_tag_sites, 1u);
  // The immediate is in the file: only the byte search finds it, and says so.
  const auto branch = find_tag_in_driver(file_.image, file_.bytes, tag_from_text("stBr"));
  ASSERT_TRUE(branch.has_value());
  EXPECT_EQ(branch->confidence, Confidence::kLow);
  EXPECT_TRUE(branch->call_sites.empty());
  EXPECT_EQ(branch->byte_offsets.size(), 1u);
}

// The same driver built for x86 (PE32): the compiler stores arguments with `mov [esp+N]` and
// reads parameters from [esp+N] after `sub esp` and pushes.
class TestDriverX86 : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto path = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / "pool_driver_x86.sys";
    if (!std::filesystem::exists(path)) {
      GTEST_SKIP() << "x86 test driver not built (needs i686-w64-mingw32-gcc): " << path;
    }
    file_ = load(path);
    scan_ = scan_call_sites(file_.image, file_.bytes);
  }
  const CallSite* only(std::string_view api) {
    const auto sites = sites_of(scan_, api);
    EXPECT_EQ(sites.size(), 1u) << api;
    return sites.empty() ? nullptr : sites[0];
  }
  DriverFile file_;
  CallSiteScan scan_;
};

TEST_F(TestDriverX86, DirectCallsOfEveryApi) {
  EXPECT_EQ(file_.image.machine, parse::kMachineI386);
  EXPECT_TRUE(scan_.supported);
  const CallSite* pool2 = only("ExAllocatePool2");
  ASSERT_NE(pool2, nullptr);
  ASSERT_TRUE(pool2->tag);
  EXPECT_EQ(display_key(*pool2->tag), "st2P");  // the 4th stack slot: POOL_FLAGS takes two
  EXPECT_EQ(pool2->pool_type, 0x40u);
  EXPECT_EQ(pool2->size, 100u);
  const CallSite* pool3 = only("ExAllocatePool3");
  ASSERT_NE(pool3, nullptr);
  ASSERT_TRUE(pool3->tag);
  EXPECT_EQ(display_key(*pool3->tag), "st3P");
  EXPECT_EQ(pool3->size, 120u);
  const CallSite* quota = only("ExAllocatePoolWithQuotaTag");
  ASSERT_NE(quota, nullptr);
  ASSERT_TRUE(quota->tag);
  EXPECT_EQ(display_key(*quota->tag), "stQt");
  EXPECT_EQ(quota->pool_type, 1u);
  EXPECT_EQ(quota->size, 200u);
  const CallSite* lookaside = only("ExInitializeNPagedLookasideList");
  ASSERT_NE(lookaside, nullptr);
  ASSERT_TRUE(lookaside->tag);
  EXPECT_EQ(display_key(*lookaside->tag), "stLs");
  EXPECT_EQ(lookaside->size, 48u);
  const CallSite* free = only("ExFreePoolWithTag");
  ASSERT_NE(free, nullptr);
  ASSERT_TRUE(free->tag);
  EXPECT_EQ(display_key(*free->tag), "stWB");
}

TEST_F(TestDriverX86, StackParameterWrappersAreFollowedToTheirCallers) {
  // MyAlloc(size, tag) reads the tag from [esp+24h] after `sub esp, 1Ch`: parameter 1.
  // MyAllocTwice(tag, size) pushes two registers, reads [esp+20h] after `sub esp, 14h`:
  // parameter 0; its second call of MyAlloc is a tail jump after `add esp`/`pop`s.
  ASSERT_EQ(scan_.wrappers.size(), 2u);
  EXPECT_EQ(scan_.wrappers[0].parameter, 1);
  EXPECT_EQ(scan_.wrappers[0].depth, 1);
  EXPECT_EQ(scan_.wrappers[1].parameter, 0);
  EXPECT_EQ(scan_.wrappers[1].depth, 2);
  std::vector<std::pair<std::string, std::size_t>> wrapped;
  for (const auto* site : sites_of(scan_, "ExAllocatePoolWithTag")) {
    if (site->via.empty()) continue;
    ASSERT_TRUE(site->tag);
    EXPECT_EQ(site->confidence, Confidence::kHigh);
    EXPECT_EQ(site->pool_type, 512u);
    EXPECT_EQ(site->note, "tag passed through a wrapper function");
    wrapped.emplace_back(display_key(*site->tag), site->via.size());
  }
  EXPECT_EQ(wrapped, (std::vector<std::pair<std::string, std::size_t>>{
                         {"stWA", 2}, {"stWB", 2}, {"stWC", 3}}));
  const auto tags = driver_tags(scan_);
  std::set<std::string> names;
  for (const auto& tag : tags) names.insert(display_key(tag.tag));
  EXPECT_EQ(names, (std::set<std::string>{"st2P", "st3P", "stLs", "stQt", "stWA", "stWB", "stWC"}));
}

// tests/data/drivers/pattern_driver.c: what real compilers emit around a pool call (issue 16).
class PatternDriver : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto path = std::filesystem::path(POOLSCOPE_TEST_DRIVERS) / "pattern_driver.sys";
    if (!std::filesystem::exists(path)) {
      GTEST_SKIP() << "test driver not built (needs x86_64-w64-mingw32-gcc): " << path;
    }
    file_ = load(path);
    scan_ = scan_call_sites(file_.image, file_.bytes);
  }
  // The allocation sites that pass tag.
  std::vector<const CallSite*> sites_with(std::string_view tag) const {
    std::vector<const CallSite*> out;
    for (const auto& site : scan_.sites) {
      if (site.tag && display_key(*site.tag) == tag && site.api->kind != PoolApiKind::kFree) {
        out.push_back(&site);
      }
    }
    return out;
  }
  std::string section_of(std::uint32_t rva) const {
    for (const auto& section : file_.image.sections) {
      if (rva >= section.virtual_address && rva < section.virtual_address + section.virtual_size) {
        return section.name;
      }
    }
    return {};
  }
  DriverFile file_;
  CallSiteScan scan_;
};

TEST_F(PatternDriver, CmovOverrideHelperInPagedSectionIsAWrapperWithANote) {
  // `mov eax, [global]; test eax, eax; cmovne edx, eax; mov r8d, edx`: the tag parameter reaches
  // ExAllocatePoolWithTag unless the global is set. The helper is compiled into PAGE and .text.
  for (const auto& [tag, section] : std::vector<std::pair<std::string, std::string>>{
           {"Ovr1", "PAGE"}, {"Ovr3", "PAGE"}, {"Ovr2", ".text"}}) {
    const auto sites = sites_with(tag);
    ASSERT_EQ(sites.size(), 1u) << tag;
    const CallSite& site = *sites[0];
    EXPECT_EQ(site.confidence, Confidence::kHigh);
    EXPECT_EQ(site.api->name, "ExAllocatePoolWithTag");
    ASSERT_EQ(site.via.size(), 2u) << tag;
    EXPECT_EQ(section_of(site.via.back()), section) << tag;
    EXPECT_EQ(site.pool_type, 0x600u);
    EXPECT_NE(site.note.find("tag passed through a wrapper function"), std::string::npos);
    EXPECT_NE(site.note.find("can be overridden at run time by the global at RVA 0x"),
              std::string::npos)
        << site.note;
  }
  std::size_t override_wrappers = 0;
  for (const auto& w : scan_.wrappers) {
    if (section_of(w.function_rva) == "PAGE") {
      ++override_wrappers;
      EXPECT_EQ(w.parameter, 1);
    }
  }
  EXPECT_EQ(override_wrappers, 1u);
}

TEST_F(PatternDriver, CmovDefaultTagAndParameterAreBothTags) {
  // `mov r8d, 'Dflt'; test edx, edx; cmovne r8d, edx`: the caller's "DfC1" and the default.
  const auto passed = sites_with("DfC1");
  ASSERT_EQ(passed.size(), 1u);
  EXPECT_EQ(passed[0]->via.size(), 2u);
  const auto fallback = sites_with("Dflt");
  ASSERT_EQ(fallback.size(), 1u);
  EXPECT_TRUE(fallback[0]->via.empty());
  EXPECT_NE(fallback[0]->note.find("one of two tags chosen at run time"), std::string::npos)
      << fallback[0]->note;
}

TEST_F(PatternDriver, SpilledParameterReloadedAfterACallIsFollowed) {
  const auto sites = sites_with("Spil");
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_EQ(sites[0]->via.size(), 2u);
}

TEST_F(PatternDriver, TagFromAConstantTableInRdata) {
  const auto sites = sites_with("Rdt2");
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_NE(sites[0]->note.find("read-only data"), std::string::npos);
  ASSERT_TRUE(sites[0]->tag_file_offset);
  EXPECT_EQ(std::string(
                reinterpret_cast<const char*>(file_.bytes.data()) + *sites[0]->tag_file_offset, 4),
            "Rdt2");
  EXPECT_TRUE(sites_with("Rdt1").empty());  // the other entry is not passed
}

TEST_F(PatternDriver, TailCallCfgDispatchAndFunctionPointerGlobal) {
  const auto tail = sites_with("Tail");
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0]->size, 32u);
  const auto cfg = sites_with("Cfg1");
  ASSERT_EQ(cfg.size(), 1u);
  EXPECT_EQ(cfg[0]->api->name, "ExAllocatePoolWithTag");
  EXPECT_EQ(cfg[0]->size, 16u);
  for (const char* tag : {"FpG1", "FpG2"}) {
    const auto sites = sites_with(tag);
    ASSERT_EQ(sites.size(), 1u) << tag;
    EXPECT_EQ(sites[0]->api->name, "ExAllocatePool2") << tag;
    EXPECT_EQ(sites[0]->pool_type, 0x40u) << tag;
    EXPECT_EQ(sites[0]->size, 8u) << tag;
  }
}

// Issue 16: a tail call through a register (`mov rax, [__imp_X]; jmp rax`) was not a pool call.
TEST_F(PatternDriver, TailCallThroughARegisterIsFollowed) {
  const auto sites = sites_with("TlRg");
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_EQ(sites[0]->api->name, "ExAllocatePoolWithTag");
  EXPECT_EQ(sites[0]->size, 40u);
  EXPECT_EQ(sites[0]->pool_type, 512u);
}

// Issue 16: a tag built from its bytes with shl/or (one byte from another register) was "not a
// constant at this call".
TEST_F(PatternDriver, TagBuiltFromBytesWithShlAndOrIsFolded) {
  const auto sites = sites_with("ShOr");
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_EQ(sites[0]->confidence, Confidence::kHigh);
  EXPECT_EQ(sites[0]->size, 24u);
  EXPECT_FALSE(sites[0]->tag_file_offset);  // no immediate holds the 4 bytes
  EXPECT_NE(sites[0]->note.find("tag computed at run time from constants"), std::string::npos)
      << sites[0]->note;
  EXPECT_TRUE(find_tag_bytes(file_.bytes, tag_from_text("ShOr")).empty());
}

// Issue 21 item 3: decoding is bounded per file, and a file cut short says so.
TEST_F(PatternDriver, CodeCapCutsTheScanShortWithANote) {
  CallSiteOptions options;
  options.max_code_bytes = 64;
  const auto cut = scan_call_sites(file_.image, file_.bytes, options);
  EXPECT_LE(cut.decoded_bytes, 64u);
  EXPECT_NE(cut.note.find("cut short: only the first 64 of "), std::string::npos) << cut.note;
  EXPECT_TRUE(scan_.note.empty()) << scan_.note;  // the default cap leaves a small driver whole
}

TEST_F(PatternDriver, EveryTagIsHighAndNoOtherTagIsClaimed) {
  std::set<std::string> names;
  for (const auto& tag : driver_tags(scan_)) {
    EXPECT_EQ(tag.confidence, Confidence::kHigh);
    names.insert(display_key(tag.tag));
  }
  EXPECT_EQ(names, (std::set<std::string>{"Cfg1", "DfC1", "Dflt", "FpG1", "FpG2", "Ovr1", "Ovr2",
                                          "Ovr3", "Rdt2", "ShOr", "Spil", "Tail", "TlRg"}));
}

TEST(CallSites, Arm64IsNotDecodedAndSaysSo) {
  parse::PeImage image;
  image.machine = parse::kMachineArm64;
  const auto scan = scan_call_sites(image, {});
  EXPECT_FALSE(scan.supported);
  EXPECT_EQ(scan.note,
            "call-site recovery is x86/x64 only; arm64 code was not decoded (imports and the "
            "byte search still apply)");
}

TEST(FindTagInDriver, Arm64UntaggedImporterOwnsNoneByItsImport) {
  parse::PeImage image;
  image.machine = parse::kMachineArm64;
  parse::PeImportModule nt;
  nt.dll = "ntoskrnl.exe";
  nt.functions.push_back({.name = "ExAllocatePool", .iat_rva = 0x3000});
  image.imports.push_back(nt);
  const auto found = find_tag_in_driver(image, {}, tag_from_text("None"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->confidence, Confidence::kHigh);
  EXPECT_TRUE(found->call_sites.empty());
  EXPECT_EQ(found->note,
            "imports ExAllocatePool (allocates under 'None'); call-site recovery is x86/x64 only; "
            "arm64 code was not decoded (imports and the byte search still apply)");
  // Any other tag: only the byte search, which finds nothing in no bytes.
  EXPECT_FALSE(find_tag_in_driver(image, {}, tag_from_text("WDiv")));
}

// A real PE32+ file for machine 0xAA64 (built by arm64_driver.h), through the PE reader.
TEST(FindTagInDriver, Arm64FileImportsUntaggedImportersAndByteSearch) {
  const auto driver = testing::arm64_driver();
  const parse::ByteSpan data(driver.bytes.data(), driver.bytes.size());
  auto image = parse::parse_pe(data);
  ASSERT_TRUE(image.has_value()) << image.error().message;
  EXPECT_EQ(image->machine, parse::kMachineArm64);
  EXPECT_EQ(parse::pe_machine_name(image->machine), "arm64");
  // Imports: the three pool APIs, and ExAllocatePool is the untagged one.
  std::vector<std::string> apis;
  for (const auto& import : pool_imports(*image)) apis.push_back(import.function->name);
  EXPECT_EQ(apis, (std::vector<std::string>{"ExAllocatePool", "ExAllocatePoolWithTag",
                                            "ExFreePoolWithTag"}));
  const auto untagged = untagged_pool_imports(*image);
  ASSERT_EQ(untagged.size(), 1u);
  EXPECT_EQ(untagged[0].function->name, "ExAllocatePool");
  // No code is decoded, and the scan says why.
  const auto scan = scan_call_sites(*image, data);
  EXPECT_FALSE(scan.supported);
  EXPECT_EQ(scan.decoded_bytes, 0u);
  EXPECT_TRUE(scan.sites.empty());
  EXPECT_TRUE(driver_tags(scan).empty());
  EXPECT_NE(scan.note.find("call-site recovery is x86/x64 only"), std::string::npos);
  // 'None': owned through the import, with high confidence.
  const auto none = find_tag_in_driver(*image, data, tag_from_text("None"));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->confidence, Confidence::kHigh);
  EXPECT_EQ(none->note.rfind("imports ExAllocatePool (allocates under 'None'); call-site recovery "
                             "is x86/x64 only",
                             0),
            0u)
      << none->note;
  // A tag in the literal pool: the byte search finds it at its exact offset, low, and says that
  // the calls were not decoded.
  const auto tag = find_tag_in_driver(*image, data, tag_from_text("a64T"));
  ASSERT_TRUE(tag);
  EXPECT_EQ(tag->confidence, Confidence::kLow);
  EXPECT_TRUE(tag->call_sites.empty());
  EXPECT_EQ(tag->byte_offsets, (std::vector<std::uint64_t>{driver.tag_file_offset}));
  EXPECT_EQ(tag->note.rfind("only a byte match", 0), 0u) << tag->note;
  EXPECT_NE(tag->note.find("arm64 code was not decoded"), std::string::npos) << tag->note;
  // Case matters: "a64t" is not in the file.
  EXPECT_FALSE(find_tag_in_driver(*image, data, tag_from_text("a64t")));
}

TEST(FindTagInDriver, ByteMatchOnlyIsLowAndSaysSo) {
  POOLSCOPE_REQUIRE_SHARED("drivers/winpmem/winpmem_x64.sys");
  const auto file = load(shared_data("drivers/winpmem/winpmem_x64.sys"));
  // "Win" appears in strings of the driver but no pool call passes it as a tag.
  const auto found = find_tag_in_driver(file.image, file.bytes, tag_from_text("Wind"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->confidence, Confidence::kLow);
  EXPECT_FALSE(found->byte_offsets.empty());
  EXPECT_EQ(found->note.rfind("only a byte match", 0), 0u);
  const auto pmem = find_tag_in_driver(file.image, file.bytes, tag_from_text("PMEM"));
  ASSERT_TRUE(pmem);
  EXPECT_EQ(pmem->confidence, Confidence::kHigh);
  EXPECT_EQ(pmem->byte_offsets, (std::vector<std::uint64_t>{3282, 15529, 15623, 26819}));
}

TEST(FindTagBytes, FindsEveryOccurrenceIncludingOverlapsAndTheEnd) {
  const std::string text = "xxWDivWDivWDi WDiv";
  const auto* bytes = reinterpret_cast<const std::byte*>(text.data());
  EXPECT_EQ(find_tag_bytes({bytes, text.size()}, tag_from_text("WDiv")),
            (std::vector<std::uint64_t>{2, 6, 14}));
  const std::string aaaa = "AAAAA";
  EXPECT_EQ(find_tag_bytes({reinterpret_cast<const std::byte*>(aaaa.data()), aaaa.size()},
                           tag_from_text("AAAA")),
            (std::vector<std::uint64_t>{0, 1}));
  EXPECT_TRUE(find_tag_bytes({}, tag_from_text("AAAA")).empty());
}

TEST(FindTagBytes, WinDivertHasThirteenByteMatches) {
  POOLSCOPE_REQUIRE_SHARED("drivers/windivert/WinDivert64.sys");
  const auto file = load(shared_data("drivers/windivert/WinDivert64.sys"));
  const auto hits = find_tag_bytes(file.bytes, tag_from_text("WDiv"));
  EXPECT_EQ(hits.size(), 13u);
  EXPECT_EQ(hits.front(), 2237u);
}

}  // namespace
}  // namespace poolscope::attrib
