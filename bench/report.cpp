// The HTML report of a week-long recording (issue 6): `poolscope report` on the synthetic week of
// 1 Hz samples of 300 keys that bench_detect analyses (10 of them leak, 10 churn), then
//  - the size of the page (goal < 5 MB) and the time and memory `report` takes;
//  - the time headless Chromium takes to open it (goal < 2 s), side by side in the same run with
//    the same Chromium opening an empty page (the baseline: browser start-up alone), for
//    --dump-dom (parsed and laid out) and --screenshot (painted). Medians of 5 alternating runs.
// Needs the poolscope binary; the Chromium part skips when /usr/bin/chromium is absent.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "week_recording.h"

namespace poolscope {
namespace {

namespace fs = std::filesystem;
using bench::bench_dir;
using bench::ChildCost;
using bench::run_poolscope;
using bench::week_recording;

constexpr const char* kChromium = "/usr/bin/chromium";

const std::string& week_report() {
  static const std::string path = bench_dir() + "/report-week-300.html";
  return path;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs chromium headless on a file (stdout and stderr to /dev/null), bounded to 60 s. Returns the
// wall time in seconds, or a negative value when it failed.
double open_in_chromium(const std::string& file, const std::string& mode) {
  const std::string profile = bench_dir() + "/chromium-profile";
  const std::string shot = bench_dir() + "/chromium-shot.png";
  std::vector<std::string> args = {kChromium,
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--no-first-run",
                                   "--user-data-dir=" + profile,
                                   "--window-size=1100,2400"};
  args.push_back(mode == "screenshot" ? "--screenshot=" + shot : "--dump-dom");
  args.push_back("file://" + fs::absolute(file).string());
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(kChromium, argv.data());
    ::_exit(127);
  }
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(60)) {
      ::kill(-pid, SIGKILL);  // its own process group: the browser and its helpers
      ::waitpid(pid, &status, 0);
      return -1;
    }
    ::usleep(5000);
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::kill(-pid, SIGKILL);  // helpers left behind, if any
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? wall : -1;
}

void BM_ReportOfAWeekOf300Keys(benchmark::State& state) {
  const std::string& week = week_recording();
  ChildCost cost;
  for (auto _ : state) {
    cost = run_poolscope({"report", week, "-o", week_report()});
    state.SetIterationTime(cost.wall_s);
  }
  if (cost.status != 0) {
    state.SkipWithError("poolscope report failed");
    return;
  }
  const double mb = static_cast<double>(fs::file_size(week_report())) / 1e6;
  state.counters["html_MB"] = mb;
  state.counters["goal_MB"] = 5;
  state.counters["wall_s"] = cost.wall_s;
  state.counters["cpu_s"] = cost.cpu_s;
  state.counters["max_rss_MiB"] = static_cast<double>(cost.max_rss_kib) / 1024;
  if (mb >= 5) state.SkipWithError("the report is not under 5 MB");
}
BENCHMARK(BM_ReportOfAWeekOf300Keys)->UseManualTime()->Iterations(3)->Unit(benchmark::kSecond);

void chromium_open(benchmark::State& state, const std::string& mode) {
  if (!fs::exists(kChromium)) {
    state.SkipWithError("chromium is not installed (apt install chromium)");
    return;
  }
  if (!fs::exists(week_report())) {
    if (run_poolscope({"report", week_recording(), "-o", week_report()}).status != 0) {
      state.SkipWithError("poolscope report failed");
      return;
    }
  }
  const std::string blank = bench_dir() + "/blank.html";
  std::ofstream(blank) << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>blank</title>"
                          "</head><body></body></html>\n";
  std::vector<double> report_s, blank_s;
  open_in_chromium(blank, mode);  // warm the page cache and the profile
  for (auto _ : state) {
    for (int i = 0; i < 5; ++i) {
      blank_s.push_back(open_in_chromium(blank, mode));
      report_s.push_back(open_in_chromium(week_report(), mode));
    }
  }
  if (std::any_of(report_s.begin(), report_s.end(), [](double s) { return s < 0; }) ||
      std::any_of(blank_s.begin(), blank_s.end(), [](double s) { return s < 0; })) {
    state.SkipWithError("chromium failed or took over 60 s");
    return;
  }
  const double r = median(report_s), b = median(blank_s);
  state.counters["report_median_s"] = r;
  state.counters["blank_median_s"] = b;
  state.counters["page_cost_s"] = r - b;
  state.counters["report_over_blank"] = r / b;
  state.counters["goal_s"] = 2;
}

void BM_ChromiumDumpDom(benchmark::State& state) {
  chromium_open(state, "dump-dom");
}
void BM_ChromiumScreenshot(benchmark::State& state) {
  chromium_open(state, "screenshot");
}
BENCHMARK(BM_ChromiumDumpDom)->Iterations(1)->Unit(benchmark::kSecond);
BENCHMARK(BM_ChromiumScreenshot)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace
}  // namespace poolscope
