// The loaded-module part of `who`'s default search (issue 16): modules missing on disk, with
// GUID-like names or in temporary folders are reported; the others are searched once.
#include "attrib/driver_search.h"

#include <gtest/gtest.h>

#include <set>

namespace poolscope::attrib {
namespace {

parse::SystemModule module(const std::string& full_path) {
  parse::SystemModule m;
  m.full_path = full_path;
  m.file_name = full_path.substr(full_path.rfind('\\') + 1);
  return m;
}

TEST(DriverSearchFromModules, MissingGuidNamedDriverIsReportedNotSearched) {
  // Incident 2: the 'None' allocator was a driver its parent program created under a GUID name,
  // not present on disk any more.
  const std::set<std::string> on_disk = {"C:\\Windows\\system32\\ntoskrnl.exe",
                                         "C:\\Windows\\System32\\drivers\\amdacpbus2.sys",
                                         "D:\\Tools\\probe.sys"};
  const auto exists = [&on_disk](const std::string& p) { return on_disk.contains(p); };
  const std::vector<std::filesystem::path> roots = {"C:\\Windows\\System32\\drivers"};
  const auto search = driver_search_from_modules(
      {module("\\SystemRoot\\system32\\ntoskrnl.exe"),
       module("\\SystemRoot\\System32\\drivers\\amdacpbus2.sys"),
       module("\\??\\C:\\Windows\\Temp\\{8F2E1A3C-5B7D-4E9F-A1C2-3D4E5F607182}.sys"),
       module("\\??\\D:\\Tools\\probe.sys")},
      "C:\\Windows", roots, exists);
  // amdacpbus2.sys is under System32\drivers, walked anyway: not listed twice.
  EXPECT_EQ(search.files, (std::vector<std::filesystem::path>{"C:\\Windows\\system32\\ntoskrnl.exe",
                                                              "D:\\Tools\\probe.sys"}));
  ASSERT_EQ(search.notes.size(), 1u);
  EXPECT_NE(search.notes[0].find("its file is missing on disk"), std::string::npos);
  EXPECT_NE(search.notes[0].find("GUID-like name"), std::string::npos);
  EXPECT_NE(search.notes[0].find("in a temporary folder"), std::string::npos);
}

TEST(DriverSearchFromModules, SuspiciousModuleOnDiskIsSearchedAndNoted) {
  const auto search =
      driver_search_from_modules({module("\\??\\C:\\Users\\a\\AppData\\Local\\Temp\\drv.sys")},
                                 "C:\\Windows", {}, [](const std::string&) { return true; });
  ASSERT_EQ(search.files.size(), 1u);
  ASSERT_EQ(search.notes.size(), 1u);
  EXPECT_NE(search.notes[0].find("in a temporary folder"), std::string::npos);
}

#ifndef _WIN32
TEST(DefaultDriverSearch, NoDefaultOffWindows) {
  const auto search = default_driver_search();
  EXPECT_TRUE(search.roots.empty());
  EXPECT_TRUE(search.files.empty());
}
#endif

}  // namespace
}  // namespace poolscope::attrib
