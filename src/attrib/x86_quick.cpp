// The quick length decoder (see x86_quick.h). Conservative by construction: every form it does
// not list falls back to Zydis, so a mistake can only cost speed when it refuses, never a wrong
// length; the lengths it does give are checked against Zydis by the tests and the fuzzer.
#include "attrib/x86_quick.h"

#include <Zydis/Zydis.h>

#include <cstring>

namespace poolscope::attrib {

namespace {

// How many ModRM/SIB/displacement bytes follow the opcode (32/64-bit addressing; the 67 prefix is
// refused), or 0 when they do not fit.
std::size_t modrm_length(const std::uint8_t* p, std::size_t left) {
  if (left < 1) return 0;
  const std::uint8_t modrm = p[0];
  const int mod = modrm >> 6, rm = modrm & 7;
  std::size_t length = 1;
  if (mod == 3) return length;
  if (rm == 4) {
    if (left < 2) return 0;
    const int base = p[1] & 7;
    length = 2;
    if (mod == 0 && base == 5) length += 4;
  } else if (mod == 0 && rm == 5) {
    length += 4;
  }
  if (mod == 1) length += 1;
  if (mod == 2) length += 4;
  return length <= left ? length : 0;
}

std::int32_t read_rel(const std::uint8_t* p, int width) {
  if (width == 1) return static_cast<std::int8_t>(p[0]);
  std::int32_t value;
  std::memcpy(&value, p, 4);
  return value;
}

}  // namespace

std::optional<QuickInsn> quick_decode_x86(const std::uint8_t* bytes, std::size_t size, bool x64) {
  std::size_t at = 0;
  bool opsize16 = false;  // a 66 prefix
  bool segment = false;   // a segment override (ignored where nothing is in memory)
  bool rex = false, rex_w = false;
  for (; at < size; ++at) {
    const std::uint8_t b = bytes[at];
    if (b == 0x66) {
      opsize16 = true;
    } else if (b == 0x26 || b == 0x2E || b == 0x36 || b == 0x3E || b == 0x64 || b == 0x65) {
      segment = true;
    } else {
      break;  // lock, rep and address-size prefixes are left to Zydis
    }
  }
  if (x64 && at < size && (bytes[at] & 0xF0) == 0x40) {
    rex = true;
    rex_w = (bytes[at] & 0x08) != 0;
    ++at;
  }
  if (at >= size) return std::nullopt;
  const std::uint8_t op = bytes[at++];
  const bool prefixed = opsize16 || rex || segment;
  // Operand size of the iz/iv immediates: REX.W beats 66.
  const std::size_t iz = (opsize16 && !rex_w) ? 2 : 4;
  QuickInsn out;
  std::size_t imm = 0;  // immediate bytes after the ModRM part
  bool has_modrm = false;
  int rel_width = 0;  // relative branch displacement bytes
  const std::uint8_t reg = at < size ? static_cast<std::uint8_t>((bytes[at] >> 3) & 7) : 0;
  const bool reg_form = at < size && (bytes[at] >> 6) == 3;

  if (op == 0x0F) {
    if (at >= size) return std::nullopt;
    const std::uint8_t op2 = bytes[at++];
    const std::uint8_t reg2 = at < size ? static_cast<std::uint8_t>((bytes[at] >> 3) & 7) : 0;
    // Mandatory-prefix tables: 66 changes what most 0F opcodes are; only the nop allows it.
    if (opsize16 && op2 != 0x1F) return std::nullopt;
    if (op2 == 0x0B) {
      if (prefixed) return std::nullopt;
      out.kind = QuickKind::kUd2;
    } else if (op2 == 0x1F) {
      if (at >= size || reg2 != 0) return std::nullopt;
      out.kind = QuickKind::kNop;
      has_modrm = true;
    } else if (op2 == 0x10 || op2 == 0x11 || op2 == 0x28 || op2 == 0x29 || op2 == 0x57) {
      has_modrm = true;  // movups, movaps, xorps (no prefix)
    } else if ((op2 & 0xF0) == 0x40) {
      has_modrm = true;  // cmovcc
    } else if ((op2 & 0xF0) == 0x80) {
      out.kind = QuickKind::kBranchRel;  // jcc rel32 (66 was refused above)
      rel_width = 4;
    } else if ((op2 & 0xF0) == 0x90) {
      if (at >= size || reg2 != 0) return std::nullopt;
      has_modrm = true;  // setcc
    } else if (op2 == 0xA3 || op2 == 0xAB || op2 == 0xB3 || op2 == 0xBB || op2 == 0xA5 ||
               op2 == 0xAD || op2 == 0xAF || op2 == 0xB0 || op2 == 0xB1 || op2 == 0xB6 ||
               op2 == 0xB7 || op2 == 0xBE || op2 == 0xBF || op2 == 0xBC || op2 == 0xBD ||
               op2 == 0xC0 || op2 == 0xC1) {
      has_modrm = true;  // bt*, shld/shrd cl, imul, cmpxchg, movzx/movsx, bsf/bsr, xadd
    } else if (op2 == 0xA4 || op2 == 0xAC) {
      has_modrm = true;  // shld/shrd imm8
      imm = 1;
    } else if (op2 == 0xBA) {
      if (at >= size || reg2 < 4) return std::nullopt;
      has_modrm = true;  // bt/bts/btr/btc imm8
      imm = 1;
    } else if (op2 >= 0xC8 && op2 <= 0xCF) {
      // bswap: C8..CF
    } else {
      return std::nullopt;
    }
  } else if (op < 0x40 && (op & 7) < 6) {
    // add/or/adc/sbb/and/sub/xor/cmp: r/m,r  r,r/m  al,ib  eAX,iz
    switch (op & 7) {
      case 4:
        imm = 1;
        break;
      case 5:
        imm = iz;
        break;
      default:
        has_modrm = true;
    }
  } else if (op >= 0x40 && op <= 0x4F) {
    if (x64 || prefixed) return std::nullopt;  // x64: a REX prefix out of place
    // x86: inc/dec r32
  } else if (!x64 && (op == 0x06 || op == 0x07 || op == 0x0E || op == 0x16 || op == 0x17 ||
                      op == 0x1E || op == 0x1F || op == 0x27 || op == 0x2F || op == 0x37 ||
                      op == 0x3F || op == 0x60 || op == 0x61)) {
    // x86 only: push/pop segment, daa/das/aaa/aas, pusha/popa (text in code sections)
    if (opsize16) return std::nullopt;
  } else if (op >= 0x6C && op <= 0x6F) {
    if (opsize16) return std::nullopt;  // ins/outs without rep
  } else if (op == 0x63 && !x64) {
    has_modrm = true;  // arpl
  } else if (op == 0x63) {
    if (!x64 || opsize16) return std::nullopt;  // movsxd (x86: arpl)
    has_modrm = true;
  } else if (op >= 0x50 && op <= 0x5F) {
    if (opsize16) return std::nullopt;  // push/pop r
  } else if (op == 0x68 || op == 0x6A) {
    if (opsize16) return std::nullopt;
    imm = op == 0x68 ? 4 : 1;  // push imm
  } else if (op == 0x69 || op == 0x6B) {
    has_modrm = true;  // imul r, r/m, imm
    imm = op == 0x69 ? iz : 1;
  } else if (op >= 0x70 && op <= 0x7F) {
    if (opsize16) return std::nullopt;  // REX and segment overrides (hints) do not change it
    out.kind = QuickKind::kBranchRel;   // jcc rel8
    rel_width = 1;
  } else if (op == 0x80 || op == 0x83) {
    has_modrm = true;
    imm = 1;
  } else if (op == 0x81) {
    has_modrm = true;
    imm = iz;
  } else if (op >= 0x84 && op <= 0x8B) {
    has_modrm = true;  // test, xchg, mov
  } else if (op == 0x8D) {
    if (at >= size || reg_form) return std::nullopt;  // lea needs a memory operand
    has_modrm = true;
  } else if (op == 0x8F) {
    if (at >= size || reg != 0) return std::nullopt;  // pop r/m (others: XOP)
    has_modrm = true;
  } else if (op == 0x90) {
    if (prefixed) return std::nullopt;  // 66 90, REX.B 90, F3 90 are not the plain nop
    out.kind = QuickKind::kNop;
  } else if (op >= 0x91 && op <= 0x97) {
    if (opsize16) return std::nullopt;  // xchg eAX, r
  } else if (op == 0x98 || op == 0x99) {
    // cwde/cdqe, cdq/cqo
  } else if (op == 0xA8) {
    imm = 1;
  } else if (op == 0xA9) {
    imm = iz;
  } else if ((op >= 0xA4 && op <= 0xA7) || (op >= 0xAA && op <= 0xAF)) {
    if (opsize16) return std::nullopt;  // string operations without rep
  } else if (op >= 0xB0 && op <= 0xB7) {
    imm = 1;
  } else if (op >= 0xB8 && op <= 0xBF) {
    imm = rex_w ? 8 : iz;  // mov r, imm (imm64 with REX.W)
  } else if (op == 0xC0 || op == 0xC1 || (op >= 0xD0 && op <= 0xD3)) {
    if (at >= size || reg == 6) return std::nullopt;  // shifts (/6 is an undocumented alias)
    has_modrm = true;
    imm = op <= 0xC1 ? 1 : 0;
  } else if (op == 0xC2 || op == 0xC3) {
    if (prefixed) return std::nullopt;
    out.kind = QuickKind::kRet;
    imm = op == 0xC2 ? 2 : 0;
  } else if (op == 0xC6 || op == 0xC7) {
    if (at >= size || reg != 0) return std::nullopt;  // mov r/m, imm (C6/C7 F8: xabort/xbegin)
    has_modrm = true;
    imm = op == 0xC6 ? 1 : iz;
  } else if (op == 0xC9) {
    if (opsize16) return std::nullopt;  // leave
  } else if (op == 0xCC) {
    if (prefixed) return std::nullopt;
    out.kind = QuickKind::kInt3;
  } else if (op == 0xCD) {
    if (prefixed) return std::nullopt;
    imm = 1;  // int imm8
  } else if (op >= 0xE0 && op <= 0xE3) {
    if (prefixed) return std::nullopt;
    out.kind = QuickKind::kBranchRel;  // loopne, loope, loop, jecxz/jrcxz
    rel_width = 1;
  } else if (op == 0xE8 || op == 0xE9 || op == 0xEB) {
    if (opsize16) return std::nullopt;
    out.kind = op == 0xE8 ? QuickKind::kCallRel : QuickKind::kJmpRel;
    rel_width = op == 0xEB ? 1 : 4;
  } else if (op == 0xF5 || (op >= 0xF8 && op <= 0xFD)) {
    if (prefixed) return std::nullopt;  // cmc, clc, stc, cli, sti, cld, std
  } else if (op == 0xF6 || op == 0xF7) {
    if (at >= size || reg == 1) return std::nullopt;  // test/not/neg/mul/imul/div/idiv
    has_modrm = true;
    if (reg == 0) imm = op == 0xF6 ? 1 : iz;
  } else if (op == 0xFE) {
    if (at >= size || reg > 1) return std::nullopt;  // inc/dec r/m8
    has_modrm = true;
  } else if (op == 0xFF) {
    // inc/dec/push r/m; call/jmp r/m are decoded by Zydis (their operand is needed anyway).
    if (at >= size || (reg != 0 && reg != 1 && reg != 6) || (reg == 6 && opsize16)) {
      return std::nullopt;
    }
    has_modrm = true;
  } else {
    return std::nullopt;
  }

  if (has_modrm) {
    const std::size_t m = modrm_length(bytes + at, size - at);
    if (m == 0) return std::nullopt;
    at += m;
  }
  if (rel_width != 0) {
    if (size - at < static_cast<std::size_t>(rel_width)) return std::nullopt;
    out.rel = read_rel(bytes + at, rel_width);
    at += static_cast<std::size_t>(rel_width);
  }
  if (size - at < imm) return std::nullopt;
  at += imm;
  if (at > 15) return std::nullopt;  // too long for an instruction (prefix padding)
  // Segment overrides before ret, int3, ud2 are left to Zydis.
  if (segment && (out.kind == QuickKind::kRet || out.kind == QuickKind::kInt3 ||
                  out.kind == QuickKind::kUd2)) {
    return std::nullopt;
  }
  out.length = static_cast<std::uint8_t>(at);
  return out;
}

std::optional<QuickInsn> zydis_decode_x86(const std::uint8_t* bytes, std::size_t size, bool x64) {
  ZydisDecoder decoder;
  ZydisDecoderInit(&decoder, x64 ? ZYDIS_MACHINE_MODE_LONG_64 : ZYDIS_MACHINE_MODE_LEGACY_32,
                   x64 ? ZYDIS_STACK_WIDTH_64 : ZYDIS_STACK_WIDTH_32);
  ZydisDecodedInstruction instruction;
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&decoder, nullptr, bytes, size, &instruction))) {
    return std::nullopt;
  }
  QuickInsn out;
  out.length = instruction.length;
  const bool relative = (instruction.attributes & ZYDIS_ATTRIB_IS_RELATIVE) != 0 &&
                        instruction.raw.imm[0].is_relative;
  if (relative) out.rel = static_cast<std::int32_t>(instruction.raw.imm[0].value.s);
  switch (instruction.mnemonic) {
    case ZYDIS_MNEMONIC_CALL:
      out.kind = relative ? QuickKind::kCallRel : QuickKind::kOther;
      break;
    case ZYDIS_MNEMONIC_JMP:
      out.kind = relative ? QuickKind::kJmpRel : QuickKind::kOther;
      break;
    case ZYDIS_MNEMONIC_RET:
      out.kind = QuickKind::kRet;
      break;
    case ZYDIS_MNEMONIC_INT3:
      out.kind = QuickKind::kInt3;
      break;
    case ZYDIS_MNEMONIC_UD2:
      out.kind = QuickKind::kUd2;
      break;
    case ZYDIS_MNEMONIC_NOP:
      out.kind = QuickKind::kNop;
      break;
    default:
      out.kind = relative ? QuickKind::kBranchRel : QuickKind::kOther;
  }
  return out;
}

}  // namespace poolscope::attrib
