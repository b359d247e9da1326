// The report's SVG charts: escaping of hostile text, min/max down-sampling, round ticks and time
// labels, and charts of empty, one-point and week-long series.
#include "report/chart.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace poolscope::report {
namespace {

constexpr double kT0 = 1'790'000'000;  // 2026-09-21T...Z

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

TEST(HtmlEscape, MarkupCharactersAreEscaped) {
  EXPECT_EQ(html_escape("<script>alert('x')</script>&\"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;y&quot;");
  EXPECT_EQ(html_escape("kmalloc-64"), "kmalloc-64");
}

TEST(HtmlEscape, InvalidUtf8AndControlsBecomeReplacementCharacters) {
  EXPECT_EQ(html_escape("a\xff"
                        "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(html_escape("\x01\x7f"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  // Overlong '/', a lone surrogate, a truncated sequence at the end.
  EXPECT_EQ(html_escape("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(html_escape("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(html_escape("x\xE2\x82"), "x\xEF\xBF\xBD\xEF\xBF\xBD");
  // Valid UTF-8 (a cp1251 counter name decoded on import) and tab/newline stay.
  EXPECT_EQ(html_escape("Процесс(Idle)\t€\n"), "Процесс(Idle)\t€\n");
}

TEST(Downsample, KeepsTheSpikesOfAWeekOfOneHertzSamples) {
  std::vector<Point> week;
  const int n = 7 * 24 * 3600;
  week.reserve(n);
  for (int i = 0; i < n; ++i) week.push_back(raw_point(kT0 + i, 1000 + (i % 7)));
  week[123457] = raw_point(kT0 + 123457, 9999);  // one 1-second spike
  week[500000] = raw_point(kT0 + 500000, 3);     // and one dip
  const auto out = downsample(week, kT0, kT0 + n - 1, 800);
  EXPECT_LE(out.size(), 800u);
  EXPECT_GE(out.size(), 799u);
  const auto hi = std::max_element(out.begin(), out.end(),
                                   [](const Point& a, const Point& b) { return a.hi < b.hi; });
  const auto lo = std::min_element(out.begin(), out.end(),
                                   [](const Point& a, const Point& b) { return a.lo < b.lo; });
  EXPECT_EQ(hi->hi, 9999);
  EXPECT_EQ(lo->lo, 3);
  // The spike's column still has an ordinary mean, and its time is inside the column.
  EXPECT_LT(hi->mid, 1100);
  EXPECT_NEAR(hi->t, kT0 + 123457, n / 800.0);
  // Columns are in time order.
  EXPECT_TRUE(std::is_sorted(out.begin(), out.end(),
                             [](const Point& a, const Point& b) { return a.t < b.t; }));
}

TEST(Downsample, FewPointsComeBackUnchanged) {
  const std::vector<Point> two = {raw_point(kT0, 21), raw_point(kT0 + 300, 27)};
  const auto out = downsample(two, kT0, kT0 + 300, 800);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].hi, 27);
  EXPECT_TRUE(downsample({}, 0, 1, 10).empty());
}

TEST(Ticks, ValueTicksAreRound) {
  EXPECT_EQ(value_ticks(0, 100, 5, Unit::kCount), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  EXPECT_EQ(value_ticks(21, 27, 5, Unit::kCount), (std::vector<double>{22, 24, 26}));
  EXPECT_EQ(value_ticks(21, 27, 10, Unit::kCount),
            (std::vector<double>{21, 22, 23, 24, 25, 26, 27}));
  // Bytes: round in MiB.
  const auto mib = value_ticks(0, 3.0 * 1024 * 1024, 5, Unit::kBytes);
  ASSERT_FALSE(mib.empty());
  for (double v : mib) EXPECT_EQ(std::fmod(v, 512.0 * 1024), 0) << v;
  EXPECT_EQ(value_ticks(5, 5, 5, Unit::kCount), (std::vector<double>{5}));
}

TEST(Ticks, ValueLabels) {
  EXPECT_EQ(value_label(950, Unit::kCount), "950");
  EXPECT_EQ(value_label(12500, Unit::kCount), "12.5k");
  EXPECT_EQ(value_label(3'200'000, Unit::kCount), "3.2M");
  EXPECT_EQ(value_label(2.5, Unit::kCount), "2.5");
  EXPECT_EQ(value_label(512, Unit::kBytes), "512 B");
  EXPECT_EQ(value_label(1536, Unit::kBytes), "1.5 KiB");
  EXPECT_EQ(value_label(12.0 * 1024 * 1024, Unit::kBytes), "12 MiB");
  EXPECT_EQ(value_label(1.5 * 1024 * 1024 * 1024, Unit::kBytes), "1.5 GiB");
}

TEST(Ticks, LabelsOfANarrowRangeKeepNeighboursApart) {
  // The paged pool of the Drsd pair: 7.80 to 7.81 MiB.
  const auto ticks = value_ticks(7.80 * 1048576, 7.81 * 1048576, 5, Unit::kBytes);
  const auto labels = tick_labels(ticks, Unit::kBytes);
  ASSERT_GE(labels.size(), 3u);
  for (std::size_t i = 1; i < labels.size(); ++i) EXPECT_NE(labels[i], labels[i - 1]) << i;
  EXPECT_TRUE(labels[0].ends_with(" MiB")) << labels[0];
  EXPECT_EQ(tick_labels({0, 20, 40}, Unit::kCount), (std::vector<std::string>{"0", "20", "40"}));
}

TEST(Ticks, TimeLabelsFollowTheSpan) {
  // 2 hours from 2026-11-21T09:00:00Z: 15- or 30-minute steps, the date on the first label only.
  const double t0 = 1'795'251'600;
  const auto hours = time_ticks(t0, t0 + 7200, 8);
  ASSERT_GE(hours.size(), 4u);
  EXPECT_EQ(hours[0].label, "11-21 09:00");
  EXPECT_EQ(hours[1].label.size(), 5u) << hours[1].label;
  // A week: one label a day, as month-day.
  const auto week = time_ticks(t0, t0 + 7 * 86400, 8);
  ASSERT_GE(week.size(), 7u);
  EXPECT_EQ(week[0].label, "11-22");
  // 90 seconds: 15-second steps, seconds shown.
  const auto short_span = time_ticks(t0, t0 + 90, 6);
  EXPECT_EQ(short_span[1].label, "09:00:15");
  EXPECT_TRUE(time_ticks(t0, t0, 5).empty());
}

// Issue 20: imported events years before the samples gave a tick every 4 weeks ("01-29", "02-26"
// ... 64 labels 5 px apart, no year): now months or years, labelled with the year.
TEST(Ticks, YearsApartGaveAFourWeekTickEveryFivePixelsWithoutTheYear) {
  const double t0 = 1'546'300'800;  // 2019-01-01T00:00:00Z
  const double t1 = 1'795'251'600;  // 2026-11-21T09:00:00Z
  const auto years = time_ticks(t0, t1, 8);
  ASSERT_GE(years.size(), 3u);
  EXPECT_LE(years.size(), 8u);
  EXPECT_EQ(years[0].label, "2019");  // t0 itself is a year boundary
  EXPECT_EQ(years[0].t, t0);
  for (const auto& tick : years) EXPECT_EQ(tick.label.size(), 4u) << tick.label;
  // Ten months: month ticks as YYYY-MM.
  const auto months = time_ticks(t1 - 300 * 86400, t1, 6);
  ASSERT_GE(months.size(), 3u);
  EXPECT_LE(months.size(), 6u);
  EXPECT_EQ(months[0].label.size(), 7u) << months[0].label;
  EXPECT_EQ(months[0].label.substr(0, 5), "2026-") << months[0].label;
  // Days across New Year: the year on the tick where it changes.
  const auto new_year = time_ticks(1'798'761'600 - 3 * 86400, 1'798'761'600 + 3 * 86400, 8);
  bool said = false;
  for (const auto& tick : new_year) said |= tick.label == "2027-01-01";
  EXPECT_TRUE(said);
}

TEST(RenderSvg, EmptyChartSaysSoAndHasNoNumbersThatAreNot) {
  Chart c;
  c.title = "empty";
  const std::string svg = render_svg(c);
  EXPECT_TRUE(svg.starts_with("<svg class=\"chart\""));
  EXPECT_TRUE(svg.ends_with("</svg>"));
  EXPECT_NE(svg.find("no data in this recording"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(RenderSvg, OnePointIsDrawnAsADot) {
  Chart c;
  c.title = "one";
  c.t0 = c.t1 = kT0;
  c.lines.push_back({"Drsd", {raw_point(kT0, 27)}, LineStyle::kSeries, 0});
  const std::string svg = render_svg(c);
  EXPECT_EQ(count(svg, "<circle class=\"dot c0\""), 1u);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(RenderSvg, HostileTextIsEscapedEverywhere) {
  Chart c;
  c.title = "<script>alert(1)</script>";
  c.t0 = kT0;
  c.t1 = kT0 + 10;
  c.lines.push_back(
      {"\"><img src=x onerror=alert(2)>", {raw_point(kT0, 1), raw_point(kT0 + 10, 2)}});
  c.levels.push_back({5, "</svg><script>"});
  c.markers.push_back({kT0 + 5, "<b onmouseover=x>", true});
  const std::string svg = render_svg(c);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("<img"), std::string::npos);
  EXPECT_EQ(svg.find("<b "), std::string::npos);
  EXPECT_EQ(count(svg, "</svg>"), 1u);
  EXPECT_NE(svg.find("&lt;script&gt;alert(1)"), std::string::npos);
}

TEST(RenderSvg, NanAndInfiniteValuesAreLeftOut) {
  Chart c;
  c.title = "hostile counter";
  c.t0 = kT0;
  c.t1 = kT0 + 3;
  c.lines.push_back({"x",
                     {raw_point(kT0, 5), raw_point(kT0 + 1, std::nan("")),
                      raw_point(kT0 + 2, HUGE_VAL), raw_point(kT0 + 3, 7)}});
  const std::string svg = render_svg(c);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_EQ(count(svg, "<circle class=\"dot c0\""), 2u);
}

TEST(RenderSvg, AWeekOfOneHertzStaysSmall) {
  Chart c;
  c.title = "week";
  c.t0 = kT0;
  c.t1 = kT0 + 7 * 86400;
  std::vector<Point> week;
  for (int i = 0; i < 7 * 86400; ++i) week.push_back(raw_point(kT0 + i, 20000 + i / 60 + i % 13));
  c.lines.push_back({"cache-299", std::move(week)});
  const std::string svg = render_svg(c);
  // One point per pixel column of the 680-pixel plot, band and line: tens of KB, not megabytes.
  EXPECT_LT(svg.size(), 60'000u);
  // (No std::regex: libstdc++'s recursive matcher overflows the 1 MB Windows stack on this.)
  const std::string attribute = "points=\"";
  const auto begin = svg.find(attribute);
  ASSERT_NE(begin, std::string::npos);
  const auto end = svg.find('"', begin + attribute.size());
  ASSERT_NE(end, std::string::npos);
  EXPECT_LE(std::count(svg.begin() + static_cast<std::ptrdiff_t>(begin + attribute.size()),
                       svg.begin() + static_cast<std::ptrdiff_t>(end), ','),
            2 * 700);
  // Axis labels: days.
  EXPECT_NE(svg.find(">09-22<"), std::string::npos) << svg.substr(0, 2000);
}

TEST(RenderSvg, MarkersInOnePixelAreOneMarkWithTheirCount) {
  Chart c;
  c.title = "events";
  c.t0 = kT0;
  c.t1 = kT0 + 86400;
  c.lines.push_back({"x", {raw_point(kT0, 1), raw_point(kT0 + 86400, 2)}});
  for (int i = 0; i < 1000; ++i) c.markers.push_back({kT0 + 3600 + i * 0.01, "refused", i == 7});
  const std::string svg = render_svg(c);
  EXPECT_EQ(count(svg, "<g class=\"marker"), 1u);
  EXPECT_NE(svg.find("<g class=\"marker alarm\"><title>1000 events: "), std::string::npos);
}

TEST(RenderSvg, TrendForecastAndLimitAreDrawn) {
  Chart c;
  c.title = "filp";
  c.t0 = kT0;
  c.t1 = kT0 + 200;
  c.forecast_from = kT0 + 120;
  c.lines.push_back({"filp", {raw_point(kT0, 1444), raw_point(kT0 + 120, 3580)}});
  c.lines.push_back(
      {"fitted trend", {raw_point(kT0, 1444), raw_point(kT0 + 120, 3580)}, LineStyle::kTrend});
  c.lines.push_back(
      {"forecast", {raw_point(kT0 + 120, 3580), raw_point(kT0 + 200, 5000)}, LineStyle::kForecast});
  c.levels.push_back({6000, "limit"});
  const std::string svg = render_svg(c);
  EXPECT_EQ(count(svg, "<polyline class=\"trend\""), 1u);
  EXPECT_EQ(count(svg, "<polyline class=\"forecast\""), 1u);
  EXPECT_EQ(count(svg, "<rect class=\"future\""), 1u);
  EXPECT_EQ(count(svg, "<line class=\"limit\""), 1u);
}

TEST(RenderSparkline, FlatAndEmpty) {
  EXPECT_EQ(render_sparkline({}), render_sparkline({}));
  const std::vector<Point> flat = {raw_point(kT0, 5), raw_point(kT0 + 1, 5)};
  const std::string s = render_sparkline(flat);
  EXPECT_NE(s.find("<polyline class=\"line c0\""), std::string::npos);
  EXPECT_EQ(s.find("nan"), std::string::npos);
}

}  // namespace
}  // namespace poolscope::report
