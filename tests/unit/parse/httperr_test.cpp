#include "parse/httperr.h"

#include <gtest/gtest.h>

#include "core/time_format.h"
#include "test_support.h"

namespace poolscope::parse {
namespace {

// A real HTTPERR log (2015-2018, CRLF, 119 header blocks, IPv6 with %scope): the ground truth of
// ../shared/data/real/perfcounters/SOURCE.md.
TEST(HttpErr, RealLogReasonCounts) {
  POOLSCOPE_REQUIRE_SHARED("perfcounters/httperr1_koytze_learn_python.log");
  auto text =
      testing::read_file(testing::shared_data("perfcounters/httperr1_koytze_learn_python.log"));
  auto parsed = parse_httperr(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const HttpErrLog& log = parsed->log;
  const std::map<std::string, std::uint64_t, std::less<>> expected = {
      {"Timer_ConnectionIdle", 544},  {"N/A", 387},    {"Connection_Abandoned_By_ReqQueue", 73},
      {"Timer_MinBytesPerSecond", 8}, {"Disabled", 4}, {"Verb", 2}};
  EXPECT_EQ(log.reason_counts, expected);
  EXPECT_EQ(log.events.size(), 1018u);
  EXPECT_EQ(log.refused_connections, 0u);  // the negative control: no pool pressure
  for (const auto& event : log.events) EXPECT_FALSE(is_pool_pressure(event.reason));
  EXPECT_TRUE(log.notes.empty());

  const HttpErrEvent& first = log.events.front();
  EXPECT_EQ(format_utc(first.time), "2015-01-15T14:11:38Z");
  EXPECT_EQ(first.line, 5u);
  EXPECT_EQ(first.reason, "N/A");
  EXPECT_EQ(first.status, 503);
  EXPECT_EQ(first.client_ip, "137.58.77.243");
  EXPECT_EQ(first.client_port, 5226);
  EXPECT_EQ(first.server_ip, "141.137.14.125");
  EXPECT_EQ(first.server_port, 5357);
  EXPECT_EQ(first.protocol, "HTTP/1.1");
  EXPECT_EQ(first.method, "POST");
  EXPECT_EQ(first.url, "/11abc6a7-b92d-4dfe-8808-84d2aa2be72c");
  EXPECT_EQ(first.site_id, "");
  EXPECT_EQ(first.queue, "");

  const HttpErrEvent* ipv6 = nullptr;
  for (const auto& event : log.events) {
    if (event.line == 50) ipv6 = &event;
  }
  ASSERT_NE(ipv6, nullptr);
  EXPECT_EQ(format_utc(ipv6->time), "2015-07-08T08:40:57Z");
  EXPECT_EQ(ipv6->client_ip, "fe80::6cae:6333:848c:8157%13");
  EXPECT_EQ(ipv6->client_port, 60494);
  EXPECT_EQ(ipv6->server_ip, "fe80::5c63:97bb:c26c:3710%13");
  EXPECT_FALSE(ipv6->status.has_value());
  EXPECT_EQ(ipv6->method, "");
  EXPECT_EQ(ipv6->reason, "Timer_ConnectionIdle");
  EXPECT_EQ(format_utc(log.events.back().time), "2018-05-24T14:22:23Z");
}

// Own fixture: HTTP.sys writes Connections_Refused with the number refused in front
// ("3_Connections_Refused", seen in published HTTPERR excerpts); a later block adds the
// streamid and transport fields.
TEST(HttpErr, ConnectionsRefusedAndChangingFields) {
  auto text = testing::read_file(testing::test_data("httperr/connections_refused.log"));
  auto parsed = parse_httperr(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->diagnostics.empty());
  const HttpErrLog& log = parsed->log;
  ASSERT_EQ(log.events.size(), 7u);
  const std::map<std::string, std::uint64_t, std::less<>> expected = {
      {"Connections_Refused", 4}, {"QueueFull", 1}, {"Timer_ConnectionIdle", 1}, {"AppOffline", 1}};
  EXPECT_EQ(log.reason_counts, expected);
  EXPECT_EQ(log.refused_connections, 1u + 3u + 4u + 1u);

  EXPECT_EQ(log.events[0].url, "/api/orders?id=7");
  EXPECT_EQ(log.events[0].site_id, "3");
  EXPECT_EQ(log.events[0].queue, "DefaultAppPool");
  EXPECT_FALSE(is_pool_pressure(log.events[0].reason));

  const HttpErrEvent& refused = log.events[2];
  EXPECT_EQ(refused.reason, "3_Connections_Refused");
  EXPECT_TRUE(is_pool_pressure(refused.reason));
  EXPECT_EQ(format_utc(refused.time), "2026-11-20T22:14:46Z");
  EXPECT_EQ(refused.client_ip, "");
  EXPECT_FALSE(refused.client_port.has_value());
  EXPECT_FALSE(refused.status.has_value());
  EXPECT_EQ(refused.line, 7u);

  const HttpErrEvent& bare = log.events[5];
  EXPECT_EQ(bare.reason, "Connections_Refused");
  EXPECT_EQ(format_utc(bare.time), "2026-11-21T06:00:00Z");
  EXPECT_TRUE(is_pool_pressure(bare.reason));

  const HttpErrEvent& h2 = log.events[6];  // fields of the second block
  EXPECT_EQ(h2.status, 503);
  EXPECT_EQ(h2.site_id, "2");
  EXPECT_EQ(h2.reason, "AppOffline");
  EXPECT_EQ(h2.queue, "HealthPool");
  EXPECT_EQ(h2.protocol, "HTTP/2.0");
}

TEST(HttpErr, PoolPressureReasons) {
  EXPECT_TRUE(is_pool_pressure("Connections_Refused"));
  EXPECT_TRUE(is_pool_pressure("12_Connections_Refused"));
  EXPECT_FALSE(is_pool_pressure("_Connections_Refused"));
  EXPECT_FALSE(is_pool_pressure("x_Connections_Refused"));
  EXPECT_FALSE(is_pool_pressure("12Connections_Refused"));
  EXPECT_FALSE(is_pool_pressure("Connections_Refused_2"));
  EXPECT_FALSE(is_pool_pressure("connections_refused"));
  EXPECT_FALSE(is_pool_pressure("ConnLimit"));
  EXPECT_FALSE(is_pool_pressure(""));
  EXPECT_EQ(reason_key("12_Connections_Refused"), "Connections_Refused");
  EXPECT_EQ(reason_key("Timer_AppPool"), "Timer_AppPool");
  EXPECT_EQ(refused_connection_count("12_Connections_Refused"), 12u);
  EXPECT_EQ(refused_connection_count("Connections_Refused"), 1u);
  EXPECT_EQ(refused_connection_count("Timer_AppPool"), 0u);
}

TEST(HttpErr, MalformedLinesAndDefaults) {
  auto parsed = parse_httperr(
      "2002-07-05 20:06:01 172.31.77.6 64388 127.0.0.1 80 - - - - - Timer_MinBytesPerSecond -\n"
      "#Software: Microsoft HTTP API 1.0\n"
      "#Fields: date time c-ip s-reason\n"
      "2002-07-05 20:07:00 1.2.3.4 Timer_AppPool\n"
      "2002-07-05 20:07:00 1.2.3.4\n"                // line 5: too few fields
      "2002-13-05 20:07:00 1.2.3.4 Timer_AppPool\n"  // line 6: month 13
      "2002-07-05 24:00:00 1.2.3.4 Timer_AppPool\n"  // line 7: hour 24
      "#Fields: time c-ip s-reason\n"                // line 8: no date
      "20:07:00 1.2.3.4 Timer_AppPool\n"             // line 9
      "#Fields: date time sc-status c-port s-reason\n"
      "2002-07-05 20:07:00 1000 1 BadStatus\n"   // line 11: status > 999
      "2002-07-05 20:07:00 404 70000 BadPort\n"  // line 12: port > 65535
      "2002-07-05 20:07:00 404 8080 Hostname\n");
  ASSERT_TRUE(parsed.has_value());
  const auto& d = parsed->diagnostics;
  ASSERT_EQ(d.size(), 7u);
  EXPECT_EQ(d[0].line, 5u);
  EXPECT_NE(d[0].message.find("expected 4 space-separated fields"), std::string::npos);
  EXPECT_EQ(d[1].line, 6u);
  EXPECT_EQ(d[2].line, 7u);
  EXPECT_EQ(d[3].line, 8u);
  EXPECT_NE(d[3].message.find("\"date\" and \"time\""), std::string::npos);
  EXPECT_EQ(d[4].line, 9u);
  EXPECT_EQ(d[5].line, 11u);
  EXPECT_EQ(d[6].line, 12u);
  const HttpErrLog& log = parsed->log;
  ASSERT_EQ(log.events.size(), 3u);
  EXPECT_EQ(log.events[0].reason, "Timer_MinBytesPerSecond");  // read with the default fields
  EXPECT_EQ(log.events[0].client_port, 64388);
  EXPECT_EQ(log.events[1].reason, "Timer_AppPool");
  EXPECT_EQ(log.events[2].status, 404);
  EXPECT_EQ(log.events[2].client_port, 8080);
  ASSERT_EQ(log.notes.size(), 1u);
  EXPECT_NE(log.notes[0].find("default fields"), std::string::npos);
}

TEST(HttpErr, NotAnHttpErrLog) {
  for (const char* text : {"", "hello\n", "2002-07-05 20:06:01 a b\n", "#Version: 1.0\n"}) {
    auto parsed = parse_httperr(text);
    ASSERT_FALSE(parsed.has_value()) << text;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInput);
  }
}

}  // namespace
}  // namespace poolscope::parse
