// Reader of BTF (BPF Type Format) as the kernel exports it in /sys/kernel/btf/vmlinux: for the BPF
// raw-tracepoint backend of `trace`, where each kmem argument sits in the program's u64 ctx array
// and struct kmem_cache's fields are read by offset. Portable: bytes in, no Linux headers.
// Format: the kernel's Documentation/bpf/btf.rst and include/uapi/linux/btf.h. Little-endian
// blobs only (the magic tells; a big-endian one is refused with a message). Base BTF only: module
// (split) BTF, whose type ids continue vmlinux's, is not read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace poolscope::trace {

class Btf {
 public:
  struct Member {
    std::uint32_t offset = 0;  // bytes from the start of the struct
    std::uint32_t size = 0;    // bytes
  };

  // Validates the header, the sections, every type record (kind 1..19 and its trailing data inside
  // the type section) and every name offset (inside the string section, which must end with a
  // NUL). Copies the type and string sections: the result does not point into `bytes`. Type ids
  // referred to by records are checked when a lookup follows them. Errors are ErrorCode::kInput.
  static Result<Btf> parse(std::span<const std::uint8_t> bytes);

  // Index into a raw tracepoint program's ctx array of parameter `param` of trace event `event`
  // (e.g. "kmalloc", "ptr" -> 1). The position is that in the kernel's `typedef void
  // (*btf_trace_<event>)(void *__data, <TP_PROTO args>)` less one (the hidden first parameter is
  // not in ctx); that prototype's parameters are unnamed in real kernels, so the names come from
  // __bpf_trace_<event>, __traceiter_<event> or __probestub_<event> (same parameter count).
  Result<std::uint32_t> tracepoint_arg_index(std::string_view event, std::string_view param) const;

  // Byte offset and size of member `member` of `struct struct_name` (also found inside anonymous
  // struct/union members). The size is that of the member's type through typedef, const,
  // volatile, restrict and type tags: INT, PTR (the size of the BTF's `long`), ENUM, ENUM64,
  // FLOAT, STRUCT or UNION. Bitfields, arrays and members not on a byte boundary are errors.
  Result<Member> struct_member(std::string_view struct_name, std::string_view member) const;

  // Number of types, void (id 0) not counted: the last valid type id.
  std::uint32_t type_count() const { return static_cast<std::uint32_t>(offsets_.size() - 1); }

 private:
  struct TypeRef {  // a type record's header, decoded
    std::uint32_t id = 0;
    std::uint32_t name_off = 0;
    std::uint32_t kind = 0;
    std::uint32_t vlen = 0;
    bool kflag = false;
    std::uint32_t size_or_type = 0;  // `size` or `type`, by kind
    std::size_t data = 0;            // offset of the trailing data in types_
  };
  struct MemberRef {  // where a member was found
    std::uint32_t type = 0;
    std::uint64_t bit_offset = 0;     // from the start of the outermost struct
    std::uint32_t bitfield_bits = 0;  // kind_flag encoding; 0: not a bitfield there
  };

  Btf() = default;
  TypeRef type(std::uint32_t id) const;
  Result<TypeRef> checked_type(std::uint32_t id, std::uint32_t referrer) const;
  Result<TypeRef> skip_modifiers(std::uint32_t id, std::uint32_t referrer) const;
  Result<std::uint32_t> size_of(std::uint32_t id, std::uint32_t referrer) const;
  std::uint32_t find_named(std::uint32_t kind, std::string_view name) const;
  std::string_view name_at(std::uint32_t offset) const;
  std::uint32_t u32_at(std::size_t offset) const;
  std::optional<MemberRef> find_member(const TypeRef& owner, std::string_view member, int depth,
                                       std::uint64_t base_bits) const;

  std::vector<std::uint8_t> types_;     // the type section
  std::string strings_;                 // the string section; ends with a NUL
  std::vector<std::uint32_t> offsets_;  // type id -> its record's offset in types_ (0: void)
  std::uint32_t pointer_size_ = 0;      // size of the INT "long int"/"long unsigned int"; 0: none
};

}  // namespace poolscope::trace
