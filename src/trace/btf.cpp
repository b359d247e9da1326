#include "trace/btf.h"

#include <fmt/format.h>

#include <array>

namespace poolscope::trace {
namespace {

constexpr std::size_t kHeaderBytes = 24;      // struct btf_header
constexpr std::size_t kTypeHeaderBytes = 12;  // struct btf_type
constexpr std::uint32_t kMaxTypes = 0xfffff;  // BTF_MAX_TYPE
constexpr int kMaxModifierChain = 32;         // typedef/const/... links followed before giving up
constexpr int kMaxAnonymousDepth = 8;         // nested anonymous struct/union members searched

enum Kind : std::uint32_t {
  kInt = 1,
  kPtr = 2,
  kArray = 3,
  kStruct = 4,
  kUnion = 5,
  kEnum = 6,
  kFwd = 7,
  kTypedef = 8,
  kVolatile = 9,
  kConst = 10,
  kRestrict = 11,
  kFunc = 12,
  kFuncProto = 13,
  kVar = 14,
  kDatasec = 15,
  kFloat = 16,
  kDeclTag = 17,
  kTypeTag = 18,
  kEnum64 = 19,
};

constexpr std::array<std::string_view, 20> kKindNames = {
    "UNKN", "INT",     "PTR",      "ARRAY",    "STRUCT",   "UNION", "ENUM",
    "FWD",  "TYPEDEF", "VOLATILE", "CONST",    "RESTRICT", "FUNC",  "FUNC_PROTO",
    "VAR",  "DATASEC", "FLOAT",    "DECL_TAG", "TYPE_TAG", "ENUM64"};

std::string_view kind_name(std::uint32_t kind) {
  return kind < kKindNames.size() ? kKindNames[kind] : "unknown kind";
}

// What follows a type record: a fixed part, then vlen entries; `named` entries start with a
// name offset.
struct Trailer {
  std::size_t fixed = 0;
  std::size_t per_entry = 0;
  bool named = false;
  std::string_view what;  // for messages: "STRUCT member list"
};

Trailer trailer_of(std::uint32_t kind) {
  switch (kind) {
    case kInt:
      return {4, 0, false, "encoding word"};
    case kArray:
      return {12, 0, false, "array description"};
    case kStruct:
    case kUnion:
      return {0, 12, true, "member list"};
    case kEnum:
      return {0, 8, true, "value list"};
    case kFuncProto:
      return {0, 8, true, "parameter list"};
    case kVar:
      return {4, 0, false, "linkage word"};
    case kDatasec:
      return {0, 12, false, "variable list"};
    case kDeclTag:
      return {4, 0, false, "component index"};
    case kEnum64:
      return {0, 12, true, "value list"};
    default:
      return {};
  }
}

std::uint32_t le32(const std::uint8_t* at) {
  return static_cast<std::uint32_t>(at[0]) | static_cast<std::uint32_t>(at[1]) << 8 |
         static_cast<std::uint32_t>(at[2]) << 16 | static_cast<std::uint32_t>(at[3]) << 24;
}

std::unexpected<Error> input_error(std::string message) {
  return make_error(ErrorCode::kInput, std::move(message));
}

bool is_modifier(std::uint32_t kind) {
  return kind == kTypedef || kind == kVolatile || kind == kConst || kind == kRestrict ||
         kind == kTypeTag;
}

}  // namespace

Result<Btf> Btf::parse(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kHeaderBytes) {
    return input_error(fmt::format(
        "BTF header: the data has {} bytes, a BTF header needs {}: not BTF, or cut short",
        bytes.size(), kHeaderBytes));
  }
  if (bytes[0] == 0xEB && bytes[1] == 0x9F) {
    return input_error(
        "BTF header: this BTF is big-endian; only little-endian BTF (x86, arm64 kernels) is "
        "supported");
  }
  if (bytes[0] != 0x9F || bytes[1] != 0xEB) {
    return input_error(fmt::format(
        "BTF header: magic 0x{:02x}{:02x} is not BTF's 0xeb9f: give /sys/kernel/btf/vmlinux",
        bytes[1], bytes[0]));
  }
  if (bytes[2] != 1) {
    return input_error(
        fmt::format("BTF header: version {} is not supported (only version 1)", bytes[2]));
  }
  const std::uint64_t hdr_len = le32(&bytes[4]);
  const std::uint64_t type_off = le32(&bytes[8]);
  const std::uint64_t type_len = le32(&bytes[12]);
  const std::uint64_t str_off = le32(&bytes[16]);
  const std::uint64_t str_len = le32(&bytes[20]);
  if (hdr_len < kHeaderBytes || hdr_len > bytes.size()) {
    return input_error(fmt::format(
        "BTF header: hdr_len {} is outside {}..{} (the data's size): corrupt or cut short", hdr_len,
        kHeaderBytes, bytes.size()));
  }
  const std::uint64_t data_len = bytes.size() - hdr_len;
  if (type_off + type_len > data_len) {
    return input_error(fmt::format(
        "BTF header: the type section ({} bytes at {}) runs past the data ({} bytes after the "
        "header): cut short?",
        type_len, type_off, data_len));
  }
  if (str_off + str_len > data_len) {
    return input_error(fmt::format(
        "BTF header: the string section ({} bytes at {}) runs past the data ({} bytes after the "
        "header): cut short?",
        str_len, str_off, data_len));
  }
  if (type_off % 4 != 0) {
    return input_error(
        fmt::format("BTF header: the type section offset {} is not 4-byte aligned", type_off));
  }
  const std::uint8_t* strings = bytes.data() + hdr_len + str_off;
  if (str_len == 0 || strings[0] != 0) {
    return input_error(
        "BTF header: the string section must start with a NUL (offset 0 is the empty name)");
  }
  if (strings[str_len - 1] != 0) {
    return input_error(
        "BTF strings: the string section does not end with a NUL: its last string runs past it");
  }

  Btf btf;
  const std::uint8_t* types = bytes.data() + hdr_len + type_off;
  btf.types_.assign(types, types + type_len);
  btf.strings_.assign(reinterpret_cast<const char*>(strings), str_len);
  btf.offsets_.reserve(type_len / 16 + 2);
  btf.offsets_.push_back(0);  // id 0: void

  auto bad_name = [&](std::uint32_t id, std::string_view what, std::uint32_t offset) {
    return input_error(
        fmt::format("BTF type {}: {} name offset {} is past the string section ({} bytes)", id,
                    what, offset, str_len));
  };
  std::size_t pos = 0;
  while (pos < type_len) {
    const auto id = static_cast<std::uint32_t>(btf.offsets_.size());
    if (id > kMaxTypes) {
      return input_error(fmt::format("BTF: more than {} types (BTF_MAX_TYPE)", kMaxTypes));
    }
    const std::size_t left = type_len - pos;
    if (left < kTypeHeaderBytes) {
      return input_error(fmt::format(
          "BTF type {}: its record header runs past the type section ({} of {} bytes left)", id,
          left, kTypeHeaderBytes));
    }
    const std::uint8_t* record = types + pos;
    const std::uint32_t name_off = le32(record);
    const std::uint32_t info = le32(record + 4);
    const std::uint32_t kind = (info >> 24) & 0x1f;
    const std::uint32_t vlen = info & 0xffff;
    if (kind == 0 || kind > kEnum64) {
      return input_error(fmt::format(
          "BTF type {}: unknown kind {} (this reader knows kinds 1-19, INT to ENUM64: a newer "
          "kernel's BTF?)",
          id, kind));
    }
    if (name_off >= str_len) return bad_name(id, kind_name(kind), name_off);
    const Trailer trailer = trailer_of(kind);
    const std::size_t trailing = trailer.fixed + trailer.per_entry * vlen;
    if (trailing > left - kTypeHeaderBytes) {
      return input_error(
          fmt::format("BTF type {}: {} {} ({} bytes) runs past the type section ({} bytes left)",
                      id, kind_name(kind), trailer.what, trailing, left - kTypeHeaderBytes));
    }
    if (trailer.named) {
      const std::uint8_t* entry = record + kTypeHeaderBytes + trailer.fixed;
      for (std::uint32_t i = 0; i < vlen; ++i, entry += trailer.per_entry) {
        const std::uint32_t entry_name = le32(entry);
        if (entry_name >= str_len) {
          return bad_name(id, fmt::format("{} {} entry {}", kind_name(kind), trailer.what, i),
                          entry_name);
        }
      }
    }
    if (kind == kInt && btf.pointer_size_ == 0) {
      const std::string_view name = btf.name_at(name_off);
      if (name == "long int" || name == "long unsigned int") btf.pointer_size_ = le32(record + 8);
    }
    btf.offsets_.push_back(static_cast<std::uint32_t>(pos));
    pos += kTypeHeaderBytes + trailing;
  }
  return btf;
}

std::uint32_t Btf::u32_at(std::size_t offset) const {
  return le32(types_.data() + offset);
}

std::string_view Btf::name_at(std::uint32_t offset) const {
  // parse() checked every name offset and that the section ends with a NUL.
  return std::string_view(strings_.c_str() + offset);
}

Btf::TypeRef Btf::type(std::uint32_t id) const {
  const std::size_t at = offsets_[id];
  const std::uint32_t info = u32_at(at + 4);
  TypeRef t;
  t.id = id;
  t.name_off = u32_at(at);
  t.kind = (info >> 24) & 0x1f;
  t.vlen = info & 0xffff;
  t.kflag = (info >> 31) != 0;
  t.size_or_type = u32_at(at + 8);
  t.data = at + kTypeHeaderBytes;
  return t;
}

Result<Btf::TypeRef> Btf::checked_type(std::uint32_t id, std::uint32_t referrer) const {
  if (id == 0) {
    return input_error(
        fmt::format("BTF type {}: refers to void (type 0) where a type is needed", referrer));
  }
  if (id >= offsets_.size()) {
    return input_error(fmt::format("BTF type {}: refers to type {}, past the last type ({})",
                                   referrer, id, type_count()));
  }
  return type(id);
}

Result<Btf::TypeRef> Btf::skip_modifiers(std::uint32_t id, std::uint32_t referrer) const {
  for (int i = 0; i < kMaxModifierChain; ++i) {
    auto t = checked_type(id, referrer);
    if (!t || !is_modifier(t->kind)) return t;
    referrer = id;
    id = t->size_or_type;
  }
  return input_error(fmt::format(
      "BTF type {}: more than {} typedef/const/volatile/restrict/type-tag links (a loop?)",
      referrer, kMaxModifierChain));
}

Result<std::uint32_t> Btf::size_of(std::uint32_t id, std::uint32_t referrer) const {
  auto t = skip_modifiers(id, referrer);
  if (!t) return std::unexpected(t.error());
  switch (t->kind) {
    case kInt:
    case kEnum:
    case kEnum64:
    case kFloat:
    case kStruct:
    case kUnion:
      return t->size_or_type;
    case kPtr:
      if (pointer_size_ == 0) {
        return input_error(fmt::format(
            "BTF type {}: a pointer, but the BTF has no INT \"long int\" or \"long unsigned "
            "int\" that tells the pointer size",
            t->id));
      }
      return pointer_size_;
    default:
      return input_error(fmt::format(
          "BTF type {}: of kind {}: its size is not worked out here (only INT, PTR, ENUM, "
          "ENUM64, FLOAT, STRUCT and UNION)",
          t->id, kind_name(t->kind)));
  }
}

std::uint32_t Btf::find_named(std::uint32_t kind, std::string_view name) const {
  for (std::uint32_t id = 1; id < offsets_.size(); ++id) {
    const std::size_t at = offsets_[id];
    if (((u32_at(at + 4) >> 24) & 0x1f) != kind) continue;
    const std::uint32_t name_off = u32_at(at);
    // Compare without measuring the name first: most differ in their first bytes.
    if (strings_.size() - name_off > name.size() &&
        strings_.compare(name_off, name.size(), name) == 0 &&
        strings_[name_off + name.size()] == '\0') {
      return id;
    }
  }
  return 0;
}

Result<std::uint32_t> Btf::tracepoint_arg_index(std::string_view event,
                                                std::string_view param) const {
  const std::string typedef_name = fmt::format("btf_trace_{}", event);
  const std::uint32_t id = find_named(kTypedef, typedef_name);
  if (id == 0) {
    return input_error(fmt::format(
        "no raw tracepoint {} in the kernel's BTF (no typedef {}): check the event name; kernels "
        "before 5.5 do not describe raw tracepoints in BTF",
        event, typedef_name));
  }
  auto pointer = skip_modifiers(type(id).size_or_type, id);
  if (!pointer) return std::unexpected(pointer.error());
  if (pointer->kind != kPtr) {
    return input_error(
        fmt::format("BTF type {}: typedef {} is of kind {}, not a pointer to a function prototype",
                    id, typedef_name, kind_name(pointer->kind)));
  }
  auto proto = skip_modifiers(pointer->size_or_type, pointer->id);
  if (!proto) return std::unexpected(proto.error());
  if (proto->kind != kFuncProto) {
    return input_error(
        fmt::format("BTF type {}: typedef {} points to kind {}, not a function prototype", id,
                    typedef_name, kind_name(proto->kind)));
  }
  if (proto->vlen == 0) {
    return input_error(
        fmt::format("BTF type {}: typedef {} has no parameters, not even the hidden data pointer",
                    id, typedef_name));
  }
  // The kernel's btf_trace_<event> prototype has unnamed parameters (it comes from a function
  // pointer type). The names are those of the functions built from the same TP_PROTO:
  // __bpf_trace_<event> (the BPF probe; named after the event class, so absent for events that
  // share a class), __traceiter_<event> (5.10+) and __probestub_<event> (6.7+). A candidate
  // counts only with as many parameters as the typedef's prototype.
  std::optional<TypeRef> named;
  if (proto->vlen > 1 && u32_at(proto->data + 8) != 0) named = *proto;
  for (std::string_view prefix : {"__bpf_trace_", "__traceiter_", "__probestub_"}) {
    if (named) break;
    const std::uint32_t func = find_named(kFunc, fmt::format("{}{}", prefix, event));
    if (func == 0) continue;
    auto func_proto = checked_type(type(func).size_or_type, func);
    if (func_proto && func_proto->kind == kFuncProto && func_proto->vlen == proto->vlen) {
      named = *func_proto;
    }
  }
  if (!named) {
    return input_error(fmt::format(
        "raw tracepoint {}: its BTF prototype has no parameter names, and no function "
        "__bpf_trace_{}, __traceiter_{} or __probestub_{} with the same parameters names them",
        event, event, event, event));
  }
  std::string names;
  for (std::uint32_t i = 0; i < named->vlen; ++i) {
    const std::string_view name = name_at(u32_at(named->data + 8 * i));
    if (name == param) {
      if (i == 0) {
        return input_error(fmt::format(
            "parameter {} of raw tracepoint {} is the hidden data pointer, not in the program's "
            "ctx",
            param, event));
      }
      return i - 1;
    }
    if (i == 0) continue;
    if (!names.empty()) names += ", ";
    names += name;
  }
  return input_error(fmt::format("raw tracepoint {} has no parameter {} (its parameters: {})",
                                 event, param, names.empty() ? "none" : names));
}

std::optional<Btf::MemberRef> Btf::find_member(const TypeRef& owner, std::string_view member,
                                               int depth, std::uint64_t base_bits) const {
  for (std::uint32_t i = 0; i < owner.vlen; ++i) {
    const std::size_t at = owner.data + 12 * i;
    const std::uint32_t name_off = u32_at(at);
    const std::uint32_t member_type = u32_at(at + 4);
    const std::uint32_t offset = u32_at(at + 8);
    // With the struct's kind_flag the offset word is bitfield size (top 8 bits) and bit offset.
    const std::uint64_t bits = base_bits + (owner.kflag ? offset & 0xffffff : offset);
    const std::uint32_t bitfield_bits = owner.kflag ? offset >> 24 : 0;
    if (name_off != 0) {
      if (name_at(name_off) == member) return MemberRef{member_type, bits, bitfield_bits};
      continue;
    }
    if (depth >= kMaxAnonymousDepth) continue;
    auto inner = skip_modifiers(member_type, owner.id);
    if (!inner || (inner->kind != kStruct && inner->kind != kUnion)) continue;
    if (auto found = find_member(*inner, member, depth + 1, bits)) return found;
  }
  return std::nullopt;
}

Result<Btf::Member> Btf::struct_member(std::string_view struct_name,
                                       std::string_view member) const {
  const std::uint32_t id = find_named(kStruct, struct_name);
  if (id == 0) {
    if (find_named(kFwd, struct_name) != 0) {
      return input_error(fmt::format(
          "struct {} is only declared (FWD) in the kernel's BTF, not defined", struct_name));
    }
    return input_error(fmt::format("no struct {} in the kernel's BTF", struct_name));
  }
  const auto found = find_member(type(id), member, 0, 0);
  if (!found) {
    return input_error(
        fmt::format("struct {} (BTF type {}) has no member {}", struct_name, id, member));
  }
  const std::string where = fmt::format("member {} of struct {}", member, struct_name);
  if (found->bitfield_bits != 0) {
    return input_error(fmt::format("{} is a bitfield ({} bits at bit {}): not readable by bytes",
                                   where, found->bitfield_bits, found->bit_offset));
  }
  auto resolved = skip_modifiers(found->type, id);
  if (!resolved) return std::unexpected(resolved.error());
  if (resolved->kind == kInt) {
    // Without kind_flag a bitfield is an INT whose encoding has a bit offset or fewer bits.
    const std::uint32_t encoding = u32_at(resolved->data);
    const std::uint32_t int_offset = (encoding >> 16) & 0xff;
    const std::uint32_t int_bits = encoding & 0xff;
    if (int_offset != 0 || int_bits != resolved->size_or_type * 8) {
      return input_error(fmt::format("{} is a bitfield ({} bits at bit {}): not readable by bytes",
                                     where, int_bits, found->bit_offset + int_offset));
    }
  }
  if (found->bit_offset % 8 != 0) {
    return input_error(
        fmt::format("{} starts at bit {}, not on a byte boundary", where, found->bit_offset));
  }
  auto size = size_of(found->type, id);
  if (!size) {
    return input_error(fmt::format("{}: {}", where, size.error().message));
  }
  if (found->bit_offset / 8 > UINT32_MAX) {
    return input_error(fmt::format("{} is at bit {}, past 4 GiB", where, found->bit_offset));
  }
  return Member{static_cast<std::uint32_t>(found->bit_offset / 8), *size};
}

}  // namespace poolscope::trace
