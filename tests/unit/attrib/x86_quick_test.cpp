// The quick length decoder against Zydis: wherever it answers, the same length, branch kind and
// displacement, at every byte offset of real drivers' code (instruction starts and the garbage
// in between) and on random bytes.
#include "attrib/x86_quick.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "attrib/driver_file.h"
#include "test_support.h"

namespace poolscope::attrib {
namespace {

struct Agreement {
  std::size_t offsets = 0;
  std::size_t answered = 0;  // offsets the quick decoder decoded (the rest go to Zydis)
};

// Compares the two decoders at every offset of bytes; returns how many the quick one answered.
Agreement compare_everywhere(const std::uint8_t* bytes, std::size_t size, bool x64,
                             const std::string& what) {
  Agreement out;
  for (std::size_t at = 0; at < size; ++at) {
    ++out.offsets;
    const auto quick = quick_decode_x86(bytes + at, size - at, x64);
    if (!quick) continue;
    ++out.answered;
    const auto zydis = zydis_decode_x86(bytes + at, size - at, x64);
    const auto shown = [&] {
      std::string hex;
      for (std::size_t k = at; k < size && k < at + 15; ++k) {
        char b[4];
        std::snprintf(b, sizeof b, "%02x ", bytes[k]);
        hex += b;
      }
      return what + " +0x" + std::to_string(at) + " (" + (x64 ? "x64" : "x86") + "): " + hex;
    };
    if (!zydis) {
      ADD_FAILURE() << "Zydis finds no instruction where the quick decoder does: " << shown();
      return out;
    }
    if (zydis->length != quick->length || zydis->kind != quick->kind || zydis->rel != quick->rel) {
      ADD_FAILURE() << "length " << int{quick->length} << " (Zydis " << int{zydis->length}
                    << "), kind " << static_cast<int>(quick->kind) << " (Zydis "
                    << static_cast<int>(zydis->kind) << "), rel " << quick->rel << " (Zydis "
                    << zydis->rel << ") at " << shown();
      return out;
    }
  }
  return out;
}

std::vector<std::filesystem::path> real_drivers() {
  std::vector<std::filesystem::path> out;
  for (const char* f :
       {"drivers/windivert/WinDivert64.sys", "drivers/winpmem/winpmem_x64.sys",
        "drivers/winpmem/winpmem_x86.sys", "drivers/winpmem/winpmem_x64_test.sys"}) {
    if (std::filesystem::exists(testing::shared_data(f))) out.push_back(testing::shared_data(f));
  }
  // Two of Debian wine64's drivers (mingw-built: other compiler, other idioms).
  for (const char* f : {"hidparse.sys", "winebus.sys"}) {
    const std::filesystem::path p =
        std::filesystem::path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows") / f;
    if (std::filesystem::exists(p)) out.push_back(p);
  }
  return out;
}

TEST(X86Quick, AgreesWithZydisAtEveryOffsetOfRealDriverCode) {
  const auto files = real_drivers();
  if (files.empty()) GTEST_SKIP() << "needs ../shared/data/real/drivers or Debian's wine64 drivers";
  Agreement total;
  for (const auto& path : files) {
    auto file = read_driver_file(path);
    ASSERT_TRUE(file.has_value()) << file.error().message;
    const bool x64 = file->image.machine == parse::kMachineAmd64;
    for (const auto& section : file->image.sections) {
      if (!parse::pe_section_is_code(section)) continue;
      const auto bytes = parse::pe_section_bytes(section, file->bytes);
      const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
      // Both modes: the other mode's decoding of the same bytes is more unusual input.
      for (const bool mode : {x64, !x64}) {
        const auto a = compare_everywhere(p, bytes.size(), mode, path.filename().string());
        total.offsets += a.offsets;
        total.answered += a.answered;
        if (HasFailure()) return;
      }
    }
  }
  std::printf("quick decoder answered %zu of %zu offsets\n", total.answered, total.offsets);
  // The quick decoder must answer most of the time, or it is no faster than Zydis.
  EXPECT_GT(total.answered * 2, total.offsets)
      << total.answered << " of " << total.offsets << " offsets decoded without Zydis";
}

TEST(X86Quick, AgreesWithZydisOnRandomBytes) {
  std::mt19937_64 random(20261202);
  // Random bytes, and random bytes after the prefixes and opcodes the quick decoder knows.
  const std::vector<std::vector<std::uint8_t>> starts = {
      {},
      {0x66},
      {0x48},
      {0x41},
      {0x66, 0x41},
      {0x0F},
      {0x66, 0x0F},
      {0x48, 0x0F},
      {0x0F, 0x1F},
      {0xFF},
      {0xF7},
      {0xC7},
      {0x8D},
      {0x81},
      {0x66, 0x66, 0x2E, 0x0F},
      {0x65, 0x48},
      {0x64},
      {0x2E},
      {0x63},
      {0x48, 0x63},
      {0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66}};
  std::vector<std::uint8_t> buffer(16);
  for (int round = 0; round < 60000; ++round) {
    const auto& start = starts[round % starts.size()];
    for (auto& b : buffer) b = static_cast<std::uint8_t>(random());
    if (!start.empty()) std::memcpy(buffer.data(), start.data(), start.size());
    // Short buffers too: instructions cut at the end of a section.
    const std::size_t size = round % 7 == 0 ? 1 + random() % 8 : buffer.size();
    compare_everywhere(buffer.data(), std::min(size, buffer.size()), round % 2 == 0, "random");
    if (HasFailure()) return;
  }
}

TEST(X86Quick, KnownForms) {
  // call rel32 -5 (to itself), x64.
  const std::uint8_t call[] = {0xE8, 0xFB, 0xFF, 0xFF, 0xFF};
  auto q = quick_decode_x86(call, sizeof call, true);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->length, 5);
  EXPECT_EQ(q->kind, QuickKind::kCallRel);
  EXPECT_EQ(q->rel, -5);
  // mov r8d, 'WDiv' (41 B8 imm32) and mov rax, imm64 (48 B8 imm64).
  const std::uint8_t mov_r8d[] = {0x41, 0xB8, 'W', 'D', 'i', 'v'};
  q = quick_decode_x86(mov_r8d, sizeof mov_r8d, true);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->length, 6);
  const std::uint8_t mov_rax[] = {0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8};
  q = quick_decode_x86(mov_rax, sizeof mov_rax, true);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->length, 10);
  // Cut short: no answer (Zydis decides, and fails).
  EXPECT_FALSE(quick_decode_x86(mov_rax, 9, true).has_value());
  // call [rip+x] is left to Zydis: the scanner needs its operand.
  const std::uint8_t call_iat[] = {0xFF, 0x15, 0, 0, 0, 0};
  EXPECT_FALSE(quick_decode_x86(call_iat, sizeof call_iat, true).has_value());
  // x86: 0x40 is inc eax; x64: a REX prefix.
  const std::uint8_t inc[] = {0x40, 0x90};
  q = quick_decode_x86(inc, sizeof inc, false);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->length, 1);
}

}  // namespace
}  // namespace poolscope::attrib
