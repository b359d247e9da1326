// LEB128 varints and zigzag deltas for the recording's compact sample encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace poolscope::store {

inline void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// The difference cur - prev modulo 2^64, folded so that small negative changes stay small.
inline std::uint64_t zigzag_delta(std::uint64_t prev, std::uint64_t cur) {
  const auto d = static_cast<std::int64_t>(cur - prev);
  return (static_cast<std::uint64_t>(d) << 1) ^ static_cast<std::uint64_t>(d >> 63);
}

// Inverse of zigzag_delta: prev + the folded difference, modulo 2^64 (exact for every u64 pair).
inline std::uint64_t apply_zigzag(std::uint64_t prev, std::uint64_t folded) {
  return prev + ((folded >> 1) ^ (~(folded & 1) + 1));
}

// Reads from a bounded buffer; every read checks the end, so a damaged blob cannot read past it.
// ok() turns false at the first overrun or over-long varint and stays false.
class ByteReader {
 public:
  ByteReader(const unsigned char* data, std::size_t size) : p_(data), end_(data + size) {}

  std::uint64_t varint() {
    // Fast path: one byte (most deltas and skips are small).
    if (p_ < end_ && *p_ < 0x80) return *p_++;
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return fail();
      const std::uint64_t byte = *p_++;
      value |= (byte & 0x7F) << shift;
      if (byte < 0x80) {
        if (shift == 63 && byte > 1) return fail();  // more than 64 bits
        return value;
      }
    }
    return fail();
  }

  std::uint8_t byte() {
    if (p_ == end_) return static_cast<std::uint8_t>(fail());
    return *p_++;
  }

  // A length-prefixed string; bounded by what is left.
  bool string(std::string& out) {
    const std::uint64_t n = varint();
    if (!ok_ || n > static_cast<std::uint64_t>(end_ - p_)) {
      fail();
      return false;
    }
    out.assign(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
    p_ += n;
    return true;
  }

  bool ok() const { return ok_; }
  bool at_end() const { return p_ == end_; }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }

 private:
  std::uint64_t fail() {
    ok_ = false;
    p_ = end_;
    return 0;
  }
  const unsigned char* p_;
  const unsigned char* end_;
  bool ok_ = true;
};

inline void put_string(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

}  // namespace poolscope::store
