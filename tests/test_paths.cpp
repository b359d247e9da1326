#include "test_paths.h"

// Set on this file only (tests/CMakeLists.txt); empty where a binary does not have them.
#ifndef POOLSCOPE_TEST_DATA_DIR
#define POOLSCOPE_TEST_DATA_DIR ""
#endif
#ifndef POOLSCOPE_SHARED_DATA_DIR
#define POOLSCOPE_SHARED_DATA_DIR ""
#endif
#ifndef POOLSCOPE_SOURCE_ROOT
#define POOLSCOPE_SOURCE_ROOT ""
#endif
#ifndef POOLSCOPE_TEST_DRIVERS_DIR
#define POOLSCOPE_TEST_DRIVERS_DIR ""
#endif
#ifndef POOLSCOPE_BINARY_PATH
#define POOLSCOPE_BINARY_PATH ""
#endif
#ifndef POOLSCOPE_LEAKER_PATH
#define POOLSCOPE_LEAKER_PATH ""
#endif

namespace poolscope::testing::paths {
const char* test_data() {
  return POOLSCOPE_TEST_DATA_DIR;
}
const char* shared_data() {
  return POOLSCOPE_SHARED_DATA_DIR;
}
const char* source_dir() {
  return POOLSCOPE_SOURCE_ROOT;
}
const char* test_drivers() {
  return POOLSCOPE_TEST_DRIVERS_DIR;
}
const char* binary() {
  return POOLSCOPE_BINARY_PATH;
}
const char* leaker() {
  return POOLSCOPE_LEAKER_PATH;
}
}  // namespace poolscope::testing::paths
