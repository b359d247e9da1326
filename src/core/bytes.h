// Little-endian integers assembled byte by byte from byte spans, so the host's byte order and
// alignment do not matter. The caller checks the bounds first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace poolscope {

// `size` (1..8) bytes at `offset`.
inline std::uint64_t load_le(std::span<const std::byte> bytes, std::size_t offset,
                             std::size_t size) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) {
    value |= static_cast<std::uint64_t>(std::to_integer<std::uint8_t>(bytes[offset + i]))
             << (8 * i);
  }
  return value;
}
inline std::uint16_t load_le16(std::span<const std::byte> bytes, std::size_t offset) {
  return static_cast<std::uint16_t>(load_le(bytes, offset, 2));
}
inline std::uint32_t load_le32(std::span<const std::byte> bytes, std::size_t offset) {
  return static_cast<std::uint32_t>(load_le(bytes, offset, 4));
}
inline std::uint64_t load_le64(std::span<const std::byte> bytes, std::size_t offset) {
  return load_le(bytes, offset, 8);
}

}  // namespace poolscope
