#include "parse/pdh_csv.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "core/time_format.h"
#include "test_support.h"

namespace poolscope::parse {
namespace {

std::string utc(std::chrono::system_clock::time_point t) {
  return format_utc(t, /*with_millis=*/true);
}

// A logman/perfmon data collector log from a US machine (EDT, bias 240).
TEST(PdhCsv, RealMemeDataCollectorLog) {
  POOLSCOPE_REQUIRE_SHARED("perfcounters/pdh_csv_memeData_DataCollector02.csv");
  auto text =
      testing::read_file(testing::shared_data("perfcounters/pdh_csv_memeData_DataCollector02.csv"));
  auto parsed = parse_pdh_csv(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const CounterLog& log = parsed->log;
  EXPECT_EQ(log.format, "PDH-CSV 4.0");
  EXPECT_EQ(log.time_zone, "Eastern Daylight Time");
  EXPECT_EQ(log.bias_minutes, 240);
  EXPECT_TRUE(log.times_are_utc);
  EXPECT_EQ(log.encoding, "utf-8");
  EXPECT_EQ(log.machine, "7702-48817743");
  ASSERT_EQ(log.counters.size(), 8u);
  EXPECT_EQ(log.counters[0].object, "Process");
  EXPECT_EQ(log.counters[0].instance, "_Total");
  EXPECT_EQ(log.counters[0].counter, "Virtual Bytes");
  EXPECT_EQ(log.counters[2].instance, "AnyDesk#1");
  EXPECT_EQ(log.counters[5].counter, "Private Bytes");
  EXPECT_EQ(log.counters[3].raw, "\\\\7702-48817743\\Process(AnyDesk#2)\\Virtual Bytes");
  EXPECT_EQ(counter_kind(log.counters[0]), CounterKind::kProcessVirtualBytes);
  EXPECT_EQ(counter_kind(log.counters[6]), CounterKind::kProcessPrivateBytes);

  ASSERT_EQ(log.times.size(), 30u);
  // 09/16/2021 08:01:28.780 EDT, bias 240 -> 12:01:28.780 UTC.
  EXPECT_EQ(utc(log.times[0]), "2021-09-16T12:01:28.780Z");
  EXPECT_EQ(utc(log.times[29]), "2021-09-16T12:02:26.764Z");
  EXPECT_EQ(counter_value(log, 0, 0), 238133047951360.0);  // _Total Virtual Bytes
  EXPECT_EQ(counter_value(log, 0, 2), 119283712.0);
  EXPECT_EQ(counter_value(log, 29, 4), 1333399552.0);  // _Total Private Bytes, last row
  EXPECT_EQ(log.values.size(), 30u * 8u);
  EXPECT_TRUE(log.notes.empty());
}

// Russian-locale Windows: cp1251 counter names, a zone field cut off after "(RTZ 2 (", 1105
// columns and most samples missing.
TEST(PdhCsv, RealCp1251LogWithoutBias) {
  POOLSCOPE_REQUIRE_SHARED("perfcounters/pdh_csv_waflia_ru_cp1251_DataCollector01.csv");
  auto text = testing::read_file(
      testing::shared_data("perfcounters/pdh_csv_waflia_ru_cp1251_DataCollector01.csv"));
  ASSERT_EQ(text.size(), 251317u);
  auto parsed = parse_pdh_csv(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const CounterLog& log = parsed->log;
  EXPECT_EQ(log.encoding, "cp1251");
  EXPECT_EQ(log.time_zone, "RTZ 2 (");
  EXPECT_FALSE(log.bias_minutes.has_value());
  EXPECT_FALSE(log.times_are_utc);
  ASSERT_EQ(log.notes.size(), 2u);  // the encoding guess and the missing bias
  EXPECT_NE(log.notes[0].find("Windows-1251"), std::string::npos);
  EXPECT_NE(log.notes[1].find("no UTC bias"), std::string::npos);
  EXPECT_EQ(log.machine, "DESKTOP-LRPVSK4");
  ASSERT_EQ(log.counters.size(), 1104u);
  EXPECT_EQ(log.counters[0].object, "Процесс");
  EXPECT_EQ(log.counters[0].instance, "Idle");
  EXPECT_EQ(log.counters[0].counter, "% загруженности процессора");
  EXPECT_EQ(log.counters[1103].raw, "\\\\DESKTOP-LRPVSK4\\Процесс(_Total)\\Рабочий набор");
  // Localized names carry no meaning poolscope can match.
  EXPECT_EQ(counter_kind(log.counters[1103]), CounterKind::kUnknown);

  ASSERT_EQ(log.times.size(), 26u);
  EXPECT_EQ(utc(log.times[0]), "2021-09-20T16:48:17.954Z");  // local time, unconverted
  EXPECT_EQ(utc(log.times[25]), "2021-09-20T16:48:42.942Z");
  std::size_t missing = 0;
  for (std::size_t row = 0; row < 26; ++row) {
    for (std::size_t column = 0; column < 1104; ++column) {
      if (!counter_value(log, row, column)) ++missing;
    }
  }
  EXPECT_EQ(missing, 833u);
  EXPECT_FALSE(counter_value(log, 0, 0).has_value());
  EXPECT_DOUBLE_EQ(*counter_value(log, 25, 0), 1014.5620085081169464);
  EXPECT_EQ(counter_value(log, 0, 1103), 12263804928.0);
  EXPECT_EQ(counter_value(log, 25, 1103), 12403163136.0);

  // The bias can be supplied: RTZ 2 is Moscow time, UTC+3.
  auto moscow = parse_pdh_csv(text, PdhCsvOptions{.bias_minutes = -180});
  ASSERT_TRUE(moscow.has_value());
  EXPECT_TRUE(moscow->log.times_are_utc);
  EXPECT_EQ(utc(moscow->log.times[0]), "2021-09-20T13:48:17.954Z");
  EXPECT_EQ(moscow->log.notes.size(), 1u);
}

// typeperf's console output redirected to a file: no zone in the header, a blank first line,
// "Exiting, please wait..." at the end, CRLF and a stray "\r\r".
TEST(PdhCsv, TypeperfConsoleCaptureWithPoolCounters) {
  auto text = testing::read_file(testing::test_data("pdh_csv/typeperf_console_pool.csv"));
  auto parsed = parse_pdh_csv(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const CounterLog& log = parsed->log;
  EXPECT_EQ(log.time_zone, "");
  EXPECT_FALSE(log.times_are_utc);
  ASSERT_EQ(log.notes.size(), 2u);
  EXPECT_NE(log.notes[0].find("no UTC bias"), std::string::npos);
  EXPECT_NE(log.notes[1].find("skipped 2 typeperf"), std::string::npos);
  EXPECT_EQ(log.machine, "WEB-03");
  ASSERT_EQ(log.counters.size(), 6u);
  EXPECT_EQ(counter_kind(log.counters[0]), CounterKind::kMemoryPoolNonpagedBytes);
  EXPECT_EQ(counter_kind(log.counters[1]), CounterKind::kMemoryPoolPagedBytes);
  EXPECT_EQ(counter_kind(log.counters[2]), CounterKind::kMemoryPoolNonpagedAllocs);
  EXPECT_EQ(counter_kind(log.counters[3]), CounterKind::kProcessPoolNonpagedBytes);
  EXPECT_EQ(counter_kind(log.counters[4]), CounterKind::kProcessHandleCount);
  EXPECT_EQ(counter_kind(log.counters[5]), CounterKind::kProcessPoolPagedBytes);
  EXPECT_EQ(log.counters[4].instance, "w3wp#1");
  ASSERT_EQ(log.times.size(), 3u);
  EXPECT_EQ(utc(log.times[1]), "2026-11-21T09:00:10.131Z");
  EXPECT_EQ(counter_value(log, 0, 0), 183500800.0);
  EXPECT_EQ(counter_value(log, 2, 0), 184025088.0);
  EXPECT_EQ(counter_value(log, 2, 4), 1851.0);
  EXPECT_EQ(counter_value(log, 1, 2), 512410.0);
}

TEST(PdhCsv, RelogLogWithNegativeBiasMissingSamplesAndPathsWithBackslashes) {
  auto text = testing::read_file(testing::test_data("pdh_csv/relog_pool_cet.csv"));
  auto parsed = parse_pdh_csv(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const CounterLog& log = parsed->log;
  EXPECT_EQ(log.time_zone, "W. Europe Standard Time");
  EXPECT_EQ(log.bias_minutes, -60);
  ASSERT_EQ(log.times.size(), 3u);
  // 23:59:59.500 local at UTC+1 is 22:59:59.500 UTC the same day.
  EXPECT_EQ(utc(log.times[0]), "2027-01-31T22:59:59.500Z");
  EXPECT_EQ(utc(log.times[1]), "2027-01-31T23:00:14.500Z");
  for (std::size_t column = 0; column < 6; ++column) {
    EXPECT_FALSE(counter_value(log, 0, column).has_value()) << column;
  }
  EXPECT_EQ(counter_value(log, 1, 0), 96468992.0);
  EXPECT_EQ(counter_value(log, 1, 1), 1533202.0);
  EXPECT_FALSE(counter_value(log, 2, 2).has_value());
  EXPECT_EQ(counter_value(log, 2, 5), 9120.0);
  EXPECT_DOUBLE_EQ(*counter_value(log, 1, 4), 12.53662109375);
  EXPECT_EQ(log.counters[4].object, "Paging File");
  EXPECT_EQ(log.counters[4].instance, "\\??\\C:\\pagefile.sys");
  EXPECT_EQ(log.counters[4].counter, "% Usage");
  EXPECT_EQ(log.counters[2].instance, "svchost#12");
  EXPECT_EQ(counter_kind(log.counters[1]), CounterKind::kMemoryPoolPagedAllocs);
  EXPECT_EQ(counter_kind(log.counters[4]), CounterKind::kUnknown);
  EXPECT_EQ(counter_kind(log.counters[5]), CounterKind::kProcessHandleCount);
  EXPECT_FALSE(counter_value(log, 3, 0).has_value());   // no such row
  EXPECT_FALSE(counter_value(log, 0, 99).has_value());  // no such column
}

TEST(PdhCsv, Cp1251FixtureWithParenthesesInTheZoneName) {
  auto text = testing::read_file(testing::test_data("pdh_csv/localized_cp1251.csv"));
  auto parsed = parse_pdh_csv(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  const CounterLog& log = parsed->log;
  EXPECT_EQ(log.encoding, "cp1251");
  EXPECT_EQ(log.time_zone, "RTZ 2 (зима)");
  EXPECT_EQ(log.bias_minutes, -180);
  EXPECT_EQ(log.counters[0].object, "Память");
  EXPECT_EQ(log.counters[0].counter, "Байт в невыгружаемом страничном пуле");
  EXPECT_EQ(counter_kind(log.counters[0]), CounterKind::kUnknown);
  EXPECT_EQ(log.counters[1].instance, "lsass");
  EXPECT_EQ(utc(log.times[0]), "2026-03-01T07:00:00.000Z");
  EXPECT_EQ(counter_value(log, 1, 1), 1452.0);

  // Forced UTF-8 keeps the bytes (and the note about guessing is gone).
  auto raw = parse_pdh_csv(text, PdhCsvOptions{.encoding = TextEncoding::kUtf8});
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->log.encoding, "utf-8");
  EXPECT_EQ(raw->log.counters[1].raw,
            "\\\\SRV-MSK\\\xCF\xF0\xEE\xF6\xE5\xF1\xF1(lsass)\\"
            "\xD1\xF7\xE5\xF2\xF7\xE8\xEA \xE4\xE5\xF1\xEA\xF0\xE8\xEF"
            "\xF2\xEE\xF0\xEE\xE2");
  EXPECT_TRUE(raw->log.notes.empty());
}

TEST(PdhCsv, Utf16WithBomAndTsv) {
  const std::u16string source =
      u"\uFEFF\"(PDH-TSV 4.0) (UTC)(0)\"\t\"\\\\H\\Memory\\Pool Paged Bytes\"\r\n"
      u"\"12/31/2026 23:59:59.999\"\t\"5\"\r\n";
  std::string bytes;
  for (char16_t unit : source) {
    bytes.push_back(static_cast<char>(unit & 0xFF));
    bytes.push_back(static_cast<char>(unit >> 8));
  }
  auto parsed = parse_pdh_csv(bytes);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->log.encoding, "utf-16le");
  EXPECT_EQ(parsed->log.format, "PDH-TSV 4.0");
  EXPECT_EQ(counter_kind(parsed->log.counters[0]), CounterKind::kMemoryPoolPagedBytes);
  EXPECT_EQ(utc(parsed->log.times[0]), "2026-12-31T23:59:59.999Z");
  EXPECT_EQ(counter_value(parsed->log, 0, 0), 5.0);
}

TEST(PdhCsv, MalformedRowsBecomeDiagnostics) {
  auto parsed = parse_pdh_csv(
      "\"(PDH-CSV 4.0) (UTC)(0)\",\"\\\\H\\Memory\\Pool Nonpaged Bytes\",\"\\Memory\\x\"\n"
      "\"01/01/2026 00:00:00.000\",\"1\",\"2\"\n"
      "\"01/01/2026 00:00:01.000\",\"1\"\n"            // line 3: too few fields
      "\"13/01/2026 00:00:02.000\",\"1\",\"2\"\n"      // line 4: month 13
      "\"01/01/2026 00:00:03.000\",\"abc\",\"nan\"\n"  // line 5: two bad values
      "\"01/01/2026 00:00:04.000\",\"1\",\"2\n"        // line 6: quote not closed
      "\"02/30/2026 00:00:05.000\",\"1\",\"2\"\n"      // line 7: no such day
      "\"01/01/2026 00:00:06.000\",\"1e3\",\"-2.5\"\n");
  ASSERT_TRUE(parsed.has_value());
  const auto& d = parsed->diagnostics;
  ASSERT_EQ(d.size(), 6u);
  EXPECT_EQ(d[0].line, 3u);
  EXPECT_NE(d[0].message.find("expected 3 fields"), std::string::npos);
  EXPECT_EQ(d[1].line, 4u);
  EXPECT_NE(d[1].message.find("MM/DD/YYYY"), std::string::npos);
  EXPECT_EQ(d[2].line, 5u);
  EXPECT_NE(d[2].message.find("\"abc\""), std::string::npos);
  EXPECT_EQ(d[3].line, 5u);
  EXPECT_EQ(d[4].line, 6u);
  EXPECT_EQ(d[5].line, 7u);
  const CounterLog& log = parsed->log;
  ASSERT_EQ(log.times.size(), 3u);  // lines 2, 5 (values missing) and 8
  EXPECT_FALSE(counter_value(log, 1, 0).has_value());
  EXPECT_EQ(counter_value(log, 2, 0), 1000.0);
  EXPECT_EQ(counter_value(log, 2, 1), -2.5);
  EXPECT_EQ(log.counters[1].machine, "");
  EXPECT_EQ(log.counters[1].object, "Memory");
}

TEST(PdhCsv, NotAPdhLog) {
  for (const char* text : {"", "\n\n", "date,value\n1,2\n", "\"(PDH-CSV 3.0)\",\"x\"\n",
                           "Error: No valid counters.\n"}) {
    auto parsed = parse_pdh_csv(text);
    ASSERT_FALSE(parsed.has_value()) << text;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInput);
  }
}

TEST(PdhCsv, CounterPaths) {
  auto local = parse_counter_path("\\Memory\\Pool Nonpaged Bytes");
  EXPECT_EQ(local.machine, "");
  EXPECT_EQ(local.object, "Memory");
  EXPECT_EQ(local.instance, "");
  EXPECT_EQ(local.counter, "Pool Nonpaged Bytes");
  auto parent = parse_counter_path("\\\\S\\Thread(chrome/12#3)\\Context Switches/sec");
  EXPECT_EQ(parent.machine, "S");
  EXPECT_EQ(parent.object, "Thread");
  EXPECT_EQ(parent.instance, "chrome/12#3");
  EXPECT_EQ(parent.counter, "Context Switches/sec");
  auto nested = parse_counter_path("\\\\S\\Process(svc (x))\\Handle Count");
  EXPECT_EQ(nested.instance, "svc (x)");
  EXPECT_EQ(counter_kind(nested), CounterKind::kProcessHandleCount);
  auto lower = parse_counter_path("\\\\S\\memory\\POOL NONPAGED BYTES");
  EXPECT_EQ(counter_kind(lower), CounterKind::kMemoryPoolNonpagedBytes);
  EXPECT_EQ(counter_kind_name(CounterKind::kProcessPoolNonpagedBytes),
            "process_pool_nonpaged_bytes");
  EXPECT_EQ(counter_kind_name(CounterKind::kUnknown), "unknown");
  auto bare = parse_counter_path("\\\\only-machine");
  EXPECT_EQ(bare.machine, "only-machine");
  EXPECT_EQ(bare.counter, "");
}

}  // namespace
}  // namespace poolscope::parse
