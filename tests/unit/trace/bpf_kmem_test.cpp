// The BPF backend's portable part: the ring walk, the record decoding, the processor fed with
// BPF records (ordering, cache filter, saved traces) and the shape of the generated programs.
#include "trace/bpf_kmem.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "trace/btf.h"
#include "trace/processor.h"
#include "trace/saved_trace.h"
#include "unit/trace/btf_builder.h"

namespace poolscope::trace {
namespace {

KmemEvent event(KmemKind kind, std::uint64_t time, std::uint64_t ptr, std::uint64_t call_site = 0,
                std::uint32_t bytes = 0, std::int32_t pid = 0) {
  KmemEvent e;
  e.kind = kind;
  e.time = time;
  e.ptr = ptr;
  e.call_site = call_site;
  e.bytes = bytes;
  e.pid = pid;
  return e;
}

TEST(BpfRing, WalksCommittedRecordsAndSkipsDiscardedOnes) {
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 1, 0x1000, 0xa, 64));
  append_bpf_ring_record(ring, event(KmemKind::kKfree, 2, 0x1000));
  ring[kBpfRecordBytes + kBpfRingHeaderBytes + 3] |= 0x40;  // the second: discarded
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 3, 0x2000, 0xb, 192), "dentry");
  std::vector<std::size_t> lengths;
  const BpfRingWalk walk =
      walk_bpf_ring(ring, [&](auto record) { lengths.push_back(record.size()); });
  EXPECT_EQ(walk.records, 2u);
  EXPECT_EQ(walk.discarded, 1u);
  EXPECT_EQ(walk.consumed, ring.size());
  EXPECT_FALSE(walk.busy);
  EXPECT_FALSE(walk.truncated);
  EXPECT_EQ(lengths, (std::vector<std::size_t>{kBpfRecordBytes, kBpfCacheAllocRecordBytes}));
}

TEST(BpfRing, StopsAtABusyRecordAndAtAHeaderLongerThanTheBytes) {
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 1, 0x1000, 0xa, 64));
  const std::size_t first = ring.size();
  append_bpf_ring_record(ring, event(KmemKind::kKfree, 2, 0x1000));
  ring[first + 3] |= 0x80;  // still being written
  std::size_t seen = 0;
  BpfRingWalk walk = walk_bpf_ring(ring, [&](auto) { ++seen; });
  EXPECT_TRUE(walk.busy);
  EXPECT_EQ(walk.consumed, first);
  EXPECT_EQ(seen, 1u);

  ring[first + 3] &= 0x7f;
  walk = walk_bpf_ring(std::span(ring).first(ring.size() - 1), [&](auto) { ++seen; });
  EXPECT_TRUE(walk.truncated);
  EXPECT_EQ(walk.consumed, first);

  const std::uint32_t huge = 0x3fffffff;  // a length no ring holds
  std::memcpy(ring.data(), &huge, 4);
  walk = walk_bpf_ring(ring, [&](auto) { ++seen; });
  EXPECT_TRUE(walk.truncated);
  EXPECT_EQ(walk.consumed, 0u);
}

TEST(BpfRecord, DecodesEveryKindAndNamesTheCaches) {
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 10, 0x1000, 0xa, 64, 7));
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 11, 0x2000, 0xb, 192, 8), "dentry");
  append_bpf_ring_record(ring, event(KmemKind::kKfree, 12, 0x1000, 0xc, 99, 9));
  append_bpf_ring_record(ring, event(KmemKind::kCacheFree, 13, 0x2000, 0xd));
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 14, 0x3000, 0xa, 16384));
  KmemDecoder names;
  std::vector<KmemEvent> out;
  walk_bpf_ring(ring, [&](auto record) {
    KmemEvent e;
    ASSERT_TRUE(decode_bpf_record(record, names, e));
    out.push_back(e);
  });
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].kind, KmemKind::kKmalloc);
  EXPECT_EQ(out[0].time, 10u);
  EXPECT_EQ(out[0].ptr, 0x1000u);
  EXPECT_EQ(out[0].call_site, 0xau);
  EXPECT_EQ(out[0].bytes, 64u);
  EXPECT_EQ(out[0].pid, 7);
  EXPECT_EQ(names.cache_name(out[0].cache), "kmalloc-64");
  EXPECT_EQ(out[1].kind, KmemKind::kCacheAlloc);
  EXPECT_EQ(out[1].bytes, 192u);
  EXPECT_EQ(names.cache_name(out[1].cache), "dentry");
  EXPECT_EQ(out[2].kind, KmemKind::kKfree);
  EXPECT_EQ(out[2].bytes, 0u) << "a free has no size";
  EXPECT_EQ(out[2].cache, kNoCache);
  EXPECT_EQ(out[3].kind, KmemKind::kCacheFree);
  EXPECT_EQ(names.cache_name(out[4].cache), "kmalloc-large");
}

TEST(BpfRecord, RejectsShortRecordsAndUnknownKinds) {
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 1, 0x1000, 0xa, 64), "x");
  KmemDecoder names;
  KmemEvent e;
  const auto record = std::span(ring).subspan(kBpfRingHeaderBytes);
  EXPECT_TRUE(decode_bpf_record(record, names, e));
  EXPECT_FALSE(decode_bpf_record(record.first(kBpfRecordBytes), names, e))
      << "a kmem_cache_alloc record without its name";
  EXPECT_FALSE(decode_bpf_record(record.first(kBpfRecordBytes - 1), names, e));
  std::vector<std::uint8_t> odd(record.begin(), record.end());
  odd[32] = 4;  // KmemKind::kOther is not written by any program
  EXPECT_FALSE(decode_bpf_record(odd, names, e));
}

TEST(BpfProcessor, PairsRecordsOutOfOrderByAFewNanosecondsAcrossReads) {
  TraceProcessor processor(PageLayout{}, KmemDecoder{});
  std::vector<std::uint8_t> first, second;
  // Two CPUs' programs took the time just before reserving: 105 was reserved before 100.
  append_bpf_ring_record(first, event(KmemKind::kKmalloc, 105, 0x1000, 0xa, 64, 1));
  append_bpf_ring_record(first, event(KmemKind::kKmalloc, 100, 0x2000, 0xb, 32, 1));
  append_bpf_ring_record(second, event(KmemKind::kKfree, 200, 0x1000));
  append_bpf_ring_record(second, event(KmemKind::kKfree, 210, 0x9000));  // allocated before
  EXPECT_EQ(processor.add_bpf_records(first), first.size());
  processor.flush(150);
  EXPECT_EQ(processor.add_bpf_records(second), second.size());
  processor.flush();
  const auto report = processor.tracker().report(1000, 0);
  EXPECT_EQ(report.totals.allocations, 2u);
  EXPECT_EQ(report.totals.paired_frees, 1u);
  EXPECT_EQ(report.totals.unpaired_frees, 1u);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_EQ(report.call_sites[0].call_site, 0xbu);
  EXPECT_EQ(report.call_sites[0].bytes, 32u);
  EXPECT_EQ(processor.stats().records, 4u);
}

TEST(BpfProcessor, KeepsOnlyTheCachesAskedForButEveryFree) {
  TraceProcessor processor(PageLayout{}, KmemDecoder{});
  processor.only_caches({"kmalloc-64", "dentry"});
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 1, 0x1000, 0xa, 64));
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 2, 0x2000, 0xb, 128));
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 3, 0x3000, 0xc, 192), "dentry");
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 4, 0x4000, 0xd, 256), "filp");
  append_bpf_ring_record(ring, event(KmemKind::kKfree, 5, 0x2000));
  processor.add_bpf_records(ring);
  processor.flush();
  const auto report = processor.tracker().report(10, 0);
  EXPECT_EQ(report.totals.allocations, 2u);
  EXPECT_EQ(processor.stats().filtered, 2u);
  EXPECT_EQ(report.totals.unpaired_frees, 1u) << "the free of a filtered object is unpaired";
  std::vector<std::uint64_t> sites;
  for (const auto& site : report.call_sites) sites.push_back(site.call_site);
  std::sort(sites.begin(), sites.end());
  EXPECT_EQ(sites, (std::vector<std::uint64_t>{0xa, 0xc}));
}

TEST(BpfProcessor, ABusyRecordIsLeftForTheNextRead) {
  TraceProcessor processor(PageLayout{}, KmemDecoder{});
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 1, 0x1000, 0xa, 64));
  const std::size_t first = ring.size();
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 2, 0x2000, 0xa, 64));
  ring[first + 3] |= 0x80;
  EXPECT_EQ(processor.add_bpf_records(ring), first);
  ring[first + 3] &= 0x7f;
  EXPECT_EQ(processor.add_bpf_records(std::span(ring).subspan(first)), ring.size() - first);
  processor.flush();
  EXPECT_EQ(processor.tracker().report(10, 0).totals.allocations, 2u);
}

TEST(BpfSavedTrace, ReplaysAsTheLiveRunProcessedIt) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("poolscope-bpf-saved-" + std::to_string(::getpid()) + ".pst");
  std::vector<std::uint8_t> ring;
  append_bpf_ring_record(ring, event(KmemKind::kKmalloc, 100, 0x1000, 0xa, 64, 5));
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 200, 0x2000, 0xb, 192, 6), "dentry");
  append_bpf_ring_record(ring, event(KmemKind::kCacheAlloc, 300, 0x3000, 0xc, 256, 6), "filp");
  append_bpf_ring_record(ring, event(KmemKind::kKfree, 400, 0x1000));
  {
    auto writer = SavedTraceWriter::create(path);
    ASSERT_TRUE(writer);
    ASSERT_TRUE(writer->text(
        SavedRecord::kMeta, 0,
        key_values_text(
            {{"backend", "bpf"}, {"caches", "kmalloc-64,dentry"}, {"sample_shift", "0"}})));
    ASSERT_TRUE(writer->bpf_records(std::span(ring).first(ring.size() / 2)));
    ASSERT_TRUE(writer->flush(250));
    ASSERT_TRUE(writer->bpf_records(std::span(ring).subspan(ring.size() / 2)));
    ASSERT_TRUE(writer->flush(UINT64_MAX));
    ASSERT_TRUE(writer->text(SavedRecord::kEnd, 0, "end_time 500\n"));
    ASSERT_TRUE(writer->close());
  }
  auto replay = [&] {
    std::ifstream in(path, std::ios::binary);
    return replay_saved_trace(in);
  }();  // closed before the removal (Windows refuses to remove an open file)
  std::error_code ec;
  std::filesystem::remove(path, ec);
  ASSERT_TRUE(replay) << replay.error().message;
  ASSERT_TRUE(replay->processor);
  EXPECT_TRUE(replay->texts.complete);
  const auto report = replay->processor->tracker().report(500, 0);
  EXPECT_EQ(report.totals.allocations, 2u) << "filp is not one of the caches asked for";
  EXPECT_EQ(report.totals.paired_frees, 1u);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_EQ(report.call_sites[0].call_site, 0xbu);
  EXPECT_EQ(replay->processor->decoder().cache_name(report.call_sites[0].caches[0].first),
            "dentry");
}

TEST(BpfLayout, ReadsTheArgumentsAndKmemCacheFieldsFromBtf) {
  const auto bytes = testing::kmem_btf();
  auto btf = Btf::parse(bytes);
  ASSERT_TRUE(btf) << btf.error().message;
  auto layout = kmem_bpf_layout(*btf);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_EQ(layout->kmalloc_call_site, 0u);
  EXPECT_EQ(layout->kmalloc_ptr, 1u);
  EXPECT_EQ(layout->kmalloc_bytes_alloc, 3u);
  EXPECT_EQ(layout->kfree_ptr, 1u);
  EXPECT_EQ(layout->cache_alloc_cache, 2u);
  EXPECT_EQ(layout->cache_free_ptr, 1u);
  EXPECT_EQ(layout->cache_size_offset, 24u);  // bit 192
  EXPECT_EQ(layout->cache_name_offset, 96u);  // bit 768
}

TEST(BpfLayout, AKernelWithoutTheKmemTracepointsIsAnEnvironmentError) {
  testing::BtfBuilder b;
  b.int_type("long unsigned int", 8);
  const auto bytes = b.build();
  auto btf = Btf::parse(bytes);
  ASSERT_TRUE(btf) << btf.error().message;
  auto layout = kmem_bpf_layout(*btf);
  ASSERT_FALSE(layout);
  EXPECT_EQ(layout.error().code, ErrorCode::kEnvironment);
  EXPECT_NE(layout.error().message.find("kmalloc"), std::string::npos) << layout.error().message;
}

// This kernel's own layout, when it has BTF: the programs the live trace loads are built from it.
TEST(BpfLayout, ThisKernelsBtfGivesALayoutTheProgramsAreBuiltFrom) {
  std::ifstream in("/sys/kernel/btf/vmlinux", std::ios::binary);
  if (!in) GTEST_SKIP() << "no readable /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF)";
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  auto btf = Btf::parse(bytes);
  ASSERT_TRUE(btf) << btf.error().message;
  auto layout = kmem_bpf_layout(*btf);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_EQ(layout->kmalloc_ptr, 1u);
  EXPECT_EQ(layout->kmalloc_bytes_alloc, 3u);
  EXPECT_EQ(layout->cache_alloc_cache, 2u);
  EXPECT_NE(layout->cache_name_offset, layout->cache_size_offset);
  for (auto kind :
       {KmemKind::kKmalloc, KmemKind::kKfree, KmemKind::kCacheAlloc, KmemKind::kCacheFree}) {
    EXPECT_TRUE(check_program_shape(kmem_program(kind, *layout, KmemProgramParams{3, 4, 0x7000})));
  }
}

KmemBpfLayout real_layout() {  // Linux 6.18's, as kmem_bpf_layout reads it from BTF
  KmemBpfLayout layout;
  layout.kmalloc_call_site = 0, layout.kmalloc_ptr = 1, layout.kmalloc_bytes_alloc = 3;
  layout.kfree_call_site = 0, layout.kfree_ptr = 1;
  layout.cache_alloc_call_site = 0, layout.cache_alloc_ptr = 1, layout.cache_alloc_cache = 2;
  layout.cache_free_call_site = 0, layout.cache_free_ptr = 1;
  layout.cache_name_offset = 104, layout.cache_size_offset = 32;
  return layout;
}

TEST(BpfProgram, EveryProgramIsWellFormedWithAndWithoutSampling) {
  for (auto kind :
       {KmemKind::kKmalloc, KmemKind::kKfree, KmemKind::kCacheAlloc, KmemKind::kCacheFree}) {
    for (std::uint64_t mask : {std::uint64_t{0}, std::uint64_t{7} << 12}) {
      KmemProgramParams params{3, 4, mask};
      const auto program = kmem_program(kind, real_layout(), params);
      EXPECT_TRUE(check_program_shape(program)) << kmem_kind_name(kind) << " mask " << mask << ": "
                                                << check_program_shape(program).error().message;
      // The sampled program tests the pointer against the mask before anything else.
      const bool has_mask = std::any_of(program.begin(), program.end(), [&](const BpfInsn& i) {
        return i.code == 0x57 && static_cast<std::uint64_t>(i.imm) == mask;
      });
      EXPECT_EQ(has_mask, mask != 0) << kmem_kind_name(kind);
      // Pointers up to ZERO_SIZE_PTR (16) are never written: if r7 <= 16 return.
      EXPECT_TRUE(std::any_of(program.begin(), program.end(), [](const BpfInsn& i) {
        return i.code == 0xb5 && i.regs == 0x07 && i.imm == 16;
      })) << kmem_kind_name(kind);
      // The ring's and the counter's map fds are loaded (BPF_PSEUDO_MAP_FD).
      std::vector<std::int32_t> maps;
      for (const auto& insn : program) {
        if (insn.code == 0x18 && (insn.regs >> 4) == 1) maps.push_back(insn.imm);
      }
      EXPECT_EQ(maps, (std::vector<std::int32_t>{3, 4}));
    }
  }
}

TEST(BpfProgram, ReadsTheArgumentsAndFieldsTheLayoutGives) {
  KmemBpfLayout layout = real_layout();
  layout.cache_alloc_ptr = 4, layout.cache_alloc_cache = 5, layout.cache_size_offset = 28;
  const auto program = kmem_program(KmemKind::kCacheAlloc, layout, KmemProgramParams{3, 4, 0});
  // r7 = ctx[4] (the pointer), r8 = ctx[5] (the cache), r3 += 28 (s->size).
  auto has = [&](std::uint8_t code, std::uint8_t regs, std::int16_t off, std::int32_t imm) {
    return std::any_of(program.begin(), program.end(), [&](const BpfInsn& i) {
      return i.code == code && i.regs == regs && i.off == off && i.imm == imm;
    });
  };
  EXPECT_TRUE(has(0x79, 0x67, 32, 0));
  EXPECT_TRUE(has(0x79, 0x68, 40, 0));
  EXPECT_TRUE(has(0x07, 0x03, 0, 28));
  EXPECT_TRUE(has(0x07, 0x03, 0, 104));
}

TEST(BpfProgram, KmallocOfTheSizesAskedForOnly) {
  KmemProgramParams params{3, 4, 0};
  params.kmalloc_sizes = {64, 2048};
  const auto program = kmem_program(KmemKind::kKmalloc, real_layout(), params);
  ASSERT_TRUE(check_program_shape(program)) << check_program_shape(program).error().message;
  // r1 = ctx[3] (bytes_alloc); if r1 == 64 or r1 == 2048 go on, else return; both jumps land
  // on the instruction after the unconditional jump out.
  std::vector<std::size_t> compares;
  std::size_t jump_out = 0;
  for (std::size_t i = 0; i < program.size(); ++i) {
    if (program[i].code == 0x15 && program[i].regs == 0x01) compares.push_back(i);
    if (program[i].code == 0x05) jump_out = i;
  }
  ASSERT_EQ(compares.size(), 2u);
  EXPECT_EQ(program[compares[0]].imm, 64);
  EXPECT_EQ(program[compares[1]].imm, 2048);
  ASSERT_NE(jump_out, 0u);
  for (std::size_t at : compares) {
    EXPECT_EQ(at + 1 + static_cast<std::size_t>(program[at].off), jump_out + 1);
  }
  EXPECT_EQ(program[jump_out + 1 + static_cast<std::size_t>(program[jump_out].off)].code, 0xb7)
      << "the jump out lands on r0 = 0";
  // The other programs ignore the sizes.
  EXPECT_EQ(kmem_program(KmemKind::kKfree, real_layout(), params).size(),
            kmem_program(KmemKind::kKfree, real_layout(), KmemProgramParams{3, 4, 0}).size());
}

TEST(BpfProgram, ShapeCheckFindsWhatTheVerifierWouldReject) {
  auto program = kmem_program(KmemKind::kKfree, real_layout(), KmemProgramParams{3, 4, 0x7000});
  ASSERT_TRUE(check_program_shape(program));
  auto jump_out = program;
  for (auto& insn : jump_out) {
    if ((insn.code & 0x07) == 0x05 && (insn.code & 0xf0) == 0x50) insn.off = 500;
  }
  EXPECT_FALSE(check_program_shape(jump_out));
  auto no_exit = program;
  no_exit.pop_back();
  EXPECT_FALSE(check_program_shape(no_exit));
  auto bad_register = program;
  bad_register[0].regs = 0x0b;
  EXPECT_FALSE(check_program_shape(bad_register));
  auto split_load = program;
  for (std::size_t i = 0; i + 1 < split_load.size(); ++i) {
    if (split_load[i].code == 0x18) split_load[i + 1].code = 0x07;
  }
  EXPECT_FALSE(check_program_shape(split_load));
  EXPECT_FALSE(check_program_shape({}));
}

}  // namespace
}  // namespace poolscope::trace
