// Linear decoding of a driver's code sections for the call-site scanner: compact instruction
// records for the whole code (Slim), operands decoded where the scanner needs them (Insn). Internal
// to attrib (call_sites.cpp); the quick decoder (x86_quick.h) does most of the work, Zydis the
// rest.
#pragma once

#include <Zydis/Zydis.h>

#include <cstdint>
#include <vector>

#include "attrib/x86_quick.h"
#include "parse/pe.h"

namespace poolscope::attrib::code {

constexpr int kNoReg = -1;

// One operand, as much as the argument recovery needs. Kept small: a driver's whole code is held
// decoded (about 56 bytes per instruction).
struct Operand {
  std::int64_t disp = 0;
  std::uint64_t imm = 0;  // an immediate; for a relative branch, its absolute target (RVA)
  std::uint16_t reg_bits = 0;
  std::uint16_t size_bits = 0;
  std::uint8_t type = ZYDIS_OPERAND_TYPE_UNUSED;
  std::int8_t reg = kNoReg;   // GPR id (0 rax .. 15 r15) of a register operand; kNoReg for others
  std::int8_t base = kNoReg;  // memory: GPR id of the base; kRip for rip
  std::int8_t index = kNoReg;
};

constexpr int kRip = -2;
// The mnemonic of an instruction the quick decoder left incomplete (none of those it names).
constexpr std::uint16_t kMnemonicNotDecoded = 0xFFFF;

struct Insn {
  Operand op[2];
  std::uint32_t rva = 0;
  std::uint16_t mnemonic = ZYDIS_MNEMONIC_INVALID;
  std::uint16_t gpr_writes = 0;  // bit per GPR id written (explicitly or implicitly)
  std::uint8_t length = 0;
  std::int8_t imm_offset = -1;     // offset of the immediate in the instruction; -1 when none
  std::uint8_t operand_count = 0;  // visible operands
  bool writes_memory = false;
  bool relative = false;
  std::uint64_t target_rva() const { return op[0].imm; }
};

// What the linear sweep keeps of every instruction (12 bytes; a driver's whole code is held this
// way). The operands of the few instructions an argument walk reads are decoded on demand
// (Scanner::complete).
struct Slim {
  std::uint32_t rva = 0;
  std::uint32_t target = 0;  // a relative branch's target RVA
  // Exact for call, jmp, ret, int3, ud2, nop and invalid bytes; kMnemonicNotDecoded for the other
  // instructions of the quick decoder.
  std::uint16_t mnemonic = ZYDIS_MNEMONIC_INVALID;
  std::uint8_t length = 0;
  bool relative = false;
  std::uint32_t target_rva() const { return target; }
};

template <class I>
bool is_call(const I& i) {
  return i.mnemonic == ZYDIS_MNEMONIC_CALL;
}
template <class I>
bool is_block_end(const I& i) {
  return i.mnemonic == ZYDIS_MNEMONIC_RET || i.mnemonic == ZYDIS_MNEMONIC_JMP ||
         i.mnemonic == ZYDIS_MNEMONIC_INT3 || i.mnemonic == ZYDIS_MNEMONIC_INVALID ||
         i.mnemonic == ZYDIS_MNEMONIC_IRET || i.mnemonic == ZYDIS_MNEMONIC_UD2;
}

// The GPR id (0 rax .. 15 r15; kRip; kNoReg for other registers) of a register.
int gpr_id(ZydisMachineMode mode, ZydisRegister reg);

struct CodeRange {
  std::uint32_t rva = 0;
  std::uint64_t file_offset = 0;
  parse::ByteSpan bytes;
};

struct Decoded {
  std::vector<Slim> insns;  // all code sections, in RVA order
  std::uint64_t bytes = 0;
  // Instructions decoded with their operands on the way: every one in the reference mode, the
  // calls and branches Zydis decoded otherwise.
  std::vector<Insn> full;
};

inline Slim slim_of(const Insn& insn) {
  Slim out;
  out.rva = insn.rva;
  out.length = insn.length;
  out.mnemonic = insn.mnemonic;
  out.relative = insn.relative;
  out.target = static_cast<std::uint32_t>(insn.target_rva());
  return out;
}

// Fills insn (rva and length set) from Zydis' full decoding.
void fill_from_zydis(Insn& insn, const ZydisDecodedInstruction& instruction,
                     const ZydisDecodedOperand* operands, ZydisMachineMode mode, bool x64);

// Linear decoding of ranges (RVA order), restarting at every resync RVA (function starts). quick:
// the quick decoder where it can, Zydis elsewhere, operands later and only where needed; otherwise
// Zydis decodes every instruction fully (the reference mode, kept for tests and benchmarks).
Decoded decode_code(const ZydisDecoder& decoder, const std::vector<CodeRange>& ranges, bool x64,
                    const std::vector<std::uint32_t>& resync, bool quick);

}  // namespace poolscope::attrib::code
