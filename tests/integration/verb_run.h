// Running one poolscope verb to its end and keeping what it printed (for tests that only look at
// the result; store_support.h's Child for those that watch it run).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "integration/store_support.h"

namespace poolscope::testing {

struct VerbRun {
  int code;
  std::string out, err;
};

inline VerbRun run_verb(const std::vector<std::string>& args) {
  Child c(args);
  const int code = c.wait_for(std::chrono::seconds(60));
  return {code, c.out(), c.err()};
}

}  // namespace poolscope::testing
