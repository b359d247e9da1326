#include "report/chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/time_format.h"

namespace poolscope::report {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one (overlong forms,
// surrogates and code points above U+10FFFF are not valid).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return n;
}

std::string fmt1(double v) {
  return fmt::format("{:.1f}", v);
}

// "12.5" / "12" (at most `decimals` decimals, trailing zeros dropped).
std::string short_number(double v, int decimals = 1) {
  std::string s = fmt::format("{:.{}f}", v, decimals);
  if (s.find('.') != std::string::npos) {
    while (s.ends_with('0')) s.pop_back();
    if (s.ends_with('.')) s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

double bytes_scale(double magnitude) {
  double scale = 1;
  while (magnitude / scale >= 1024 && scale < 1024.0 * 1024 * 1024 * 1024) scale *= 1024;
  return scale;
}

std::string utc_text(double t) {
  const auto tp = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(t)));
  return format_utc(tp);  // "2026-11-21T11:40:02Z"
}

const char* kPalette = "c";  // CSS classes c0..c5

int palette_index(int color) {
  return ((color % 6) + 6) % 6;
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          if ((u < 0x20 && c != '\t' && c != '\n') || u == 0x7F) {
            out += kReplacement;
          } else {
            out += c;
          }
      }
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence(text, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

std::vector<Point> downsample(std::span<const Point> points, double t0, double t1,
                              std::size_t columns) {
  if (columns == 0 || points.size() <= columns || !(t1 > t0)) {
    return {points.begin(), points.end()};
  }
  struct Column {
    double t_sum = 0, mid_sum = 0;
    double lo = std::numeric_limits<double>::infinity();
    double hi = -std::numeric_limits<double>::infinity();
    std::size_t n = 0;
  };
  std::vector<Column> cols(columns);
  const double width = (t1 - t0) / static_cast<double>(columns);
  for (const Point& p : points) {
    double c = std::floor((p.t - t0) / width);
    c = std::clamp(c, 0.0, static_cast<double>(columns - 1));
    Column& col = cols[static_cast<std::size_t>(c)];
    col.t_sum += p.t;
    col.mid_sum += p.mid;
    col.lo = std::min(col.lo, p.lo);
    col.hi = std::max(col.hi, p.hi);
    ++col.n;
  }
  std::vector<Point> out;
  for (const Column& col : cols) {
    if (col.n == 0) continue;
    const auto n = static_cast<double>(col.n);
    out.push_back({col.t_sum / n, col.lo, col.hi, col.mid_sum / n});
  }
  return out;
}

std::vector<double> value_ticks(double lo, double hi, int target, Unit unit) {
  std::vector<double> ticks;
  if (!std::isfinite(lo) || !std::isfinite(hi) || target < 1) return ticks;
  if (hi < lo) std::swap(lo, hi);
  const double scale =
      unit == Unit::kBytes ? bytes_scale(std::max(std::fabs(lo), std::fabs(hi))) : 1;
  const double range = (hi - lo) / scale;
  if (range <= 0) {
    ticks.push_back(lo);
    return ticks;
  }
  const double raw = range / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude * 10;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (raw <= m * magnitude) {
      step = m * magnitude;
      break;
    }
  }
  const double first = std::ceil(lo / scale / step - 1e-9) * step;
  for (double v = first; v <= hi / scale + step * 1e-9 && ticks.size() < 64; v += step) {
    ticks.push_back((std::fabs(v) < step * 1e-9 ? 0 : v) * scale);
  }
  return ticks;
}

std::string value_label(double value, Unit unit, int decimals) {
  const double a = std::fabs(value);
  if (unit == Unit::kBytes) {
    static constexpr std::array<const char*, 5> kUnits = {"B", "KiB", "MiB", "GiB", "TiB"};
    const double scale = bytes_scale(a);
    std::size_t i = 0;
    for (double s = scale; s >= 1024; s /= 1024) ++i;
    return short_number(value / scale, decimals) + " " + kUnits[i];
  }
  if (a >= 1e9) return short_number(value / 1e9, decimals) + "G";
  if (a >= 1e6) return short_number(value / 1e6, decimals) + "M";
  if (a >= 1e4) return short_number(value / 1e3, decimals) + "k";
  if (a >= 100 && decimals <= 1) return fmt::format("{:.0f}", value);
  return short_number(value, decimals);
}

std::vector<std::string> tick_labels(const std::vector<double>& ticks, Unit unit) {
  std::vector<std::string> labels;
  for (int decimals = 1; decimals <= 6; ++decimals) {
    labels.clear();
    bool distinct = true;
    for (double v : ticks) {
      labels.push_back(value_label(v, unit, decimals));
      if (labels.size() > 1 && labels[labels.size() - 2] == labels.back()) distinct = false;
    }
    if (distinct) break;
  }
  return labels;
}

// Spans of months and years (imported events years before the samples): ticks on the first of a
// month, every `months`, labelled "YYYY-MM", or "YYYY" from a year up.
std::vector<TimeTick> calendar_ticks(double t0, double t1, int target) {
  using namespace std::chrono;
  static constexpr std::array<int, 10> kMonths = {1, 2, 3, 6, 12, 24, 60, 120, 240, 600};
  const double month_seconds = 30.436875 * 86400;
  int months = kMonths.back();
  for (int m : kMonths) {
    if ((t1 - t0) / (m * month_seconds) <= target) {
      months = m;
      break;
    }
  }
  const auto first_day =
      year_month_day{floor<days>(sys_seconds{seconds{static_cast<long long>(std::floor(t0))}})};
  long long index = static_cast<long long>(int(first_day.year())) * 12 +
                    static_cast<long long>(unsigned(first_day.month())) - 1;
  index = (index + months - 1) / months * months;  // the first boundary on or after t0's month
  std::vector<TimeTick> ticks;
  for (; ticks.size() < 64; index += months) {
    const year_month_day day{year{static_cast<int>(index / 12)},
                             month{static_cast<unsigned>(index % 12 + 1)}, std::chrono::day{1}};
    const double t = static_cast<double>(sys_days{day}.time_since_epoch() / seconds{1});
    if (t < t0) continue;
    if (t > t1) break;
    const std::string utc = utc_text(t);
    ticks.push_back({t, months >= 12 ? utc.substr(0, 4) : utc.substr(0, 7)});
  }
  return ticks;
}

std::vector<TimeTick> time_ticks(double t0, double t1, int target) {
  static constexpr std::array<double, 21> kSteps = {
      1,    2,    5,    10,    15,    30,    60,    120,    300,    600,    900,
      1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2419200};
  std::vector<TimeTick> ticks;
  if (!std::isfinite(t0) || !std::isfinite(t1) || t1 <= t0 || target < 1) return ticks;
  if ((t1 - t0) / kSteps.back() > target) return calendar_ticks(t0, t1, target);
  double step = kSteps.back();
  for (double s : kSteps) {
    if ((t1 - t0) / s <= target) {
      step = s;
      break;
    }
  }
  std::string previous_date, previous_year;
  for (double t = std::ceil(t0 / step) * step; t <= t1 && ticks.size() < 64; t += step) {
    const std::string utc = utc_text(t);  // YYYY-MM-DDTHH:MM:SSZ
    const std::string date = utc.substr(5, 5);
    const std::string year = utc.substr(0, 4);
    std::string label;
    if (step >= 86400) {
      // The year where it changes between two ticks (a span across New Year).
      label = !previous_year.empty() && year != previous_year ? year + "-" + date : date;
    } else {
      label = step < 60 ? utc.substr(11, 8) : utc.substr(11, 5);
      if (date != previous_date) label = date + " " + label;
    }
    previous_date = date;
    previous_year = year;
    ticks.push_back({t, label});
  }
  return ticks;
}

std::string render_svg(const Chart& chart) {
  constexpr int kLeft = 64, kRight = 16, kTop = 30, kBottom = 24;
  const int width = std::max(chart.width, kLeft + kRight + 40);
  const int height = std::max(chart.height, kTop + kBottom + 40);
  const double pw = width - kLeft - kRight, ph = height - kTop - kBottom;
  double t0 = chart.t0, t1 = chart.t1;
  if (!(t1 > t0)) {  // one instant: give it a second either side
    t0 -= 1;
    t1 += 1;
  }
  const auto columns = static_cast<std::size_t>(pw);

  // Series down-sampled to the plot's pixel columns; the value range over everything drawn.
  std::vector<std::vector<Point>> drawn;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const Line& line : chart.lines) {
    // A NaN or infinite value (a hostile counter log) is not drawn at all.
    std::vector<Point> finite;
    finite.reserve(line.points.size());
    for (const Point& p : line.points) {
      if (std::isfinite(p.t) && std::isfinite(p.lo) && std::isfinite(p.hi) &&
          std::isfinite(p.mid)) {
        finite.push_back(p);
      }
    }
    drawn.push_back(line.style == LineStyle::kSeries || line.style == LineStyle::kReference
                        ? downsample(finite, t0, t1, columns)
                        : std::move(finite));
    for (const Point& p : drawn.back()) {
      lo = std::min(lo, p.lo);
      hi = std::max(hi, p.hi);
    }
  }
  for (const Level& level : chart.levels) {
    if (!std::isfinite(level.value)) continue;
    lo = std::min(lo, level.value);
    hi = std::max(hi, level.value);
  }
  const bool has_data = std::isfinite(lo);
  if (!has_data) {
    lo = 0;
    hi = 1;
  }
  if (chart.zero_based) lo = std::min(lo, 0.0);
  if (hi - lo <= 0) {
    const double pad = std::max(1.0, std::fabs(hi) * 0.05);
    lo -= chart.zero_based && lo >= 0 ? 0 : pad;
    hi += pad;
  } else {
    const double pad = (hi - lo) * 0.06;
    if (!(chart.zero_based && lo == 0)) lo -= pad;
    hi += pad;
  }
  const auto x = [&](double t) { return kLeft + (t - t0) / (t1 - t0) * pw; };
  const auto y = [&](double v) { return kTop + (hi - v) / (hi - lo) * ph; };

  std::string s;
  s.reserve(16384);
  s += fmt::format(
      "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" "
      "width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"{}\">",
      width, height, width, height, html_escape(chart.title));
  s += "<title>" + html_escape(chart.title) + "</title>";
  s += fmt::format("<rect class=\"plot\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>", kLeft,
                   kTop, fmt1(pw), fmt1(ph));
  if (chart.forecast_from && *chart.forecast_from < t1) {
    const double fx = std::max<double>(kLeft, x(*chart.forecast_from));
    s += fmt::format(
        "<rect class=\"future\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>"
        "<text class=\"ax\" x=\"{}\" y=\"{}\">forecast</text>",
        fmt1(fx), kTop, fmt1(kLeft + pw - fx), fmt1(ph), fmt1(fx + 4), kTop + 12);
  }
  const std::vector<double> ticks = value_ticks(lo, hi, 5, chart.unit);
  const std::vector<std::string> labels = tick_labels(ticks, chart.unit);
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const double yy = y(ticks[i]);
    s += fmt::format(
        "<line class=\"grid\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>"
        "<text class=\"ax\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        kLeft, fmt1(yy), fmt1(kLeft + pw), fmt1(yy), kLeft - 6, fmt1(yy + 4),
        html_escape(labels[i]));
  }
  const int time_target = std::max(2, static_cast<int>(pw / 110));
  for (const TimeTick& tick : time_ticks(t0, t1, time_target)) {
    const double xx = x(tick.t);
    s += fmt::format(
        "<line class=\"grid\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>"
        "<text class=\"ax\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        fmt1(xx), kTop, fmt1(xx), fmt1(kTop + ph), fmt1(xx), height - 8, html_escape(tick.label));
  }
  for (const Level& level : chart.levels) {
    if (!std::isfinite(level.value)) continue;
    const double yy = y(level.value);
    s += fmt::format(
        "<line class=\"limit\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>"
        "<text class=\"limit-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        kLeft, fmt1(yy), fmt1(kLeft + pw), fmt1(yy), fmt1(kLeft + pw - 4), fmt1(yy - 4),
        html_escape(level.label));
  }
  // Events: one mark per pixel column, with how many fell there.
  {
    struct Group {
      std::size_t n = 0;
      bool alarm = false;
      std::vector<const Marker*> first;
    };
    std::vector<Group> groups(columns + 1);
    for (const Marker& m : chart.markers) {
      if (!std::isfinite(m.t) || m.t < t0 || m.t > t1) continue;
      const auto c = static_cast<std::size_t>(std::clamp(x(m.t) - kLeft, 0.0, pw));
      Group& g = groups[std::min(c, columns)];
      ++g.n;
      g.alarm = g.alarm || m.alarm;
      if (g.first.size() < 3) g.first.push_back(&m);
    }
    for (std::size_t c = 0; c < groups.size(); ++c) {
      const Group& g = groups[c];
      if (g.n == 0) continue;
      std::string tip = g.n == 1 ? "" : fmt::format("{} events: ", g.n);
      for (std::size_t i = 0; i < g.first.size(); ++i) {
        if (i) tip += "; ";
        tip += utc_text(g.first[i]->t) + " " + g.first[i]->label;
      }
      if (g.n > g.first.size()) tip += "; ...";
      const double xx = kLeft + static_cast<double>(c) + 0.5;
      s += fmt::format(
          "<g class=\"marker{}\"><title>{}</title><line x1=\"{}\" y1=\"{}\" x2=\"{}\" "
          "y2=\"{}\"/><path d=\"M{} {}l-4 -7h8z\"/></g>",
          g.alarm ? " alarm" : "", html_escape(tip), fmt1(xx), kTop, fmt1(xx), fmt1(kTop + ph),
          fmt1(xx), kTop);
    }
  }
  for (std::size_t i = 0; i < chart.lines.size(); ++i) {
    const Line& line = chart.lines[i];
    const std::vector<Point>& pts = drawn[i];
    if (pts.empty()) continue;
    const std::string color = fmt::format("{}{}", kPalette, palette_index(line.color));
    std::string mid;
    for (const Point& p : pts) {
      if (!mid.empty()) mid += ' ';
      mid += fmt1(x(p.t)) + "," + fmt1(y(p.mid));
    }
    switch (line.style) {
      case LineStyle::kSeries: {
        const bool band =
            std::any_of(pts.begin(), pts.end(), [](const Point& p) { return p.hi > p.lo; });
        if (band && pts.size() > 1) {
          std::string poly;
          for (const Point& p : pts) poly += fmt1(x(p.t)) + "," + fmt1(y(p.hi)) + " ";
          for (auto it = pts.rbegin(); it != pts.rend(); ++it) {
            poly += fmt1(x(it->t)) + "," + fmt1(y(it->lo)) + " ";
          }
          poly.pop_back();
          s += "<polygon class=\"band " + color + "\" points=\"" + poly + "\"/>";
        }
        s += "<polyline class=\"line " + color + "\" points=\"" + mid + "\"/>";
        if (pts.size() <= 32) {  // few samples (a before/after pair): show each one
          for (const Point& p : pts) {
            s += fmt::format("<circle class=\"dot {}\" cx=\"{}\" cy=\"{}\" r=\"3\"/>", color,
                             fmt1(x(p.t)), fmt1(y(p.mid)));
          }
        }
        break;
      }
      case LineStyle::kTrend:
        s += "<polyline class=\"trend\" points=\"" + mid + "\"/>";
        break;
      case LineStyle::kForecast:
        s += "<polyline class=\"forecast\" points=\"" + mid + "\"/>";
        break;
      case LineStyle::kReference:
        s += "<polyline class=\"ref " + color + "\" points=\"" + mid + "\"/>";
        break;
    }
  }
  // Legend along the top.
  double lx = kLeft;
  for (const Line& line : chart.lines) {
    if (line.label.empty()) continue;
    std::string label = line.label;
    if (label.size() > 48) label = label.substr(0, 45) + "...";
    const char* swatch = line.style == LineStyle::kTrend      ? "trend"
                         : line.style == LineStyle::kForecast ? "forecast"
                                                              : "line";
    const std::string color =
        line.style == LineStyle::kSeries || line.style == LineStyle::kReference
            ? fmt::format(" {}{}", kPalette, palette_index(line.color))
            : "";
    s += fmt::format(
        "<line class=\"{}{}\" x1=\"{}\" y1=\"14\" x2=\"{}\" y2=\"14\"/>"
        "<text class=\"legend\" x=\"{}\" y=\"18\">{}</text>",
        swatch, color, fmt1(lx), fmt1(lx + 16), fmt1(lx + 20), html_escape(label));
    lx += 32 + 6.5 * static_cast<double>(label.size());
  }
  if (!has_data) {
    s += fmt::format("<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                     fmt1(kLeft + pw / 2), fmt1(kTop + ph / 2), "no data in this recording");
  }
  s += "</svg>";
  return s;
}

std::string render_sparkline(std::span<const Point> points, int width, int height) {
  std::string s = fmt::format(
      "<svg class=\"spark\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" "
      "width=\"{}\" height=\"{}\">",
      width, height, width, height);
  if (!points.empty()) {
    double t0 = points.front().t, t1 = points.back().t;
    if (!(t1 > t0)) {
      t0 -= 1;
      t1 += 1;
    }
    const std::vector<Point> pts = downsample(points, t0, t1, static_cast<std::size_t>(width));
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const Point& p : pts) {
      lo = std::min(lo, p.lo);
      hi = std::max(hi, p.hi);
    }
    if (!(hi > lo)) {
      lo -= 1;
      hi += 1;
    }
    const auto x = [&](double t) { return 1 + (t - t0) / (t1 - t0) * (width - 2); };
    const auto y = [&](double v) { return 2 + (hi - v) / (hi - lo) * (height - 4); };
    std::string poly, line;
    for (const Point& p : pts) poly += fmt1(x(p.t)) + "," + fmt1(y(p.hi)) + " ";
    for (auto it = pts.rbegin(); it != pts.rend(); ++it) {
      poly += fmt1(x(it->t)) + "," + fmt1(y(it->lo)) + " ";
    }
    for (const Point& p : pts) line += fmt1(x(p.t)) + "," + fmt1(y(p.mid)) + " ";
    poly.pop_back();
    line.pop_back();
    if (pts.size() > 1) s += "<polygon class=\"band c0\" points=\"" + poly + "\"/>";
    s += "<polyline class=\"line c0\" points=\"" + line + "\"/>";
  }
  s += "</svg>";
  return s;
}

}  // namespace poolscope::report
