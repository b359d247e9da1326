// Builds BTF blobs the way the kernel lays them out (little-endian header, type section, string
// section): for the BTF reader's tests and its fuzz corpus.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace poolscope::testing {

class BtfBuilder {
 public:
  enum Kind : std::uint32_t {
    kInt = 1,
    kPtr,
    kArray,
    kStruct,
    kUnion,
    kEnum,
    kFwd,
    kTypedef,
    kVolatile,
    kConst,
    kRestrict,
    kFunc,
    kFuncProto,
    kVar,
    kDatasec,
    kFloat,
    kDeclTag,
    kTypeTag,
    kEnum64,
  };
  struct Field {  // a struct member or a function parameter
    std::string_view name;
    std::uint32_t type = 0;
    std::uint32_t bit_offset = 0;     // members only
    std::uint32_t bitfield_bits = 0;  // members only; needs the struct's kind_flag
  };

  BtfBuilder() { strings_.push_back('\0'); }

  std::uint32_t str(std::string_view s) {
    if (s.empty()) return 0;
    const auto offset = static_cast<std::uint32_t>(strings_.size());
    strings_.append(s);
    strings_.push_back('\0');
    return offset;
  }

  // Any record: header words and the trailing words as given. Returns its type id.
  std::uint32_t raw(std::uint32_t kind, std::string_view name, std::uint32_t vlen, bool kflag,
                    std::uint32_t size_or_type, const std::vector<std::uint32_t>& trailing = {}) {
    word(str(name));
    word((kflag ? 1u << 31 : 0u) | (kind & 0x1f) << 24 | (vlen & 0xffff));
    word(size_or_type);
    for (std::uint32_t w : trailing) word(w);
    return ++count_;
  }

  std::uint32_t int_type(std::string_view name, std::uint32_t size, std::uint32_t bits = 0,
                         std::uint32_t bit_offset = 0, std::uint32_t encoding = 0) {
    if (bits == 0) bits = size * 8;
    return raw(kInt, name, 0, false, size, {encoding << 24 | bit_offset << 16 | bits});
  }
  std::uint32_t ptr(std::uint32_t to) { return raw(kPtr, "", 0, false, to); }
  std::uint32_t modifier(std::uint32_t kind, std::uint32_t to, std::string_view name = "") {
    return raw(kind, name, 0, false, to);
  }
  std::uint32_t struct_type(std::string_view name, std::uint32_t size,
                            const std::vector<Field>& members, bool kflag = false,
                            std::uint32_t kind = kStruct) {
    std::vector<std::uint32_t> trailing;
    for (const Field& m : members) {
      trailing.push_back(str(m.name));
      trailing.push_back(m.type);
      trailing.push_back(kflag ? m.bitfield_bits << 24 | m.bit_offset : m.bit_offset);
    }
    return raw(kind, name, static_cast<std::uint32_t>(members.size()), kflag, size, trailing);
  }
  std::uint32_t func_proto(std::uint32_t returns, const std::vector<Field>& params) {
    std::vector<std::uint32_t> trailing;
    for (const Field& p : params) {
      trailing.push_back(str(p.name));
      trailing.push_back(p.type);
    }
    return raw(kFuncProto, "", static_cast<std::uint32_t>(params.size()), false, returns, trailing);
  }
  // What the kernel emits for a raw tracepoint: typedef void (*btf_trace_<event>)(void *, ...)
  // with unnamed parameters, and the probe function __bpf_trace_<event>(void *__data, params...)
  // whose prototype names them (`names_from` "" puts the names on the typedef's prototype
  // instead and emits no function).
  std::uint32_t tracepoint(std::string_view event, std::uint32_t void_ptr,
                           std::vector<Field> params,
                           std::string_view names_from = "__bpf_trace_") {
    params.insert(params.begin(), Field{"__data", void_ptr});
    std::vector<Field> unnamed = params;
    if (!names_from.empty()) {
      for (Field& p : unnamed) p.name = "";
    }
    const std::uint32_t id =
        modifier(kTypedef, ptr(func_proto(0, unnamed)), "btf_trace_" + std::string(event));
    if (!names_from.empty()) {
      raw(kFunc, std::string(names_from) + std::string(event), 0, false, func_proto(0, params));
    }
    return id;
  }

  std::vector<std::uint8_t> build() const {
    const auto type_len = static_cast<std::uint32_t>(types_.size());
    const auto str_len = static_cast<std::uint32_t>(strings_.size());
    std::vector<std::uint8_t> out;
    out.reserve(24 + type_len + str_len);
    put(out, 0x0001eb9f);  // magic (little-endian), version 1, flags 0
    for (std::uint32_t w : {24u, 0u, type_len, type_len, str_len}) put(out, w);
    for (std::uint8_t byte : types_) out.push_back(byte);
    for (char c : strings_) out.push_back(static_cast<std::uint8_t>(c));
    return out;
  }

  static void put(std::vector<std::uint8_t>& out, std::uint32_t w) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(w >> (8 * i)));
  }
  static void set_u32(std::vector<std::uint8_t>& bytes, std::size_t at, std::uint32_t w) {
    for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<std::uint8_t>(w >> (8 * i));
  }

 private:
  void word(std::uint32_t w) { put(types_, w); }

  std::vector<std::uint8_t> types_;
  std::string strings_;
  std::uint32_t count_ = 0;
};

// The kmem part of a kernel's BTF, small: base types, struct kmem_cache (name, size, object_size
// at SLUB's offsets, one through typedef/const chains, one inside an anonymous union) and the four
// kmem raw tracepoints with the kernel's parameter names: named by __bpf_trace_<event> as in
// the kernel, except kfree (names on the typedef's prototype) and kmem_cache_free (named by
// __traceiter_kmem_cache_free).
inline std::vector<std::uint8_t> kmem_btf() {
  using B = BtfBuilder;
  B b;
  const auto u32 = b.int_type("unsigned int", 4);
  const auto ulong = b.int_type("long unsigned int", 8);
  const auto chr = b.int_type("char", 1, 0, 0, 2);
  const auto integer = b.int_type("int", 4, 0, 0, 1);
  const auto void_ptr = b.ptr(0);
  const auto const_void_ptr = b.ptr(b.modifier(B::kConst, 0));
  const auto const_char_ptr = b.ptr(b.modifier(B::kConst, chr));
  const auto size_t_type = b.modifier(B::kTypedef, ulong, "size_t");
  const auto gfp_t = b.modifier(B::kTypedef, u32, "gfp_t");
  const auto slab_flags = b.modifier(B::kTypedef, u32, "slab_flags_t");
  // unsigned int object_size, reached through const -> typedef -> volatile.
  const auto object_size_type =
      b.modifier(B::kConst, b.modifier(B::kTypedef, b.modifier(B::kVolatile, u32), "osize_t"));
  const auto anon = b.struct_type("", 8, {{"refcount", integer, 0}, {"align", u32, 32}});
  const auto cache = b.struct_type("kmem_cache", 256,
                                   {{"cpu_slab", void_ptr, 0},
                                    {"flags", slab_flags, 64},
                                    {"min_partial", ulong, 128},
                                    {"size", u32, 192},
                                    {"object_size", object_size_type, 224},
                                    {"", anon, 256},
                                    {"name", const_char_ptr, 768}});
  const auto cache_ptr = b.ptr(cache);
  b.tracepoint("kmalloc", void_ptr,
               {{"call_site", ulong},
                {"ptr", const_void_ptr},
                {"bytes_req", size_t_type},
                {"bytes_alloc", size_t_type},
                {"gfp_flags", gfp_t},
                {"node", integer}});
  b.tracepoint("kfree", void_ptr, {{"call_site", ulong}, {"ptr", const_void_ptr}}, "");
  b.tracepoint("kmem_cache_alloc", void_ptr,
               {{"call_site", ulong},
                {"ptr", const_void_ptr},
                {"s", cache_ptr},
                {"gfp_flags", gfp_t},
                {"node", integer}});
  b.tracepoint("kmem_cache_free", void_ptr,
               {{"call_site", ulong}, {"ptr", const_void_ptr}, {"s", cache_ptr}}, "__traceiter_");
  return b.build();
}

}  // namespace poolscope::testing
