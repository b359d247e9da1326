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

}  // namespace
}  // namespace poolscope::serve
