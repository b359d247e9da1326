// Builds SystemExtendedHandleInformation and ObjectTypesInformation buffers the way phnt lays
// them out (parse/handle_table.h), for the tests, the fuzz corpus and the benchmark.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "parse/handle_table.h"

namespace poolscope::parse::testing {

inline void put_le(std::vector<std::byte>& bytes, std::size_t offset, std::uint64_t value,
                   std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    bytes[offset + i] = static_cast<std::byte>((value >> (8 * i)) & 0xFF);
  }
}

class HandleTableBuilder {
 public:
  explicit HandleTableBuilder(PointerWidth width)
      : width_(width), layout_(handle_table_layout(width)), bytes_(layout_.header_size) {}

  void reserve(std::size_t handles) {
    bytes_.reserve(layout_.header_size + handles * layout_.entry_size);
  }
  void add(const HandleEntry& e) {
    const std::size_t at = bytes_.size();
    bytes_.resize(at + layout_.entry_size);
    put_le(bytes_, at + layout_.object, e.object, pointer());
    put_le(bytes_, at + layout_.unique_process_id, e.pid, pointer());
    put_le(bytes_, at + layout_.handle_value, e.handle, pointer());
    put_le(bytes_, at + layout_.granted_access, e.granted_access, 4);
    put_le(bytes_, at + layout_.object_type_index, e.type_index, 2);
    put_le(bytes_, at + layout_.handle_attributes, e.attributes, 4);
    ++count_;
  }
  // The buffer with NumberOfHandles set (and `slack` zero bytes after, as a caller's larger
  // buffer has).
  std::vector<std::byte> bytes(std::size_t slack = 0) const {
    std::vector<std::byte> out = bytes_;
    put_le(out, 0, count_, pointer());
    out.resize(out.size() + slack);
    return out;
  }

 private:
  std::size_t pointer() const { return width_ == PointerWidth::k64 ? 8 : 4; }
  PointerWidth width_;
  HandleTableLayout layout_;
  std::vector<std::byte> bytes_;
  std::uint64_t count_ = 0;
};

class ObjectTypesBuilder {
 public:
  explicit ObjectTypesBuilder(PointerWidth width)
      : width_(width), layout_(object_type_layout(width)), bytes_(layout_.first_entry) {}

  // index 0 writes no TypeIndex (Windows before 8.1).
  void add(const std::u16string& name, std::uint8_t index, std::uint32_t objects = 0,
           std::uint32_t handles = 0) {
    const std::size_t align = width_ == PointerWidth::k64 ? 8 : 4;
    const std::size_t at = bytes_.size();
    const std::size_t maximum = name.size() * 2 + 2;  // NUL-terminated
    bytes_.resize(at + layout_.entry_size + (maximum + align - 1) / align * align);
    put_le(bytes_, at + layout_.name_length, name.size() * 2, 2);
    put_le(bytes_, at + layout_.name_maximum_length, maximum, 2);
    put_le(bytes_, at + layout_.name_buffer, 0x10000 + at + layout_.entry_size,
           width_ == PointerWidth::k64 ? 8 : 4);
    put_le(bytes_, at + layout_.total_objects, objects, 4);
    put_le(bytes_, at + layout_.total_handles, handles, 4);
    put_le(bytes_, at + layout_.type_index, index, 1);
    for (std::size_t i = 0; i < name.size(); ++i) {
      put_le(bytes_, at + layout_.entry_size + 2 * i, name[i], 2);
    }
    ++count_;
  }
  std::vector<std::byte> bytes() const {
    std::vector<std::byte> out = bytes_;
    put_le(out, 0, count_, 4);
    return out;
  }

 private:
  PointerWidth width_;
  ObjectTypeLayout layout_;
  std::vector<std::byte> bytes_;
  std::uint32_t count_ = 0;
};

// The type table of a Windows 10/11 build (indexes as on 22H2; only their names matter).
inline ObjectTypesBuilder windows_types(PointerWidth width) {
  ObjectTypesBuilder types(width);
  types.add(u"Type", 2);
  types.add(u"Directory", 3);
  types.add(u"Token", 5);
  types.add(u"Job", 6);
  types.add(u"Process", 7);
  types.add(u"Thread", 8);
  types.add(u"IoCompletionReserve", 10);
  types.add(u"Event", 16);
  types.add(u"Mutant", 17);
  types.add(u"Semaphore", 19);
  types.add(u"Timer", 20);
  types.add(u"WindowStation", 24);
  types.add(u"Desktop", 25);
  types.add(u"TpWorkerFactory", 30);
  types.add(u"IoCompletion", 35);
  types.add(u"WaitCompletionPacket", 36);
  types.add(u"File", 37);
  types.add(u"Section", 42);
  types.add(u"Key", 44);
  types.add(u"ALPC Port", 46);
  types.add(u"EtwRegistration", 50);
  return types;
}

}  // namespace poolscope::parse::testing
