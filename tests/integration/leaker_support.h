// poolscope-leaker (tools/leaker.cpp) as a child process of a live test, and its arguments.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
#include "test_paths.h"

// The live tests are slow under ASan and prove nothing more there: the detector's code runs under
// ASan in the unit tests and the Drsd/Thre tests.
#if defined(POOLSCOPE_SANITIZED)
#define SKIP_WHEN_SANITIZED() \
  GTEST_SKIP() << "live leaker runs take minutes under ASan: run them in the release build"
#else
#define SKIP_WHEN_SANITIZED() \
  do {                        \
  } while (0)
#endif

namespace poolscope::testing {

// Every finding of a `leaks --format json` report, one line each, for failure messages.
inline std::string dump_findings(const nlohmann::json& report) {
  std::string out;
  for (const auto& f : report.value("findings", nlohmann::json::array())) {
    out += f.value("verdict", "") + " " + f.value("key", "") + ": " + f.value("explanation", "") +
           "\n";
  }
  return out.empty() ? "(no findings)" : out;
}

// True when the finding names the process.
inline bool names_pid(const nlohmann::json& finding, std::uint64_t pid) {
  for (const auto& p : finding.value("processes", nlohmann::json::array())) {
    if (p.value("pid", std::uint64_t{0}) == pid) return true;
  }
  return false;
}

// The leaker as a child process; killed (and reaped) when the test ends.
class Leaker {
 public:
  Leaker(const std::vector<std::string>& args, const std::string& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd >= 0) ::dup2(fd, 1);
      std::vector<std::string> copy = args;
      std::string binary = POOLSCOPE_LEAKER;
      std::vector<char*> argv{binary.data()};
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~Leaker() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Leaker(const Leaker&) = delete;
  Leaker& operator=(const Leaker&) = delete;
  std::uint64_t pid() const { return static_cast<std::uint64_t>(pid_); }

 private:
  pid_t pid_ = -1;
};

inline std::vector<std::string> leaker_args(const std::string& kind, const std::string& mode,
                                            double rate, double seconds, long noise = 0,
                                            long burst = 1000, const std::string& dir = "") {
  std::vector<std::string> a{"--kind",     kind,
                             "--mode",     mode,
                             "--rate",     std::to_string(rate),
                             "--duration", std::to_string(seconds),
                             "--noise",    std::to_string(noise),
                             "--burst",    std::to_string(burst),
                             "--hold",     "20"};
  if (!dir.empty()) {
    a.push_back("--dir");
    a.push_back(dir);
  }
  return a;
}

}  // namespace poolscope::testing
