// Parser for PDH counter logs in CSV (and TSV) form, as typeperf, relog and perfmon data
// collector sets write them ("(PDH-CSV 4.0) (zone)(bias)" header), plus the pool-relevant counters.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "parse/text.h"

namespace poolscope::parse {

enum class TextEncoding : std::uint8_t {
  kAuto,    // UTF-8 (BOM skipped); UTF-16LE with a BOM; otherwise, if not valid UTF-8, cp1251
  kUtf8,    // taken as is (invalid bytes stay in the strings)
  kCp1251,  // Russian-locale Windows ANSI code page
};

struct PdhCsvOptions {
  TextEncoding encoding = TextEncoding::kAuto;
  // Minutes to add to the logged local time to get UTC. Overrides the header's bias; needed when
  // the header has none (the cp1251 sample's zone field is cut off: "(RTZ 2 (").
  std::optional<std::int32_t> bias_minutes;
};

// "\\MACHINE\Object(Parent/Instance#2)\Counter" split into its parts. machine has no leading
// backslashes and is "" for a local path ("\Memory\Pool Paged Bytes"); instance is "" when the
// object has none and keeps PDH's "#n" suffix of repeated names ("AnyDesk#1").
struct CounterPath {
  std::string machine;
  std::string object;
  std::string instance;
  std::string counter;
  std::string raw;  // the column header as written (after decoding to UTF-8)

  friend bool operator==(const CounterPath&, const CounterPath&) = default;
};

// Splits a counter path. The counter is after the last '\'; an instance is what lies between the
// first '(' of the object and the ')' that ends it (instances may hold '\' and parentheses:
// "\Paging File(\??\C:\pagefile.sys)\% Usage").
CounterPath parse_counter_path(std::string_view path);

struct CounterLog {
  std::string format;     // "PDH-CSV 4.0" or "PDH-TSV 4.0"
  std::string machine;    // of the first counter that names one
  std::string time_zone;  // as written in the header, e.g. "Eastern Daylight Time"
  std::optional<std::int32_t> bias_minutes;  // the one applied: option, else header
  bool times_are_utc = false;  // false when no bias was known: times are the logged local time
  std::string encoding;        // what the text was decoded from: "utf-8", "utf-16le", "cp1251"
  std::vector<CounterPath> counters;                         // one per value column
  std::vector<std::chrono::system_clock::time_point> times;  // one per kept row
  // Row-major: values[row * counters.size() + column]. A missing sample (" " or "" in the file,
  // or a value that did not parse, with a diagnostic) is a quiet NaN; see counter_value().
  std::vector<double> values;
  std::vector<std::string> notes;  // encoding conversions, unknown time zone
};

struct ParsedCounterLog {
  CounterLog log;
  std::vector<Diagnostic> diagnostics;  // rows skipped or values missing because malformed
};

// ErrorCode::kInput when the first field is not "(PDH-CSV 4.0) ..." / "(PDH-TSV 4.0) ...".
// Rows with the wrong number of fields or an unreadable time are skipped with a diagnostic.
// typeperf's console lines ("Exiting, please wait...", "The command completed successfully.")
// are skipped with a note; typeperf's header has no zone, so its times stay local (see notes).
Result<ParsedCounterLog> parse_pdh_csv(std::string_view text, const PdhCsvOptions& options = {});

// The value in a row and column, or nullopt when missing (or out of range).
std::optional<double> counter_value(const CounterLog& log, std::size_t row, std::size_t column);

// What a counter means for pool analysis. Matching is on the English object and counter names,
// case-insensitive (PDH is); localized names ("Процесс(...)\Рабочий набор") are kUnknown because
// PDH logs carry no language-neutral id.
enum class CounterKind : std::uint8_t {
  kUnknown,
  kMemoryPoolNonpagedBytes,   // \Memory\Pool Nonpaged Bytes
  kMemoryPoolPagedBytes,      // \Memory\Pool Paged Bytes
  kMemoryPoolNonpagedAllocs,  // \Memory\Pool Nonpaged Allocs
  kMemoryPoolPagedAllocs,     // \Memory\Pool Paged Allocs
  kProcessPoolNonpagedBytes,  // \Process(*)\Pool Nonpaged Bytes
  kProcessPoolPagedBytes,     // \Process(*)\Pool Paged Bytes
  kProcessHandleCount,        // \Process(*)\Handle Count
  kProcessPrivateBytes,       // \Process(*)\Private Bytes
  kProcessVirtualBytes,       // \Process(*)\Virtual Bytes
};
CounterKind counter_kind(const CounterPath& path);
// "memory_pool_nonpaged_bytes", ..., "unknown".
std::string_view counter_kind_name(CounterKind kind);

}  // namespace poolscope::parse
