// Issue 20, "One command line": the same option means the same thing on every verb, and each
// defect the issue lists has a test named after it, run through the real binary.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli_support.h"
#include "test_paths.h"
#include "test_support.h"

namespace poolscope::testing {
namespace {

std::string data(const std::string& relative) {
  return test_data(relative).string();
}

// A scratch folder per test, removed at the end.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : path_(std::filesystem::temp_directory_path() /
              ("poolscope-cli-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A recording of two slabinfo samples (dentry grows).
std::string two_sample_recording(const ScratchDir& dir) {
  const std::string db = dir / "r.db";
  const auto r = run_poolscope("import --into " + db + " " + data("store/slabinfo_a.txt") + " " +
                               data("store/slabinfo_b.txt"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return db;
}

TEST(CommandLine, FormatTextIsAnAliasOfTableOnEveryTableVerb) {
  const std::string slab = data("slabinfo/kernel_6_18_head.txt");
  for (const std::string& args :
       {"snapshot --no-owner --source " + slab, "summary --source " + slab}) {
    const auto table = run_poolscope(args + " --format table");
    const auto text = run_poolscope(args + " --format text");
    EXPECT_EQ(table.exit_code, 0) << args << "\n" << table.out;
    EXPECT_EQ(text.exit_code, 0) << args << "\n" << text.out;
    EXPECT_EQ(table.out, text.out) << args;
  }
  ScratchDir dir("format");
  const std::string db = two_sample_recording(dir);
  EXPECT_EQ(run_poolscope("leaks --no-owner " + db + " -f text").out,
            run_poolscope("leaks --no-owner " + db + " -f table").out);
  // Where records stream, jsonl; text is no alias of it.
  const auto exported = run_poolscope("export " + db + " --format text");
  EXPECT_EQ(exported.exit_code, 2) << exported.out;
}

TEST(CommandLine, IncludeExcludeShortNamesOnEveryVerbThatListsKeys) {
  ScratchDir dir("filters");
  const std::string db = two_sample_recording(dir);
  const auto only = run_poolscope("leaks --no-owner " + db + " -i dentry --top 5");
  EXPECT_EQ(only.exit_code, 0) << only.out;
  EXPECT_NE(only.out.find("dentry"), std::string::npos) << only.out;
  EXPECT_EQ(only.out.find("kcopyd_job"), std::string::npos) << only.out;
  const auto without = run_poolscope("leaks --no-owner " + db + " -x dentry --top 5");
  EXPECT_EQ(without.exit_code, 0) << without.out;
  EXPECT_EQ(without.out.find("dentry "), std::string::npos) << without.out;
  for (const std::string verb : {"watch", "diagnose", "report", "serve", "snapshot", "export"}) {
    const auto help = run_poolscope(verb + " --help");
    EXPECT_NE(help.out.find("-i,--include"), std::string::npos) << verb << "\n" << help.out;
    EXPECT_NE(help.out.find("-x,--exclude"), std::string::npos) << verb << "\n" << help.out;
  }
}

TEST(CommandLine, TablesShowHumanNumbersJsonAndCsvRawOnes) {
  const std::string slab = "snapshot --no-owner --source " + data("slabinfo/kernel_6_18_head.txt");
  const auto table = run_poolscope(slab + " --top 1");
  EXPECT_EQ(table.exit_code, 0) << table.out;
  EXPECT_NE(table.out.find("ext4_inode_cache  reclaimable   40,144  44.8 MiB    1,128\n"),
            std::string::npos)
      << table.out;
  const auto json = run_poolscope(slab + " --format json");
  EXPECT_NE(json.out.find("\"bytes\": 47005696"), std::string::npos) << json.out;
  const auto csv = run_poolscope(slab + " --format csv");
  EXPECT_NE(csv.out.find(",40144,47005696,1128,"), std::string::npos) << csv.out;
}

TEST(CommandLine, TopIntervalTakesADuration) {
  // Parsing happens before top looks for a terminal: a duration gets past the options (the
  // terminal check then refuses the pipe), a bad one is a usage error naming the option.
  const auto ok = run_poolscope("top --interval 500ms --iterations 1");
  EXPECT_EQ(ok.out.find("--interval"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("needs a terminal"), std::string::npos) << ok.out;
  const auto bad = run_poolscope("top --interval 5parsecs");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--interval"), std::string::npos) << bad.out;
}

TEST(CommandLine, TraceMinAgeTakesADuration) {
  // A missing trace file is an input error (2) found after the options were accepted.
  const auto ok = run_poolscope("trace --load /nonexistent.trace --min-age 2m");
  EXPECT_EQ(ok.out.find("--min-age"), std::string::npos) << ok.out;
  const auto bad = run_poolscope("trace --load /nonexistent.trace --min-age 2q");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--min-age"), std::string::npos) << bad.out;
}

TEST(SummaryCheck, CountsEveryFailureVmReportsNotOnlyPoolAllocations) {
  // "1200 kernel stack PTE allocations have failed" and no pool failure: still a failure.
  const std::string vm = data("vm/win10_dynamic_pools.txt");
  const auto check = run_poolscope("summary --check --source " + vm);
  EXPECT_EQ(check.exit_code, 1) << check.out;
  EXPECT_NE(check.out.find("Allocation failures: 1200 kernel stack PTE allocations have failed"),
            std::string::npos)
      << check.out;
  EXPECT_EQ(check.out.find("not reported by this source"), std::string::npos) << check.out;
  const auto json = run_poolscope("summary --format json --source " + vm);
  EXPECT_NE(json.out.find("\"other_failures\""), std::string::npos) << json.out;
  // A !vm with no failure at all stays 0.
  EXPECT_EQ(run_poolscope("summary --check --source " + data("vm/win7_fixed_limits.txt")).exit_code,
            0);
}

bool has_slab_sysfs() {
  return std::filesystem::exists("/sys/kernel/slab");
}

TEST(WhoCli, NoSuchCacheIsAnErrorWithCloseMatches) {
  if (!has_slab_sysfs()) GTEST_SKIP() << "needs /sys/kernel/slab (Linux, SLUB)";
  const auto r = run_poolscope("who no_such_cache");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("no slab cache named \"no_such_cache\""), std::string::npos) << r.out;
  if (std::filesystem::exists("/sys/kernel/slab/dentry")) {
    const auto typo = run_poolscope("who dentyr");
    EXPECT_EQ(typo.exit_code, 2) << typo.out;
    EXPECT_NE(typo.out.find("close matches: dentry"), std::string::npos) << typo.out;
  }
}

TEST(WhoCli, TagWithPooltagOnLinuxAnswersFromPooltagAlone) {
  const std::string pooltag = data("pooltag/pooltag_owners.txt");
  const auto r = run_poolscope("who WDiv --pooltag " + pooltag);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("pooltag.txt:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("drivers: not searched"), std::string::npos) << r.out;
  // In neither: said plainly.
  const auto none = run_poolscope("who Qz9q --pooltag " + pooltag);
  EXPECT_EQ(none.exit_code, 0) << none.out;
  EXPECT_NE(none.out.find("pooltag.txt: no line names Qz9q"), std::string::npos) << none.out;
  EXPECT_NE(none.out.find("drivers: not searched"), std::string::npos) << none.out;
}

TEST(TraceCli, UnknownCacheExitsTwoWithCloseMatches) {
  if (!is_root()) GTEST_SKIP() << "trace needs root";
  if (!has_slab_sysfs()) GTEST_SKIP() << "needs /sys/kernel/slab (Linux, SLUB)";
  // Refused before anything is traced.
  const auto r = run_poolscope("trace --cache kmalloc-65 --duration 1s");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("no slab cache named \"kmalloc-65\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("close matches:"), std::string::npos) << r.out;
}

// Non-root `trace` said "tracefs is not mounted" where tracefs was mounted root-only (mode 700, as
// most distributions mount it). It must say it is mounted, what is missing (root, or CAP_BPF and
// CAP_PERFMON) and what to run instead.
TEST(TraceCli, NonRootTraceSaidTracefsNotMountedWhenItWas) {
  std::ifstream mounts("/proc/self/mounts");
  std::string line, point;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device, where, type;
    if (fields >> device >> where >> type && type == "tracefs") point = where;
  }
  if (point.empty()) GTEST_SKIP() << "tracefs is not mounted here";
  struct stat st {};
  if (::stat(point.c_str(), &st) != 0 || (st.st_mode & 0005) != 0)
    GTEST_SKIP() << point << " is open to every user here";
  // As root, the trace runs as nobody (setpriv drops root and every capability).
  std::string prefix;
  if (is_root()) {
    if (std::system("command -v setpriv >/dev/null 2>&1") != 0) GTEST_SKIP() << "needs setpriv";
    prefix = "--reuid=65534 --regid=65534 --clear-groups ";
  }
  const auto r = run_command((prefix.empty() ? "" : "setpriv " + prefix) + POOLSCOPE_BINARY +
                             " trace --duration 1s 2>&1");
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_code, 3) << out;
  EXPECT_EQ(out.find("not mounted"), std::string::npos) << out;
  EXPECT_NE(out.find("tracefs is mounted on " + point + " but this user cannot open it"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("CAP_BPF and CAP_PERFMON"), std::string::npos) << out;
  EXPECT_NE(out.find("sudo poolscope trace"), std::string::npos) << out;
  EXPECT_NE(out.find("poolscope who CACHE"), std::string::npos) << out;
  EXPECT_EQ(out.find("libbpf:"), std::string::npos) << out;  // the cause, not libbpf's log
}

TEST(DiagnoseCli, OutOnAFolderWithARecordingIsRefused) {
  ScratchDir dir("diagnose-out");
  { std::ofstream(dir / "recording.db") << "an earlier run"; }
  const auto r = run_poolscope("diagnose --out " + (dir / "") + " --duration 1s --interval 1");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("already holds a recording"), std::string::npos) << r.out;
  std::ifstream in(dir / "recording.db");
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(kept, "an earlier run");  // untouched
}

// The text as UTF-16 with its byte order mark, as PowerShell's `>` and Windows tools write it.
void write_utf16(const std::string& utf8_path, const std::string& out_path, bool big_endian) {
  std::ifstream in(utf8_path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string bytes = big_endian ? "\xFE\xFF" : "\xFF\xFE";
  for (unsigned char c : text) {  // the samples are ASCII
    bytes += big_endian ? std::string{'\0', static_cast<char>(c)}
                        : std::string{static_cast<char>(c), '\0'};
  }
  std::ofstream(out_path, std::ios::binary) << bytes;
}

TEST(WindowsArtifacts, Utf16LeAndBeWithBomAreReadLikeUtf8) {
  ScratchDir dir("utf16");
  for (const bool big : {false, true}) {
    const std::string suffix = big ? "be" : "le";
    for (const std::string sample :
         {"vm/win10_dynamic_pools.txt", "poolused/sorted_by_nonpaged_tab.txt",
          "poolmon/snap_log_x64_crlf.txt"}) {
      const std::string utf16 =
          dir / (suffix + "_" + std::filesystem::path(sample).filename().string());
      write_utf16(data(sample), utf16, big);
      const auto plain =
          run_poolscope("snapshot --no-owner --format json --source " + data(sample));
      const auto wide = run_poolscope("snapshot --no-owner --format json --source " + utf16);
      EXPECT_EQ(wide.exit_code, 0) << sample << " " << suffix << "\n" << wide.out;
      // The same entries and totals; only the source path differs.
      const auto entries = [](const std::string& out) {
        return out.substr(out.find("\"totals\""));
      };
      EXPECT_EQ(entries(wide.out), entries(plain.out)) << sample << " " << suffix;
    }
    const std::string httperr = dir / ("httperr_" + suffix + ".log");
    write_utf16(data("httperr/connections_refused.log"), httperr, big);
    const auto imported =
        run_poolscope("import --into " + (dir / ("h" + suffix + ".db")) + " " + httperr);
    EXPECT_EQ(imported.exit_code, 0) << imported.out;
    EXPECT_NE(imported.out.find("7 event(s)"), std::string::npos) << imported.out;
  }
}

TEST(ExportCli, IncludeFiltersTheProcessLinesByName) {
  if (!is_root()) GTEST_SKIP() << "records the live machine (needs root for /proc/slabinfo)";
  ScratchDir dir("export-include");
  const std::string db = dir / "r.db";
  const auto rec = run_poolscope("record --out " + db + " --duration 1s --interval 500ms");
  ASSERT_EQ(rec.exit_code, 0) << rec.out;
  const auto all = run_poolscope("export " + db + " --kind process");
  ASSERT_NE(all.out.find("\"kind\":\"process\""), std::string::npos) << "no process facts recorded";
  // A pool key pattern names no process: no process line is left.
  const auto keys = run_poolscope("export " + db + " --include 'kmalloc-*'");
  EXPECT_EQ(keys.exit_code, 0) << keys.out;
  EXPECT_EQ(keys.out.find("\"kind\":\"process\""), std::string::npos);
  EXPECT_NE(keys.out.find("kmalloc-"), std::string::npos);
  // A process name keeps that process's lines only.
  const auto self = run_poolscope("export " + db + " --kind process --include poolscope");
  EXPECT_NE(self.out.find("\"name\":\"poolscope\""), std::string::npos) << self.out.substr(0, 400);
  std::size_t start = 0;
  while ((start = self.out.find("\"name\":\"", start)) != std::string::npos) {
    start += 8;
    EXPECT_EQ(self.out.compare(start, 10, "poolscope\""), 0) << self.out.substr(start, 40);
  }
}

}  // namespace
}  // namespace poolscope::testing
