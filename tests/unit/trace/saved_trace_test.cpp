// Saved raw traces: a file written as `trace --save` writes it replays to the same pairing result
// as the live processing; damaged and cut-short files are reported, not crashes.
#include "trace/saved_trace.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "trace/kmem_report.h"
#include "unit/trace/trace_fixtures.h"

namespace poolscope::trace {
namespace {

namespace fs = std::filesystem;

struct TempFile {
  fs::path path =
      fs::temp_directory_path() / ("poolscope-saved-trace-" + std::to_string(::getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

// Two CPUs: an allocation on CPU 0 freed on CPU 1 (read first), a second allocation outstanding.
struct TwoCpuTrace {
  PageLayout layout = testing::real_page_layout();
  KmemFormats formats = testing::real_kmem_formats();
  std::vector<std::uint8_t> cpu0, cpu1;
  TwoCpuTrace() {
    testing::PageBuilder page1(layout, 2000);
    page1.add(0, testing::RecordBuilder(formats.kfree).set("ptr", 0x5000).bytes());
    testing::PageBuilder page0(layout, 1000);
    page0.add(0, testing::RecordBuilder(formats.kmalloc)
                     .set("ptr", 0x5000)
                     .set("call_site", 0xa)
                     .set("bytes_alloc", 32)
                     .bytes());
    page0.add(5000, testing::RecordBuilder(formats.cache_alloc)
                        .set("ptr", 0x6000)
                        .set("call_site", 0xffffffff81000110ull)
                        .set("common_pid", 42)
                        .set("bytes_alloc", 192)
                        .set_string("name", "dentry")
                        .bytes());
    cpu1 = page1.finish();
    cpu0 = page0.finish();
  }
  KeyValues meta = {{"cpus", "2"}, {"host", "h"}};
  void write(SavedTraceWriter& writer, bool with_end) const {
    ASSERT_TRUE(writer.text(SavedRecord::kMeta, 0, key_values_text(meta)));
    ASSERT_TRUE(writer.text(SavedRecord::kHeaderPage, 0, testing::trace_data("header_page")));
    ASSERT_TRUE(writer.text(SavedRecord::kHeaderEvent, 0, testing::trace_data("header_event")));
    const char* names[4] = {"kmalloc", "kfree", "kmem_cache_alloc", "kmem_cache_free"};
    for (std::uint32_t i = 0; i < 4; ++i) {
      ASSERT_TRUE(writer.text(SavedRecord::kEventFormat, i,
                              testing::trace_data(std::string(names[i]) + ".format")));
    }
    ASSERT_TRUE(writer.pages(1, cpu1));
    ASSERT_TRUE(writer.pages(0, cpu0));
    ASSERT_TRUE(writer.flush(3000));
    if (!with_end) return;
    ASSERT_TRUE(writer.flush(UINT64_MAX));
    ASSERT_TRUE(writer.text(SavedRecord::kKallsyms, 0, "ffffffff81000100 T d_alloc\n"));
    ASSERT_TRUE(writer.text(SavedRecord::kComms, 0, "42 leaker\n"));
    ASSERT_TRUE(writer.text(SavedRecord::kEnd, 0,
                            key_values_text({{"end_time", "9000"}, {"duration_ns", "8000"}})));
  }
  // The whole trace to `path`, as `trace --save` writes it.
  void save(const fs::path& path, bool with_end) const {
    auto writer = SavedTraceWriter::create(path);
    ASSERT_TRUE(writer) << writer.error().message;
    write(*writer, with_end);
    ASSERT_TRUE(writer->close());
  }
};

TEST(SavedTrace, RoundTripPairsAsTheLiveRunDid) {
  TwoCpuTrace trace;
  TempFile file;
  ASSERT_NO_FATAL_FAILURE(trace.save(file.path, true));
  std::ifstream in(file.path, std::ios::binary);
  auto replay = replay_saved_trace(in);
  ASSERT_TRUE(replay) << replay.error().message;
  ASSERT_TRUE(replay->processor);
  EXPECT_TRUE(replay->texts.complete);
  EXPECT_EQ(find_value(replay->texts.meta, "host"), "h");
  EXPECT_EQ(find_value(replay->texts.end, "end_time"), "9000");
  EXPECT_EQ(replay->texts.comms, "42 leaker\n");
  EXPECT_EQ(replay->page_bytes, trace.cpu0.size() + trace.cpu1.size());
  const auto& totals = replay->processor->tracker().totals();
  EXPECT_EQ(totals.allocations, 2u);
  EXPECT_EQ(totals.paired_frees, 1u);  // the free on CPU 1 pairs although read first
  EXPECT_EQ(totals.unpaired_frees, 0u);
  const auto report = replay->processor->tracker().report(9000, 0);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_EQ(report.call_sites[0].call_site, 0xffffffff81000110ull);
  EXPECT_EQ(report.call_sites[0].bytes, 192u);
  EXPECT_EQ(replay->processor->decoder().cache_name(report.call_sites[0].caches[0].first),
            "dentry");
  EXPECT_EQ(report.call_sites[0].pids[0].first, 42);
}

// A trace saved with address sampling is weighted on load as the live run weighted it.
TEST(SavedTrace, SampledTraceIsScaledOnLoadAsItWasLive) {
  TwoCpuTrace trace;
  trace.meta.emplace_back("sample_shift", "3");
  trace.meta.emplace_back("page_shift", "12");
  TempFile file;
  ASSERT_NO_FATAL_FAILURE(trace.save(file.path, true));
  std::ifstream in(file.path, std::ios::binary);
  auto replay = replay_saved_trace(in);
  ASSERT_TRUE(replay) << replay.error().message;
  ASSERT_TRUE(replay->processor);
  const auto report = replay->processor->tracker().report(9000, 0);
  EXPECT_EQ(report.totals.sample_rate, 8u);
  ASSERT_EQ(report.call_sites.size(), 1u);
  EXPECT_EQ(report.call_sites[0].outstanding, 8u);
  EXPECT_EQ(report.call_sites[0].bytes, 8u * 192);
}

TEST(SavedTrace, FileCutShortIsReadAsFarAsItGoes) {
  TwoCpuTrace trace;
  TempFile file;
  ASSERT_NO_FATAL_FAILURE(trace.save(file.path, false));
  std::string bytes = testing::read_file(file.path);
  bytes.resize(bytes.size() - 5);  // the last flush record is cut
  std::istringstream in(bytes);
  auto replay = replay_saved_trace(in);
  ASSERT_TRUE(replay) << replay.error().message;
  EXPECT_FALSE(replay->texts.complete);
  ASSERT_TRUE(replay->processor);
  EXPECT_EQ(replay->processor->tracker().totals().paired_frees, 1u);  // flushed at the end
}

TEST(SavedTrace, NotATraceFileAndHugeRecordsAreInputErrors) {
  std::istringstream text("slabinfo - version: 2.1\n");
  auto replay = replay_saved_trace(text);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kInput);
  EXPECT_NE(replay.error().message.find("poolscope trace --save"), std::string::npos);

  std::string huge(kSavedTraceMagic, sizeof kSavedTraceMagic);
  const std::uint8_t header[16] = {5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};  // 2^56 bytes
  huge.append(reinterpret_cast<const char*>(header), sizeof header);
  std::istringstream in(huge);
  replay = replay_saved_trace(in);
  ASSERT_FALSE(replay);
  EXPECT_NE(replay.error().message.find("damaged"), std::string::npos);
}

// Issue 21 item 8: sample_shift 64 was read as "not sampled" (an under-count by the rate).
TEST(SavedTrace, SampleShiftOutOfRangeIsDamageNotUnsampled) {
  TwoCpuTrace trace;
  trace.meta.emplace_back("sample_shift", "64");
  TempFile file;
  ASSERT_NO_FATAL_FAILURE(trace.save(file.path, true));
  std::ifstream in(file.path, std::ios::binary);
  auto replay = replay_saved_trace(in);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kInput);
  EXPECT_NE(replay.error().message.find("sample_shift 64"), std::string::npos)
      << replay.error().message;
}

// Issue 21 item 8: an endless stream of zero-size records spun at 98% CPU.
TEST(SavedTrace, EndlessEmptyRecordsAreDamage) {
  std::string bytes(kSavedTraceMagic, sizeof kSavedTraceMagic);
  const std::uint8_t header[16] = {99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 70000; ++i)
    bytes.append(reinterpret_cast<const char*>(header), sizeof header);
  std::istringstream in(bytes);
  auto replay = replay_saved_trace(in);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kInput);
  EXPECT_NE(replay.error().message.find("records in a row that carry nothing"), std::string::npos)
      << replay.error().message;
}

TEST(SavedTrace, PagesBeforeTheLayoutsAreRejected) {
  std::string bytes(kSavedTraceMagic, sizeof kSavedTraceMagic);
  const std::uint8_t header[16] = {5, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0};
  bytes.append(reinterpret_cast<const char*>(header), sizeof header);
  bytes.append("abcd");
  std::istringstream in(bytes);
  auto replay = replay_saved_trace(in);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kInput);
}

TEST(SavedTrace, KeyValuesKeepOneLinePerKey) {
  const auto text = key_values_text({{"host", "a\nb"}, {"cpus", "2"}});
  EXPECT_EQ(text, "host a b\ncpus 2\n");
  const auto values = parse_key_values(text);
  EXPECT_EQ(find_value(values, "cpus"), "2");
  EXPECT_FALSE(find_value(values, "kernel"));
}

TEST(SavedTrace, UnwritablePathSaysWhatToDo) {
  auto writer = SavedTraceWriter::create("/nonexistent-dir/trace.pst");
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error().code, ErrorCode::kEnvironment);
  EXPECT_NE(writer.error().message.find("--save"), std::string::npos);
}

// The report of a saved trace (trace/kmem_report.h): loaded, its call site named by a symbol
// lookup (as the CLI's kallsyms one does), its pid by the comms the file carries.
SiteNamer d_alloc_namer() {
  return SiteNamer([](std::uint64_t address) -> std::optional<SymbolAt> {
    if (address < 0xffffffff81000100ull || address >= 0xffffffff81000200ull) return std::nullopt;
    return SymbolAt{.name = "d_alloc",
                    .module = "",
                    .address = 0xffffffff81000100ull,
                    .offset = address - 0xffffffff81000100ull};
  });
}

TEST(KmemReport, SavedTraceLoadsAndRendersItsCallSiteWithTheLeakersComm) {
  TwoCpuTrace trace;
  TempFile file;
  ASSERT_NO_FATAL_FAILURE(trace.save(file.path, true));
  std::ifstream in(file.path, std::ios::binary);
  auto loaded = load_saved_kmem_trace(in, "t.trace", 1000, 0);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->facts.cpus, 2u);
  EXPECT_EQ(loaded->comms.at(42), "leaker");
  ASSERT_EQ(loaded->report.call_sites.size(), 1u);
  const std::string table =
      render_kmem_report({}, loaded->report, loaded->replay.processor->decoder(), d_alloc_namer(),
                         loaded->facts, loaded->comms);
  EXPECT_NE(table.find("2 allocations, 1 frees"), std::string::npos) << table;
  EXPECT_NE(table.find("d_alloc+0x10"), std::string::npos) << table;
  EXPECT_NE(table.find("dentry"), std::string::npos) << table;
  EXPECT_NE(table.find("42 leaker"), std::string::npos) << table;
  const std::string json =
      render_kmem_report({.format = "json"}, loaded->report, loaded->replay.processor->decoder(),
                         d_alloc_namer(), loaded->facts, loaded->comms);
  EXPECT_NE(json.find("\"symbol\": \"d_alloc\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"address\": \"0xffffffff81000110\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"call_sites_total\": 1"), std::string::npos) << json;
}

// Issue 21 item 8: a page of random bytes lost its events without a note. A page whose commit
// runs past its end (what random bytes look like) is decoded as far as it goes, and said.
TEST(KmemReport, DamagedTracePageIsNotedNotSilentlyLost) {
  TwoCpuTrace trace;
  const std::uint64_t past_the_end = 0x3fffffff;
  std::memcpy(trace.cpu1.data() + 8, &past_the_end, sizeof past_the_end);
  TempFile file;
  ASSERT_NO_FATAL_FAILURE(trace.save(file.path, true));
  std::ifstream in(file.path, std::ios::binary);
  auto loaded = load_saved_kmem_trace(in, "t.trace", 1000, 0);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->facts.stats.truncated_pages, 1u);
  const std::string table =
      render_kmem_report({}, loaded->report, loaded->replay.processor->decoder(), d_alloc_namer(),
                         loaded->facts, loaded->comms);
  EXPECT_NE(table.find("1 trace page(s) were damaged"), std::string::npos) << table;
  const std::string json =
      render_kmem_report({.format = "json"}, loaded->report, loaded->replay.processor->decoder(),
                         d_alloc_namer(), loaded->facts, loaded->comms);
  EXPECT_NE(json.find("\"damaged_pages\": 1"), std::string::npos) << json;
}

TEST(KmemReport, WithoutSymbolsCallSitesAreAddresses) {
  const SiteName name = SiteNamer().name(0xffffffff81000110ull);
  EXPECT_EQ(name.symbol, "0xffffffff81000110");
  EXPECT_TRUE(name.module.empty());
  EXPECT_EQ(d_alloc_namer().name(0xffffffff81000110ull).symbol, "d_alloc");
  EXPECT_EQ(d_alloc_namer().function(0xffffffff81000110ull), "d_alloc");
  EXPECT_EQ(d_alloc_namer().function(0x1000), "");
}

TEST(KmemReport, CommsParseSavedCmdlinesAndSkipBadLines) {
  const auto comms = parse_comms("42 leaker\nnot-a-pid x\n7 kworker/0:1\n\n");
  EXPECT_EQ(comms.size(), 2u);
  EXPECT_EQ(comms.at(42), "leaker");
  EXPECT_EQ(comms.at(7), "kworker/0:1");
}

TEST(KmemReport, AFileThatIsNotATraceIsAnInputError) {
  std::istringstream in("hello");
  auto loaded = load_saved_kmem_trace(in, "x.txt", 1000, 0);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ErrorCode::kInput);
}

}  // namespace
}  // namespace poolscope::trace
