// Helpers for the recorder's integration tests: running poolscope as a child process we can read
// line by line, signal and kill; scratch directories; small SQLite queries.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>
#include "test_paths.h"

namespace poolscope::testing {

// A running `poolscope ...` with its stdout and stderr on pipes.
class Child {
 public:
  // before_exec runs in the child (e.g. setrlimit, setuid).
  explicit Child(const std::vector<std::string>& args,
                 const std::function<void()>& before_exec = {}) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      if (before_exec) before_exec();
      std::vector<char*> argv;
      std::string binary = POOLSCOPE_BINARY;
      argv.push_back(binary.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
    if (out_ >= 0) ::close(out_);
    if (err_ >= 0) ::close(err_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // Reads what is available on stdout/stderr for up to `timeout`; returns false at EOF of stdout.
  bool pump(std::chrono::milliseconds timeout) {
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(timeout.count()));
    if (n <= 0) return true;
    char buf[4096];
    bool open = true;
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (i == 0 ? out_text_ : err_text_).append(buf, static_cast<std::size_t>(got));
      } else if (i == 0) {
        open = false;
      }
    }
    return open;
  }
  // Reads stdout until it closes (the process ended) or the deadline passes.
  void drain(std::chrono::milliseconds deadline) {
    auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end && pump(std::chrono::milliseconds(50))) {
    }
    for (int i = 0; i < 10 && pump(std::chrono::milliseconds(10));) ++i;  // leftover stderr
  }
  // Exit code, or -signal when killed by a signal.
  int wait() {
    if (reaped_) return status_;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return status_;
  }
  // Waits up to `deadline` for the exit; kills it (and fails) when it does not end.
  int wait_for(std::chrono::milliseconds deadline) {
    auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
      pump(std::chrono::milliseconds(20));
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        drain(std::chrono::milliseconds(500));
        return status_;
      }
    }
    ADD_FAILURE() << "poolscope did not end in time";
    ::kill(pid_, SIGKILL);
    return wait();
  }
  const std::string& out() const { return out_text_; }
  const std::string& err() const { return err_text_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool reaped_ = false;
  int status_ = -1;
  std::string out_text_, err_text_;
};

// Rows of a query as text (one string per row, columns joined by '|').
inline std::vector<std::string> sql_rows(const std::string& db_path, const std::string& sql) {
  std::vector<std::string> rows;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return {"<cannot open>"};
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    rows.push_back(std::string("<error: ") + sqlite3_errmsg(db) + ">");
  } else {
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        if (c) row += '|';
        const auto* t = sqlite3_column_text(stmt, c);
        row += t ? reinterpret_cast<const char*>(t) : "";
      }
      rows.push_back(row);
    }
    if (rc != SQLITE_DONE) rows.push_back(std::string("<error: ") + sqlite3_errmsg(db) + ">");
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

inline std::string sql_value(const std::string& db_path, const std::string& sql) {
  auto rows = sql_rows(db_path, sql);
  return rows.empty() ? std::string() : rows.front();
}

// Lines of text that contain needle (all lines when it is empty).
inline std::size_t count_lines(const std::string& text, const std::string& needle = "") {
  std::size_t n = 0, pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (std::string_view(text).substr(pos, end - pos).find(needle) != std::string_view::npos) ++n;
    pos = end + 1;
  }
  return n;
}

inline bool slabinfo_readable() {
  return ::access("/proc/slabinfo", R_OK) == 0;
}

#define REQUIRE_LIVE_SLABINFO()                                                              \
  do {                                                                                       \
    if (!::poolscope::testing::slabinfo_readable()) {                                        \
      GTEST_SKIP() << "/proc/slabinfo is not readable here (needs root and a SLUB kernel): " \
                      "the recorder has nothing to record";                                  \
    }                                                                                        \
  } while (0)

// A scratch directory for one test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("poolscope-it-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace poolscope::testing
