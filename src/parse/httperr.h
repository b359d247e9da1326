// Parser for HTTP.sys error logs (httperr*.log, W3C-style): events with their reasons, among them
// Connections_Refused, which HTTP.sys logs when nonpaged pool falls below 20 MB (KB820729).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "parse/text.h"

namespace poolscope::parse {

// One logged error. String fields that the log writes as "-" are ""; numbers as "-" are nullopt.
struct HttpErrEvent {
  std::chrono::system_clock::time_point time{};  // date + time, which HTTP.sys writes in UTC
  std::string reason;                            // s-reason as written ("3_Connections_Refused")
  std::optional<std::uint16_t> status;           // sc-status
  std::string client_ip;                         // c-ip; IPv6 keeps its "%scope"
  std::optional<std::uint16_t> client_port;      // c-port
  std::string server_ip;                         // s-ip
  std::optional<std::uint16_t> server_port;      // s-port
  std::string protocol;                          // cs-version
  std::string method;                            // cs-method
  std::string url;                               // cs-uri
  std::string site_id;                           // s-siteid
  std::string queue;                             // s-queuename
  std::size_t line = 0;                          // 1-based line in the log

  friend bool operator==(const HttpErrEvent&, const HttpErrEvent&) = default;
};

struct HttpErrLog {
  std::vector<HttpErrEvent> events;  // in file order
  // Events per reason, with "N_Connections_Refused" counted as "Connections_Refused" (see
  // reason_key). An empty reason ("-") is counted under "".
  std::map<std::string, std::uint64_t, std::less<>> reason_counts;
  // Connections refused in total: each Connections_Refused line stands for N of them.
  std::uint64_t refused_connections = 0;
  std::vector<std::string> notes;
};

struct ParsedHttpErr {
  HttpErrLog log;
  std::vector<Diagnostic> diagnostics;  // data lines that do not match their #Fields line
};

// Reads every "#Fields:" block with its own field list (a log restart may change it). Data lines
// before any #Fields line are read with the HTTP API 2.0 default list and a note says so.
// ErrorCode::kInput when the text has neither a "#Software: Microsoft HTTP API" nor a "#Fields:"
// line, i.e. it is not an HTTP.sys error log.
Result<ParsedHttpErr> parse_httperr(std::string_view text);

// True for the reason HTTP.sys logs when it stops accepting connections because nonpaged pool is
// below 20 MB (8 MB with EnableAggressiveMemoryUsage): "Connections_Refused", which it writes with
// the number of refused connections in front ("3_Connections_Refused").
bool is_pool_pressure(std::string_view reason);

// The reason without the "N_" count of Connections_Refused; other reasons unchanged.
std::string_view reason_key(std::string_view reason);

// N of "N_Connections_Refused"; 1 for a bare "Connections_Refused"; 0 for other reasons.
std::uint64_t refused_connection_count(std::string_view reason);

}  // namespace poolscope::parse
