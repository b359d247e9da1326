// The ETL reader: LZXPRESS decompression (the MS-XCA examples, round trips), the seven real .etl
// files of ../shared/data/real/etl walked with exactly the counts their SOURCE.md gives, and
// byte-exact pool traces built from the documented layouts (both pointer sizes, compressed and
// not, stacks inline and by key, image rundown) read into the `trace` table.
#include "trace/etl.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "test_support.h"
#include "trace/etl_trace.h"
#include "trace/etw_report.h"
#include "unit/trace/etl_builder.h"

namespace poolscope::trace::etl {
namespace {

using testing::etl::build_pool_trace;
using testing::etl::Bytes;
using testing::etl::EtlBuilder;
using testing::etl::xpress_compress;

std::vector<std::uint8_t> decompress(const std::vector<std::uint8_t>& in, std::size_t size) {
  std::vector<std::uint8_t> out(size);
  auto n = xpress_decompress(in, out);
  EXPECT_TRUE(n) << (n ? "" : n.error().message);
  out.resize(n ? *n : 0);
  return out;
}

TEST(Xpress, DecompressesTheMsXcaExamples) {
  // MS-XCA 3.1: 26 literals, then a match flag with no input left (the end).
  std::vector<std::uint8_t> alphabet{0x3f, 0, 0, 0};
  for (char c = 'a'; c <= 'z'; ++c) alphabet.push_back(static_cast<std::uint8_t>(c));
  auto out = decompress(alphabet, 64);
  EXPECT_EQ(std::string(out.begin(), out.end()), "abcdefghijklmnopqrstuvwxyz");
  // "abc" 100 times: three literals and one match of 297 bytes at distance 3 (a half byte of 15,
  // a byte of 255 and a u16 length).
  const std::vector<std::uint8_t> abc{0xff, 0xff, 0xff, 0x1f, 0x61, 0x62, 0x63,
                                      0x17, 0x00, 0x0f, 0xff, 0x26, 0x01};
  out = decompress(abc, 300);
  std::string expected;
  for (int i = 0; i < 100; ++i) expected += "abc";
  EXPECT_EQ(std::string(out.begin(), out.end()), expected);
}

TEST(Xpress, RoundTripsTheTestEncoder) {
  std::mt19937 random(7);
  for (std::size_t size : {0u, 1u, 31u, 32u, 33u, 1000u, 70000u, 300000u}) {
    std::vector<std::uint8_t> data(size);
    for (std::size_t i = 0; i < size; ++i) {
      // Runs, repeats and noise: every length encoding.
      data[i] = (i / 4096) % 3 == 0 ? static_cast<std::uint8_t>(random() % 4)
                                    : static_cast<std::uint8_t>(i % 251 == 0 ? random() : 7);
    }
    const auto packed = xpress_compress(data.data(), data.size());
    EXPECT_EQ(decompress(packed, size), data) << size;
  }
}

TEST(Xpress, HostileInputIsAnErrorNotARead) {
  // A match before the output's start.
  std::vector<std::uint8_t> back{0x00, 0x00, 0x00, 0x80, 0x08, 0x00};
  std::vector<std::uint8_t> out(16);
  EXPECT_FALSE(xpress_decompress(back, out));
  // Output longer than the buffer.
  std::vector<std::uint8_t> abc{0xff, 0xff, 0xff, 0x1f, 0x61, 0x62, 0x63,
                                0x17, 0x00, 0x0f, 0xff, 0x26, 0x01};
  std::vector<std::uint8_t> small(100);
  EXPECT_FALSE(xpress_decompress(abc, small));
  // A length u16 below its minimum.
  std::vector<std::uint8_t> low{0x00, 0x00, 0x00, 0x10, 0x61, 0x07, 0x00, 0x0f, 0xff, 0x01, 0x00};
  EXPECT_FALSE(xpress_decompress(low, out));
  // Cut anywhere: what it holds, never more than the buffer.
  for (std::size_t cut = 0; cut < abc.size(); ++cut) {
    std::vector<std::uint8_t> part(abc.begin(), abc.begin() + static_cast<std::ptrdiff_t>(cut));
    std::vector<std::uint8_t> whole(300);
    auto n = xpress_decompress(part, whole);
    if (n) {
      EXPECT_LE(*n, 300u);
    }
  }
}

struct RealFile {
  const char* name;
  std::uint64_t buffers, compressed, events, stack_group, image_group;
  std::uint64_t build;
};

// ../shared/data/real/etl/SOURCE.md, counted by an independent decoder.
constexpr RealFile kRealFiles[] = {
    {"perfview_net.4.5.2.x64.etl", 360, 359, 179474, 12280, 3563, 9200},
    {"perfview_net.4.5.2.x86.etl", 276, 275, 168298, 16474, 3679, 9200},
    {"perfview_gcevents.etl", 5, 0, 71, 0, 0, 19045},
    {"perfview_SelfDescribingSingleEvent.etl", 3, 2, 23, 0, 0, 22000},
    {"ShutdownPerfDiagLogger.etl", 49, 0, 17078, 0, 13683, 18362},
    {"AMSITrace.etl", 6, 0, 21, 0, 0, 18362},
    {"lxcore_kernel.etl", 3, 0, 4, 0, 0, 19041},
};

TEST(EtlReal, EveryFileWalksWithTheIndependentCounts) {
  POOLSCOPE_REQUIRE_SHARED("etl/SOURCE.md");
  for (const RealFile& real : kRealFiles) {
    SCOPED_TRACE(real.name);
    std::ifstream in(testing::shared_data(std::string("etl/") + real.name), std::ios::binary);
    ASSERT_TRUE(in);
    EtlReader reader(stream_source(in));
    auto opened = reader.open();
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(reader.header().pointer_size, 8u);  // even the x86 one: a 64-bit kernel
    EXPECT_EQ(reader.header().build, real.build);
    EXPECT_EQ(reader.header().buffers_written, real.buffers);
    EXPECT_EQ(reader.header().clock_type, 1u);
    std::uint64_t records = 0;
    reader.walk([&](const EtlRecord&) { ++records; });
    const EtlStats& s = reader.stats();
    EXPECT_EQ(s.buffers, real.buffers);
    EXPECT_EQ(s.compressed_buffers, real.compressed);
    EXPECT_EQ(s.events, real.events);
    EXPECT_EQ(records, real.events);
    EXPECT_EQ(s.by_group[0x18], real.stack_group);
    EXPECT_EQ(s.by_group[0x14], real.image_group);
    EXPECT_EQ(s.by_group[0x0E], 0u);                     // no public trace holds pool events
    EXPECT_EQ(s.bad_buffers, 0u) << s.first_bad_buffer;  // every buffer decompressed and walked
    EXPECT_FALSE(s.truncated);
  }
}

TEST(EtlReal, StacksAreMatchedAndImagesNamedInThePerfViewTrace) {
  POOLSCOPE_REQUIRE_SHARED("etl/perfview_net.4.5.2.x64.etl");
  std::ifstream in(testing::shared_data("etl/perfview_net.4.5.2.x64.etl"), std::ios::binary);
  auto trace = read_pool_trace(stream_source(in), {});
  ASSERT_TRUE(trace) << trace.error().message;
  const auto& stats = trace->processor->stats();
  // Group 0x18: 252 stack walks, 2,061 kernel and 7,046 user stack keys, 1,909 key deletes and
  // 1,012 key rundowns (counted by hook in this file).
  EXPECT_EQ(stats.stacks, 252u);
  EXPECT_EQ(stats.stack_keys, 2061u);
  EXPECT_EQ(stats.stack_key_frames, 1909u + 1012u);
  EXPECT_EQ(stats.malformed, 0u) << stats.first_malformed;
  // Image DCStart/DCEnd/unload of kernel images: every driver of the rundown is named.
  EXPECT_GT(trace->processor->images().size(), 100u);
  EXPECT_EQ(trace->processor->name(0).symbol, "(no stack)");
  const auto facts = run_facts(*trace, "x64.etl");
  ASSERT_FALSE(facts.notes.empty());
  EXPECT_NE(facts.notes.back().find("no pool events"), std::string::npos);
}

nlohmann::json report_json(const EtlPoolTrace& trace) {
  auto facts = run_facts(trace, "pool.etl");
  facts.format = "json";
  facts.top = 0;
  return nlohmann::json::parse(etw::render_report(*trace.processor, trace.end_ticks, facts));
}

void expect_pool_table(const EtlPoolTrace& trace) {
  const auto j = report_json(trace);
  EXPECT_EQ(j["allocations"], 5);
  EXPECT_EQ(j["frees"], 2);
  EXPECT_EQ(j["unpaired_frees"], 1);
  EXPECT_EQ(j["stacks"]["matched"], 5);
  ASSERT_EQ(j["call_sites"].size(), 2u) << j.dump(2);
  const auto& big = j["call_sites"][0];
  EXPECT_EQ(big["symbol"], "big.sys+0x10");
  EXPECT_EQ(big["module"], "big.sys");
  EXPECT_EQ(big["outstanding"], 1);
  EXPECT_EQ(big["bytes"], 0x20000);
  EXPECT_EQ(big["caches"][0]["cache"], "Big ");
  EXPECT_EQ(big["pids"][0]["pid"], 444);  // from its stack key: the header had no process
  const auto& leak = j["call_sites"][1];
  EXPECT_EQ(leak["symbol"], "leaky.sys+0x2a0");
  EXPECT_EQ(leak["outstanding"], 3);  // inline stack and two references to key K1, merged
  EXPECT_EQ(leak["bytes"], 500);
  EXPECT_EQ(leak["caches"][0]["cache"], "Leak");
  EXPECT_EQ(trace.processor->stats().big_pool, 1u);
  EXPECT_EQ(trace.processor->stats().malformed, 0u) << trace.processor->stats().first_malformed;
}

TEST(EtlPool, ByteExactTracesGiveTheOutstandingTable) {
  for (unsigned p : {8u, 4u}) {
    for (bool compress : {false, true}) {
      SCOPED_TRACE(std::to_string(p * 8) + (compress ? "-bit compressed" : "-bit"));
      const auto built = build_pool_trace(p, compress);
      auto trace = read_pool_trace(span_source(built.file), {});
      ASSERT_TRUE(trace) << trace.error().message;
      EXPECT_EQ(trace->header.pointer_size, p);
      EXPECT_EQ(trace->stats.buffers, built.buffers);
      EXPECT_GT(built.buffers, 5u);
      EXPECT_EQ(trace->stats.compressed_buffers, built.compressed);
      EXPECT_EQ(trace->stats.events, built.events);
      EXPECT_EQ(trace->stats.bad_buffers, 0u) << trace->stats.first_bad_buffer;
      expect_pool_table(*trace);
    }
  }
}

TEST(EtlPool, TheFuzzCorpusHoldsTheseTraces) {
  // fuzz/corpus/etl/pool_*.etl are these builds, byte for byte (regenerate them when the builder
  // changes: they are the seeds of the ETL fuzzer).
  const auto corpus = testing::test_data("../../fuzz/corpus/etl");
  for (unsigned p : {8u, 4u}) {
    for (bool compress : {false, true}) {
      const std::string name = "pool_" + std::to_string(p * 8) + (compress ? "_compressed" : "");
      const std::string bytes = testing::read_file(corpus / (name + ".etl"));
      const auto built = build_pool_trace(p, compress).file;
      EXPECT_EQ(bytes, std::string(built.begin(), built.end())) << name;
    }
  }
}

TEST(EtlPool, AFileCutOffMidBufferIsReadAsFarAsItGoes) {
  const auto built = build_pool_trace(8, true);
  for (std::size_t cut :
       {built.file.size() - 1, built.file.size() - 100, built.file.size() / 2, std::size_t{700}}) {
    std::vector<std::uint8_t> part(built.file.begin(),
                                   built.file.begin() + static_cast<std::ptrdiff_t>(cut));
    auto trace = read_pool_trace(span_source(part), {});
    ASSERT_TRUE(trace) << cut;
    EXPECT_TRUE(trace->stats.truncated) << cut;
    EXPECT_LT(trace->stats.events, built.events);
    const auto facts = run_facts(*trace, "cut.etl");
    bool said = false;
    for (const auto& note : facts.notes) said |= note.find("cut off") != std::string::npos;
    EXPECT_TRUE(said);
  }
}

TEST(EtlPool, LostEventsAreReported) {
  EtlBuilder b;
  b.events_lost = 7;
  b.buffers_lost = 2;
  b.trace_header(1);
  b.system(0x0E, 32, 1, 1, 2, b.pool(0, "Leak", 8, 0xFFFFA00000001000ull));
  const auto file = b.file();
  auto trace = read_pool_trace(span_source(file), {});
  ASSERT_TRUE(trace);
  const auto j = report_json(*trace);
  EXPECT_EQ(j["lost"]["events_lost"], 7);
  EXPECT_EQ(j["lost"]["buffers_lost"], 2);
  EXPECT_EQ(j["lost_events"], 9);
}

TEST(EtlPool, NotAnEtlFileIsAClearError) {
  const std::string text = "Tag  Type     Allocs            Frees            Diff   Bytes\n";
  std::vector<std::uint8_t> bytes(text.begin(), text.end());
  bytes.resize(4096, ' ');
  EXPECT_FALSE(looks_like_etl(bytes));
  auto trace = read_pool_trace(span_source(bytes), {});
  ASSERT_FALSE(trace);
  EXPECT_EQ(trace.error().code, ErrorCode::kInput);
  EXPECT_NE(trace.error().message.find("not an ETL file"), std::string::npos);
  EXPECT_FALSE(read_pool_trace(span_source({}), {}));
}

TEST(EtlPool, DamagedBuffersAreSkippedAndCounted) {
  auto built = build_pool_trace(8, true);
  // Corrupt the compressed data of the second buffer: a back reference before the start.
  const std::uint32_t first = built.file[0] | built.file[1] << 8;
  auto* body = built.file.data() + first + 72;
  body[0] = body[1] = body[2] = 0xFF;
  body[3] = 0xFF;  // every item a match, the first one before the output's start
  auto trace = read_pool_trace(span_source(built.file), {});
  ASSERT_TRUE(trace);
  EXPECT_EQ(trace->stats.bad_buffers, 1u);
  EXPECT_NE(trace->stats.first_bad_buffer.find("buffer 1"), std::string::npos)
      << trace->stats.first_bad_buffer;
  EXPECT_EQ(trace->stats.buffers, built.buffers);  // the walk went on
}

TEST(EtlPool, SamplesThePerTagOutstandingOverTime) {
  EtlBuilder b;
  b.buffer_size = 1024;
  b.trace_header(0);
  // One "Leak" allocation per 0.1 s for 5 s, one "Tmp " allocated and freed each time.
  for (int i = 0; i < 50; ++i) {
    const std::uint64_t t = 1'000'000ull * static_cast<std::uint64_t>(i + 1);
    b.system(0x0E, 32, 1, 1, t, b.pool(1, "Leak", 10, 0xFFFFA00000000000ull + 0x100ull * i));
    b.system(0x0E, 32, 1, 1, t + 1, b.pool(0, "Tmp ", 10, 0xFFFFA00010000000ull));
    b.system(0x0E, 34, 1, 1, t + 2, b.pool(0, "Tmp ", 10, 0xFFFFA00010000000ull));
  }
  const auto file = b.file();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> leak;  // ticks, outstanding
  auto trace = read_pool_trace(span_source(file), {}, 1'000'000'000,
                               [&](std::uint64_t ticks, const etw::EtwPoolProcessor& p) {
                                 const auto report = p.tracker().report(p.to_ns(ticks), 0);
                                 std::uint64_t n = 0;
                                 for (const auto& [id, counts] : report.caches) {
                                   if (p.tag_name(id) == "Leak") n = counts.outstanding;
                                 }
                                 leak.emplace_back(ticks, n);
                               });
  ASSERT_TRUE(trace);
  ASSERT_GE(leak.size(), 4u);
  // Samples at 1.1, 2.1 s ... of trace time (the allocation at exactly 1.1 s is after it).
  EXPECT_EQ(leak[0].second, 10u);
  EXPECT_EQ(leak[1].second, 20u);
  EXPECT_EQ(leak.back().second, 50u);
  EXPECT_EQ(leak.back().first, trace->end_ticks);
}

}  // namespace
}  // namespace poolscope::trace::etl
