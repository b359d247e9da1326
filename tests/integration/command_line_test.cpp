// Issue 20, "One command line": the same option means the same thing on every verb, and each
// defect the issue lists has a test named after it, run through the real binary.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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

}  // namespace
}  // namespace poolscope::testing
