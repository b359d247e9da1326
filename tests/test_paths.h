// Where the tests find their data, the binary and its helpers. The absolute paths are compiled
// into one file (test_paths.cpp) instead of every test: a -D with an absolute path would make each
// test's compile command differ between clones, and ccache would miss on all of them.
#pragma once

namespace poolscope::testing::paths {
const char* test_data();     // tests/data
const char* shared_data();   // ../shared/data/real
const char* source_dir();    // the project root
const char* test_drivers();  // the test drivers built with mingw-w64
const char* binary();        // the poolscope binary (integration tests)
const char* leaker();        // tools/leaker.cpp's binary (integration tests)
}  // namespace poolscope::testing::paths

#define POOLSCOPE_TEST_DATA (::poolscope::testing::paths::test_data())
#define POOLSCOPE_SHARED_DATA (::poolscope::testing::paths::shared_data())
#define POOLSCOPE_SOURCE_DIR (::poolscope::testing::paths::source_dir())
#define POOLSCOPE_TEST_DRIVERS (::poolscope::testing::paths::test_drivers())
#define POOLSCOPE_BINARY (::poolscope::testing::paths::binary())
#define POOLSCOPE_LEAKER (::poolscope::testing::paths::leaker())
