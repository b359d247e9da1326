// `leaks --prometheus` without a Prometheus: URLs, HTTP responses, query_range JSON, and the
// histories the detector gets from them (a leak on one host, not on the other).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "detect/detector.h"
#include "serve/http_client.h"
#include "serve/prometheus_history.h"

namespace poolscope::serve {
namespace {

TEST(PrometheusClient, Urls) {
  auto u = parse_http_url("http://127.0.0.1:9090");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "9090");
  EXPECT_EQ(u->prefix, "");
  u = parse_http_url("http://[::1]:9090/prometheus/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->prefix, "/prometheus");
  EXPECT_EQ(parse_http_url("http://localhost")->port, "80");
  EXPECT_EQ(parse_http_url("https://127.0.0.1:9090").error().code, ErrorCode::kUsage);
  EXPECT_FALSE(parse_http_url("127.0.0.1:9090"));
  EXPECT_FALSE(parse_http_url("http://user:pw@127.0.0.1:9090"));
  EXPECT_FALSE(parse_http_url("http://127.0.0.1:9090/?x"));
}

TEST(PrometheusClient, RemoteHostsAreRefused) {
  auto r = http_get(*parse_http_url("http://192.0.2.1:9090"), "/api/v1/query?query=up");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("only talks to loopback"), std::string::npos)
      << r.error().message;
}

TEST(PrometheusClient, Responses) {
  auto r = parse_http_response(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(r->body, "abcdefg");
  r = parse_http_response("HTTP/1.0 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}trailing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "{}");
  EXPECT_FALSE(parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"));
  EXPECT_FALSE(parse_http_response("SSH-2.0-OpenSSH\r\n\r\n"));
  EXPECT_FALSE(parse_http_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
  EXPECT_EQ(url_encode("a{b=\"c\"} d"), "a%7Bb%3D%22c%22%7D%20d");
}

TEST(PrometheusClient, Matchers) {
  EXPECT_EQ(with_matchers("m", "").value(), "m");
  EXPECT_EQ(with_matchers("m", "{job=\"a\"}").value(), "m{job=\"a\"}");
  EXPECT_EQ(with_matchers("m", "instance=~\"web.*\"").value(), "m{instance=~\"web.*\"}");
  EXPECT_FALSE(with_matchers("m", "up{job=\"a\"}"));
  EXPECT_FALSE(with_matchers("m", "{job=\"a\""));
  EXPECT_FALSE(with_matchers("m", "web01"));
}

std::string matrix(const std::string& instance, const std::string& key, const std::string& pool,
                   double slope) {
  std::string values;
  for (int i = 0; i < 400; ++i) {
    if (i) values += ",";
    values += fmt::format("[{},\"{}\"]", 1'790'000'000 + 15 * i,
                          5000 + static_cast<long long>(slope * i) + (i * 7919) % 13);
  }
  return fmt::format(R"({{"metric":{{"__name__":"poolscope_key_outstanding_objects",)"
                     R"("instance":"{}","job":"poolscope","key":"{}","pool":"{}","owner":"o"}},)"
                     R"("values":[{}]}})",
                     instance, key, pool, values);
}

TEST(PrometheusClient, QueryRangeBecomesOneHistoryPerHost) {
  const std::string body = R"({"status":"success","data":{"resultType":"matrix","result":[)" +
                           matrix("web01:9469", "kmalloc-64", "unreclaimable", 10) + "," +
                           matrix("web01:9469", "dentry", "reclaimable", 0) + "," +
                           matrix("web02:9469", "kmalloc-64", "unreclaimable", 0) + "]}}";
  auto series = parse_query_range(body);
  ASSERT_TRUE(series) << series.error().message;
  ASSERT_EQ(series->size(), 3u);
  EXPECT_EQ((*series)[0].labels.at("key"), "kmalloc-64");
  EXPECT_EQ((*series)[0].points.size(), 400u);
  PromData data;
  data.outstanding = *series;
  auto histories = histories_from_prometheus(data, 256);
  ASSERT_EQ(histories.size(), 2u);
  EXPECT_EQ(histories[0].first, "web01:9469");
  EXPECT_EQ(histories[1].first, "web02:9469");
  EXPECT_EQ(histories[0].second.samples(), 400);
  const detect::Report leaking = detect::analyze(histories[0].second);
  ASSERT_EQ(leaking.findings.size(), 1u);
  EXPECT_EQ(leaking.findings[0].key, slab_cache("kmalloc-64"));
  EXPECT_EQ(leaking.findings[0].owner, "o");
  EXPECT_EQ(leaking.findings[0].verdict, detect::Verdict::kLeak);
  EXPECT_NEAR(*leaking.findings[0].rate_objects_per_hour, 10.0 * 3600 / 15, 100);
  EXPECT_TRUE(detect::analyze(histories[1].second).findings.empty());
}

TEST(PrometheusClient, ErrorAnswersSayWhatPrometheusSaid) {
  auto r = parse_query_range(
      R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected"})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("parse error: unexpected"), std::string::npos);
  EXPECT_FALSE(parse_query_range("<html>"));
  EXPECT_FALSE(parse_query_range(R"({"status":"success","data":{"resultType":"vector"}})"));
}

TEST(PrometheusFleet, InstancesAreListedFromTheLabelValuesApi) {
  auto values = parse_label_values(R"({"status":"success","data":["web1:9100","web2:9100"]})");
  ASSERT_TRUE(values.has_value()) << values.error().message;
  EXPECT_EQ(*values, (std::vector<std::string>{"web1:9100", "web2:9100"}));
  auto refused = parse_label_values(R"({"status":"error","error":"bad matcher"})");
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("bad matcher"), std::string::npos);
  EXPECT_FALSE(parse_label_values(R"({"status":"success","data":[1]})").has_value());
  EXPECT_FALSE(parse_label_values("not json").has_value());
}

TEST(PrometheusFleet, InstanceMatchersEscapeRegexAndQuotes) {
  EXPECT_EQ(instance_matcher({"web1:9100"}), R"(instance="web1:9100")");
  // Dots and other metacharacters match only themselves: "web1.a" must not match "web1xa".
  // In PromQL's double quotes the regex's backslashes are doubled.
  EXPECT_EQ(instance_matcher({"web1.a:9100", "db(2)"}), R"x(instance=~"web1\\.a:9100|db\\(2\\)")x");
  EXPECT_EQ(instance_matcher({"a\"b"}), R"x(instance="a\"b")x");
  auto query = with_matchers("m", "{job=\"p\"}", instance_matcher({"h:1"}));
  ASSERT_TRUE(query.has_value());
  EXPECT_EQ(*query, R"(m{job="p",instance="h:1"})");
  query = with_matchers("m", "", instance_matcher({"h:1"}));
  ASSERT_TRUE(query.has_value());
  EXPECT_EQ(*query, R"(m{instance="h:1"})");
  query = with_matchers("m", "{job=\"p\"}", "");
  ASSERT_TRUE(query.has_value());
  EXPECT_EQ(*query, R"(m{job="p"})");
}

detect::Report report_with(std::vector<std::pair<std::string, detect::Verdict>> keys) {
  detect::Report report;
  for (const auto& [name, verdict] : keys) {
    detect::Finding f;
    f.key = slab_cache(name);
    f.pool = PoolKind::kUnreclaimable;
    f.verdict = verdict;
    f.rate_bytes_per_hour = verdict == detect::Verdict::kLeak ? 3600.0 * 1024 : 1024.0;
    report.findings.push_back(f);
  }
  return report;
}

TEST(PrometheusFleet, TheSummaryCountsHostsPerLeakingKey) {
  FleetSummary fleet;
  fleet.add("a",
            report_with({{"filp", detect::Verdict::kLeak}, {"dentry", detect::Verdict::kSuspect}}));
  fleet.add("b", report_with({{"filp", detect::Verdict::kLeak}}));
  fleet.add("c", report_with({}));
  fleet.add("d", report_with({{"dentry", detect::Verdict::kSuspect}}));
  EXPECT_EQ(fleet.hosts(), 4u);
  EXPECT_EQ(fleet.hosts_with_leak(), 2u);
  const auto j = fleet.json();
  EXPECT_EQ(j["hosts_with_suspect_only"], 1);
  ASSERT_EQ(j["keys"].size(), 2u);
  EXPECT_EQ(j["keys"][0]["key"], "filp");
  EXPECT_EQ(j["keys"][0]["leak_hosts"], 2);
  EXPECT_EQ(j["keys"][0]["suspect_hosts"], 0);
  EXPECT_EQ(j["keys"][0]["median_rate_bytes_per_hour"], 3600.0 * 1024);
  EXPECT_EQ(j["keys"][0]["example_hosts"], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(j["keys"][1]["key"], "dentry");
  EXPECT_EQ(j["keys"][1]["suspect_hosts"], 2);
  const std::string text = fleet.text();
  EXPECT_NE(text.find("== fleet: 4 host(s), 2 with a leak, 1 with a suspect only =="),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("3.5 MiB/h"), std::string::npos) << text;
}

TEST(PrometheusFleet, LeakingHostsAreTheExamplesShownFirst) {
  FleetSummary fleet;
  for (int i = 0; i < 7; ++i) {
    fleet.add("s" + std::to_string(i), report_with({{"filp", detect::Verdict::kSuspect}}));
  }
  fleet.add("leaker", report_with({{"filp", detect::Verdict::kLeak}}));
  const auto j = fleet.json();
  ASSERT_EQ(j["keys"][0]["example_hosts"].size(), FleetSummary::kExampleHosts);
  EXPECT_EQ(j["keys"][0]["example_hosts"][0], "leaker");
  EXPECT_NE(fleet.text().find("(+3 more)"), std::string::npos) << fleet.text();
}

}  // namespace
}  // namespace poolscope::serve
