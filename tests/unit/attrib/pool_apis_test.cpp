#include "attrib/pool_apis.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>

#include "attrib/driver_file.h"
#include "test_support.h"

namespace poolscope::attrib {
namespace {

// A per-run name part for temporary files (portable: no getpid on Windows).
std::string unique_suffix() {
  return std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

constexpr const char* kWineDir = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows";

TEST(PoolApis, TagArgumentPositions) {
  const PoolApi* with_tag = find_pool_api("NTOSKRNL.EXE", "ExAllocatePoolWithTag");
  ASSERT_NE(with_tag, nullptr);
  EXPECT_EQ(with_tag->kind, PoolApiKind::kAllocate);
  EXPECT_EQ(with_tag->tag_argument, 2);
  EXPECT_EQ(with_tag->size_argument, 1);
  EXPECT_EQ(find_pool_api("ntoskrnl.exe", "ExAllocatePool2")->tag_argument, 2);
  EXPECT_EQ(find_pool_api("ntoskrnl.exe", "ExAllocatePool3")->tag_argument, 2);
  EXPECT_EQ(find_pool_api("ntoskrnl.exe", "ExAllocatePool")->tag_argument, -1);
  EXPECT_EQ(find_pool_api("ntoskrnl.exe", "ExAllocatePoolWithQuota")->tag_argument, -1);
  EXPECT_EQ(find_pool_api("ntoskrnl.exe", "ExInitializeNPagedLookasideList")->tag_argument, 5);
  EXPECT_EQ(find_pool_api("ntoskrnl.exe", "ExInitializeLookasideListEx")->tag_argument, 6);
  EXPECT_EQ(find_pool_api("ntoskrnl.exe", "ExFreePoolWithTag")->kind, PoolApiKind::kFree);
  EXPECT_EQ(find_pool_api("ntoskrnl.exe", "ExFreePoolWithTag")->tag_argument, 1);
  EXPECT_EQ(find_pool_api("fltmgr.sys", "FltAllocatePoolAlignedWithTag")->tag_argument, 3);
  EXPECT_EQ(find_pool_api("ntoskrnl.exe", "RtlAllocateHeap"), nullptr);
  EXPECT_EQ(find_pool_api("hal.dll", "ExAllocatePool"), nullptr);
  EXPECT_EQ(find_pool_api("ntoskrnl.exe", "exallocatepool"), nullptr);
}

TEST(PoolApis, ExactlySixWineDriversImportTheUntaggedExAllocatePool) {
  if (!std::filesystem::exists(kWineDir)) {
    GTEST_SKIP() << "needs " << kWineDir << " (Debian package wine64)";
  }
  std::map<std::string, std::uint32_t> untagged;  // file -> IAT RVA of ExAllocatePool
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kWineDir)) {
    if (entry.path().extension() != ".sys") continue;
    ++files;
    auto file = read_driver_file(entry.path());
    ASSERT_TRUE(file.has_value()) << file.error().message;
    auto imports = untagged_pool_imports(file->image);
    if (imports.empty()) continue;
    ASSERT_EQ(imports.size(), 1u) << entry.path();
    EXPECT_EQ(imports[0].module->dll, "ntoskrnl.exe");
    EXPECT_EQ(imports[0].function->name, "ExAllocatePool");
    untagged[entry.path().filename().string()] = imports[0].function->iat_rva;
  }
  EXPECT_EQ(files, 17u);
  EXPECT_EQ(untagged, (std::map<std::string, std::uint32_t>{{"hidclass.sys", 0xf368},
                                                            {"hidparse.sys", 0xf1c0},
                                                            {"usbd.sys", 0xa198},
                                                            {"winebus.sys", 0xc340},
                                                            {"wineusb.sys", 0xa250},
                                                            {"winexinput.sys", 0xb318}}));
}

TEST(PoolApis, WinDivertPoolImportsInTableOrder) {
  POOLSCOPE_REQUIRE_SHARED("drivers/windivert/WinDivert64.sys");
  auto file = read_driver_file(testing::shared_data("drivers/windivert/WinDivert64.sys"));
  ASSERT_TRUE(file.has_value()) << file.error().message;
  EXPECT_EQ(file->bytes.size(), 37552u);
  auto imports = pool_imports(file->image);
  ASSERT_EQ(imports.size(), 3u);
  EXPECT_EQ(imports[0].function->name, "ExFreePoolWithTag");
  EXPECT_EQ(imports[0].api->kind, PoolApiKind::kFree);
  EXPECT_EQ(imports[1].function->name, "ExAllocatePoolWithTag");
  EXPECT_EQ(imports[1].function->iat_rva, 0x6160u);
  // NDIS.SYS: the tag is in the parameters structure the second argument points to.
  EXPECT_EQ(imports[2].function->name, "NdisAllocateNetBufferListPool");
  EXPECT_EQ(imports[2].api->tag_argument, 1);
  EXPECT_EQ(imports[2].api->tag_struct_offset, 8);
  EXPECT_TRUE(untagged_pool_imports(file->image).empty());
}

TEST(DriverFile, ErrorsNameTheFile) {
  namespace fs = std::filesystem;
  const fs::path text = fs::temp_directory_path() / ("poolscope_not_pe_" + unique_suffix());
  std::ofstream(text) << "hello";
  auto not_pe = read_driver_file(text);
  ASSERT_FALSE(not_pe.has_value());
  EXPECT_EQ(not_pe.error().message, text.string() + ": not a PE file: no MZ header");
  auto small = read_driver_file(text, DriverFileOptions{.max_bytes = 4});
  ASSERT_FALSE(small.has_value());
  EXPECT_EQ(small.error().message, text.string() + " is larger than 4 bytes; not read");
  fs::remove(text);
  auto missing = read_driver_file(text);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().message,
            "cannot open " + text.string() + ": No such file or directory");
}

}  // namespace
}  // namespace poolscope::attrib
