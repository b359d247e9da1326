// The call-site scanner. Code sections are decoded linearly (re-synchronised at every .pdata
// function start on x64) into compact instruction records; arguments are recovered by walking
// back from a call through register moves, immediates and stack stores, within one basic block.
#include "attrib/call_sites.h"

#include <Zydis/Zydis.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "attrib/code_decode.h"
#include "attrib/flt_context.h"
#include "attrib/kmdf.h"

namespace poolscope::attrib {

namespace {

using namespace code;

std::string hex(std::uint32_t value) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%x", value);
  return buffer;
}

// x64 ids: 0 rax 1 rcx 2 rdx 3 rbx 4 rsp 5 rbp 6 rsi 7 rdi 8..15 r8..r15 (x86: eax.. edi).
constexpr int kRcx = 1, kRdx = 2, kRsp = 4, kRbp = 5, kR8 = 8, kR9 = 9;
constexpr int kX64ParamRegs[4] = {kRcx, kRdx, kR8, kR9};
// Volatile in the x64 calling convention: rax rcx rdx r8 r9 r10 r11. x86: eax ecx edx.
constexpr std::uint16_t kX64Volatile =
    (1u << 0) | (1u << 1) | (1u << 2) | (1u << 8) | (1u << 9) | (1u << 10) | (1u << 11);
constexpr std::uint16_t kX86Volatile = (1u << 0) | (1u << 1) | (1u << 2);

int x64_param_of_reg(int reg) {
  for (int p = 0; p < 4; ++p) {
    if (kX64ParamRegs[p] == reg) return p;
  }
  return -1;
}

// What an argument is at a call.
struct Value {
  enum class Kind : std::uint8_t { kUnknown, kConstant, kParameter, kSlot } kind = Kind::kUnknown;
  std::uint64_t constant = 0;
  std::optional<std::uint32_t> imm_rva;  // where the constant's immediate bytes are
  int parameter = -1;
  std::uint32_t function_rva = 0;  // for kParameter: the function whose parameter it is
  std::uint32_t slot_rva = 0;      // for kSlot: the memory loaded (an IAT slot)
  // A conditional move (cmovcc) chose between two sources: the other one's constant, when it is
  // one (a default tag beside a parameter, or a second literal tag), and what the user should know
  // about the choice (a runtime override read from a global).
  std::optional<std::uint64_t> alternative;
  std::optional<std::uint32_t> alternative_imm_rva;
  std::string note;
};

// Where an argument lives at the call.
struct Location {
  int reg = kNoReg;  // a register
  // [esp + disp] (x64: rsp) at the point of the walk (pushes, pops and esp adjustments move it),
  // or [ebp + disp] (stable until the prologue's `mov ebp, esp`). At a function's first
  // instruction [esp + 4 + 4k] is its parameter k on x86; on x64 [rsp + 8 + 8k] is parameter k
  // for k >= 4 and the home slot a function spills register parameter k to for k < 4.
  std::optional<std::int64_t> esp_disp;
  std::optional<std::int64_t> ebp_disp;
};

class Scanner {
 public:
  Scanner(const parse::PeImage& image, parse::ByteSpan data, const CallSiteOptions& options)
      : image_(image), data_(data), options_(options), x64_(image.machine == parse::kMachineAmd64) {
    ZydisDecoderInit(&decoder_, x64_ ? ZYDIS_MACHINE_MODE_LONG_64 : ZYDIS_MACHINE_MODE_LEGACY_32,
                     x64_ ? ZYDIS_STACK_WIDTH_64 : ZYDIS_STACK_WIDTH_32);
  }

  CallSiteScan run();

 private:
  Value resolve(std::size_t call_index, Location where) const;
  Value walk_back(std::size_t i, Location where, std::size_t steps, int depth) const;
  // An arithmetic step on the register the walk follows (`shl r8d, 8`, `or r8d, 'a'`, `or r8d,
  // ecx`), applied to the value found before it: a tag built from constant bytes at run time.
  struct Fold {
    std::uint16_t op;  // ZydisMnemonic
    std::uint64_t operand;
    int bits;
    std::uint32_t rva;
  };
  Value walk_back_folding(std::size_t i, Location where, std::size_t steps, int depth,
                          std::vector<Fold>& folds) const;
  Value either_source(std::size_t i, const Insn& cmov, Location kept, std::size_t steps,
                      int depth) const;
  Value parameter_at(const Location& at, std::uint32_t function_rva) const;
  // The ULONG at offset in the structure whose address `pointer` holds at the call: x64 only,
  // for a structure on the stack (`lea rdx, [rsp+38h]`; `mov dword ptr [rsp+40h], 'WDiv'`).
  Value struct_field(std::size_t call_index, Location pointer, int offset) const;
  std::optional<std::uint32_t> read_only_dword(std::uint32_t rva) const;
  Value slot_of_memory(const Insn& insn, const Operand& op) const;
  const PoolImport* import_at_slot(std::uint32_t slot_rva) const;
  const PoolImport* import_or_pointer(std::uint32_t slot_rva) const;
  const PoolImport* call_target_import(std::size_t index) const;
  // A KMDF driver's call through its WdfFunctions table (`call [reg+8*k]`, `call reg` after
  // `mov reg, [reg2+8*k]`, or a CFG dispatch of rax so loaded, reg2 loaded from WdfFunctions) of
  // a function in wdf_pool_apis(); nullptr otherwise.
  const PoolApi* wdf_table_call(std::size_t index) const;
  const PoolApi* wdf_table_entry(std::size_t index, const Location& table, std::int64_t disp) const;
  // tail: the API is jumped to, so the return address is already on the stack. api (nullptr for
  // a wrapper's parameter) tells the x86 stack slots of 64-bit arguments.
  Location argument_location(int argument, bool tail = false, const PoolApi* api = nullptr) const;
  bool is_jump_target(std::uint32_t rva) const {
    return std::binary_search(jump_targets_.begin(), jump_targets_.end(), rva);
  }
  void collect_jump_targets();
  // The index of the one forward jump into the block starting at insns[i] when nothing else can
  // enter it: no other relative jump, no call, and no fall-through (the instruction before it,
  // padding aside, is a ret or jmp). A walk back may go on from that jump. nullopt otherwise.
  std::optional<std::size_t> sole_jump_into(std::size_t i) const;
  // code_.insns[i] with its operands, decoded by Zydis the first time a walk reads them.
  const Insn& complete(std::size_t i) const;
  void add_decoded(Decoded&& more);
  std::optional<std::uint64_t> offset_of(std::uint32_t rva) const {
    return parse::pe_rva_to_offset(image_, rva);
  }
  bool is_function_start(std::uint32_t rva) const { return function_starts_.contains(rva); }
  // wrapper_note: what the wrapper's walk found (a runtime override), told at every caller.
  void add_site(std::size_t call_index, const PoolApi* api, std::vector<std::uint32_t> via,
                const Value& tag, std::size_t outer_index, const std::string& wrapper_note = {});

  // Sparse decoding (x64 with .pdata): the code is cut into blocks (the .pdata functions and the
  // gaps between them) and only blocks that can reach a pool API are decoded.
  void make_blocks(const std::vector<CodeRange>& ranges, const std::vector<std::uint32_t>& starts);
  std::vector<std::size_t> blocks_reaching(std::vector<std::uint32_t> targets, bool rel_branch);
  void decode_blocks(const std::vector<std::size_t>& blocks);

  bool sparse_ = false;
  ZydisDecoder decoder_;
  std::vector<CodeRange> sections_;  // the code sections, in RVA order
  std::vector<CodeRange> blocks_;
  std::vector<bool> block_decoded_;
  const parse::PeImage& image_;
  parse::ByteSpan data_;
  CallSiteOptions options_;
  bool x64_;
  std::vector<PoolImport> imports_;
  std::unordered_map<std::uint32_t, std::size_t> import_by_slot_;
  std::unordered_map<std::uint32_t, std::size_t> thunks_;  // thunk RVA -> imports_ index
  // Writable globals a pool API's address is stored to (a function pointer set to the import):
  // global RVA -> imports_ index.
  std::unordered_map<std::uint32_t, std::size_t> pointer_globals_;
  std::unordered_set<std::uint32_t> all_import_slots_;  // of every import, pool API or not
  std::optional<WdfFunctionTable> wdf_table_;           // a KMDF driver's WdfFunctions global
  void find_pointer_globals();
  bool names_pool_slot(const Slim& slim, const std::uint8_t* bytes) const;
  bool pool_slot_load_before(std::size_t index) const;
  // The instruction's bytes, or nullptr when its RVA is not in a code section.
  const std::uint8_t* bytes_of(const Slim& insn) const;
  std::unordered_set<std::uint32_t> function_starts_;
  // Targets of relative jumps (jmp, jcc, loop): another path enters there, so the backward walk
  // for an argument stops at them. Sorted.
  std::vector<std::uint32_t> jump_targets_;
  // (target RVA, jump RVA) of every relative jump, sorted: a target's jumps are adjacent.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> jumps_;
  Decoded code_;
  // The instructions complete() decoded, by RVA (references stay valid as it grows).
  mutable std::unordered_map<std::uint32_t, Insn> completed_;
  CallSiteScan scan_;
};

const Insn& Scanner::complete(std::size_t i) const {
  const Slim& slim = code_.insns[i];
  auto [it, inserted] = completed_.try_emplace(slim.rva);
  Insn& insn = it->second;
  if (!inserted) return insn;
  insn.rva = slim.rva;
  insn.length = slim.length;
  if (slim.mnemonic == ZYDIS_MNEMONIC_INVALID) return insn;  // invalid or cut at a function start
  auto range = std::upper_bound(sections_.begin(), sections_.end(), slim.rva,
                                [](std::uint32_t rva, const CodeRange& r) { return rva < r.rva; });
  if (range == sections_.begin()) return insn;
  --range;
  const std::size_t at = slim.rva - range->rva;
  if (at >= range->bytes.size()) return insn;
  ZydisDecodedInstruction instruction;
  ZydisDecodedOperand operands[ZYDIS_MAX_OPERAND_COUNT];
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(range->bytes.data()) + at;
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder_, bytes, range->bytes.size() - at, &instruction,
                                           operands)) ||
      instruction.length != slim.length) {
    return insn;  // cannot happen: the quick decoder agrees with Zydis (x86_quick_test.cpp)
  }
  fill_from_zydis(insn, instruction, operands,
                  x64_ ? ZYDIS_MACHINE_MODE_LONG_64 : ZYDIS_MACHINE_MODE_LEGACY_32, x64_);
  return insn;
}

const std::uint8_t* Scanner::bytes_of(const Slim& insn) const {
  auto range = std::upper_bound(sections_.begin(), sections_.end(), insn.rva,
                                [](std::uint32_t rva, const CodeRange& r) { return rva < r.rva; });
  if (range == sections_.begin()) return nullptr;
  --range;
  const std::size_t at = insn.rva - range->rva;
  if (at + insn.length > range->bytes.size()) return nullptr;
  return reinterpret_cast<const std::uint8_t*>(range->bytes.data()) + at;
}

// Whether the instruction's last 4 bytes (x64: a rip-relative disp32) or any 4 bytes (x86: an
// absolute address) name a pool API's IAT slot: a byte test, no decoding.
bool Scanner::names_pool_slot(const Slim& slim, const std::uint8_t* bytes) const {
  if (bytes == nullptr || slim.length < 5) return false;
  for (std::size_t k = x64_ ? slim.length - 4u : 0; k + 4 <= slim.length; ++k) {
    std::uint32_t value;
    std::memcpy(&value, bytes + k, 4);
    const std::uint32_t rva =
        x64_ ? slim.rva + slim.length + value
             : static_cast<std::uint32_t>(value - static_cast<std::uint32_t>(image_.image_base));
    if (import_by_slot_.contains(rva)) return true;
  }
  return false;
}

// `mov rax, [__imp_ExAllocatePoolWithTag]; mov [rip+g], rax`: calls through g are calls of the
// import. Only instructions whose last 4 bytes (x64: a rip-relative disp32) or any 4 bytes (x86:
// an absolute address) name a pool API's IAT slot are decoded to find such loads.
void Scanner::find_pointer_globals() {
  const auto& insns = code_.insns;
  for (std::size_t i = 0; i < insns.size(); ++i) {
    const Slim& slim = insns[i];
    if (slim.length < 5 || is_call(slim) || slim.mnemonic == ZYDIS_MNEMONIC_JMP) continue;
    const std::uint8_t* bytes = bytes_of(slim);
    if (bytes == nullptr) continue;
    if (!names_pool_slot(slim, bytes)) continue;
    const Insn& load = complete(i);
    if (load.mnemonic != ZYDIS_MNEMONIC_MOV || load.op[0].type != ZYDIS_OPERAND_TYPE_REGISTER ||
        load.op[0].reg < 0) {
      continue;
    }
    const PoolImport* import = [&]() -> const PoolImport* {
      const Value slot = slot_of_memory(load, load.op[1]);
      return slot.kind == Value::Kind::kSlot ? import_at_slot(slot.slot_rva) : nullptr;
    }();
    if (import == nullptr) continue;
    const int reg = load.op[0].reg;
    for (std::size_t j = i + 1; j < insns.size() && j <= i + 8; ++j) {
      const Insn& store = complete(j);
      if (is_block_end(store) || is_call(store)) break;
      if (store.mnemonic == ZYDIS_MNEMONIC_MOV && store.writes_memory &&
          store.op[1].type == ZYDIS_OPERAND_TYPE_REGISTER && store.op[1].reg == reg) {
        const Value global = slot_of_memory(store, store.op[0]);
        if (global.kind == Value::Kind::kSlot && !all_import_slots_.contains(global.slot_rva)) {
          pointer_globals_.emplace(global.slot_rva,
                                   static_cast<std::size_t>(import - imports_.data()));
        }
      }
      if (store.gpr_writes & (1u << reg)) break;
    }
  }
}

// A pool IAT slot is named by one of the instructions of the walk window before index (a byte
// test): only then is a CFG dispatch's rax worth resolving.
bool Scanner::pool_slot_load_before(std::size_t index) const {
  const auto& insns = code_.insns;
  for (std::size_t i = index, n = 0; i > 0 && n < options_.window; ++n) {
    --i;
    if (is_block_end(insns[i])) return false;
    if (names_pool_slot(insns[i], bytes_of(insns[i]))) return true;
  }
  return false;
}

const PoolImport* Scanner::import_or_pointer(std::uint32_t slot_rva) const {
  if (const PoolImport* direct = import_at_slot(slot_rva)) return direct;
  // A function pointer global set to the import (`mov [g], rax` of an IAT load).
  auto alias = pointer_globals_.find(slot_rva);
  return alias != pointer_globals_.end() ? &imports_[alias->second] : nullptr;
}

const PoolImport* Scanner::import_at_slot(std::uint32_t slot_rva) const {
  auto it = import_by_slot_.find(slot_rva);
  return it == import_by_slot_.end() ? nullptr : &imports_[it->second];
}

Value Scanner::slot_of_memory(const Insn& insn, const Operand& op) const {
  Value v;
  if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || op.index != kNoReg) return v;
  if (x64_ && op.base == kRip) {
    v.kind = Value::Kind::kSlot;
    v.slot_rva = static_cast<std::uint32_t>(insn.rva + insn.length + op.disp);
  } else if (!x64_ && op.base == kNoReg) {
    v.kind = Value::Kind::kSlot;
    v.slot_rva =
        static_cast<std::uint32_t>(static_cast<std::uint64_t>(op.disp) - image_.image_base);
  }
  return v;
}

Location Scanner::argument_location(int argument, bool tail, const PoolApi* api) const {
  Location where;
  // ExAllocatePool2/3 take POOL_FLAGS (ULONG64) first: two 4-byte stack slots on x86.
  if (!x64_ && api != nullptr && argument >= 1 &&
      (api->name == "ExAllocatePool2" || api->name == "ExAllocatePool3")) {
    ++argument;
  }
  if (x64_) {
    if (argument < 4) {
      where.reg = kX64ParamRegs[argument];
    } else {
      where.esp_disp = 8 * argument + (tail ? 8 : 0);
    }
  } else {
    where.esp_disp = 4 * argument + (tail ? 4 : 0);
  }
  return where;
}

void Scanner::collect_jump_targets() {
  jump_targets_.clear();
  jumps_.clear();
  for (const auto& insn : code_.insns) {
    if (!insn.relative || is_call(insn)) continue;
    jumps_.emplace_back(static_cast<std::uint32_t>(insn.target_rva()), insn.rva);
  }
  std::sort(jumps_.begin(), jumps_.end());
  for (const auto& [target, from] : jumps_) {
    if (jump_targets_.empty() || jump_targets_.back() != target) jump_targets_.push_back(target);
  }
}

std::optional<std::size_t> Scanner::sole_jump_into(std::size_t i) const {
  const auto& insns = code_.insns;
  const std::uint32_t target = insns[i].rva;
  const auto sole = std::lower_bound(jumps_.begin(), jumps_.end(), std::pair{target, 0u});
  const bool one = sole != jumps_.end() && sole->first == target &&
                   (sole + 1 == jumps_.end() || (sole + 1)->first != target);
  if (!one || sole->second >= target || is_function_start(target)) {
    return std::nullopt;  // several ways in, a backward jump (a loop), or a call target
  }
  // No fall-through: the previous instruction, alignment padding aside, ends with ret or jmp.
  std::size_t k = i;
  std::uint32_t next = target;
  while (k > 0) {
    const Slim& prev = insns[k - 1];
    if (prev.rva + prev.length != next) return std::nullopt;  // not decoded next to it: unknown
    if (prev.mnemonic == ZYDIS_MNEMONIC_NOP || prev.mnemonic == ZYDIS_MNEMONIC_INT3) {
      --k;
      next = prev.rva;
      continue;
    }
    if (prev.mnemonic != ZYDIS_MNEMONIC_RET && prev.mnemonic != ZYDIS_MNEMONIC_JMP) {
      return std::nullopt;
    }
    break;
  }
  if (k == 0) return std::nullopt;
  const auto from =
      std::lower_bound(insns.begin(), insns.end(), sole->second,
                       [](const Slim& insn, std::uint32_t rva) { return insn.rva < rva; });
  if (from == insns.end() || from->rva != sole->second) return std::nullopt;
  return static_cast<std::size_t>(from - insns.begin());
}

// Walks back from the call at call_index to find what `where` holds there, within the basic
// block: a block end or the target of a jump (another path joins there) stops the walk.
Value Scanner::resolve(std::size_t call_index, Location where) const {
  // The call itself may start a function (a thunk-like tail call at a function's first byte).
  if (is_function_start(code_.insns[call_index].rva)) {
    return parameter_at(where, code_.insns[call_index].rva);
  }
  return walk_back(call_index, where, 0, 0);
}

// At a function's first instruction: a parameter register (x64) or stack slot.
Value Scanner::parameter_at(const Location& at, std::uint32_t function_rva) const {
  Value v;
  v.function_rva = function_rva;
  if (x64_ && at.reg >= 0 && x64_param_of_reg(at.reg) >= 0) {
    v.kind = Value::Kind::kParameter;
    v.parameter = x64_param_of_reg(at.reg);
    return v;
  }
  const std::int64_t slot = x64_ ? 8 : 4;
  // x64: the home slots of the register parameters are the caller's to leave unset; only a
  // spill the walk saw (`mov [rsp+10h], edx` then a reload) gives them a value.
  const std::int64_t first = x64_ ? 8 + 8 * 4 : 4;
  if (at.esp_disp && *at.esp_disp >= first && *at.esp_disp % slot == 0) {
    v.kind = Value::Kind::kParameter;
    v.parameter = static_cast<int>((*at.esp_disp - slot) / slot);
    return v;
  }
  return Value{};
}

Value Scanner::struct_field(std::size_t call_index, Location pointer, int offset) const {
  if (!x64_ || pointer.reg < 0) return Value{};
  const auto& insns = code_.insns;
  int reg = pointer.reg;
  for (std::size_t i = call_index, steps = 0; i > 0 && steps < options_.window; ++steps) {
    if (is_jump_target(insns[i].rva)) return Value{};
    --i;
    const Insn& insn = complete(i);
    if (is_block_end(insn) || is_call(insn)) return Value{};
    if (!(insn.gpr_writes & (1u << reg))) continue;
    const Operand& dst = insn.op[0];
    const Operand& src = insn.op[1];
    if (dst.type != ZYDIS_OPERAND_TYPE_REGISTER || dst.reg != reg) return Value{};
    if (insn.mnemonic == ZYDIS_MNEMONIC_MOV && src.type == ZYDIS_OPERAND_TYPE_REGISTER &&
        src.reg >= 0) {
      reg = src.reg;
      continue;
    }
    if (insn.mnemonic != ZYDIS_MNEMONIC_LEA || src.type != ZYDIS_OPERAND_TYPE_MEMORY ||
        src.index != kNoReg || (src.base != kRsp && src.base != kRbp)) {
      return Value{};
    }
    // The fields are stored before or after the lea; rsp does not move in between on x64.
    Location field;
    (src.base == kRsp ? field.esp_disp : field.ebp_disp) = src.disp + offset;
    return walk_back(call_index, field, 0, 0);
  }
  return Value{};
}

// A read-only dword (a tag in a constant table in .rdata): its value, or nullopt when rva is not
// in a section the driver cannot write.
std::optional<std::uint32_t> Scanner::read_only_dword(std::uint32_t rva) const {
  constexpr std::uint32_t kMemWrite = 0x80000000u;
  for (const auto& section : image_.sections) {
    const std::uint32_t size = std::max(section.virtual_size, section.raw_size);
    if (rva < section.virtual_address || rva - section.virtual_address >= size) continue;
    if (section.characteristics & kMemWrite) return std::nullopt;
    const auto offset = parse::pe_rva_to_offset(image_, rva);
    if (!offset || *offset + 4 > data_.size()) return std::nullopt;
    std::uint32_t value;
    std::memcpy(&value, data_.data() + *offset, 4);
    return value;
  }
  return std::nullopt;
}

// Both sources of a conditional move: the destination's old value (the walk goes on from before
// the cmov) and its source; a parameter on either side makes the caller's tag reach the call.
Value Scanner::either_source(std::size_t i, const Insn& cmov, Location kept, std::size_t steps,
                             int depth) const {
  const Value old_value = walk_back(i, kept, steps, depth + 1);
  const Operand& src = cmov.op[1];
  Value moved;
  std::string moved_text;
  if (src.type == ZYDIS_OPERAND_TYPE_REGISTER && src.reg >= 0) {
    Location from;
    from.reg = src.reg;
    moved = walk_back(i, from, steps, depth + 1);
    if (moved.kind != Value::Kind::kConstant && moved.kind != Value::Kind::kParameter) {
      // What the register was loaded from, for the note: a global override, usually.
      moved_text = "a value computed at run time";
      for (std::size_t k = i, n = 0; k > 0 && n < options_.window; ++n) {
        --k;
        const Insn& load = complete(k);
        if (is_block_end(load)) break;
        if (!(load.gpr_writes & (1u << src.reg))) continue;
        const Value global = slot_of_memory(load, load.op[1]);
        if (load.mnemonic == ZYDIS_MNEMONIC_MOV && global.kind == Value::Kind::kSlot) {
          moved_text = "the global at RVA 0x" + hex(global.slot_rva);
        }
        break;
      }
    }
  } else if (src.type == ZYDIS_OPERAND_TYPE_MEMORY) {
    const Value global = slot_of_memory(cmov, src);
    moved_text = global.kind == Value::Kind::kSlot ? "the global at RVA 0x" + hex(global.slot_rva)
                                                   : "a value read from memory";
  }
  const std::string where = " (conditional move at RVA 0x" + hex(cmov.rva) + ")";
  const auto with_alternative = [&where](Value primary, const Value& other) {
    primary.alternative = other.constant;
    primary.alternative_imm_rva = other.imm_rva;
    if (primary.note.empty()) primary.note = "one of two tags chosen at run time" + where;
    return primary;
  };
  const bool old_known =
      old_value.kind == Value::Kind::kConstant || old_value.kind == Value::Kind::kParameter;
  const bool moved_known =
      moved.kind == Value::Kind::kConstant || moved.kind == Value::Kind::kParameter;
  if (old_known && moved_known) {
    // A parameter first (it makes a wrapper), the other side's constant as the alternative.
    if (moved.kind == Value::Kind::kParameter && old_value.kind == Value::Kind::kConstant) {
      return with_alternative(moved, old_value);
    }
    if (moved.kind == Value::Kind::kConstant) return with_alternative(old_value, moved);
    Value v = old_value;  // two parameters: the first found; the other is noted
    v.note = "the tag may instead be parameter " + std::to_string(moved.parameter + 1) + where;
    return v;
  }
  if (old_known || moved_known) {
    Value v = old_known ? old_value : moved;
    const std::string other = old_known ? moved_text : std::string("a value computed at run time");
    if (v.note.empty()) {
      v.note = "the tag can be overridden at run time by " +
               (other.empty() ? std::string("a value computed at run time") : other) + where;
    }
    return v;
  }
  return Value{};
}

Value Scanner::walk_back(std::size_t i, Location where, std::size_t steps, int depth) const {
  std::vector<Fold> folds;
  Value v = walk_back_folding(i, where, steps, depth, folds);
  if (folds.empty()) return v;
  // A parameter changed on the way is not the caller's tag any more; a constant is folded, the
  // earliest step (found last) first.
  if (v.kind != Value::Kind::kConstant) return Value{};
  for (auto it = folds.rbegin(); it != folds.rend(); ++it) {
    const std::uint64_t x = v.constant, y = it->operand;
    switch (it->op) {
      case ZYDIS_MNEMONIC_SHL:
        v.constant = x << (y & 63);
        break;
      case ZYDIS_MNEMONIC_OR:
        v.constant = x | y;
        break;
      case ZYDIS_MNEMONIC_ADD:
        v.constant = x + y;
        break;
      case ZYDIS_MNEMONIC_AND:
        v.constant = x & y;
        break;
      case ZYDIS_MNEMONIC_XOR:
        v.constant = x ^ y;
        break;
      default:
        return Value{};
    }
    if (it->bits == 32) v.constant &= 0xFFFFFFFFu;
  }
  v.imm_rva.reset();  // the tag's 4 bytes are nowhere in the file
  v.alternative.reset();
  v.note = "tag computed at run time from constants (shl/or/add ending at RVA 0x" +
           hex(folds.front().rva) + ")";
  return v;
}

Value Scanner::walk_back_folding(std::size_t i, Location where, std::size_t steps, int depth,
                                 std::vector<Fold>& folds) const {
  const auto& insns = code_.insns;
  const std::uint16_t volatile_regs = x64_ ? kX64Volatile : kX86Volatile;
  const std::int64_t slot = x64_ ? 8 : 4;
  Value unknown;
  // A stack slot followed back over a call: the callee may have written it when its address was
  // passed (an out parameter), so a constant found before the call is not trusted; a parameter's
  // spill (stored at the function's start) is.
  bool crossed_call = false;
  const auto constant = [&crossed_call, &unknown](std::uint64_t value, const Insn& insn) {
    if (crossed_call) return unknown;
    Value v;
    v.kind = Value::Kind::kConstant;
    v.constant = value;
    if (insn.imm_offset >= 0) v.imm_rva = insn.rva + static_cast<std::uint32_t>(insn.imm_offset);
    return v;
  };
  // The value of a source operand (of a push or a store): a constant, or where to look next.
  // Returns false when it is neither.
  const auto follow = [&constant](const Insn& insn, const Operand& src, bool wide, Location& next,
                                  Value& found) {
    if (src.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
      found = constant(wide ? src.imm : (src.imm & 0xFFFFFFFFu), insn);
      return found.kind == Value::Kind::kConstant;
    }
    next = Location{};
    if (src.type == ZYDIS_OPERAND_TYPE_REGISTER && src.reg >= 0 && src.reg_bits >= 32) {
      next.reg = src.reg;
      return true;
    }
    if (src.type == ZYDIS_OPERAND_TYPE_MEMORY && src.index == kNoReg &&
        (src.base == kRsp || src.base == kRbp)) {
      (src.base == kRsp ? next.esp_disp : next.ebp_disp) = src.disp;
      return true;
    }
    return false;
  };
  if (depth > 4) return unknown;  // nested conditional moves: enough
  while (i > 0 && steps < options_.window) {
    // Another path enters at insns[i]: what was set before it holds on one path only, unless
    // the block is entered by one forward jump alone (`jne L; ...; ret; L:`, as compilers lay out
    // an if): then the walk goes on before that jump.
    if (is_jump_target(insns[i].rva)) {
      const auto from = sole_jump_into(i);
      if (!from || is_jump_target(insns[*from].rva)) return unknown;
      i = *from;
    }
    --i;
    ++steps;
    const Insn& insn = complete(i);
    if (is_block_end(insn)) return unknown;
    const Operand& dst = insn.op[0];
    const Operand& src = insn.op[1];
    if (is_call(insn)) {
      // A call ends the argument setup of the previous call and clobbers volatile registers; on
      // x86 the callee may pop its arguments, so esp-relative slots are lost too. x64 slots above
      // the callee's home space, and ebp-relative slots, survive.
      if (where.reg >= 0) {
        if (volatile_regs & (1u << where.reg)) return unknown;
      } else if (where.esp_disp) {
        if (!x64_ || *where.esp_disp < 0x20) return unknown;
        crossed_call = true;
      } else {
        crossed_call = true;
      }
    } else if (where.reg >= 0) {
      if (insn.gpr_writes & (1u << where.reg)) {
        if (dst.type != ZYDIS_OPERAND_TYPE_REGISTER || dst.reg != where.reg) return unknown;
        // x86 compilers load small constants as `push imm; pop reg`.
        if (insn.mnemonic == ZYDIS_MNEMONIC_POP) {
          const Insn* prev = i > 0 ? &complete(i - 1) : nullptr;
          if (prev == nullptr || prev->mnemonic != ZYDIS_MNEMONIC_PUSH ||
              prev->op[0].type != ZYDIS_OPERAND_TYPE_IMMEDIATE || is_jump_target(insn.rva)) {
            return unknown;
          }
          return constant(prev->op[0].imm & 0xFFFFFFFFu, *prev);
        }
        const bool full = dst.reg_bits >= 32;  // 32-bit writes zero-extend on x64
        if (!full) return unknown;
        if (insn.mnemonic >= ZYDIS_MNEMONIC_CMOVB && insn.mnemonic <= ZYDIS_MNEMONIC_CMOVZ &&
            insn.operand_count == 2) {
          return either_source(i, insn, where, steps, depth);
        }
        if (insn.mnemonic == ZYDIS_MNEMONIC_MOV && src.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
          return constant(dst.reg_bits == 32 ? (src.imm & 0xFFFFFFFFu) : src.imm, insn);
        }
        if ((insn.mnemonic == ZYDIS_MNEMONIC_XOR || insn.mnemonic == ZYDIS_MNEMONIC_SUB) &&
            src.type == ZYDIS_OPERAND_TYPE_REGISTER && src.reg == where.reg) {
          Value v;
          v.kind = Value::Kind::kConstant;
          return crossed_call ? unknown : v;
        }
        if (insn.mnemonic == ZYDIS_MNEMONIC_MOV && src.type == ZYDIS_OPERAND_TYPE_REGISTER &&
            src.reg >= 0 && src.reg_bits >= 32) {
          where.reg = src.reg;
        } else if (insn.mnemonic == ZYDIS_MNEMONIC_MOV && src.type == ZYDIS_OPERAND_TYPE_MEMORY) {
          Location next;
          Value found;
          if (follow(insn, src, false, next, found) && next.reg < 0) {
            where = next;  // loaded from a stack slot: a parameter, or a spilled one
          } else {
            const Value memory = slot_of_memory(insn, src);
            if (memory.kind == Value::Kind::kSlot && dst.reg_bits == 32 &&
                import_at_slot(memory.slot_rva) == nullptr) {
              // A tag kept in a constant table: read-only data is as good as an immediate.
              if (const auto value = read_only_dword(memory.slot_rva)) {
                if (crossed_call) return unknown;
                Value v;
                v.kind = Value::Kind::kConstant;
                v.constant = *value;
                v.imm_rva = memory.slot_rva;
                v.note = "tag read from read-only data at RVA 0x" + hex(memory.slot_rva);
                return v;
              }
            }
            return memory;  // an IAT slot load (call reg) or unknown memory
          }
        } else if ((insn.mnemonic == ZYDIS_MNEMONIC_SHL || insn.mnemonic == ZYDIS_MNEMONIC_OR ||
                    insn.mnemonic == ZYDIS_MNEMONIC_ADD || insn.mnemonic == ZYDIS_MNEMONIC_AND ||
                    insn.mnemonic == ZYDIS_MNEMONIC_XOR) &&
                   insn.operand_count >= 2 && folds.size() < 16) {
          // Built from bytes: the value before this step, then the step.
          Fold fold{insn.mnemonic, 0, dst.reg_bits, insn.rva};
          if (src.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
            fold.operand = src.imm;
          } else if (src.type == ZYDIS_OPERAND_TYPE_REGISTER && src.reg >= 0 &&
                     src.reg != where.reg) {
            Location other;
            other.reg = src.reg;
            const Value operand = walk_back(i, other, steps, depth + 1);
            if (operand.kind != Value::Kind::kConstant) return unknown;
            fold.operand = operand.constant;
          } else {
            return unknown;
          }
          folds.push_back(fold);
        } else if (insn.mnemonic == ZYDIS_MNEMONIC_LEA && src.type == ZYDIS_OPERAND_TYPE_MEMORY &&
                   src.base == kNoReg && src.index == kNoReg) {
          Value v;
          v.kind = Value::Kind::kConstant;
          v.constant = static_cast<std::uint64_t>(src.disp) & 0xFFFFFFFFu;
          return crossed_call ? unknown : v;
        } else {
          return unknown;
        }
      }
    } else if (where.esp_disp) {
      std::int64_t& disp = *where.esp_disp;
      const bool stores_here = insn.writes_memory && dst.type == ZYDIS_OPERAND_TYPE_MEMORY &&
                               dst.base == kRsp && dst.index == kNoReg && dst.disp == disp;
      if (insn.mnemonic == ZYDIS_MNEMONIC_PUSH) {
        if (disp == 0) {  // this push wrote the slot; its operand is read before esp moves
          Value found;
          if (!follow(insn, dst, false, where, found)) return unknown;
          if (found.kind == Value::Kind::kConstant) return found;
        } else {
          disp -= slot;
        }
      } else if (insn.mnemonic == ZYDIS_MNEMONIC_POP && dst.type == ZYDIS_OPERAND_TYPE_REGISTER) {
        disp += slot;
      } else if ((insn.mnemonic == ZYDIS_MNEMONIC_SUB || insn.mnemonic == ZYDIS_MNEMONIC_ADD) &&
                 dst.type == ZYDIS_OPERAND_TYPE_REGISTER && dst.reg == kRsp &&
                 src.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
        const auto amount = static_cast<std::int64_t>(static_cast<std::int32_t>(src.imm));
        disp += insn.mnemonic == ZYDIS_MNEMONIC_ADD ? amount : -amount;
      } else if (x64_ && insn.mnemonic == ZYDIS_MNEMONIC_MOV && insn.writes_memory &&
                 dst.type == ZYDIS_OPERAND_TYPE_MEMORY && dst.base == kRsp && dst.index == kNoReg &&
                 dst.size_bits == 64 && dst.disp + 4 == disp) {
        // The slot is the upper half of a 64-bit store: two 32-bit fields written at once
        // (`movabs rax, 0x6c50624e000c0180; mov [rsp+40h], rax` fills a header and PoolTag).
        Value whole;
        if (src.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
          whole = constant(src.imm, insn);
        } else if (src.type == ZYDIS_OPERAND_TYPE_REGISTER && src.reg >= 0 && src.reg_bits == 64) {
          Location from;
          from.reg = src.reg;
          whole = walk_back(i, from, steps, depth + 1);
        }
        if (whole.kind != Value::Kind::kConstant || crossed_call) return unknown;
        whole.constant >>= 32;
        if (whole.imm_rva) *whole.imm_rva += 4;  // the upper 4 of the 8 immediate bytes
        return whole;
      } else if (stores_here) {
        const bool wide = x64_ && dst.size_bits == 64;
        if (insn.mnemonic != ZYDIS_MNEMONIC_MOV || (dst.size_bits != 32 && !wide)) return unknown;
        Value found;
        if (!follow(insn, src, wide, where, found)) return unknown;
        if (found.kind == Value::Kind::kConstant) return found;
      } else if (insn.gpr_writes & (1u << kRsp)) {
        return unknown;  // and esp, -16 / mov esp, ebp: the slot can no longer be followed
      }
      // A slot below esp was never written before this point.
      if (where.esp_disp && *where.esp_disp < 0) return unknown;
    } else if (where.ebp_disp) {
      if (insn.mnemonic == ZYDIS_MNEMONIC_MOV && dst.type == ZYDIS_OPERAND_TYPE_REGISTER &&
          dst.reg == kRbp && src.type == ZYDIS_OPERAND_TYPE_REGISTER && src.reg == kRsp) {
        where.esp_disp = *where.ebp_disp;  // the prologue: ebp was esp here
        where.ebp_disp.reset();
      } else if (insn.gpr_writes & (1u << kRbp)) {
        return unknown;
      } else if (insn.writes_memory && dst.type == ZYDIS_OPERAND_TYPE_MEMORY && dst.base == kRbp &&
                 dst.index == kNoReg && dst.disp == *where.ebp_disp) {
        const bool wide = x64_ && dst.size_bits == 64;
        if (insn.mnemonic != ZYDIS_MNEMONIC_MOV || (dst.size_bits != 32 && !wide)) return unknown;
        Value found;
        if (!follow(insn, src, wide, where, found)) return unknown;
        if (found.kind == Value::Kind::kConstant) return found;
      }
    }
    if (is_function_start(insn.rva)) return parameter_at(where, insn.rva);
  }
  return unknown;
}

const PoolImport* Scanner::call_target_import(std::size_t index) const {
  const Slim& slim = code_.insns[index];
  if (slim.relative) {  // call rel32: a jmp [IAT] thunk, or not an import
    if (!is_call(slim)) return nullptr;
    auto it = thunks_.find(slim.target_rva());
    return it != thunks_.end() ? &imports_[it->second] : nullptr;
  }
  const Insn& insn = complete(index);
  const Operand& op = insn.op[0];
  if (op.type == ZYDIS_OPERAND_TYPE_MEMORY) {
    const Value slot = slot_of_memory(insn, op);
    if (slot.kind != Value::Kind::kSlot) return nullptr;
    if (const PoolImport* direct = import_or_pointer(slot.slot_rva)) return direct;
    // Control Flow Guard: `mov rax, [__imp_X]; call [__guard_dispatch_icall_fptr]` calls rax.
    if (x64_ && (is_call(insn) || insn.mnemonic == ZYDIS_MNEMONIC_JMP) &&
        !all_import_slots_.contains(slot.slot_rva) && pool_slot_load_before(index)) {
      Location target;
      target.reg = 0;  // rax
      const Value v = resolve(index, target);
      if (v.kind == Value::Kind::kSlot) return import_at_slot(v.slot_rva);
    }
    return nullptr;
  }
  if (op.type == ZYDIS_OPERAND_TYPE_REGISTER && op.reg >= 0) {
    Location where;
    where.reg = op.reg;
    const Value v = resolve(index, where);
    return v.kind == Value::Kind::kSlot ? import_or_pointer(v.slot_rva) : nullptr;
  }
  return nullptr;
}

const PoolApi* Scanner::wdf_table_entry(std::size_t index, const Location& table,
                                        std::int64_t disp) const {
  const std::int64_t pointer = x64_ ? 8 : 4;
  if (disp < 0 || disp % pointer != 0) return nullptr;
  const Value v = walk_back(index, table, 0, 0);
  if (v.kind != Value::Kind::kSlot || v.slot_rva != wdf_table_->global_rva) return nullptr;
  return find_wdf_pool_api(disp / pointer);
}

const PoolApi* Scanner::wdf_table_call(std::size_t index) const {
  if (!wdf_table_) return nullptr;
  const Insn& call = complete(index);
  const Operand& op = call.op[0];
  const auto plain_base = [](const Operand& m) {
    return m.type == ZYDIS_OPERAND_TYPE_MEMORY && m.base >= 0 && m.base != kRip && m.base != kRsp &&
           m.index == kNoReg;
  };
  Location target;
  if (plain_base(op)) {  // call [reg + 8k]: reg holds the table
    Location table;
    table.reg = op.base;
    return wdf_table_entry(index, table, op.disp);
  }
  if (op.type == ZYDIS_OPERAND_TYPE_REGISTER && op.reg >= 0) {
    target.reg = op.reg;
  } else if (x64_ && op.type == ZYDIS_OPERAND_TYPE_MEMORY) {
    // Control Flow Guard: `call [__guard_dispatch_icall_fptr]` calls rax.
    const Value slot = slot_of_memory(call, op);
    if (slot.kind != Value::Kind::kSlot || all_import_slots_.contains(slot.slot_rva)) {
      return nullptr;
    }
    target.reg = 0;
  } else {
    return nullptr;
  }
  // The load of the target register from the table: `mov reg, [reg2 + 8k]`, through moves.
  const auto& insns = code_.insns;
  for (std::size_t i = index, steps = 0; i > 0 && steps < options_.window; ++steps) {
    if (is_jump_target(insns[i].rva)) return nullptr;
    --i;
    const Insn& insn = complete(i);
    if (is_block_end(insn) || is_call(insn)) return nullptr;
    if (!(insn.gpr_writes & (1u << target.reg))) continue;
    const Operand& dst = insn.op[0];
    const Operand& src = insn.op[1];
    if (insn.mnemonic != ZYDIS_MNEMONIC_MOV || dst.type != ZYDIS_OPERAND_TYPE_REGISTER ||
        dst.reg != target.reg || dst.reg_bits != (x64_ ? 64 : 32)) {
      return nullptr;
    }
    if (src.type == ZYDIS_OPERAND_TYPE_REGISTER && src.reg >= 0) {
      target.reg = src.reg;
      continue;
    }
    if (!plain_base(src)) return nullptr;
    Location table;
    table.reg = src.base;
    return wdf_table_entry(i, table, src.disp);
  }
  return nullptr;
}

void Scanner::add_site(std::size_t call_index, const PoolApi* api, std::vector<std::uint32_t> via,
                       const Value& tag, std::size_t outer_index, const std::string& wrapper_note) {
  if (tag.alternative) {
    // The other source of a conditional move: a tag of its own at the same call.
    Value other;
    other.kind = Value::Kind::kConstant;
    other.constant = *tag.alternative;
    other.imm_rva = tag.alternative_imm_rva;
    other.note = tag.note;
    add_site(call_index, api, via, other, outer_index, wrapper_note);
  }
  CallSite site;
  const Slim& outer = code_.insns[outer_index];
  site.rva = outer.rva;
  site.file_offset = offset_of(outer.rva);
  site.api = api;
  site.via = std::move(via);
  if (api->tag_argument < 0) {
    if (api->kind == PoolApiKind::kAllocate) {
      site.tag = tag_from_text("None");
      site.note = "untagged allocation: Windows charges it to the tag 'None'";
    } else {
      site.note = "frees without a tag";
    }
  } else if (tag.kind == Value::Kind::kConstant && tag.constant == 0 &&
             api->kind == PoolApiKind::kFree) {
    site.note = "frees with tag 0: the tag is not checked";
  } else if (tag.kind == Value::Kind::kConstant) {
    site.tag = tag_from_ulong(static_cast<std::uint32_t>(tag.constant));
    if (tag.imm_rva) site.tag_file_offset = offset_of(*tag.imm_rva);
    if (!site.via.empty()) site.note = "tag passed through a wrapper function";
  } else if (tag.kind == Value::Kind::kParameter) {
    site.note = "tag is parameter " + std::to_string(tag.parameter + 1) +
                " of the wrapper function at RVA 0x" + hex(tag.function_rva) +
                "; its callers' tags are listed with this call in `via`";
  } else {
    site.note = "tag argument is not a constant at this call";
  }
  if (api->wdf_table_index >= 0 && wdf_table_) {
    site.note += (site.note.empty() ? "" : "; ") +
                 std::string("called through the KMDF function table (WdfFunctions[") +
                 std::to_string(api->wdf_table_index) + "], WdfFunctions at RVA 0x" +
                 hex(wdf_table_->global_rva) + " from the WDF_BIND_INFO at RVA 0x" +
                 hex(wdf_table_->bind_info_rva) + ")";
  }
  for (const std::string* extra : {&tag.note, &wrapper_note}) {
    if (!extra->empty() && site.note.find(*extra) == std::string::npos) {
      site.note += (site.note.empty() ? "" : "; ") + *extra;
    }
  }
  // Pool type and size are read at the API call itself (a wrapper usually fixes them there).
  const bool tail = code_.insns[call_index].mnemonic == ZYDIS_MNEMONIC_JMP;
  if (api->pool_type_argument >= 0) {
    const Value v = resolve(call_index, argument_location(api->pool_type_argument, tail, api));
    if (v.kind == Value::Kind::kConstant) site.pool_type = v.constant;
  }
  if (api->size_argument >= 0) {
    const Value v = resolve(call_index, argument_location(api->size_argument, tail, api));
    if (v.kind == Value::Kind::kConstant) site.size = v.constant;
  }
  scan_.sites.push_back(std::move(site));
}

void Scanner::make_blocks(const std::vector<CodeRange>& ranges,
                          const std::vector<std::uint32_t>& starts) {
  for (const auto& range : ranges) {
    const std::uint32_t end = range.rva + static_cast<std::uint32_t>(range.bytes.size());
    std::uint32_t at = range.rva;
    auto next = std::upper_bound(starts.begin(), starts.end(), range.rva);
    while (at < end) {
      const std::uint32_t stop = (next != starts.end() && *next < end) ? *next : end;
      blocks_.push_back({at, range.file_offset + (at - range.rva),
                         range.bytes.subspan(at - range.rva, stop - at)});
      at = stop;
      if (next != starts.end()) ++next;
    }
  }
  block_decoded_.assign(blocks_.size(), false);
}

// Blocks holding a disp32/rel32 that reaches one of targets from the 4 bytes after it: a
// rip-relative operand (rel_branch false) or the rel32 of an E8 call / E9 jmp (rel_branch true).
std::vector<std::size_t> Scanner::blocks_reaching(std::vector<std::uint32_t> targets,
                                                  bool rel_branch) {
  std::vector<std::size_t> out;
  if (targets.empty()) return out;
  std::sort(targets.begin(), targets.end());
  const std::uint32_t lo = targets.front(), hi = targets.back();
  for (std::size_t b = 0; b < blocks_.size(); ++b) {
    if (block_decoded_[b]) continue;
    const auto* p = reinterpret_cast<const unsigned char*>(blocks_[b].bytes.data());
    const std::size_t n = blocks_[b].bytes.size();
    for (std::size_t k = rel_branch ? 1 : 0; k + 4 <= n; ++k) {
      std::uint32_t disp;
      std::memcpy(&disp, p + k, 4);
      const std::uint32_t reach = blocks_[b].rva + static_cast<std::uint32_t>(k) + 4 + disp;
      if (reach < lo || reach > hi) continue;
      if (rel_branch && p[k - 1] != 0xE8 && p[k - 1] != 0xE9) continue;
      if (std::binary_search(targets.begin(), targets.end(), reach)) {
        out.push_back(b);
        break;
      }
    }
  }
  return out;
}

void Scanner::decode_blocks(const std::vector<std::size_t>& blocks) {
  std::vector<CodeRange> ranges;
  for (std::size_t b : blocks) {
    if (block_decoded_[b]) continue;
    block_decoded_[b] = true;
    ranges.push_back(blocks_[b]);
  }
  if (ranges.empty()) return;
  Decoded more = decode_code(decoder_, ranges, x64_, {}, options_.quick_decoder);
  for (const auto& insn : more.insns) {
    if (is_call(insn) && insn.relative) {
      function_starts_.insert(static_cast<std::uint32_t>(insn.target_rva()));
    }
  }
  add_decoded(std::move(more));
  collect_jump_targets();
}

void Scanner::add_decoded(Decoded&& more) {
  code_.bytes += more.bytes;
  for (auto& insn : more.full) completed_.emplace(insn.rva, insn);
  if (code_.insns.empty()) {
    code_.insns = std::move(more.insns);  // no copy and no merge buffer: the whole code at once
    return;
  }
  // Both runs are in RVA order (blocks are decoded in RVA order).
  const auto middle = static_cast<std::ptrdiff_t>(code_.insns.size());
  code_.insns.insert(code_.insns.end(), more.insns.begin(), more.insns.end());
  std::inplace_merge(code_.insns.begin(), code_.insns.begin() + middle, code_.insns.end(),
                     [](const Slim& a, const Slim& b) { return a.rva < b.rva; });
}

CallSiteScan Scanner::run() {
  if (image_.machine != parse::kMachineAmd64 && image_.machine != parse::kMachineI386) {
    scan_.supported = false;
    scan_.note = "call-site recovery is x86/x64 only; " + parse::pe_machine_name(image_.machine) +
                 " code was not decoded (imports and the byte search still apply)";
    return std::move(scan_);
  }
  imports_ = pool_imports(image_);
  // A KMDF driver allocates through its WdfFunctions table too (WdfMemoryCreate...).
  if (imports_wdf(image_)) wdf_table_ = wdf_function_table(image_, data_);
  if (imports_.empty() && !wdf_table_) return std::move(scan_);
  for (std::size_t k = 0; k < imports_.size(); ++k) {
    import_by_slot_.emplace(imports_[k].function->iat_rva, k);
  }
  for (const auto& module : image_.imports) {
    for (const auto& function : module.functions) all_import_slots_.insert(function.iat_rva);
  }
  std::vector<std::uint32_t> resync;
  for (const auto& f : image_.runtime_functions) {
    resync.push_back(f.begin_rva);
    function_starts_.insert(f.begin_rva);
  }
  std::sort(resync.begin(), resync.end());
  resync.erase(std::unique(resync.begin(), resync.end()), resync.end());
  std::vector<CodeRange> ranges;
  std::uint64_t code_bytes = 0, kept_bytes = 0;
  for (const auto& section : image_.sections) {
    if (!parse::pe_section_is_code(section)) continue;
    auto bytes = parse::pe_section_bytes(section, data_);
    if (bytes.empty()) continue;
    code_bytes += bytes.size();
    const std::uint64_t room = options_.max_code_bytes - kept_bytes;
    if (room == 0) continue;
    if (bytes.size() > room) bytes = bytes.first(static_cast<std::size_t>(room));
    kept_bytes += bytes.size();
    ranges.push_back({section.virtual_address, section.raw_offset, bytes});
  }
  if (kept_bytes < code_bytes) {
    scan_.note = "cut short: only the first " + std::to_string(kept_bytes) + " of " +
                 std::to_string(code_bytes) +
                 " bytes of code were decoded (the per-file memory cap); call sites past them "
                 "are not found";
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const CodeRange& a, const CodeRange& b) { return a.rva < b.rva; });
  sections_ = ranges;
  if (x64_ && !resync.empty()) {
    sparse_ = true;
    make_blocks(ranges, resync);
    // Every x64 form of a pool call ends in a rip-relative disp32 that reaches the IAT slot
    // (call/jmp [rip+d], mov reg, [rip+d]): only the blocks holding such bytes are decoded.
    std::vector<std::uint32_t> slots;
    for (const auto& [slot, index] : import_by_slot_) slots.push_back(slot);
    if (wdf_table_) slots.push_back(wdf_table_->global_rva);  // mov rax, [rip+WdfFunctions]
    decode_blocks(blocks_reaching(slots, false));
  } else {
    add_decoded(decode_code(decoder_, ranges, x64_, resync, options_.quick_decoder));
    collect_jump_targets();
  }
  find_pointer_globals();
  if (sparse_ && !pointer_globals_.empty()) {
    std::vector<std::uint32_t> globals;
    for (const auto& [global, index] : pointer_globals_) globals.push_back(global);
    decode_blocks(blocks_reaching(globals, false));
  }
  scan_.decoded_bytes = code_.bytes;
  const auto& insns = code_.insns;

  // Function starts (direct call targets) and jmp [IAT] thunks.
  for (const auto& insn : insns) {
    if (is_call(insn) && insn.relative) {
      function_starts_.insert(static_cast<std::uint32_t>(insn.target_rva()));
    }
  }
  for (std::size_t i = 0; i < insns.size(); ++i) {
    if (insns[i].mnemonic != ZYDIS_MNEMONIC_JMP || insns[i].relative) continue;
    const Insn& insn = complete(i);
    if (insn.op[0].type != ZYDIS_OPERAND_TYPE_MEMORY) continue;
    const Value slot = slot_of_memory(insn, insn.op[0]);
    if (slot.kind != Value::Kind::kSlot) continue;
    auto it = import_by_slot_.find(slot.slot_rva);
    if (it == import_by_slot_.end()) continue;
    const bool alone =
        i == 0 || is_block_end(insns[i - 1]) || insns[i - 1].mnemonic == ZYDIS_MNEMONIC_NOP;
    // A thunk is jumped to at its first byte; a jmp [IAT] after argument setup is a tail call.
    if (alone || is_function_start(insn.rva)) thunks_.emplace(insn.rva, it->second);
  }

  if (sparse_ && !thunks_.empty()) {
    std::vector<std::uint32_t> targets;
    for (const auto& [thunk, index] : thunks_) targets.push_back(thunk);
    decode_blocks(blocks_reaching(targets, true));
  }

  // Direct calls (and tail calls) of pool APIs.
  struct Pending {
    std::uint32_t function_rva;
    int parameter;
    const PoolApi* api;
    int depth;
    std::vector<std::uint32_t> via;
    std::string note;  // a runtime override the wrapper's walk found
  };
  std::vector<Pending> wrappers;
  for (std::size_t i = 0; i < insns.size(); ++i) {
    const Slim& insn = insns[i];
    const bool call = is_call(insn);
    // A tail call: `jmp [__imp_X]`, `jmp [reg+8k]`, or `jmp reg` with reg loaded from an IAT
    // slot, a function-pointer global or the WdfFunctions table (a switch's `jmp reg` resolves
    // to none of them).
    const bool tail = insn.mnemonic == ZYDIS_MNEMONIC_JMP && !insn.relative &&
                      (complete(i).op[0].type == ZYDIS_OPERAND_TYPE_MEMORY ||
                       complete(i).op[0].type == ZYDIS_OPERAND_TYPE_REGISTER) &&
                      !thunks_.contains(insn.rva);
    if (!call && !tail) continue;
    const PoolImport* import = call_target_import(i);
    const PoolApi* api = import != nullptr ? import->api : wdf_table_call(i);
    if (api == nullptr) continue;
    Value tag;
    if (api->tag_struct_offset >= 0) {
      tag =
          struct_field(i, argument_location(api->tag_argument, tail, api), api->tag_struct_offset);
    } else if (api->tag_argument >= 0) {
      tag = resolve(i, argument_location(api->tag_argument, tail, api));
    }
    if (tag.kind == Value::Kind::kParameter) {
      wrappers.push_back({tag.function_rva, tag.parameter, api, 1, {insn.rva}, tag.note});
    }
    add_site(i, api, {}, tag, i);
  }

  // Wrappers: calls of a function that passes a parameter to the tag, transitively.
  // Instructions are in RVA order: the pool API call of a wrapper is found by binary search.
  const auto index_of = [&insns](std::uint32_t rva) {
    return static_cast<std::size_t>(
        std::lower_bound(insns.begin(), insns.end(), rva,
                         [](const Slim& insn, std::uint32_t value) { return insn.rva < value; }) -
        insns.begin());
  };
  std::vector<Pending> frontier = wrappers;
  std::set<std::pair<std::uint32_t, int>> seen;
  for (const auto& w : wrappers) seen.insert({w.function_rva, w.parameter});
  for (int depth = 1; depth <= options_.max_wrapper_depth && !frontier.empty(); ++depth) {
    std::unordered_multimap<std::uint32_t, const Pending*> by_function;
    for (const auto& w : frontier) by_function.emplace(w.function_rva, &w);
    if (sparse_) {
      std::vector<std::uint32_t> targets;
      for (const auto& w : frontier) targets.push_back(w.function_rva);
      decode_blocks(blocks_reaching(targets, true));
    }
    std::vector<Pending> next;
    for (std::size_t i = 0; i < insns.size(); ++i) {
      const Slim& insn = insns[i];
      if (!insn.relative || (!is_call(insn) && insn.mnemonic != ZYDIS_MNEMONIC_JMP)) continue;
      auto [lo, hi] = by_function.equal_range(static_cast<std::uint32_t>(insn.target_rva()));
      for (auto it = lo; it != hi; ++it) {
        const Pending& w = *it->second;
        const Value tag =
            resolve(i, argument_location(w.parameter, insn.mnemonic == ZYDIS_MNEMONIC_JMP));
        std::vector<std::uint32_t> via{insn.rva};
        via.insert(via.end(), w.via.begin(), w.via.end());
        if (tag.kind == Value::Kind::kConstant) {
          const std::size_t api_call = index_of(w.via.back());
          add_site(api_call, w.api, via, tag, i, w.note);
        } else if (tag.kind == Value::Kind::kParameter && depth < options_.max_wrapper_depth &&
                   seen.insert({tag.function_rva, tag.parameter}).second) {
          std::string note = w.note;
          if (!tag.note.empty()) note += (note.empty() ? "" : "; ") + tag.note;
          next.push_back({tag.function_rva, tag.parameter, w.api, depth + 1, via, note});
        }
        if (tag.kind == Value::Kind::kParameter && tag.alternative) {
          // A default tag beside the parameter (`tag ? tag : 'Dflt'`) is a tag of this caller.
          Value other;
          other.kind = Value::Kind::kConstant;
          other.constant = *tag.alternative;
          other.imm_rva = tag.alternative_imm_rva;
          other.note = tag.note;
          add_site(index_of(w.via.back()), w.api, via, other, i, w.note);
        }
      }
    }
    for (const auto& w : frontier) {
      scan_.wrappers.push_back({w.function_rva, w.parameter, w.api, w.depth, w.via});
    }
    frontier = std::move(next);
  }
  scan_.decoded_bytes = code_.bytes;  // with the blocks decoded for thunks and wrappers
  std::sort(scan_.sites.begin(), scan_.sites.end(), [](const CallSite& a, const CallSite& b) {
    return std::tie(a.rva, a.via) < std::tie(b.rva, b.via);
  });
  return std::move(scan_);
}

}  // namespace

std::string_view confidence_name(Confidence confidence) {
  switch (confidence) {
    case Confidence::kHigh:
      return "high";
    case Confidence::kMedium:
      return "medium";
    case Confidence::kLow:
      break;
  }
  return "low";
}

CallSiteScan scan_call_sites(const parse::PeImage& image, parse::ByteSpan data,
                             const CallSiteOptions& options) {
  Scanner scanner(image, data, options);
  CallSiteScan scan = scanner.run();
  if (!image.problems.empty()) {
    scan.damaged = true;
    std::size_t functions = 0;
    for (const auto& module : image.imports) functions += module.functions.size();
    scan.damage =
        "the file is damaged: " + image.problems.front() +
        (image.problems.size() > 1 ? " (and " + std::to_string(image.problems.size() - 1) + " more)"
                                   : std::string()) +
        "; still done: " + std::to_string(functions) + " imported function(s) read, " +
        std::to_string(pool_imports(image).size()) + " of them pool APIs, " +
        std::to_string(scan.decoded_bytes) + " bytes of code decoded";
  }
  return scan;
}

std::vector<std::uint64_t> find_tag_bytes(parse::ByteSpan data, const PoolKey& tag) {
  std::vector<std::uint64_t> out;
  if (tag.kind != KeyKind::kPoolTag || tag.name.size() != 4 || data.size() < 4) return out;
  const auto* begin = reinterpret_cast<const unsigned char*>(data.data());
  const auto* end = begin + data.size();
  const auto first = static_cast<unsigned char>(tag.name[0]);
  for (const unsigned char* p = begin; p + 4 <= end;) {
    p = static_cast<const unsigned char*>(
        std::memchr(p, first, static_cast<std::size_t>(end - p - 3)));
    if (p == nullptr) break;
    if (std::memcmp(p, tag.name.data(), 4) == 0)
      out.push_back(static_cast<std::uint64_t>(p - begin));
    ++p;
  }
  return out;
}

std::vector<DriverTag> driver_tags(const CallSiteScan& scan) {
  std::map<PoolKey, DriverTag> by_tag;
  for (const auto& site : scan.sites) {
    if (!site.tag) continue;
    DriverTag& entry = by_tag[*site.tag];
    entry.tag = *site.tag;
    entry.call_sites.push_back(site);
  }
  std::vector<DriverTag> out;
  for (auto& [key, entry] : by_tag) out.push_back(std::move(entry));
  return out;
}

PoolKey tag_from_le32(std::uint32_t value) {
  const std::string text{static_cast<char>(value), static_cast<char>(value >> 8),
                         static_cast<char>(value >> 16), static_cast<char>(value >> 24)};
  return tag_from_text(text);
}

bool is_printable_tag(std::uint32_t value) {
  for (int k = 0; k < 4; ++k) {
    const auto c = static_cast<unsigned char>(value >> (8 * k));
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

std::optional<DriverTag> find_tag_in_driver(const parse::PeImage& image, parse::ByteSpan data,
                                            const PoolKey& tag, const CallSiteOptions& options) {
  DriverTag out;
  out.tag = tag;
  out.byte_offsets = find_tag_bytes(data, tag);
  const bool none = tag == tag_from_text("None");
  const bool decode = none ? !untagged_pool_imports(image).empty() : !out.byte_offsets.empty();
  if (decode && (!pool_imports(image).empty() || imports_wdf(image))) {
    const auto scan = scan_call_sites(image, data, options);
    for (const auto& site : scan.sites) {
      if (site.tag == tag) out.call_sites.push_back(site);
    }
    if (!scan.supported || !scan.note.empty()) out.note = scan.note;
    if (scan.damaged) out.note += (out.note.empty() ? "" : "; ") + scan.damage;
    if (none && !scan.supported) {
      // ARM64: the import of an untagged allocator is the evidence; its calls are not decoded.
      out.confidence = Confidence::kHigh;
      out.note = "imports " + untagged_pool_imports(image).front().function->name +
                 " (allocates under 'None'); " + scan.note;
      return out;
    }
  }
  if (!out.call_sites.empty()) {
    out.confidence = Confidence::kHigh;
    return out;
  }
  // A minifilter's context registration names the tag its FltAllocateContext calls get.
  for (auto& registered : flt_context_tags(image, data)) {
    if (registered.tag != tag) continue;
    registered.byte_offsets = std::move(out.byte_offsets);
    return registered;
  }
  if (out.byte_offsets.empty()) return std::nullopt;
  out.confidence = Confidence::kLow;
  out.note = "only a byte match: the 4 bytes occur in the file but no pool call passes them" +
             (out.note.empty() ? std::string() : " (" + out.note + ")");
  return out;
}

}  // namespace poolscope::attrib
