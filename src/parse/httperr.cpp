// HTTP.sys error log parser.
#include "parse/httperr.h"

#include <array>
#include <limits>

namespace poolscope::parse {

namespace {

constexpr std::string_view kRefused = "Connections_Refused";
constexpr std::string_view kFieldsDirective = "#Fields:";
constexpr std::string_view kSoftwareDirective = "#Software: Microsoft HTTP API";
// What HTTP API 2.0 writes (Windows Server 2008 and later); newer builds add streamid/transport.
constexpr std::string_view kDefaultFields =
    "date time c-ip c-port s-ip s-port cs-version cs-method cs-uri sc-status s-siteid s-reason "
    "s-queuename";

enum Field : std::size_t {
  kDate,
  kTime,
  kClientIp,
  kClientPort,
  kServerIp,
  kServerPort,
  kProtocol,
  kMethod,
  kUri,
  kStatus,
  kSiteId,
  kReason,
  kQueue,
  kFieldCount
};
constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "date",      "time",   "c-ip",      "c-port",   "s-ip",     "s-port",     "cs-version",
    "cs-method", "cs-uri", "sc-status", "s-siteid", "s-reason", "s-queuename"};
// Years a log can plausibly carry, and well inside what system_clock's nanoseconds can hold.
constexpr unsigned kMinYear = 1900;
constexpr unsigned kMaxYear = 2200;
constexpr std::size_t kAbsent = std::numeric_limits<std::size_t>::max();

// Where each known field sits in the current block's data lines.
struct FieldMap {
  std::array<std::size_t, kFieldCount> index;
  std::size_t count = 0;
};

FieldMap map_fields(std::string_view names) {
  FieldMap map;
  map.index.fill(kAbsent);
  std::vector<std::string_view> fields;
  split_fields(names, fields);
  map.count = fields.size();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    for (std::size_t f = 0; f < kFieldCount; ++f) {
      if (fields[i] == kFieldNames[f] && map.index[f] == kAbsent) map.index[f] = i;
    }
  }
  return map;
}

// "YYYY-MM-DD" and "HH:MM:SS", both UTC.
std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view date,
                                                                std::string_view time) {
  using namespace std::chrono;
  if (date.size() != 10 || date[4] != '-' || date[7] != '-' || time.size() != 8 || time[2] != ':' ||
      time[5] != ':') {
    return std::nullopt;
  }
  auto y = fixed_digits(date, 0, 4), mo = fixed_digits(date, 5, 2), d = fixed_digits(date, 8, 2);
  auto h = fixed_digits(time, 0, 2), mi = fixed_digits(time, 3, 2), s = fixed_digits(time, 6, 2);
  if (!y || !mo || !d || !h || !mi || !s || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits on Linux: years outside about 1678..2262 overflow.
  if (*y < kMinYear || *y > kMaxYear) return std::nullopt;
  const year_month_day ymd{year{static_cast<int>(*y)}, month{*mo}, day{*d}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd} + hours{*h} + minutes{*mi} + seconds{*s};
}

std::string_view dash_empty(std::string_view field) {
  return field == "-" ? std::string_view{} : field;
}

// "-" -> nullopt (true); a number up to max -> value (true); anything else -> false.
bool read_number(std::string_view field, std::uint64_t max, std::optional<std::uint16_t>& out) {
  if (field == "-") return true;
  auto value = parse_u64(field);
  if (!value || *value > max) return false;
  out = static_cast<std::uint16_t>(*value);
  return true;
}

}  // namespace

std::string_view reason_key(std::string_view reason) {
  if (!reason.ends_with(kRefused) || reason.size() == kRefused.size()) return reason;
  const std::string_view prefix = reason.substr(0, reason.size() - kRefused.size());
  if (prefix.size() < 2 || prefix.back() != '_') return reason;
  if (!parse_u64(prefix.substr(0, prefix.size() - 1))) return reason;
  return kRefused;
}

bool is_pool_pressure(std::string_view reason) {
  return reason_key(reason) == kRefused;
}

std::uint64_t refused_connection_count(std::string_view reason) {
  if (reason == kRefused) return 1;
  if (!is_pool_pressure(reason)) return 0;
  return parse_u64(reason.substr(0, reason.size() - kRefused.size() - 1)).value_or(1);
}

Result<ParsedHttpErr> parse_httperr(std::string_view text) {
  ParsedHttpErr out;
  HttpErrLog& log = out.log;
  LineReader lines(text);
  std::string_view line;
  std::vector<std::string_view> fields;
  bool recognised = false;
  bool default_fields_used = false;
  std::optional<FieldMap> map;

  while (lines.next(line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.starts_with(kFieldsDirective)) {
        map = map_fields(line.substr(kFieldsDirective.size()));
        recognised = true;
        if (map->index[kDate] == kAbsent || map->index[kTime] == kAbsent) {
          out.diagnostics.push_back(
              {lines.line_number(), "expected \"date\" and \"time\" among the #Fields"});
        }
      } else if (line.starts_with(kSoftwareDirective)) {
        recognised = true;
      }
      continue;
    }
    if (trim(line).empty()) continue;
    if (!map) {
      map = map_fields(kDefaultFields);
      default_fields_used = true;
    }
    split_fields(line, fields);
    if (fields.size() != map->count) {
      out.diagnostics.push_back(
          {lines.line_number(), "expected " + std::to_string(map->count) +
                                    " space-separated fields as the #Fields line lists, found " +
                                    std::to_string(fields.size())});
      continue;
    }
    const auto field = [&](Field f) {
      return map->index[f] == kAbsent ? std::string_view("-") : fields[map->index[f]];
    };
    auto time = parse_time(field(kDate), field(kTime));
    if (!time) {
      out.diagnostics.push_back(
          {lines.line_number(),
           "expected the date as YYYY-MM-DD (years 1900-2200) and the time as HH:MM:SS"});
      continue;
    }
    HttpErrEvent event;
    event.time = *time;
    event.line = lines.line_number();
    if (!read_number(field(kStatus), 999, event.status) ||
        !read_number(field(kClientPort), 65535, event.client_port) ||
        !read_number(field(kServerPort), 65535, event.server_port)) {
      out.diagnostics.push_back(
          {lines.line_number(), "expected \"-\" or a number in sc-status, c-port and s-port"});
      continue;
    }
    event.reason = std::string(dash_empty(field(kReason)));
    event.client_ip = std::string(dash_empty(field(kClientIp)));
    event.server_ip = std::string(dash_empty(field(kServerIp)));
    event.protocol = std::string(dash_empty(field(kProtocol)));
    event.method = std::string(dash_empty(field(kMethod)));
    event.url = std::string(dash_empty(field(kUri)));
    event.site_id = std::string(dash_empty(field(kSiteId)));
    event.queue = std::string(dash_empty(field(kQueue)));

    const std::string_view key = reason_key(event.reason);
    auto it = log.reason_counts.find(key);
    if (it == log.reason_counts.end()) it = log.reason_counts.emplace(std::string(key), 0).first;
    ++it->second;
    const std::uint64_t refused = refused_connection_count(event.reason);
    log.refused_connections =
        refused > std::numeric_limits<std::uint64_t>::max() - log.refused_connections
            ? std::numeric_limits<std::uint64_t>::max()
            : log.refused_connections + refused;
    log.events.push_back(std::move(event));
  }
  if (!recognised) {
    return make_error(ErrorCode::kInput,
                      "not an HTTP.sys error log: no \"#Software: Microsoft HTTP API\" or "
                      "\"#Fields:\" line");
  }
  if (default_fields_used) {
    log.notes.push_back(
        "data lines before the first #Fields line were read with the HTTP API 2.0 default "
        "fields (" +
        std::string(kDefaultFields) + ")");
  }
  return out;
}

}  // namespace poolscope::parse
