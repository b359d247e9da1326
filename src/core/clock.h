// The clock passed into sources so tests and replays are repeatable.
#pragma once

#include <chrono>
#include <cstdint>

namespace poolscope {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point wall() const = 0;
  virtual std::int64_t monotonic_ns() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point wall() const override {
    return std::chrono::system_clock::now();
  }
  std::int64_t monotonic_ns() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that only moves when told to (tests, replays).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point start) : wall_(start) {}
  std::chrono::system_clock::time_point wall() const override { return wall_; }
  std::int64_t monotonic_ns() const override { return monotonic_; }
  void advance(std::chrono::nanoseconds by) {
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
    monotonic_ += by.count();
  }

 private:
  std::chrono::system_clock::time_point wall_;
  std::int64_t monotonic_ = 0;
};

}  // namespace poolscope
