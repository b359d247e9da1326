// Helpers for the store tests: a scratch directory per test and small snapshots.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/pool.h"

namespace poolscope::testing {

// A fresh directory under the temp dir, removed when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("poolscope-" + std::string(info->test_suite_name()) + "-" + info->name() + "-" +
             std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline Entry slab_entry(const std::string& name, std::optional<std::uint64_t> outstanding,
                        std::optional<std::uint64_t> bytes,
                        PoolKind pool = PoolKind::kUnreclaimable) {
  Entry e;
  e.key = slab_cache(name);
  e.pool = pool;
  e.counters.outstanding = outstanding;
  e.counters.bytes = bytes;
  return e;
}

inline Snapshot snapshot_at_seconds(std::int64_t seconds, std::vector<Entry> entries) {
  Snapshot s;
  s.wall_time = std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
  s.monotonic_ns = seconds * 1'000'000'000;
  s.host = "testhost";
  s.source = "live:linux";
  s.format = "slabinfo";
  s.entries = std::move(entries);
  return s;
}

}  // namespace poolscope::testing

namespace poolscope::testing {
inline std::uintmax_t read_file_size(const std::string& path) {
  return std::filesystem::file_size(path);
}
}  // namespace poolscope::testing
