// Runs the real poolscope binary and captures its output and exit code.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "test_paths.h"

namespace poolscope::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

// A shell command line (stderr already joined to stdout by the caller when wanted).
inline RunResult run_command(const std::string& cmd) {
  RunResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline RunResult run_poolscope(const std::string& args) {
  return run_command(std::string(POOLSCOPE_BINARY) + " " + args + " 2>&1");
}

inline bool is_root() {
  return ::geteuid() == 0;
}

}  // namespace poolscope::testing
