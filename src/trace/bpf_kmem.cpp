// BPF kmem records, the ring walk's decoding, and the kmem programs.
#include "trace/bpf_kmem.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "trace/btf.h"

namespace poolscope::trace {

namespace {

std::uint64_t get_u64(const std::uint8_t* at) {
  std::uint64_t value;
  std::memcpy(&value, at, 8);
  return value;
}
std::uint32_t get_u32(const std::uint8_t* at) {
  std::uint32_t value;
  std::memcpy(&value, at, 4);
  return value;
}

}  // namespace

bool decode_bpf_record(std::span<const std::uint8_t> record, KmemDecoder& names, KmemEvent& out) {
  if (record.size() < kBpfRecordBytes) return false;
  const std::uint8_t* data = record.data();
  const std::uint32_t kind = get_u32(data + 32);
  if (kind > static_cast<std::uint32_t>(KmemKind::kCacheFree)) return false;
  out.kind = static_cast<KmemKind>(kind);
  out.time = get_u64(data);
  out.ptr = get_u64(data + 8);
  out.call_site = get_u64(data + 16);
  std::uint32_t pid = get_u32(data + 24);
  std::memcpy(&out.pid, &pid, 4);
  out.bytes = out.is_alloc() ? get_u32(data + 28) : 0;
  out.cache = kNoCache;
  if (out.kind == KmemKind::kKmalloc) {
    out.cache = names.kmalloc_cache(out.bytes);
  } else if (out.kind == KmemKind::kCacheAlloc) {
    if (record.size() < kBpfCacheAllocRecordBytes) return false;
    std::string_view name(reinterpret_cast<const char*>(data + kBpfRecordBytes),
                          kBpfCacheNameBytes);
    name = name.substr(0, name.find('\0'));
    if (!name.empty()) out.cache = names.intern(name);
  }
  return true;
}

void append_bpf_ring_record(std::vector<std::uint8_t>& ring, const KmemEvent& event,
                            std::string_view cache_name) {
  const bool named = event.kind == KmemKind::kCacheAlloc;
  const std::size_t length = named ? kBpfCacheAllocRecordBytes : kBpfRecordBytes;
  std::uint8_t record[kBpfRingHeaderBytes + kBpfCacheAllocRecordBytes] = {};
  const auto header = static_cast<std::uint32_t>(length);
  std::memcpy(record, &header, 4);
  std::uint8_t* data = record + kBpfRingHeaderBytes;
  std::memcpy(data, &event.time, 8);
  std::memcpy(data + 8, &event.ptr, 8);
  std::memcpy(data + 16, &event.call_site, 8);
  std::memcpy(data + 24, &event.pid, 4);
  std::memcpy(data + 28, &event.bytes, 4);
  const auto kind = static_cast<std::uint32_t>(event.kind);
  std::memcpy(data + 32, &kind, 4);
  if (named) {
    std::memcpy(data + kBpfRecordBytes, cache_name.data(),
                std::min(cache_name.size(), kBpfCacheNameBytes - 1));
  }
  ring.insert(ring.end(), record, record + kBpfRingHeaderBytes + length);
}

Result<KmemBpfLayout> kmem_bpf_layout(const Btf& btf) {
  KmemBpfLayout layout;
  std::optional<Error> failure;
  auto arg = [&](std::string_view event, std::string_view param, std::uint32_t& out) {
    if (failure) return;
    auto index = btf.tracepoint_arg_index(event, param);
    if (!index) {
      failure = Error{ErrorCode::kEnvironment, 0, index.error().message};
    } else if (*index >= 12) {  // the raw tracepoint context holds MAX_BPF_FUNC_ARGS (12)
      failure =
          Error{ErrorCode::kEnvironment, 0,
                std::string(event) + "'s argument " + std::string(param) + " is at position " +
                    std::to_string(*index) + " (BPF programs see at most 12)"};
    } else {
      out = *index;
    }
  };
  arg("kmalloc", "call_site", layout.kmalloc_call_site);
  arg("kmalloc", "ptr", layout.kmalloc_ptr);
  arg("kmalloc", "bytes_alloc", layout.kmalloc_bytes_alloc);
  arg("kfree", "call_site", layout.kfree_call_site);
  arg("kfree", "ptr", layout.kfree_ptr);
  arg("kmem_cache_alloc", "call_site", layout.cache_alloc_call_site);
  arg("kmem_cache_alloc", "ptr", layout.cache_alloc_ptr);
  arg("kmem_cache_alloc", "s", layout.cache_alloc_cache);
  arg("kmem_cache_free", "call_site", layout.cache_free_call_site);
  arg("kmem_cache_free", "ptr", layout.cache_free_ptr);
  if (failure) return std::unexpected(*failure);
  auto member = [&](std::string_view name, std::uint32_t size, std::uint32_t& out) -> Result<void> {
    auto found = btf.struct_member("kmem_cache", name);
    if (!found) return make_error(ErrorCode::kEnvironment, found.error().message);
    if (found->size != size) {
      return make_error(ErrorCode::kEnvironment, "struct kmem_cache member '" + std::string(name) +
                                                     "' is " + std::to_string(found->size) +
                                                     " bytes, not " + std::to_string(size));
    }
    out = found->offset;
    return {};
  };
  if (auto r = member("name", 8, layout.cache_name_offset); !r) return std::unexpected(r.error());
  if (auto r = member("size", 4, layout.cache_size_offset); !r) return std::unexpected(r.error());
  return layout;
}

namespace {

// The few eBPF encodings the programs use (include/uapi/linux/bpf.h, bpf_common.h).
namespace op {
constexpr std::uint8_t kLd = 0x00, kLdx = 0x01, kSt = 0x02, kStx = 0x03, kJmp = 0x05, kAlu64 = 0x07;
constexpr std::uint8_t kW = 0x00, kDw = 0x18;
constexpr std::uint8_t kImm = 0x00, kMem = 0x60, kAtomic = 0xc0;
constexpr std::uint8_t kAdd = 0x00, kAnd = 0x50, kMov = 0xb0;
constexpr std::uint8_t kK = 0x00, kX = 0x08;
constexpr std::uint8_t kJa = 0x00, kJeq = 0x10, kJle = 0xb0, kJne = 0x50, kCall = 0x80,
                       kExit = 0x90;
constexpr std::uint8_t kPseudoMapFd = 1;
}  // namespace op

namespace helper {
constexpr std::int32_t kMapLookupElem = 1, kKtimeGetNs = 5, kGetCurrentPidTgid = 14,
                       kProbeReadKernel = 113, kProbeReadKernelStr = 115, kRingbufOutput = 130;
}  // namespace helper

constexpr std::int32_t kRbNoWakeup = 1;  // BPF_RB_NO_WAKEUP

class Assembler {
 public:
  void mov_reg(int dst, int src) { emit(op::kAlu64 | op::kMov | op::kX, dst, src, 0, 0); }
  void mov_imm(int dst, std::int32_t imm) { emit(op::kAlu64 | op::kMov | op::kK, dst, 0, 0, imm); }
  void add_imm(int dst, std::int32_t imm) { emit(op::kAlu64 | op::kAdd | op::kK, dst, 0, 0, imm); }
  void and_imm(int dst, std::int32_t imm) { emit(op::kAlu64 | op::kAnd | op::kK, dst, 0, 0, imm); }
  void load_u64(int dst, int src, std::int16_t off) {
    emit(op::kLdx | op::kMem | op::kDw, dst, src, off, 0);
  }
  void store_u64(int dst, std::int16_t off, int src) {
    emit(op::kStx | op::kMem | op::kDw, dst, src, off, 0);
  }
  void store_u32(int dst, std::int16_t off, int src) {
    emit(op::kStx | op::kMem | op::kW, dst, src, off, 0);
  }
  void store_u32_imm(int dst, std::int16_t off, std::int32_t imm) {
    emit(op::kSt | op::kMem | op::kW, dst, 0, off, imm);
  }
  void atomic_add_u64(int dst, std::int16_t off, int src) {
    emit(op::kStx | op::kAtomic | op::kDw, dst, src, off, op::kAdd);
  }
  void load_map_fd(int dst, int fd) {
    emit(op::kLd | op::kImm | op::kDw, dst, op::kPseudoMapFd, 0, fd);
    emit(0, 0, 0, 0, 0);
  }
  void call(std::int32_t helper) { emit(op::kJmp | op::kCall, 0, 0, 0, helper); }
  void exit() { emit(op::kJmp | op::kExit, 0, 0, 0, 0); }
  // Jumps to the label "out", placed later by bind_out().
  void jump_out_if_imm(std::uint8_t condition, int reg, std::int32_t imm) {
    jumps_.push_back(code_.size());
    emit(op::kJmp | condition | op::kK, reg, 0, 0, imm);
  }
  // A conditional jump to a label bound later with bind_here(); returns its index.
  std::size_t jump_if_imm(std::uint8_t condition, int reg, std::int32_t imm) {
    emit(op::kJmp | condition | op::kK, reg, 0, 0, imm);
    return code_.size() - 1;
  }
  void bind_here(const std::vector<std::size_t>& jumps) {
    for (std::size_t at : jumps) code_[at].off = static_cast<std::int16_t>(code_.size() - at - 1);
  }
  void jump_out() {
    jumps_.push_back(code_.size());
    emit(op::kJmp | op::kJa, 0, 0, 0, 0);
  }
  void bind_out() {
    for (std::size_t at : jumps_) {
      code_[at].off = static_cast<std::int16_t>(code_.size() - at - 1);
    }
    jumps_.clear();
  }
  std::vector<BpfInsn> take() { return std::move(code_); }

 private:
  void emit(std::uint8_t code, int dst, int src, std::int16_t off, std::int32_t imm) {
    code_.push_back(
        BpfInsn{code, static_cast<std::uint8_t>((dst & 0xf) | (src & 0xf) << 4), off, imm});
  }
  std::vector<BpfInsn> code_;
  std::vector<std::size_t> jumps_;
};

constexpr int kR0 = 0, kR1 = 1, kR2 = 2, kR3 = 3, kR4 = 4, kR6 = 6, kR7 = 7, kR8 = 8, kFp = 10;

}  // namespace

std::vector<BpfInsn> kmem_program(KmemKind kind, const KmemBpfLayout& layout,
                                  const KmemProgramParams& params) {
  std::uint32_t call_site = 0, ptr = 0;
  switch (kind) {
    case KmemKind::kKmalloc:
      call_site = layout.kmalloc_call_site, ptr = layout.kmalloc_ptr;
      break;
    case KmemKind::kKfree:
      call_site = layout.kfree_call_site, ptr = layout.kfree_ptr;
      break;
    case KmemKind::kCacheAlloc:
      call_site = layout.cache_alloc_call_site, ptr = layout.cache_alloc_ptr;
      break;
    case KmemKind::kCacheFree:
    case KmemKind::kOther:
      call_site = layout.cache_free_call_site, ptr = layout.cache_free_ptr;
      break;
  }
  auto arg = [](std::uint32_t index) { return static_cast<std::int16_t>(index * 8); };
  const bool cache_alloc = kind == KmemKind::kCacheAlloc;
  const std::int32_t size =
      static_cast<std::int32_t>(cache_alloc ? kBpfCacheAllocRecordBytes : kBpfRecordBytes);
  // The record is built on the stack at fp - 80 (72 bytes at most); the lost counter's key at
  // fp - 4.
  constexpr std::int16_t kRec = -80;
  Assembler a;
  a.mov_reg(kR6, kR1);             // r6 = ctx (the arguments)
  a.load_u64(kR7, kR6, arg(ptr));  // r7 = ptr
  if (params.sample_mask != 0) {
    a.mov_reg(kR1, kR7);
    a.and_imm(kR1, static_cast<std::int32_t>(params.sample_mask));
    a.jump_out_if_imm(op::kJne, kR1, 0);  // not in a sampled page: done
  }
  // NULL and ZERO_SIZE_PTR (16): a failed allocation, kmalloc(0), kfree(NULL): nothing to pair.
  a.jump_out_if_imm(op::kJle, kR7, 16);
  if (kind == KmemKind::kKmalloc && !params.kmalloc_sizes.empty()) {
    a.load_u64(kR1, kR6, arg(layout.kmalloc_bytes_alloc));
    std::vector<std::size_t> wanted;
    for (std::uint32_t size : params.kmalloc_sizes) {
      wanted.push_back(a.jump_if_imm(op::kJeq, kR1, static_cast<std::int32_t>(size)));
    }
    a.jump_out();  // none of the sizes asked for
    a.bind_here(wanted);
  }
  a.call(helper::kKtimeGetNs);
  a.store_u64(kFp, kRec + 0, kR0);
  a.store_u64(kFp, kRec + 8, kR7);
  if (kind == KmemKind::kKmalloc || cache_alloc) {
    a.load_u64(kR1, kR6, arg(call_site));
    a.store_u64(kFp, kRec + 16, kR1);
    a.call(helper::kGetCurrentPidTgid);
    a.store_u32(kFp, kRec + 24, kR0);  // the low half: the thread id
  } else {
    // A free is paired by its pointer alone: its call site and pid are not needed (a helper call
    // less for half the events written).
    a.mov_imm(kR1, 0);
    a.store_u64(kFp, kRec + 16, kR1);
    a.store_u32_imm(kFp, kRec + 24, 0);
  }
  if (kind == KmemKind::kKmalloc) {
    a.load_u64(kR1, kR6, arg(layout.kmalloc_bytes_alloc));
    a.store_u32(kFp, kRec + 28, kR1);
  } else if (cache_alloc) {
    a.load_u64(kR8, kR6, arg(layout.cache_alloc_cache));  // r8 = struct kmem_cache *
    // Reads `size` bytes at r8 + field into the record at `at` (zeroed when it cannot be read).
    auto read_field = [&](std::int16_t at, std::int32_t size, std::uint32_t field) {
      a.mov_reg(kR1, kFp);
      a.add_imm(kR1, at);
      a.mov_imm(kR2, size);
      a.mov_reg(kR3, kR8);
      a.add_imm(kR3, static_cast<std::int32_t>(field));
      a.call(helper::kProbeReadKernel);
    };
    read_field(kRec + 28, 4, layout.cache_size_offset);  // bytes = s->size
    // name: s->name, then the string it points to, NUL-padded
    read_field(kRec + 40, 8, layout.cache_name_offset);
    a.load_u64(kR3, kFp, kRec + 40);
    a.mov_reg(kR1, kFp);
    a.add_imm(kR1, kRec + 40);
    a.mov_imm(kR2, static_cast<std::int32_t>(kBpfCacheNameBytes));
    a.call(helper::kProbeReadKernelStr);
  } else {
    a.store_u32_imm(kFp, kRec + 28, 0);
  }
  a.store_u32_imm(kFp, kRec + 32, static_cast<std::int32_t>(kind));
  a.store_u32_imm(kFp, kRec + 36, 0);
  a.load_map_fd(kR1, params.ring_fd);
  a.mov_reg(kR2, kFp);
  a.add_imm(kR2, kRec);
  a.mov_imm(kR3, size);
  a.mov_imm(kR4, kRbNoWakeup);
  a.call(helper::kRingbufOutput);
  a.jump_out_if_imm(op::kJeq, kR0, 0);  // written
  // The ring was full: count it.
  a.store_u32_imm(kFp, -4, 0);
  a.load_map_fd(kR1, params.lost_fd);
  a.mov_reg(kR2, kFp);
  a.add_imm(kR2, -4);
  a.call(helper::kMapLookupElem);
  a.jump_out_if_imm(op::kJeq, kR0, 0);
  a.mov_imm(kR1, 1);
  a.atomic_add_u64(kR0, 0, kR1);
  a.bind_out();
  a.mov_imm(kR0, 0);
  a.exit();
  return a.take();
}

Result<void> check_program_shape(std::span<const BpfInsn> program) {
  if (program.empty()) return make_error(ErrorCode::kInput, "the program is empty");
  const auto count = static_cast<std::int64_t>(program.size());
  for (std::int64_t i = 0; i < count; ++i) {
    const BpfInsn& insn = program[static_cast<std::size_t>(i)];
    const std::string at = "instruction " + std::to_string(i);
    if ((insn.regs & 0xf) > 10 || (insn.regs >> 4) > 10) {
      return make_error(ErrorCode::kInput, at + " names a register above r10");
    }
    if (insn.code == (op::kLd | op::kImm | op::kDw)) {
      if (i + 1 >= count || program[static_cast<std::size_t>(i + 1)].code != 0) {
        return make_error(ErrorCode::kInput, at + ": a 64-bit load without its second half");
      }
      ++i;
      continue;
    }
    const std::uint8_t cls = insn.code & 0x07;
    const std::uint8_t jop = insn.code & 0xf0;
    if (cls == op::kJmp && jop != op::kCall && jop != op::kExit) {
      const std::int64_t target = i + 1 + insn.off;
      if (target < 0 || target >= count) {
        return make_error(ErrorCode::kInput,
                          at + " jumps to " + std::to_string(target) + ", outside the program");
      }
    }
  }
  if (program.back().code != (op::kJmp | op::kExit)) {
    return make_error(ErrorCode::kInput, "the program does not end with exit");
  }
  return {};
}

}  // namespace poolscope::trace
