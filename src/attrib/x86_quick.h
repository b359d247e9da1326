// A quick x86/x64 instruction-length decoder for the call-site scanner's linear sweep. It knows the
// few dozen opcodes compilers emit most (ALU, mov, lea, push/pop, test, shifts, movzx, cmov, setcc,
// jcc, call/jmp rel, ret, nop, int3) and tells only an instruction's length and whether it is a
// branch; the scanner decodes operands with Zydis for the few instructions an argument walk visits.
// Anything it is not sure of (other prefixes and opcodes, VEX/EVEX, x87, indirect call/jmp) it
// leaves to Zydis by returning nothing. Where it answers, it agrees with Zydis: tested on every
// byte offset of the real drivers and on random bytes (tests/unit/attrib/x86_quick_test.cpp), and
// fuzzed against Zydis (fuzz/x86_quick.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace poolscope::attrib {

enum class QuickKind : std::uint8_t {
  kOther,      // none of the below
  kCallRel,    // call rel32 (E8): Zydis CALL
  kJmpRel,     // jmp rel8/rel32 (EB, E9): Zydis JMP
  kBranchRel,  // jcc rel8/rel32, loop*, jecxz/jrcxz: relative, neither CALL nor JMP
  kRet,        // ret, ret imm16: Zydis RET
  kInt3,       // CC: Zydis INT3
  kUd2,        // 0F 0B: Zydis UD2
  kNop,        // 90, 0F 1F /0: Zydis NOP
};

struct QuickInsn {
  std::uint8_t length = 0;
  QuickKind kind = QuickKind::kOther;
  std::int32_t rel = 0;  // relative branches: the displacement from the next instruction
};

// Decodes the instruction at bytes[0..size) in 64-bit (x64) or 32-bit mode; nullopt when it is not
// one this decoder knows (decode it with Zydis) or does not fit in size bytes.
std::optional<QuickInsn> quick_decode_x86(const std::uint8_t* bytes, std::size_t size, bool x64);

// The same answer from Zydis (nullopt when Zydis finds no valid instruction): the reference the
// quick decoder is tested and fuzzed against.
std::optional<QuickInsn> zydis_decode_x86(const std::uint8_t* bytes, std::size_t size, bool x64);

}  // namespace poolscope::attrib
