// Linear decoding of code sections: the quick decoder first, Zydis for what it leaves.
#include "attrib/code_decode.h"

#include <algorithm>
#include <optional>

namespace poolscope::attrib::code {

int gpr_id(ZydisMachineMode mode, ZydisRegister reg) {
  if (reg == ZYDIS_REGISTER_NONE) return kNoReg;
  if (reg == ZYDIS_REGISTER_RIP || reg == ZYDIS_REGISTER_EIP) return kRip;
  const auto cls = ZydisRegisterGetClass(reg);
  if (cls != ZYDIS_REGCLASS_GPR8 && cls != ZYDIS_REGCLASS_GPR16 && cls != ZYDIS_REGCLASS_GPR32 &&
      cls != ZYDIS_REGCLASS_GPR64) {
    return kNoReg;
  }
  const ZydisRegister largest = ZydisRegisterGetLargestEnclosing(mode, reg);
  const int id = ZydisRegisterGetId(largest);
  return (id >= 0 && id < 16) ? id : kNoReg;
}

namespace {

// What the scan needs of every instruction, from the quick decoder: the length, the mnemonics it
// tests (call, jmp, ret, int3, ud2, nop) and a relative branch's target.
Slim slim_of(std::uint32_t rva, const QuickInsn& quick, bool x64) {
  Slim out;
  out.rva = rva;
  out.length = quick.length;
  switch (quick.kind) {
    case QuickKind::kCallRel:
      out.mnemonic = ZYDIS_MNEMONIC_CALL;
      break;
    case QuickKind::kJmpRel:
      out.mnemonic = ZYDIS_MNEMONIC_JMP;
      break;
    case QuickKind::kRet:
      out.mnemonic = ZYDIS_MNEMONIC_RET;
      break;
    case QuickKind::kInt3:
      out.mnemonic = ZYDIS_MNEMONIC_INT3;
      break;
    case QuickKind::kUd2:
      out.mnemonic = ZYDIS_MNEMONIC_UD2;
      break;
    case QuickKind::kNop:
      out.mnemonic = ZYDIS_MNEMONIC_NOP;
      break;
    case QuickKind::kBranchRel:
    case QuickKind::kOther:
      out.mnemonic = kMnemonicNotDecoded;
      break;
  }
  if (quick.kind == QuickKind::kCallRel || quick.kind == QuickKind::kJmpRel ||
      quick.kind == QuickKind::kBranchRel) {
    out.relative = true;
    // As ZydisCalcAbsoluteAddress computes it (64-bit, or 32-bit wrapping on x86); the scan
    // compares targets as RVAs.
    const std::uint64_t target = static_cast<std::uint64_t>(rva) + quick.length +
                                 static_cast<std::uint64_t>(static_cast<std::int64_t>(quick.rel));
    out.target = static_cast<std::uint32_t>(x64 ? target : (target & 0xFFFFFFFFu));
  }
  return out;
}

}  // namespace

void fill_from_zydis(Insn& insn, const ZydisDecodedInstruction& instruction,
                     const ZydisDecodedOperand* operands, ZydisMachineMode mode, bool x64) {
  const std::uint32_t rva = insn.rva;
  insn.mnemonic = static_cast<std::uint16_t>(instruction.mnemonic);
  if (instruction.raw.imm[0].size != 0) {
    insn.imm_offset = static_cast<std::int8_t>(instruction.raw.imm[0].offset);
  }
  insn.operand_count = instruction.operand_count_visible;
  for (std::uint8_t k = 0; k < instruction.operand_count; ++k) {
    const auto& o = operands[k];
    if (o.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) {
      if (o.type == ZYDIS_OPERAND_TYPE_REGISTER) {
        const int id = gpr_id(mode, o.reg.value);
        if (id >= 0) insn.gpr_writes |= static_cast<std::uint16_t>(1u << id);
      } else if (o.type == ZYDIS_OPERAND_TYPE_MEMORY) {
        insn.writes_memory = true;
      }
    }
    if (k >= 2 || k >= instruction.operand_count_visible) continue;
    Operand& c = insn.op[k];
    c.type = static_cast<std::uint8_t>(o.type);
    c.size_bits = o.size;
    if (o.type == ZYDIS_OPERAND_TYPE_REGISTER) {
      c.reg = static_cast<std::int8_t>(gpr_id(mode, o.reg.value));
      c.reg_bits = ZydisRegisterGetWidth(mode, o.reg.value);
    } else if (o.type == ZYDIS_OPERAND_TYPE_MEMORY) {
      c.base = static_cast<std::int8_t>(gpr_id(mode, o.mem.base));
      c.index = static_cast<std::int8_t>(gpr_id(mode, o.mem.index));
      if (o.mem.base == ZYDIS_REGISTER_NONE) c.base = kNoReg;
      if (o.mem.index == ZYDIS_REGISTER_NONE) c.index = kNoReg;
      c.disp = o.mem.disp.value;
      if (o.mem.segment != ZYDIS_REGISTER_DS && o.mem.segment != ZYDIS_REGISTER_SS &&
          o.mem.segment != ZYDIS_REGISTER_NONE) {
        c.base = -3;  // fs:/gs: relative: never an IAT slot or a stack argument
      }
    } else if (o.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
      c.imm = o.imm.value.u;
      if (o.imm.is_relative) {
        insn.relative = true;
        std::uint64_t target = 0;
        if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&instruction, &o, rva, &target))) {
          target = 0;
        }
        c.imm = x64 ? target : (target & 0xFFFFFFFFu);
      }
    }
  }
}

Decoded decode_code(const ZydisDecoder& decoder, const std::vector<CodeRange>& ranges, bool x64,
                    const std::vector<std::uint32_t>& resync, bool quick) {
  const ZydisMachineMode mode = x64 ? ZYDIS_MACHINE_MODE_LONG_64 : ZYDIS_MACHINE_MODE_LEGACY_32;
  Decoded out;
  std::size_t total = 0;
  for (const auto& range : ranges) total += range.bytes.size();
  out.insns.reserve(total / 2 + 16);  // compilers' code averages 3-4 bytes an instruction
  ZydisDecoderContext context;
  ZydisDecodedInstruction instruction;
  ZydisDecodedOperand operands[ZYDIS_MAX_OPERAND_COUNT];
  for (const auto& range : ranges) {
    out.bytes += range.bytes.size();
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(range.bytes.data());
    const std::size_t size = range.bytes.size();
    std::size_t at = 0;
    auto next_resync = std::upper_bound(resync.begin(), resync.end(), range.rva);
    while (at < size) {
      const std::uint32_t rva = range.rva + static_cast<std::uint32_t>(at);
      while (next_resync != resync.end() && *next_resync <= rva) ++next_resync;
      Slim slim;
      slim.rva = rva;
      std::optional<QuickInsn> q;
      if (quick) q = quick_decode_x86(bytes + at, size - at, x64);
      std::uint8_t length = 0;
      // Without the quick decoder's answer: Zydis, operands only for what the scan reads of
      // every instruction (branches and calls), or for everything in the reference mode.
      bool with_operands = !quick;
      if (q) {
        length = q->length;
      } else if (ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&decoder, &context, bytes + at,
                                                            size - at, &instruction))) {
        length = instruction.length;
        with_operands = with_operands || instruction.mnemonic == ZYDIS_MNEMONIC_CALL ||
                        instruction.mnemonic == ZYDIS_MNEMONIC_JMP ||
                        (instruction.attributes & ZYDIS_ATTRIB_IS_RELATIVE) != 0;
        if (with_operands &&
            !ZYAN_SUCCESS(ZydisDecoderDecodeOperands(&decoder, &context, &instruction, operands,
                                                     ZYDIS_MAX_OPERAND_COUNT))) {
          with_operands = false;  // not expected after a successful decode; keep it incomplete
        }
      } else {
        slim.length = 1;  // invalid bytes: a block end
        out.insns.push_back(slim);
        if (!quick) out.full.push_back(Insn{.rva = rva, .length = 1});
        ++at;
        continue;
      }
      // An instruction running over a known function start is a desynchronised decode: restart
      // at the function.
      if (next_resync != resync.end() && rva + length > *next_resync) {
        slim.length = static_cast<std::uint8_t>(*next_resync - rva);
        out.insns.push_back(slim);
        if (!quick) out.full.push_back(Insn{.rva = rva, .length = slim.length});
        at = *next_resync - range.rva;
        continue;
      }
      if (q) {
        out.insns.push_back(slim_of(rva, *q, x64));
      } else if (with_operands) {
        Insn insn;
        insn.rva = rva;
        insn.length = length;
        fill_from_zydis(insn, instruction, operands, mode, x64);
        out.insns.push_back(slim_of(insn));
        out.full.push_back(insn);
      } else {
        slim.length = length;
        slim.mnemonic = static_cast<std::uint16_t>(instruction.mnemonic);
        out.insns.push_back(slim);
      }
      at += length;
    }
  }
  return out;
}

}  // namespace poolscope::attrib::code
