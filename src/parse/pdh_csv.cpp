// PDH-CSV / PDH-TSV counter log parser.
#include "parse/pdh_csv.h"

#include <array>
#include <charconv>
#include <cmath>
#include <deque>
#include <limits>

#include "parse/encoding.h"

namespace poolscope::parse {

namespace {

constexpr std::string_view kCsvHeader = "(PDH-CSV 4.0)";
constexpr std::string_view kTsvHeader = "(PDH-TSV 4.0)";
constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();
// Time zone biases lie within UTC-14..UTC+12; anything beyond a day is not a bias.
constexpr std::int64_t kMaxBiasMinutes = 24 * 60;
// Years a log can plausibly carry, and well inside what system_clock's nanoseconds can hold.
constexpr unsigned kMinYear = 1900;
constexpr unsigned kMaxYear = 2200;

// Splits one line of quoted fields. Doubled quotes inside a quoted field are unescaped into
// scratch (deque: references stay valid). False when a quote is not closed on the line or text
// follows a closing quote.
bool split_quoted(std::string_view line, char delimiter, std::vector<std::string_view>& out,
                  std::deque<std::string>& scratch) {
  out.clear();
  std::size_t i = 0;
  const std::size_t n = line.size();
  for (;;) {
    if (i < n && line[i] == '"') {
      const std::size_t start = ++i;
      bool escaped = false;
      for (;;) {
        if (i >= n) return false;
        if (line[i] == '"') {
          if (i + 1 < n && line[i + 1] == '"') {
            escaped = true;
            i += 2;
            continue;
          }
          break;
        }
        ++i;
      }
      std::string_view field = line.substr(start, i - start);
      ++i;  // closing quote
      if (escaped) {
        std::string& unescaped = scratch.emplace_back();
        for (std::size_t k = 0; k < field.size(); ++k) {
          unescaped.push_back(field[k]);
          if (field[k] == '"') ++k;
        }
        field = unescaped;
      }
      out.push_back(field);
      if (i == n) return true;
      if (line[i] != delimiter) return false;
      ++i;
    } else {
      const std::size_t end = line.find(delimiter, i);
      if (end == std::string_view::npos) {
        out.push_back(line.substr(i));
        return true;
      }
      out.push_back(line.substr(i, end - i));
      i = end + 1;
    }
  }
}

bool equals_ascii_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// "MM/DD/YYYY HH:MM:SS[.fff]" as if it were UTC; the caller applies the bias.
std::optional<std::chrono::system_clock::time_point> parse_pdh_time(std::string_view s) {
  using namespace std::chrono;
  if (s.size() < 19 || s[2] != '/' || s[5] != '/' || s[10] != ' ' || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  auto month = fixed_digits(s, 0, 2), day = fixed_digits(s, 3, 2), year = fixed_digits(s, 6, 4);
  auto hour = fixed_digits(s, 11, 2), minute = fixed_digits(s, 14, 2),
       second = fixed_digits(s, 17, 2);
  if (!month || !day || !year || !hour || !minute || !second) return std::nullopt;
  if (*hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits on Linux: years outside about 1678..2262 overflow.
  if (*year < kMinYear || *year > kMaxYear) return std::nullopt;
  const year_month_day date{std::chrono::year{static_cast<int>(*year)}, std::chrono::month{*month},
                            std::chrono::day{*day}};
  if (!date.ok()) return std::nullopt;
  nanoseconds fraction{0};
  if (s.size() > 19) {
    if (s[19] != '.' || s.size() == 20 || s.size() > 29) return std::nullopt;
    std::int64_t scale = 100'000'000;
    for (std::size_t i = 20; i < s.size(); ++i, scale /= 10) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      fraction += nanoseconds{(s[i] - '0') * scale};
    }
  }
  const auto t = sys_days{date} + hours{*hour} + minutes{*minute} + seconds{*second} + fraction;
  return time_point_cast<system_clock::duration>(t);
}

// typeperf's console output, when redirected to a file, ends with these (English) lines.
bool is_typeperf_chatter(std::string_view line) {
  return line == "Exiting, please wait..." || line == "The command completed successfully.";
}

struct Header {
  std::string format;
  std::string zone;
  std::optional<std::int32_t> bias;
};

// "(PDH-CSV 4.0) (Eastern Daylight Time)(240)". The zone name may itself hold parentheses and
// may be cut off ("(PDH-CSV 4.0) (RTZ 2 ("), so the bias is only the last "(number)".
std::optional<Header> parse_header_field(std::string_view field) {
  Header header;
  if (field.starts_with(kCsvHeader)) {
    header.format = "PDH-CSV 4.0";
  } else if (field.starts_with(kTsvHeader)) {
    header.format = "PDH-TSV 4.0";
  } else {
    return std::nullopt;
  }
  std::string_view rest = trim(field.substr(kCsvHeader.size()));
  std::string_view zone = rest;
  if (rest.ends_with(')')) {
    const std::size_t open = rest.rfind('(');
    if (open != std::string_view::npos) {
      auto bias = parse_i64(rest.substr(open + 1, rest.size() - open - 2));
      if (bias && *bias >= -kMaxBiasMinutes && *bias <= kMaxBiasMinutes) {
        header.bias = static_cast<std::int32_t>(*bias);
        zone = rest.substr(0, open);
        if (zone.ends_with(')')) zone.remove_suffix(1);
      }
    }
  }
  if (zone.starts_with('(')) zone.remove_prefix(1);
  header.zone = std::string(zone);
  return header;
}

struct Decoded {
  std::string storage;  // the converted text when a conversion happened
  std::string_view text;
  std::string encoding;
  std::string note;
};

Decoded decode(std::string_view text, TextEncoding encoding) {
  Decoded out;
  out.encoding = "utf-8";
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  if (encoding == TextEncoding::kAuto && text.starts_with("\xFF\xFE")) {
    text.remove_prefix(2);
    out.storage = utf16le_to_utf8(std::as_bytes(std::span(text.data(), text.size())));
    out.text = out.storage;
    out.encoding = "utf-16le";
    return out;
  }
  const bool cp1251 = encoding == TextEncoding::kCp1251 ||
                      (encoding == TextEncoding::kAuto && !is_valid_utf8(text));
  if (cp1251) {
    out.storage = cp1251_to_utf8(text);
    out.text = out.storage;
    out.encoding = "cp1251";
    if (encoding == TextEncoding::kAuto) {
      out.note =
          "the log is not valid UTF-8: read as Windows-1251 (Cyrillic ANSI code page); pass the "
          "encoding explicitly (poolscope import --encoding utf-8|cp1251) if the counter names "
          "look "
          "wrong";
    }
    return out;
  }
  out.text = text;
  return out;
}

}  // namespace

CounterPath parse_counter_path(std::string_view path) {
  CounterPath out;
  out.raw = std::string(path);
  std::string_view rest = path;
  if (rest.starts_with("\\\\")) {
    rest.remove_prefix(2);
    const std::size_t slash = rest.find('\\');
    out.machine = std::string(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  }
  if (rest.starts_with('\\')) rest.remove_prefix(1);
  const std::size_t last = rest.rfind('\\');
  if (last == std::string_view::npos) {
    out.counter = std::string(rest);
    return out;
  }
  out.counter = std::string(rest.substr(last + 1));
  std::string_view object = rest.substr(0, last);
  const std::size_t open = object.find('(');
  if (open != std::string_view::npos && object.ends_with(')')) {
    out.instance = std::string(object.substr(open + 1, object.size() - open - 2));
    object = object.substr(0, open);
  }
  out.object = std::string(object);
  return out;
}

std::optional<double> counter_value(const CounterLog& log, std::size_t row, std::size_t column) {
  const std::size_t width = log.counters.size();
  if (column >= width || row >= log.times.size()) return std::nullopt;
  const double value = log.values[row * width + column];
  if (value != value) return std::nullopt;  // NaN marks a missing sample
  return value;
}

Result<ParsedCounterLog> parse_pdh_csv(std::string_view input, const PdhCsvOptions& options) {
  Decoded decoded = decode(input, options.encoding);
  ParsedCounterLog out;
  CounterLog& log = out.log;
  log.encoding = decoded.encoding;
  if (!decoded.note.empty()) log.notes.push_back(decoded.note);

  LineReader lines(decoded.text);
  std::string_view line;
  std::vector<std::string_view> fields;
  std::deque<std::string> scratch;
  bool have_header = false;
  char delimiter = ',';
  while (lines.next(line)) {
    if (trim(line).empty()) continue;
    if (line.starts_with("\"(PDH-TSV")) delimiter = '\t';
    std::optional<Header> header;
    if (split_quoted(line, delimiter, fields, scratch) && !fields.empty()) {
      header = parse_header_field(fields[0]);
    }
    if (!header) {
      return make_error(ErrorCode::kInput, "not a PDH counter log: the first field of line " +
                                               std::to_string(lines.line_number()) +
                                               " is not \"(PDH-CSV 4.0) (time zone)(bias)\"");
    }
    log.format = header->format;
    log.time_zone = header->zone;
    log.bias_minutes = options.bias_minutes ? options.bias_minutes : header->bias;
    log.counters.reserve(fields.size() - 1);
    for (std::size_t i = 1; i < fields.size(); ++i) {
      log.counters.push_back(parse_counter_path(fields[i]));
      if (log.machine.empty()) log.machine = log.counters.back().machine;
    }
    have_header = true;
    break;
  }
  if (!have_header) {
    return make_error(ErrorCode::kInput, "empty input: no \"(PDH-CSV 4.0)\" header line");
  }
  log.times_are_utc = log.bias_minutes.has_value();
  if (!log.times_are_utc) {
    log.notes.push_back("the header gives no UTC bias (time zone field \"" + log.time_zone +
                        "\"): times are the logged local time; pass the bias to convert them");
  }
  const auto bias = std::chrono::minutes{log.bias_minutes.value_or(0)};
  const std::size_t width = log.counters.size();
  const std::size_t expected_fields = width + 1;

  std::size_t chatter = 0;
  while (lines.next(line)) {
    if (trim(line).empty()) continue;
    if (is_typeperf_chatter(trim(line))) {
      ++chatter;
      continue;
    }
    scratch.clear();
    if (!split_quoted(line, delimiter, fields, scratch)) {
      out.diagnostics.push_back(
          {lines.line_number(), "expected quoted fields separated by '" +
                                    std::string(delimiter == '\t' ? "\\t" : ",") +
                                    "' (a quote is not closed)"});
      continue;
    }
    if (fields.size() != expected_fields) {
      out.diagnostics.push_back(
          {lines.line_number(), "expected " + std::to_string(expected_fields) +
                                    " fields (time and one per counter), found " +
                                    std::to_string(fields.size())});
      continue;
    }
    auto time = parse_pdh_time(fields[0]);
    if (!time) {
      out.diagnostics.push_back(
          {lines.line_number(),
           "expected the sample time as \"MM/DD/YYYY HH:MM:SS.fff\" (years 1900-2200), found \"" +
               std::string(fields[0].substr(0, 40)) + "\""});
      continue;
    }
    log.times.push_back(*time + bias);
    const std::size_t row_start = log.values.size();
    log.values.resize(row_start + width, kMissing);
    for (std::size_t column = 0; column < width; ++column) {
      const std::string_view text = trim(fields[column + 1]);
      if (text.empty()) continue;  // " ": the counter had no sample at this time
      double value = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      // from_chars also reads "nan" and "inf", which PDH never writes: NaN would pass for missing.
      if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value)) {
        out.diagnostics.push_back(
            {lines.line_number(), "expected a number for counter " + std::to_string(column + 1) +
                                      " (" + log.counters[column].raw + "), found \"" +
                                      std::string(text.substr(0, 40)) + "\""});
        continue;
      }
      log.values[row_start + column] = value;
    }
  }
  if (chatter != 0) {
    log.notes.push_back("skipped " + std::to_string(chatter) +
                        " typeperf console message line(s) (\"Exiting, please wait...\")");
  }
  return out;
}

CounterKind counter_kind(const CounterPath& path) {
  struct Rule {
    std::string_view object;
    std::string_view counter;
    CounterKind kind;
  };
  static constexpr std::array<Rule, 9> kRules = {{
      {"Memory", "Pool Nonpaged Bytes", CounterKind::kMemoryPoolNonpagedBytes},
      {"Memory", "Pool Paged Bytes", CounterKind::kMemoryPoolPagedBytes},
      {"Memory", "Pool Nonpaged Allocs", CounterKind::kMemoryPoolNonpagedAllocs},
      {"Memory", "Pool Paged Allocs", CounterKind::kMemoryPoolPagedAllocs},
      {"Process", "Pool Nonpaged Bytes", CounterKind::kProcessPoolNonpagedBytes},
      {"Process", "Pool Paged Bytes", CounterKind::kProcessPoolPagedBytes},
      {"Process", "Handle Count", CounterKind::kProcessHandleCount},
      {"Process", "Private Bytes", CounterKind::kProcessPrivateBytes},
      {"Process", "Virtual Bytes", CounterKind::kProcessVirtualBytes},
  }};
  for (const Rule& rule : kRules) {
    if (equals_ascii_nocase(path.object, rule.object) &&
        equals_ascii_nocase(path.counter, rule.counter)) {
      return rule.kind;
    }
  }
  return CounterKind::kUnknown;
}

std::string_view counter_kind_name(CounterKind kind) {
  switch (kind) {
    case CounterKind::kMemoryPoolNonpagedBytes:
      return "memory_pool_nonpaged_bytes";
    case CounterKind::kMemoryPoolPagedBytes:
      return "memory_pool_paged_bytes";
    case CounterKind::kMemoryPoolNonpagedAllocs:
      return "memory_pool_nonpaged_allocs";
    case CounterKind::kMemoryPoolPagedAllocs:
      return "memory_pool_paged_allocs";
    case CounterKind::kProcessPoolNonpagedBytes:
      return "process_pool_nonpaged_bytes";
    case CounterKind::kProcessPoolPagedBytes:
      return "process_pool_paged_bytes";
    case CounterKind::kProcessHandleCount:
      return "process_handle_count";
    case CounterKind::kProcessPrivateBytes:
      return "process_private_bytes";
    case CounterKind::kProcessVirtualBytes:
      return "process_virtual_bytes";
    case CounterKind::kUnknown:
      break;
  }
  return "unknown";
}

}  // namespace poolscope::parse
