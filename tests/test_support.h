// Helpers for tests: fixture paths, reading files, skipping when ../shared is absent.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include "test_paths.h"

namespace poolscope::testing {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline std::filesystem::path test_data(const std::string& relative) {
  return std::filesystem::path(POOLSCOPE_TEST_DATA) / relative;
}

inline std::filesystem::path shared_data(const std::string& relative) {
  return std::filesystem::path(POOLSCOPE_SHARED_DATA) / relative;
}

}  // namespace poolscope::testing

// Skips (visibly) when the real third-party samples in ../shared/data/real are not beside the
// project.
#define POOLSCOPE_REQUIRE_SHARED(relative)                                       \
  do {                                                                           \
    if (!std::filesystem::exists(::poolscope::testing::shared_data(relative))) { \
      GTEST_SKIP() << "needs ../shared/data/real/" << (relative)                 \
                   << " (real samples are not in this checkout)";                \
    }                                                                            \
  } while (0)
