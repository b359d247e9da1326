#include "trace/btf.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "test_support.h"
#include "unit/trace/btf_builder.h"

namespace poolscope::trace {
namespace {

using testing::BtfBuilder;
using B = BtfBuilder;
using Bytes = std::vector<std::uint8_t>;

Btf parse_ok(const Bytes& bytes) {
  auto btf = Btf::parse(bytes);
  EXPECT_TRUE(btf.has_value()) << (btf ? "" : btf.error().message);
  return btf ? std::move(*btf) : *Btf::parse(B().build());
}

// Parses and expects an input error whose message contains `part`.
void expect_error(const Bytes& bytes, std::string_view part) {
  auto btf = Btf::parse(bytes);
  ASSERT_FALSE(btf.has_value()) << "parsed, expected an error with: " << part;
  EXPECT_EQ(btf.error().code, ErrorCode::kInput);
  EXPECT_NE(btf.error().message.find(part), std::string::npos) << btf.error().message;
}

void expect_arg(const Btf& btf, std::string_view event, std::string_view param,
                std::uint32_t index) {
  auto got = btf.tracepoint_arg_index(event, param);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, index) << event << " " << param;
}

void expect_member(const Btf& btf, std::string_view struct_name, std::string_view member,
                   std::uint32_t offset, std::uint32_t size) {
  auto got = btf.struct_member(struct_name, member);
  ASSERT_TRUE(got) << member << ": " << got.error().message;
  EXPECT_EQ(got->offset, offset) << member;
  EXPECT_EQ(got->size, size) << member;
}

template <class T>
void expect_lookup_error(const Result<T>& result, std::string_view part) {
  ASSERT_FALSE(result.has_value()) << "found, expected an error with: " << part;
  EXPECT_EQ(result.error().code, ErrorCode::kInput);
  EXPECT_NE(result.error().message.find(part), std::string::npos) << result.error().message;
}

TEST(Btf, FindsTracepointArgumentIndices) {
  const Btf btf = parse_ok(testing::kmem_btf());
  expect_arg(btf, "kmalloc", "call_site", 0);
  expect_arg(btf, "kmalloc", "ptr", 1);
  expect_arg(btf, "kmalloc", "bytes_alloc", 3);
  expect_arg(btf, "kmalloc", "node", 5);
  expect_arg(btf, "kfree", "ptr", 1);
  expect_arg(btf, "kmem_cache_alloc", "s", 2);
  expect_arg(btf, "kmem_cache_free", "ptr", 1);
  expect_arg(btf, "kmem_cache_free", "s", 2);
}

TEST(Btf, MissingTracepointOrParameterIsAnError) {
  const Btf btf = parse_ok(testing::kmem_btf());
  expect_lookup_error(btf.tracepoint_arg_index("kmalloc_node", "ptr"),
                      "no raw tracepoint kmalloc_node in the kernel's BTF (no typedef "
                      "btf_trace_kmalloc_node)");
  expect_lookup_error(btf.tracepoint_arg_index("kfree", "bytes_alloc"),
                      "raw tracepoint kfree has no parameter bytes_alloc (its parameters: "
                      "call_site, ptr)");
  expect_lookup_error(btf.tracepoint_arg_index("kmalloc", "__data"), "hidden data pointer");
  // A prefix of a name is not the name.
  expect_lookup_error(btf.tracepoint_arg_index("kmem", "ptr"), "no raw tracepoint kmem");
}

TEST(Btf, TracepointTypedefMustPointToAFunctionPrototype) {
  B b;
  const auto u32 = b.int_type("unsigned int", 4);
  b.modifier(B::kTypedef, u32, "btf_trace_a");
  b.modifier(B::kTypedef, b.ptr(u32), "btf_trace_b");
  b.modifier(B::kTypedef, 99, "btf_trace_c");
  // Unnamed parameters, and the only probe function has one parameter more: not the names.
  const auto void_ptr = b.ptr(0);
  b.modifier(B::kTypedef, b.ptr(b.func_proto(0, {{"", void_ptr}, {"", u32}})), "btf_trace_d");
  b.raw(B::kFunc, "__bpf_trace_d", 0, false,
        b.func_proto(0, {{"__data", void_ptr}, {"x", u32}, {"y", u32}}));
  b.modifier(B::kTypedef, b.ptr(b.func_proto(0, {})), "btf_trace_e");
  const Btf btf = parse_ok(b.build());
  expect_lookup_error(btf.tracepoint_arg_index("d", "x"),
                      "raw tracepoint d: its BTF prototype has no parameter names");
  expect_lookup_error(btf.tracepoint_arg_index("e", "x"), "has no parameters, not even");
  expect_lookup_error(btf.tracepoint_arg_index("a", "x"), "is of kind INT, not a pointer");
  expect_lookup_error(btf.tracepoint_arg_index("b", "x"), "points to kind INT, not a function");
  expect_lookup_error(btf.tracepoint_arg_index("c", "x"), "refers to type 99, past the last");
}

TEST(Btf, StructMemberOffsetsAndSizes) {
  const Btf btf = parse_ok(testing::kmem_btf());
  expect_member(btf, "kmem_cache", "name", 96, 8);  // const char *: the size of "long unsigned int"
  expect_member(btf, "kmem_cache", "size", 24, 4);
  // Through const -> typedef -> volatile -> unsigned int.
  expect_member(btf, "kmem_cache", "object_size", 28, 4);
  expect_member(btf, "kmem_cache", "flags", 8, 4);  // typedef slab_flags_t
  // Inside an anonymous struct member at byte 32.
  expect_member(btf, "kmem_cache", "align", 36, 4);
}

TEST(Btf, MemberSizesOfEveryResolvedKind) {
  B b;
  const auto u16 = b.int_type("short unsigned int", 2);
  const auto e = b.raw(B::kEnum, "e", 1, false, 4, {b.str("E0"), 0});
  const auto e64 = b.raw(B::kEnum64, "e64", 1, false, 8, {b.str("E1"), 1, 0});
  const auto f = b.raw(B::kFloat, "double", 0, false, 8);
  const auto inner = b.struct_type("inner", 12, {});
  const auto u = b.struct_type("u", 16, {}, false, B::kUnion);
  const auto tagged = b.raw(B::kTypeTag, "user", 0, false, b.modifier(B::kRestrict, u16));
  const auto arr = b.raw(B::kArray, "", 0, false, 0, {u16, u16, 4});
  b.struct_type("s", 64,
                {{"a", e, 0},
                 {"b", e64, 64},
                 {"c", f, 128},
                 {"d", inner, 192},
                 {"e", u, 288},
                 {"f", tagged, 416},
                 {"g", arr, 448},
                 {"h", b.ptr(u16), 512}});
  const Btf btf = parse_ok(b.build());
  const std::vector<std::pair<std::string_view, Btf::Member>> expected = {
      {"a", {0, 4}},   {"b", {8, 8}},   {"c", {16, 8}},
      {"d", {24, 12}}, {"e", {36, 16}}, {"f", {52, 2}}};
  for (const auto& [member, want] : expected) {
    auto got = btf.struct_member("s", member);
    ASSERT_TRUE(got) << member << ": " << got.error().message;
    EXPECT_EQ(got->offset, want.offset) << member;
    EXPECT_EQ(got->size, want.size) << member;
  }
  expect_lookup_error(btf.struct_member("s", "g"), "of kind ARRAY: its size");
  // No "long" INT in this BTF: the pointer size is unknown.
  expect_lookup_error(btf.struct_member("s", "h"), "tells the pointer size");
}

TEST(Btf, BitfieldMembersAreErrors) {
  B b;
  const auto u32 = b.int_type("unsigned int", 4);
  const auto old_bits = b.int_type("unsigned int", 4, 3, 2);  // old encoding: 3 bits at bit 2
  b.struct_type("with_kflag", 8, {{"whole", u32, 0, 0}, {"bits", u32, 37, 5}}, true);
  b.struct_type("without_kflag", 8, {{"bits", old_bits, 32}, {"odd", u32, 36}});
  const Btf btf = parse_ok(b.build());
  expect_member(btf, "with_kflag", "whole", 0, 4);
  expect_lookup_error(btf.struct_member("with_kflag", "bits"),
                      "member bits of struct with_kflag is a bitfield (5 bits at bit 37)");
  expect_lookup_error(btf.struct_member("without_kflag", "bits"),
                      "is a bitfield (3 bits at bit 34)");
  expect_lookup_error(btf.struct_member("without_kflag", "odd"), "starts at bit 36, not on a byte");
}

TEST(Btf, MissingStructOrMemberIsAnError) {
  B b;
  b.raw(B::kFwd, "only_declared", 0, false, 0);
  b.struct_type("kmem_cache_node", 8, {});
  const Btf btf = parse_ok(b.build());
  expect_lookup_error(btf.struct_member("kmem_cache", "name"),
                      "no struct kmem_cache in the kernel's BTF");
  expect_lookup_error(btf.struct_member("only_declared", "x"), "only declared (FWD)");
  expect_lookup_error(btf.struct_member("kmem_cache_node", "name"),
                      "struct kmem_cache_node (BTF type 2) has no member name");
}

TEST(Btf, BrokenTypeReferencesAreLookupErrors) {
  B b;
  const auto loop_a = b.modifier(B::kTypedef, 2, "loop_a");  // 1 -> 2 -> 1
  b.modifier(B::kConst, loop_a);
  b.struct_type("s", 8, {{"loop", loop_a, 0}, {"past", 77, 0}, {"to_void", 0, 0}});
  const Btf btf = parse_ok(b.build());
  expect_lookup_error(btf.struct_member("s", "loop"), "(a loop?)");
  expect_lookup_error(btf.struct_member("s", "past"), "refers to type 77, past the last type (3)");
  expect_lookup_error(btf.struct_member("s", "to_void"), "refers to void");
}

TEST(Btf, ParsesEveryKind) {
  B b;
  const auto i = b.int_type("int", 4);
  b.ptr(i);
  b.raw(B::kArray, "", 0, false, 0, {i, i, 2});
  b.struct_type("s", 4, {{"m", i, 0}});
  b.struct_type("u", 4, {{"m", i, 0}}, false, B::kUnion);
  b.raw(B::kEnum, "e", 2, false, 4, {b.str("A"), 0, b.str("B"), 1});
  b.raw(B::kFwd, "f", 0, true, 0);
  b.modifier(B::kTypedef, i, "t");
  b.modifier(B::kVolatile, i);
  b.modifier(B::kConst, i);
  b.modifier(B::kRestrict, i);
  const auto proto = b.func_proto(i, {{"x", i}});
  b.raw(B::kFunc, "fn", 1, false, proto);
  const auto var = b.raw(B::kVar, "v", 0, false, i, {1});
  b.raw(B::kDatasec, ".data", 1, false, 4, {var, 0, 4});
  b.raw(B::kFloat, "float", 0, false, 4);
  b.raw(B::kDeclTag, "tag", 0, false, var, {0xffffffff});
  b.raw(B::kTypeTag, "user", 0, false, i);
  b.raw(B::kEnum64, "e64", 1, true, 8, {b.str("C"), 1, 2});
  const Btf btf = parse_ok(b.build());
  EXPECT_EQ(btf.type_count(), 19u);
  EXPECT_EQ(parse_ok(B().build()).type_count(), 0u);  // no types at all is valid
}

TEST(Btf, HeaderErrors) {
  const Bytes good = testing::kmem_btf();
  for (std::size_t size = 0; size < 24; ++size) {
    expect_error(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(size)),
                 "a BTF header needs 24");
  }
  Bytes big_endian = good;
  std::swap(big_endian[0], big_endian[1]);
  expect_error(big_endian, "big-endian");
  Bytes bad_magic = good;
  bad_magic[0] = 0x7f;
  expect_error(bad_magic, "magic 0xeb7f is not BTF's 0xeb9f");
  Bytes version = good;
  version[2] = 2;
  expect_error(version, "version 2 is not supported");
  // The header's words: 4 hdr_len, 8 type_off, 12 type_len, 16 str_off, 20 str_len.
  const auto patched = [&](std::size_t at, std::uint32_t value) {
    Bytes bytes = good;
    B::set_u32(bytes, at, value);
    return bytes;
  };
  expect_error(patched(4, 16), "hdr_len 16 is outside");
  expect_error(patched(4, static_cast<std::uint32_t>(good.size() + 1)), "hdr_len");
  expect_error(patched(8, 0xfffffff0), "the type section (");
  expect_error(patched(12, 0xffffffff), "the type section (4294967295 bytes at 0) runs past");
  expect_error(patched(16, 0xfffffff0), "the string section");
  Bytes unaligned = patched(8, 2);
  B::set_u32(unaligned, 12, 0);  // an empty type section at offset 2
  expect_error(unaligned, "not 4-byte aligned");
}

TEST(Btf, StringSectionErrors) {
  B b;
  b.int_type("int", 4);
  const Bytes good = b.build();
  Bytes no_leading_nul = good;
  no_leading_nul[24 + 16] = 'x';  // first byte of the string section
  expect_error(no_leading_nul, "must start with a NUL");
  Bytes no_trailing_nul = good;
  no_trailing_nul.back() = 't';
  expect_error(no_trailing_nul, "does not end with a NUL");
  Bytes empty_strings = good;
  B::set_u32(empty_strings, 20, 0);
  expect_error(empty_strings, "must start with a NUL");
  Bytes name_past = good;
  B::set_u32(name_past, 24, 5);  // the INT's name offset; the section is "\0int\0" (5 bytes)
  expect_error(name_past, "BTF type 1: INT name offset 5 is past the string section (5 bytes)");
}

TEST(Btf, TypeRecordErrors) {
  {
    B b;
    b.int_type("int", 4);
    b.raw(0, "", 0, false, 0);
    expect_error(b.build(), "BTF type 2: unknown kind 0");
  }
  {
    B b;
    b.raw(20, "", 0, false, 0);
    expect_error(b.build(), "BTF type 1: unknown kind 20");
  }
  {
    B b;
    const auto i = b.int_type("int", 4);
    b.struct_type("s", 4, {{"m", i, 0}});
    Bytes bytes = b.build();
    B::set_u32(bytes, 24 + 16 + 12, 1000);  // member 0's name offset
    expect_error(bytes, "BTF type 2: STRUCT member list entry 0 name offset 1000 is past");
  }
  // Each kind with trailing data, its record cut by 4 bytes (the type section shortened, the
  // string section moved up accordingly): "runs past the type section".
  struct Case {
    std::uint32_t kind;
    std::uint32_t vlen;
    std::size_t words;  // trailing words of a whole record
    std::string_view what;
  };
  const std::vector<Case> cases = {{B::kInt, 0, 1, "INT encoding word"},
                                   {B::kArray, 0, 3, "ARRAY array description"},
                                   {B::kStruct, 1, 3, "STRUCT member list"},
                                   {B::kUnion, 1, 3, "UNION member list"},
                                   {B::kEnum, 1, 2, "ENUM value list"},
                                   {B::kFuncProto, 1, 2, "FUNC_PROTO parameter list"},
                                   {B::kVar, 0, 1, "VAR linkage word"},
                                   {B::kDatasec, 1, 3, "DATASEC variable list"},
                                   {B::kDeclTag, 0, 1, "DECL_TAG component index"},
                                   {B::kEnum64, 1, 3, "ENUM64 value list"}};
  for (const auto& [kind, vlen, words, what] : cases) {
    B b;
    b.raw(kind, "", vlen, false, 0, std::vector<std::uint32_t>(words - 1, 0));
    Bytes bytes = b.build();
    const std::uint32_t type_len = 12 + 4 * static_cast<std::uint32_t>(words - 1);
    EXPECT_EQ(bytes.size(), 24u + type_len + 1) << what;
    expect_error(bytes, std::string("BTF type 1: ") + std::string(what));
    expect_error(bytes, "runs past the type section");
    // One record header cut short.
    B::set_u32(bytes, 12, 8);
    B::set_u32(bytes, 16, 8);
    expect_error(bytes, "BTF type 1: its record header runs past the type section (8 of 12");
  }
}

TEST(Btf, EveryTruncationIsAnErrorNotACrash) {
  const Bytes good = testing::kmem_btf();
  ASSERT_TRUE(Btf::parse(good));
  for (std::size_t size = 0; size < good.size(); ++size) {
    EXPECT_FALSE(Btf::parse(std::span<const std::uint8_t>(good.data(), size)).has_value()) << size;
  }
  // And every single corrupted byte parses or fails cleanly; the lookups stay inside.
  for (std::size_t at = 0; at < good.size(); ++at) {
    Bytes bytes = good;
    bytes[at] ^= 0xa5;
    auto btf = Btf::parse(bytes);
    if (!btf) continue;
    (void)btf->tracepoint_arg_index("kmalloc", "ptr");
    (void)btf->struct_member("kmem_cache", "name");
  }
}

TEST(Btf, DoesNotPointIntoTheCallersBuffer) {
  Bytes bytes = testing::kmem_btf();
  auto btf = Btf::parse(bytes);
  ASSERT_TRUE(btf);
  std::fill(bytes.begin(), bytes.end(), 0xff);
  bytes.clear();
  bytes.shrink_to_fit();
  expect_arg(*btf, "kmalloc", "bytes_alloc", 3);
  EXPECT_EQ(btf->struct_member("kmem_cache", "name")->offset, 96u);
}

// The running kernel's own BTF: the real layout the BPF backend will read.
TEST(BtfLive, ReadsTheKernelsKmemTracepointsAndKmemCache) {
  const std::filesystem::path path = "/sys/kernel/btf/vmlinux";
  std::ifstream in(path, std::ios::binary);
  if (!in)
    GTEST_SKIP() << path << " is absent or unreadable (kernel without CONFIG_DEBUG_INFO_BTF?)";
  const std::string text = testing::read_file(path);
  if (text.empty()) GTEST_SKIP() << path << " read as empty";
  const auto start = std::chrono::steady_clock::now();
  auto btf = Btf::parse(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  const auto ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  ASSERT_TRUE(btf) << btf.error().message;
  RecordProperty("parse_ms", std::to_string(ms.count()));
  EXPECT_GT(btf->type_count(), 1000u);
  expect_arg(*btf, "kmalloc", "ptr", 1);
  expect_arg(*btf, "kmalloc", "bytes_alloc", 3);
  expect_arg(*btf, "kmalloc", "call_site", 0);
  expect_arg(*btf, "kmem_cache_alloc", "s", 2);
  expect_arg(*btf, "kmem_cache_alloc", "ptr", 1);
  expect_arg(*btf, "kfree", "ptr", 1);
  expect_arg(*btf, "kmem_cache_free", "ptr", 1);
  auto name = btf->struct_member("kmem_cache", "name");
  ASSERT_TRUE(name) << name.error().message;
  EXPECT_EQ(name->size, 8u);
  auto size = btf->struct_member("kmem_cache", "size");
  ASSERT_TRUE(size) << size.error().message;
  EXPECT_EQ(size->size, 4u);
  auto object_size = btf->struct_member("kmem_cache", "object_size");
  ASSERT_TRUE(object_size) << object_size.error().message;
  EXPECT_EQ(object_size->size, 4u);
  EXPECT_NE(name->offset, size->offset);
  std::printf(
      "vmlinux BTF: %u types parsed in %.1f ms; kmem_cache name @%u size @%u "
      "object_size @%u\n",
      btf->type_count(), ms.count(), name->offset, size->offset, object_size->offset);
}

// Writes the built blobs as fuzz corpus files when POOLSCOPE_WRITE_BTF_CORPUS names a directory
// (fuzz/corpus/btf/built_*.bin come from here).
TEST(BtfBuilt, WritesCorpusWhenAsked) {
  const char* dir = std::getenv("POOLSCOPE_WRITE_BTF_CORPUS");
  if (dir == nullptr) GTEST_SKIP() << "set POOLSCOPE_WRITE_BTF_CORPUS=DIR to write the fuzz corpus";
  const auto write = [&](const std::string& name, const Bytes& bytes) {
    std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  };
  const Bytes kmem = testing::kmem_btf();
  write("built_kmem.bin", kmem);
  write("built_kmem_cut.bin", Bytes(kmem.begin(), kmem.end() - 40));
  write("built_short_header.bin", Bytes(kmem.begin(), kmem.begin() + 20));
  Bytes big_endian = kmem;
  std::swap(big_endian[0], big_endian[1]);
  write("built_big_endian.bin", big_endian);
  {
    B b;
    const auto i = b.int_type("unsigned int", 4, 3, 2);
    const auto loop = b.modifier(B::kTypedef, 3, "loop");
    b.modifier(B::kConst, loop);
    b.struct_type("kmem_cache", 8, {{"size", i, 32, 3}, {"name", loop, 0}, {"object_size", 0, 0}},
                  true);
    write("built_bitfield_loop.bin", b.build());
  }
  {
    B b;
    b.raw(B::kEnum64, "e64", 1, true, 8, {b.str("C"), 1, 2});
    b.raw(B::kDatasec, ".data", 1, false, 4, {1, 0, 4});
    b.raw(21, "", 0, false, 0);
    write("built_unknown_kind.bin", b.build());
  }
}

}  // namespace
}  // namespace poolscope::trace
