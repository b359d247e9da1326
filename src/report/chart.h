// SVG charts for the HTML report, generated as text: a UTC time axis, a value axis with round
// ticks, series drawn as a min..max band per pixel column (spikes stay visible however long the
// recording) with the mean as a line, fitted trend and forecast lines, pool limits and event
// markers. Portable, no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace poolscope::report {

// One value over an interval of time: the lowest, highest and mean value seen around t (seconds
// since 1970 UTC). A raw sample has lo == hi == mid.
struct Point {
  double t = 0;
  double lo = 0, hi = 0, mid = 0;
};
inline Point raw_point(double t, double value) {
  return {t, value, value, value};
}

// Reduces points (ascending t) to at most one per column of `columns` equal slices of [t0, t1]:
// the lowest lo, the highest hi and the mean mid of the points in the column, at their mean time.
// Points outside [t0, t1] go to the first or last column. Fewer points than columns come back
// unchanged.
std::vector<Point> downsample(std::span<const Point> points, double t0, double t1,
                              std::size_t columns);

enum class Unit { kCount, kBytes };

// Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [lo, hi], about `target` of
// them; for bytes the steps are round in the binary unit the range is shown in (KiB, MiB, GiB).
std::vector<double> value_ticks(double lo, double hi, int target, Unit unit);
// "950", "12.5k", "3.2M"; bytes: "512 B", "12 MiB", "1.5 GiB". `decimals` at most, trailing
// zeros dropped.
std::string value_label(double value, Unit unit, int decimals = 1);
// Labels for ticks: as few decimals as keep neighbouring labels apart ("7.80 MiB", "7.81 MiB").
std::vector<std::string> tick_labels(const std::vector<double>& ticks, Unit unit);

struct TimeTick {
  double t = 0;
  std::string label;  // "10:20", "10:20:30" or "11-28"; a day change adds the date: "11-28 00:00"
};
// Ticks at round times (1 s .. 1 week steps, UTC) covering [t0, t1], about `target` of them.
std::vector<TimeTick> time_ticks(double t0, double t1, int target);

enum class LineStyle {
  kSeries,    // measured values: band (lo..hi) and mean line
  kTrend,     // the detector's fitted trend over its growth window
  kForecast,  // the trend carried on to exhaustion (dashed)
  kReference  // another measured series drawn as a plain line (an imported counter)
};

struct Line {
  std::string label;
  std::vector<Point> points;
  LineStyle style = LineStyle::kSeries;
  int color = 0;  // index into the report's palette (CSS classes c0..c5)
};

// A horizontal line: a pool's limit.
struct Level {
  double value = 0;
  std::string label;
};

// An event on the time axis (an imported httperr Connections_Refused, ...).
struct Marker {
  double t = 0;
  std::string label;
  bool alarm = false;  // drawn red: the event means pool pressure
};

struct Chart {
  std::string title;  // the SVG's accessible name
  Unit unit = Unit::kCount;
  double t0 = 0, t1 = 0;                // the time axis; t1 may reach past the data (forecast)
  std::optional<double> forecast_from;  // the region after this is shaded as the future
  std::vector<Line> lines;
  std::vector<Level> levels;
  std::vector<Marker> markers;
  bool zero_based = false;  // the value axis starts at 0 (totals); else it fits the data
  int width = 760, height = 240;
};

// The chart as one <svg> element. Every text taken from the chart is HTML-escaped. Series are
// down-sampled to the plot's width in pixels; markers that fall in the same pixel column are drawn
// once with their count.
std::string render_svg(const Chart& chart);

// A small chart without axes for a table cell: band and mean line of the points.
std::string render_sparkline(std::span<const Point> points, int width = 160, int height = 30);

// Text for HTML element content and attribute values: & < > " ' escaped; bytes that are not valid
// UTF-8 and control characters other than tab and newline become U+FFFD, so hostile names can
// neither break out of the markup nor make the page invalid.
std::string html_escape(std::string_view text);

}  // namespace poolscope::report
