// SystemModuleInformation buffers.
#include "parse/system_modules.h"

#include <cstring>

#include "parse/text.h"

namespace poolscope::parse {

namespace {

constexpr std::size_t kNameBytes = 256;

template <class T>
T read_le(std::span<const std::byte> buffer, std::size_t at) {
  T value{};
  std::memcpy(&value, buffer.data() + at, sizeof(T));
  return value;  // the build targets are little-endian (x86, x64, arm64)
}

std::string ascii_of(std::span<const std::byte> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    const auto c = static_cast<unsigned char>(b);
    if (c == 0) break;
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool starts_with_ignore_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && equals_ignore_case(text.substr(0, prefix.size()), prefix);
}

bool contains_ignore_case(std::string_view text, std::string_view part) {
  for (std::size_t i = 0; i + part.size() <= text.size(); ++i) {
    if (equals_ignore_case(text.substr(i, part.size()), part)) return true;
  }
  return false;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

Result<SystemModules> decode_system_modules(std::span<const std::byte> buffer, PointerWidth width) {
  const bool x64 = width == PointerWidth::k64;
  const std::size_t array_at = x64 ? 8 : 4;
  const std::size_t record = x64 ? 296 : 284;
  const std::size_t pointer = x64 ? 8 : 4;
  if (buffer.size() < 4) {
    return make_error(ErrorCode::kInput, "module list buffer of " + std::to_string(buffer.size()) +
                                             " bytes is shorter than its count (4 bytes)");
  }
  const std::uint32_t count = read_le<std::uint32_t>(buffer, 0);
  SystemModules out;
  const std::size_t room = buffer.size() < array_at ? 0 : (buffer.size() - array_at) / record;
  const std::size_t readable = count < room ? count : room;
  out.missing = count - readable;
  out.modules.reserve(readable);
  for (std::size_t k = 0; k < readable; ++k) {
    const std::size_t at = array_at + k * record;
    SystemModule m;
    m.image_base = x64 ? read_le<std::uint64_t>(buffer, at + 2 * pointer)
                       : read_le<std::uint32_t>(buffer, at + 2 * pointer);
    const std::size_t rest = at + 3 * pointer;
    m.image_size = read_le<std::uint32_t>(buffer, rest);
    m.flags = read_le<std::uint32_t>(buffer, rest + 4);
    m.load_order = read_le<std::uint16_t>(buffer, rest + 8);
    const auto offset_to_name = read_le<std::uint16_t>(buffer, rest + 14);
    const auto name = buffer.subspan(rest + 16, kNameBytes);
    std::size_t length = 0;
    while (length < kNameBytes && name[length] != std::byte{0}) ++length;
    m.full_path = ascii_of(name.first(length));
    m.file_name = offset_to_name < length
                      ? ascii_of(name.subspan(offset_to_name, length - offset_to_name))
                      : m.full_path;
    out.modules.push_back(std::move(m));
  }
  return out;
}

std::string module_disk_path(std::string_view full_path, std::string_view system_root) {
  const std::string root(system_root);
  for (std::string_view prefix : {"\\SystemRoot\\", "\\Windows\\"}) {
    if (starts_with_ignore_case(full_path, prefix)) {
      return root + "\\" + std::string(full_path.substr(prefix.size()));
    }
  }
  if (starts_with_ignore_case(full_path, "\\??\\")) return std::string(full_path.substr(4));
  if (starts_with_ignore_case(full_path, "System32\\")) {
    return root + "\\" + std::string(full_path);
  }
  return std::string(full_path);
}

std::vector<std::string> module_suspicions(std::string_view full_path) {
  std::vector<std::string> out;
  std::string_view name = full_path;
  if (const auto slash = name.find_last_of("\\/"); slash != std::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  if (const auto dot = name.rfind('.'); dot != std::string_view::npos) name = name.substr(0, dot);
  if (!name.empty() && name.front() == '{' && name.back() == '}') {
    name = name.substr(1, name.size() - 2);
  }
  // 8-4-4-4-12 hex digits, or a run of >= 16 hex digits (a GUID without dashes, a hash).
  std::size_t hex = 0, dashes = 0;
  bool only_guid_chars = !name.empty();
  for (char c : name) {
    if (is_hex(c)) {
      ++hex;
    } else if (c == '-') {
      ++dashes;
    } else {
      only_guid_chars = false;
    }
  }
  if (only_guid_chars &&
      ((hex == 32 && (dashes == 4 || dashes == 0)) || (dashes == 0 && hex >= 16))) {
    out.push_back("GUID-like name (a driver a program created under a random name?)");
  }
  for (std::string_view temp : {"\\Temp\\", "\\Tmp\\", "/tmp/"}) {
    if (contains_ignore_case(full_path, temp)) {
      out.push_back("in a temporary folder");
      break;
    }
  }
  return out;
}

}  // namespace poolscope::parse
