// SystemModuleInformation (class 11) buffers, x86 and x64, built byte by byte as the kernel lays
// them out; the module rules of issue 16 (GUID-like names, temporary folders).
#include "parse/system_modules.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace poolscope::parse {
namespace {

struct Module {
  std::uint64_t base;
  std::uint32_t size;
  std::uint16_t load_order;
  std::string path;
};

std::vector<std::byte> buffer_of(PointerWidth width, const std::vector<Module>& modules,
                                 std::uint32_t count_override = 0) {
  const bool x64 = width == PointerWidth::k64;
  const std::size_t array_at = x64 ? 8 : 4, record = x64 ? 296 : 284, pointer = x64 ? 8 : 4;
  std::vector<std::byte> out(array_at + record * modules.size());
  const auto put = [&out](std::size_t at, const void* value, std::size_t n) {
    std::memcpy(out.data() + at, value, n);
  };
  const std::uint32_t count =
      count_override ? count_override : static_cast<std::uint32_t>(modules.size());
  put(0, &count, 4);
  for (std::size_t k = 0; k < modules.size(); ++k) {
    const std::size_t at = array_at + k * record;
    const auto& m = modules[k];
    if (x64) {
      put(at + 16, &m.base, 8);
    } else {
      const auto base32 = static_cast<std::uint32_t>(m.base);
      put(at + 8, &base32, 4);
    }
    const std::size_t rest = at + 3 * pointer;
    put(rest, &m.size, 4);
    put(rest + 8, &m.load_order, 2);
    const auto slash = m.path.rfind('\\');
    const std::uint16_t name_at =
        slash == std::string::npos ? 0 : static_cast<std::uint16_t>(slash + 1);
    put(rest + 14, &name_at, 2);
    put(rest + 16, m.path.data(), std::min<std::size_t>(m.path.size(), 256));
  }
  return out;
}

TEST(SystemModules, X64BufferDecodesEveryModule) {
  const auto buffer = buffer_of(
      PointerWidth::k64,
      {{0xfffff80312400000, 0x1046000, 0, "\\SystemRoot\\system32\\ntoskrnl.exe"},
       {0xfffff80315a00000, 0x2b000, 7, "\\SystemRoot\\System32\\drivers\\amdacpbus2.sys"}});
  const auto decoded = decode_system_modules(buffer, PointerWidth::k64);
  ASSERT_TRUE(decoded) << decoded.error().message;
  ASSERT_EQ(decoded->modules.size(), 2u);
  EXPECT_EQ(decoded->missing, 0u);
  EXPECT_EQ(decoded->modules[0].image_base, 0xfffff80312400000u);
  EXPECT_EQ(decoded->modules[0].file_name, "ntoskrnl.exe");
  EXPECT_EQ(decoded->modules[1].image_size, 0x2b000u);
  EXPECT_EQ(decoded->modules[1].load_order, 7u);
  EXPECT_EQ(decoded->modules[1].full_path, "\\SystemRoot\\System32\\drivers\\amdacpbus2.sys");
  EXPECT_EQ(decoded->modules[1].file_name, "amdacpbus2.sys");
}

TEST(SystemModules, X86BufferUsesFourByteAlignmentAndPointers) {
  const auto buffer = buffer_of(
      PointerWidth::k32, {{0x80400000, 0x1f0000, 0, "\\WINDOWS\\system32\\ntkrnlpa.exe"},
                          {0xf7a00000, 0x5000, 1, "\\SystemRoot\\system32\\DRIVERS\\winpmem.sys"}});
  ASSERT_EQ(buffer.size(), 4u + 2 * 284u);
  const auto decoded = decode_system_modules(buffer, PointerWidth::k32);
  ASSERT_TRUE(decoded);
  ASSERT_EQ(decoded->modules.size(), 2u);
  EXPECT_EQ(decoded->modules[0].image_base, 0x80400000u);
  EXPECT_EQ(decoded->modules[1].file_name, "winpmem.sys");
  // The x64 reading of the same bytes is not the same list (the layouts differ).
  const auto as_x64 = decode_system_modules(buffer, PointerWidth::k64);
  ASSERT_TRUE(as_x64);
  EXPECT_NE(as_x64->modules.size(), 2u);
}

TEST(SystemModules, CountLargerThanTheBufferIsCountedNotRead) {
  auto buffer = buffer_of(PointerWidth::k64, {{1, 2, 0, "\\SystemRoot\\a.sys"}}, 1000);
  const auto decoded = decode_system_modules(buffer, PointerWidth::k64);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->modules.size(), 1u);
  EXPECT_EQ(decoded->missing, 999u);
}

TEST(SystemModules, ShortBufferIsAnInputError) {
  const std::vector<std::byte> buffer(3);
  EXPECT_FALSE(decode_system_modules(buffer, PointerWidth::k64));
  EXPECT_TRUE(decode_system_modules(std::vector<std::byte>(4), PointerWidth::k64));  // 0 modules
}

TEST(SystemModules, NameWithoutNulAndHighBytesStaysBoundedAscii) {
  std::string long_name(300, 'A');
  long_name[10] = '\xe9';
  auto buffer = buffer_of(PointerWidth::k64, {{1, 2, 0, long_name}});
  const auto decoded = decode_system_modules(buffer, PointerWidth::k64);
  ASSERT_TRUE(decoded);
  ASSERT_EQ(decoded->modules.size(), 1u);
  EXPECT_EQ(decoded->modules[0].full_path.size(), 255u + 4u);  // 255 'A's and one \xe9
  EXPECT_NE(decoded->modules[0].full_path.find("\\xe9"), std::string::npos);
}

TEST(ModuleDiskPath, KernelPathsMapUnderTheSystemRoot) {
  EXPECT_EQ(module_disk_path("\\SystemRoot\\system32\\drivers\\x.sys", "C:\\Windows"),
            "C:\\Windows\\system32\\drivers\\x.sys");
  EXPECT_EQ(module_disk_path("\\??\\C:\\Users\\a\\AppData\\Local\\Temp\\x.sys", "C:\\Windows"),
            "C:\\Users\\a\\AppData\\Local\\Temp\\x.sys");
  EXPECT_EQ(module_disk_path("System32\\Drivers\\y.sys", "D:\\Win"),
            "D:\\Win\\System32\\Drivers\\y.sys");
  EXPECT_EQ(module_disk_path("\\Windows\\System32\\hal.dll", "C:\\Windows"),
            "C:\\Windows\\System32\\hal.dll");
}

TEST(ModuleSuspicions, GuidNamedDriverInTempIsFlaggedTwice) {
  // Incident 2: a program created a driver under a GUID name; it was not on disk any more.
  const auto flags =
      module_suspicions("\\??\\C:\\Windows\\Temp\\{8F2E1A3C-5B7D-4E9F-A1C2-3D4E5F607182}.sys");
  ASSERT_EQ(flags.size(), 2u);
  EXPECT_NE(flags[0].find("GUID-like"), std::string::npos);
  EXPECT_EQ(flags[1], "in a temporary folder");
  EXPECT_EQ(module_suspicions("\\SystemRoot\\system32\\drivers\\5d3c1b2a9e8f7a6b.sys").size(), 1u);
  EXPECT_TRUE(module_suspicions("\\SystemRoot\\System32\\drivers\\e1d68x64.sys").empty());
  EXPECT_TRUE(module_suspicions("\\SystemRoot\\system32\\ntoskrnl.exe").empty());
}

}  // namespace
}  // namespace poolscope::parse
