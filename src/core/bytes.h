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

// The same at a pointer into a raw buffer (std::byte or unsigned char), for readers that walk one
// record at a time. The caller checks the bounds first.
template <class Byte>
requires(sizeof(Byte) == 1) constexpr std::uint64_t load_le(const Byte* at, std::size_t size) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) {
    value |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(at[i])) << (8 * i);
  }
  return value;
}
template <class Byte>
requires(sizeof(Byte) == 1) constexpr std::uint16_t load_le16(const Byte* at) {
  return static_cast<std::uint16_t>(load_le(at, 2));
}
template <class Byte>
requires(sizeof(Byte) == 1) constexpr std::uint32_t load_le32(const Byte* at) {
  return static_cast<std::uint32_t>(load_le(at, 4));
}
template <class Byte>
requires(sizeof(Byte) == 1) constexpr std::uint64_t load_le64(const Byte* at) {
  return load_le(at, 8);
}

}  // namespace poolscope
